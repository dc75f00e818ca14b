//! Sealed segment files: one Parquet file per partition per commit, written
//! to a temporary name, fsync'd, and moved into place only once the
//! manifest says it exists.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use mamori_event::Event;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use crate::counts::{FileCounter, COUNTS_KEY};
use crate::manifest::{hex, FileEntry};
use crate::schema::{self, BLOOM_COLUMNS};
use crate::StoreError;

/// Page size of the `raw` column.
pub const RAW_PAGE_BYTES: usize = 8 << 20;

/// Rows per row group: small enough that statistics prune, large enough to compress.
pub const ROW_GROUP_ROWS: usize = 131_072;

/// How hard a segment's `raw` column is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    /// At ingest: zstd level 3 everywhere, so the ingest keeps up with the input.
    Ingest,
    /// At compaction, which rewrites every event once in the background:
    /// `raw`, most of the bytes, at zstd level [`RAW_ARCHIVE_LEVEL`].
    Archive,
}

/// The zstd level of `raw` in compacted segments: about 12 % smaller than
/// level 3 for a few seconds per million events (BENCHMARKS.md).
pub const RAW_ARCHIVE_LEVEL: i32 = 9;

fn properties(rows: usize, effort: Effort) -> WriterProperties {
    let raw_level = match effort {
        Effort::Ingest => 3,
        Effort::Archive => RAW_ARCHIVE_LEVEL,
    };
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Page-level statistics write the column and offset indexes (the page index).
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by("mamori".into())
        // The original record is most of the bytes and rarely read: larger
        // pages give zstd more context to find the repetition between records.
        .set_column_data_page_size_limit(ColumnPath::from("raw"), RAW_PAGE_BYTES)
        .set_column_compression(
            ColumnPath::from("raw"),
            Compression::ZSTD(ZstdLevel::try_new(raw_level).unwrap_or_default()),
        );
    // Random ids and whole records: a dictionary would only grow until the
    // writer falls back to plain. The other strings keep dictionaries, which
    // the writer abandons by itself where values turn out to be unique.
    for c in ["raw", "uid", "fields"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
    }
    // Lengths apart from the bytes: zstd then sees only the ids' hex digits,
    // not a 4-byte length before each (3 bytes per event less). Not `raw`:
    // 0.8 bytes per event less, but 80 MB more peak memory at ingest
    // (BENCHMARKS.md).
    b = b.set_column_encoding(ColumnPath::from("uid"), Encoding::DELTA_LENGTH_BYTE_ARRAY);
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

/// Writes one segment incrementally: events (in time order) arrive in
/// chunks, so a merge of many files needs only a chunk in memory.
pub struct SegmentWriter {
    tmp_path: std::path::PathBuf,
    entry: FileEntry,
    writer: ArrowWriter<File>,
    /// The value counts compacted files keep in their footer ([`crate::counts`]).
    counter: Option<FileCounter>,
}

impl SegmentWriter {
    /// Starts a segment at `tmp_path` that the manifest will name `final_rel`;
    /// `rows_hint` sizes the bloom filters.
    pub fn create(
        tmp_path: &Path,
        final_rel: &str,
        source: &str,
        date: &str,
        rows_hint: usize,
        effort: Effort,
    ) -> Result<Self, StoreError> {
        let file = File::create(tmp_path).map_err(|e| StoreError::io(tmp_path, e))?;
        let schema = schema::schema();
        // Only compacted files: they hold whole days (or hours), which counting
        // queries read whole; ingest stays as it was, and its fresh segments,
        // the newest few, are read.
        let counter = match effort {
            Effort::Archive => FileCounter::new(&schema, schema::DICTIONARY_COLUMNS),
            Effort::Ingest => None,
        };
        let writer = ArrowWriter::try_new(file, schema, Some(properties(rows_hint, effort)))
            .map_err(|e| StoreError::parquet(tmp_path, e))?;
        let entry = FileEntry {
            path: final_rel.to_owned(),
            sha256: String::new(),
            bytes: 0,
            rows: 0,
            source: source.to_owned(),
            date: date.to_owned(),
            min_time: i64::MAX,
            max_time: i64::MIN,
        };
        Ok(SegmentWriter {
            tmp_path: tmp_path.to_owned(),
            entry,
            writer,
            counter,
        })
    }

    /// Appends events, which must not be earlier than those written before.
    pub fn write(&mut self, events: &[(&Event, &str)]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let batch = schema::to_batch(events)
            .map_err(|e| StoreError::Corrupt(format!("building a batch: {e}")))?;
        if let Some(c) = &mut self.counter {
            c.add(&batch)
                .map_err(|e| StoreError::Corrupt(format!("counting values: {e}")))?;
        }
        self.writer
            .write(&batch)
            .map_err(|e| StoreError::parquet(&self.tmp_path, e))?;
        self.entry.rows += events.len() as u64;
        self.entry.min_time = self.entry.min_time.min(events[0].0.time.0);
        self.entry.max_time = self.entry.max_time.max(events[events.len() - 1].0.time.0);
        Ok(())
    }

    /// Closes, fsyncs and hashes the file, and describes it for the manifest.
    pub fn finish(self) -> Result<FileEntry, StoreError> {
        let SegmentWriter {
            tmp_path,
            mut entry,
            mut writer,
            counter,
        } = self;
        if let Some(c) = counter {
            let text = serde_json::to_string(&c.finish())
                .map_err(|e| StoreError::Corrupt(format!("encoding value counts: {e}")))?;
            writer.append_key_value_metadata(KeyValue::new(COUNTS_KEY.to_owned(), text));
        }
        let file = writer
            .into_inner()
            .map_err(|e| StoreError::parquet(&tmp_path, e))?;
        file.sync_all().map_err(|e| StoreError::io(&tmp_path, e))?;
        (entry.sha256, entry.bytes) = hash_file(&tmp_path)?;
        if entry.rows == 0 {
            (entry.min_time, entry.max_time) = (0, 0);
        }
        Ok(entry)
    }
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
    let mut w = SegmentWriter::create(
        tmp_path,
        final_rel,
        source,
        date,
        events.len(),
        Effort::Ingest,
    )?;
    w.write(events)?;
    w.finish()
}

/// Reads a segment's events a record batch at a time.
pub struct SegmentReader {
    path: std::path::PathBuf,
    batches: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    pending: std::collections::VecDeque<(Event, String)>,
    /// Whether events get back the fields kept only in `raw` (see [`restore`]).
    restore: bool,
}

/// Gives an event read back the fields the store keeps only inside the
/// original record (`api.request_uid`), by asking the source's parser.
pub fn restore(e: &mut Event) {
    e.api.request_uid = mamori_parse::request_uid(e.source, &e.raw);
}

impl SegmentReader {
    /// Opens a segment, reading `batch_rows` rows at a time; events come
    /// back as they were ingested.
    pub fn open(path: &Path, batch_rows: usize) -> Result<Self, StoreError> {
        let mut r = Self::open_columns_only(path, batch_rows)?;
        r.restore = true;
        Ok(r)
    }

    /// Like [`SegmentReader::open`], but events keep only what the columns
    /// hold (`api.request_uid` is `None`): for readers that never look at
    /// the rest, compaction (which writes the columns again) and hunts (the
    /// rule engine's view has no request id), so that they do not parse
    /// every record a second time.
    pub fn open_columns_only(path: &Path, batch_rows: usize) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
        let batches = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| StoreError::parquet(path, e))?
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| StoreError::parquet(path, e))?;
        Ok(SegmentReader {
            path: path.to_owned(),
            batches,
            pending: Default::default(),
            restore: false,
        })
    }

    /// The next event, or `None` at the end.
    pub fn next_event(&mut self) -> Result<Option<(Event, String)>, StoreError> {
        if self.pending.is_empty() {
            match self.batches.next() {
                None => return Ok(None),
                Some(batch) => {
                    let batch = batch.map_err(|e| {
                        StoreError::Corrupt(format!("{}: {e}", self.path.display()))
                    })?;
                    let events = schema::from_batch(&batch).map_err(|e| {
                        StoreError::Corrupt(format!("{}: {e}", self.path.display()))
                    })?;
                    self.pending
                        .extend(events.into_iter().map(|(mut e, origin)| {
                            if self.restore {
                                restore(&mut e);
                            }
                            (e, origin)
                        }));
                }
            }
        }
        Ok(self.pending.pop_front())
    }
}

/// Reads every event of a segment, as it was ingested.
pub fn read_segment(path: &Path) -> Result<Vec<(Event, String)>, StoreError> {
    let mut reader = SegmentReader::open(path, 8192)?;
    let mut out = Vec::new();
    while let Some(event) = reader.next_event()? {
        out.push(event);
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
