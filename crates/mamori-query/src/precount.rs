//! Counting by dictionary keys: `stats count(*) by eventName` over 10M
//! events, done by DataFusion, hashes 10M strings (or row-encodes them); the
//! columns behind such groups are dictionary-encoded in the store. Two ways
//! round it, both giving the count per distinct combination of the columns,
//! which the query's own `stats` then groups with `sum` instead of
//! `count(*)` (see [`crate::compile::PreCount`]):
//!
//! - a file the count reads whole, when compaction wrote its value counts
//!   into the footer ([`mamori_store::counts`]), is counted from the footer;
//! - any other file is read, and each batch's dictionary keys tallied
//!   ([`KeyCounter`]) without looking at a row's string.
//!
//! The result is the same: a count grouped by an expression of some columns
//! is the sum of the counts grouped by those columns.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
use mamori_store::counts::{FileCounts, COUNTS_KEY};
pub use mamori_store::counts::{KeyCounter, MAX_COLUMNS};
use object_store::{path::Path as ObjectPath, ObjectStore, ObjectStoreExt};

/// The counted column: `sum` of it replaces `count(*)`.
pub const COUNT_COLUMN: &str = "__n";

/// Counts the rows of `batch`, whose columns are the counter's, in order
/// (plain strings are cast to dictionaries first).
pub fn add_batch(counter: &mut KeyCounter, batch: &RecordBatch) -> Result<(), ArrowError> {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut cast_columns: Vec<ArrayRef> = Vec::new();
    for c in batch.columns() {
        let is_dict = c
            .as_dictionary_opt::<Int32Type>()
            .is_some_and(|d| matches!(d.values().data_type(), DataType::Utf8));
        cast_columns.push(if is_dict { c.clone() } else { cast(c, &dict)? });
    }
    let columns: Vec<_> = cast_columns
        .iter()
        .map(|c| c.as_dictionary::<Int32Type>())
        .collect();
    counter.add(&columns)
}

/// The counts: the columns, as dictionaries again, and [`COUNT_COLUMN`].
pub fn finish(counter: &KeyCounter) -> Result<RecordBatch, ArrowError> {
    let k = counter.names().len();
    let rows = counter.rows();
    let mut cols: Vec<Vec<Option<&str>>> = vec![Vec::with_capacity(rows.len()); k];
    let mut counts = Vec::with_capacity(rows.len());
    for (values, n) in &rows {
        for (col, v) in cols.iter_mut().zip(values) {
            col.push(v.as_deref());
        }
        counts.push(i64::try_from(*n).unwrap_or(i64::MAX));
    }
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut fields = Vec::with_capacity(k + 1);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(k + 1);
    for (name, col) in counter.names().iter().zip(cols) {
        fields.push(Field::new(name, dict.clone(), true));
        arrays.push(cast(&StringArray::from(col), &dict)?);
    }
    fields.push(Field::new(COUNT_COLUMN, DataType::Int64, false));
    arrays.push(Arc::new(Int64Array::from(counts)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Bytes read from the end of a file first: the footer of a compacted day
/// (its row groups' metadata and value counts) usually fits.
const TAIL_BYTES: u64 = 256 << 10;

/// The value counts in the footer of the file at `path` (`size` bytes), or
/// `None` if it has none (written at ingest, or before counts existed).
/// A footer that cannot be read is an error: the file is damaged.
pub async fn footer_counts(
    store: &dyn ObjectStore,
    path: &ObjectPath,
    size: u64,
) -> Result<Option<FileCounts>, String> {
    let err = |e: &dyn std::fmt::Display| format!("{path}: reading the footer: {e}");
    if size < 8 {
        return Err(err(&"shorter than a Parquet footer"));
    }
    let start = size.saturating_sub(TAIL_BYTES);
    let tail = store
        .get_range(path, start..size)
        .await
        .map_err(|e| err(&e))?;
    let n = tail.len();
    let last: &[u8; 8] = tail[n - 8..].try_into().map_err(|e| err(&e))?;
    let footer = FooterTail::try_new(last).map_err(|e| err(&e))?;
    let len = footer.metadata_length() as u64;
    if len + 8 > size {
        return Err(err(&"footer longer than the file"));
    }
    let metadata = if len + 8 <= n as u64 {
        tail.slice(n - 8 - len as usize..n - 8)
    } else {
        store
            .get_range(path, size - 8 - len..size - 8)
            .await
            .map_err(|e| err(&e))?
    };
    let meta = ParquetMetaDataReader::decode_metadata(&metadata).map_err(|e| err(&e))?;
    let Some(kv) = meta.file_metadata().key_value_metadata() else {
        return Ok(None);
    };
    let Some(text) = kv
        .iter()
        .find(|kv| kv.key == COUNTS_KEY)
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| err(&format!("value counts: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(values: &[Option<&str>]) -> ArrayRef {
        let a = StringArray::from(values.to_vec());
        cast(
            &a,
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        )
        .expect("cast")
    }

    /// Plain strings are cast; dictionaries and plain columns count alike
    /// and come back as one row per combination.
    #[test]
    fn plain_and_dictionary_batches_count_alike() {
        let values = [Some("x"), None, Some("x"), Some("y")];
        let plain: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        let schema = |t: &ArrayRef| {
            Arc::new(Schema::new(vec![Field::new(
                "a",
                t.data_type().clone(),
                true,
            )]))
        };
        let mut c = KeyCounter::new(vec!["a".into()]);
        add_batch(
            &mut c,
            &RecordBatch::try_new(schema(&plain), vec![plain.clone()]).expect("batch"),
        )
        .expect("plain");
        let d = dict(&values);
        add_batch(
            &mut c,
            &RecordBatch::try_new(schema(&d), vec![d.clone()]).expect("batch"),
        )
        .expect("dict");
        let b = finish(&c).expect("finish");
        let names = crate::output::strings(b.column(0)).expect("names");
        let n = b
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let mut rows: Vec<(Option<String>, i64)> = (0..b.num_rows())
            .map(|i| (names[i].clone(), n.value(i)))
            .collect();
        rows.sort();
        assert_eq!(
            rows,
            vec![(None, 2), (Some("x".into()), 4), (Some("y".into()), 2)]
        );
    }
}
