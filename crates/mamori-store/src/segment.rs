//! Sealed segment files: one Parquet file per partition per commit, written
//! to a temporary name, fsync'd, and moved into place only once the
//! manifest says it exists.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use mamori_event::Event;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use crate::manifest::{hex, FileEntry};
use crate::schema::{self, BLOOM_COLUMNS};
use crate::StoreError;

/// Page size of the `raw` column.
pub const RAW_PAGE_BYTES: usize = 8 << 20;

/// Rows per row group: small enough that statistics prune, large enough to compress.
pub const ROW_GROUP_ROWS: usize = 131_072;

fn properties(rows: usize) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Page-level statistics write the column and offset indexes (the page index).
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by("mamori".into())
        // The original record is most of the bytes and rarely read: larger
        // pages give zstd more context to find the repetition between records.
        .set_column_data_page_size_limit(ColumnPath::from("raw"), RAW_PAGE_BYTES);
    for c in [
        "raw",
        "uid",
        "fields",
        "api_request_uid",
        "message",
        "status_detail",
        "http_url",
    ] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
    }
    for c in BLOOM_COLUMNS {
        b = b
            .set_column_bloom_filter_enabled(ColumnPath::from(*c), true)
            .set_column_bloom_filter_max_ndv(
                ColumnPath::from(*c),
                rows.clamp(1, ROW_GROUP_ROWS) as u64,
            )
            .set_column_bloom_filter_fpp(ColumnPath::from(*c), 0.01);
    }
    b.build()
}

/// Writes `data` to `path` durably: temporary file, fsync, rename, fsync of the directory.
pub fn write_durably(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp-write");
    let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(data).map_err(|e| StoreError::io(&tmp, e))?;
    f.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// fsyncs a directory so that a rename or create in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// SHA-256 and size of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64), StoreError> {
    let mut f = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).map_err(|e| StoreError::io(path, e))?;
    Ok((hex(&h.finalize()), n))
}

/// Writes one segment of events (already sorted by time) to `tmp_path`,
/// fsync'd, and describes it for the manifest under `final_rel`.
pub fn write_segment(
    tmp_path: &Path,
    final_rel: &str,
    source: &str,
    date: &str,
    events: &[(&Event, &str)],
) -> Result<FileEntry, StoreError> {
    let batch = schema::to_batch(events)
        .map_err(|e| StoreError::Corrupt(format!("building a batch: {e}")))?;
    let file = File::create(tmp_path).map_err(|e| StoreError::io(tmp_path, e))?;
    let mut w = ArrowWriter::try_new(file, schema::schema(), Some(properties(events.len())))
        .map_err(|e| StoreError::parquet(tmp_path, e))?;
    w.write(&batch)
        .map_err(|e| StoreError::parquet(tmp_path, e))?;
    let file = w
        .into_inner()
        .map_err(|e| StoreError::parquet(tmp_path, e))?;
    file.sync_all().map_err(|e| StoreError::io(tmp_path, e))?;
    let (sha256, bytes) = hash_file(tmp_path)?;
    Ok(FileEntry {
        path: final_rel.to_owned(),
        sha256,
        bytes,
        rows: events.len() as u64,
        source: source.to_owned(),
        date: date.to_owned(),
        min_time: events.first().map_or(0, |(e, _)| e.time.0),
        max_time: events.last().map_or(0, |(e, _)| e.time.0),
    })
}

/// Reads every event of a segment.
pub fn read_segment(path: &Path) -> Result<Vec<(Event, String)>, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| StoreError::parquet(path, e))?
        .build()
        .map_err(|e| StoreError::parquet(path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
        out.extend(
            schema::from_batch(&batch)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?,
        );
    }
    Ok(out)
}

/// Reads only the `uid` column of a segment.
pub fn read_uids(path: &Path) -> Result<Vec<String>, StoreError> {
    use parquet::arrow::ProjectionMask;
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| StoreError::parquet(path, e))?;
    let idx = builder
        .schema()
        .index_of("uid")
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [idx]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| StoreError::parquet(path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
        let col = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{}: uid is not a string column", path.display()))
            })?;
        out.extend(col.iter().map(|v| v.unwrap_or_default().to_owned()));
    }
    Ok(out)
}
