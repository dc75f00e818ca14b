//! Counting by dictionary keys: `stats count(*) by eventName` over 10M
//! events, done by DataFusion, hashes 10M strings (or row-encodes them); the
//! columns behind such groups are dictionary-encoded in the store, and a
//! record batch read from Parquet carries the page's dictionary and one small
//! integer per row. [`KeyCounter`] counts those integers and looks each
//! dictionary value up once per batch; the counts, one row per distinct
//! combination of the columns, become a small table that the query's own
//! `stats` then groups with `sum` instead of `count(*)` (see
//! [`crate::compile::PreCount`]). The result is the same: a count grouped by
//! an expression of some columns is the sum of the counts grouped by those
//! columns.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::arrow::error::ArrowError;

/// The counted column: `sum` of it replaces `count(*)`.
pub const COUNT_COLUMN: &str = "__n";

/// Most columns a count groups by (their ids pack into 128 bits).
pub const MAX_COLUMNS: usize = 4;

/// Per-batch dictionaries smaller than this (product over the columns) count
/// into a dense array, flushed once per batch.
const DENSE_LIMIT: usize = 1 << 16;

/// Counts rows by the values of up to [`MAX_COLUMNS`] string columns.
pub struct KeyCounter {
    names: Vec<String>,
    /// Per column: each distinct value and its id, the id of null, and the
    /// values by id.
    ids: Vec<HashMap<String, u32>>,
    null_ids: Vec<Option<u32>>,
    values: Vec<Vec<Option<String>>>,
    /// Per column: the last dictionary seen and the ids of its values (a
    /// column chunk's batches share one), kept alive so that it is never a
    /// new dictionary at the same address.
    last: Vec<Option<(ArrayRef, Vec<u32>)>>,
    /// Count per combination of ids, packed 32 bits per column.
    counts: HashMap<u128, u64>,
}

impl KeyCounter {
    /// A counter for the columns `names`, in the order batches carry them.
    pub fn new(names: Vec<String>) -> Self {
        let n = names.len();
        KeyCounter {
            names,
            ids: vec![HashMap::new(); n],
            null_ids: vec![None; n],
            values: vec![Vec::new(); n],
            last: vec![None; n],
            counts: HashMap::new(),
        }
    }

    fn id(&mut self, col: usize, v: Option<&str>) -> u32 {
        let known = match v {
            Some(v) => self.ids[col].get(v).copied(),
            None => self.null_ids[col],
        };
        if let Some(id) = known {
            return id;
        }
        let id = self.values[col].len() as u32;
        self.values[col].push(v.map(str::to_owned));
        match v {
            Some(v) => {
                self.ids[col].insert(v.to_owned(), id);
            }
            None => self.null_ids[col] = Some(id),
        }
        id
    }

    /// Ids of local codes of `dict`'s values: code 0 is null, code i + 1 value i.
    fn local_ids(&mut self, col: usize, dict: &ArrayRef) -> Result<Vec<u32>, ArrowError> {
        if let Some((d, ids)) = &self.last[col] {
            if Arc::ptr_eq(d, dict) {
                return Ok(ids.clone());
            }
        }
        let values = dict.as_string_opt::<i32>().ok_or_else(|| {
            ArrowError::InvalidArgumentError("dictionary values are not strings".into())
        })?;
        let mut ids = Vec::with_capacity(values.len() + 1);
        ids.push(self.id(col, None));
        for i in 0..values.len() {
            let v = values.is_valid(i).then(|| values.value(i));
            ids.push(self.id(col, v));
        }
        self.last[col] = Some((dict.clone(), ids.clone()));
        Ok(ids)
    }

    /// Counts the rows of `batch`, whose columns are the counter's, in order.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let k = self.names.len();
        if batch.num_columns() != k || k == 0 || k > MAX_COLUMNS {
            return Err(ArrowError::InvalidArgumentError(format!(
                "counting by {k} columns, batch has {}",
                batch.num_columns()
            )));
        }
        // Per column, local codes: 0 is null, i + 1 dictionary value i; and the id of each.
        let mut dicts = Vec::with_capacity(k);
        let mut local_ids: Vec<Vec<u32>> = Vec::with_capacity(k);
        for c in 0..k {
            let dict = as_dictionary(batch.column(c))?;
            local_ids.push(self.local_ids(c, dict.values())?);
            dicts.push(dict);
        }
        let sizes: Vec<usize> = local_ids.iter().map(Vec::len).collect();
        let dense = sizes
            .iter()
            .try_fold(1usize, |acc, &s| acc.checked_mul(s))
            .filter(|&n| n <= DENSE_LIMIT);
        let pack = |local: &[u32]| -> u128 {
            local.iter().enumerate().fold(0u128, |acc, (c, &l)| {
                acc | (u128::from(local_ids[c][l as usize]) << (32 * c))
            })
        };
        // Folds each row's code of every column into `acc` (one value per row).
        fn fold_codes<T: Copy>(
            dicts: &[DictionaryArray<Int32Type>],
            acc: &mut [T],
            mut f: impl FnMut(usize, T, u32) -> T,
        ) {
            for (c, d) in dicts.iter().enumerate() {
                let keys = d.keys();
                if keys.null_count() == 0 {
                    for (a, &key) in acc.iter_mut().zip(keys.values()) {
                        *a = f(c, *a, key as u32 + 1);
                    }
                } else if keys.null_count() == keys.len() {
                    // A column null throughout the batch (event_code on most CloudTrail records).
                    for a in acc.iter_mut() {
                        *a = f(c, *a, 0);
                    }
                } else {
                    for (a, key) in acc.iter_mut().zip(keys.iter()) {
                        *a = f(c, *a, key.map_or(0, |x| x as u32 + 1));
                    }
                }
            }
        }
        if let Some(n) = dense {
            // One index per row into a dense tally of every local combination.
            let mut index = vec![0u32; batch.num_rows()];
            fold_codes(&dicts, &mut index, |c, i, code| i * sizes[c] as u32 + code);
            let mut tally = vec![0u64; n];
            for i in index {
                tally[i as usize] += 1;
            }
            let mut local = vec![0u32; k];
            for (i, &t) in tally.iter().enumerate() {
                if t == 0 {
                    continue;
                }
                let mut rest = i;
                for (l, &size) in local.iter_mut().zip(&sizes).rev() {
                    *l = (rest % size) as u32;
                    rest /= size;
                }
                *self.counts.entry(pack(&local)).or_default() += t;
            }
        } else {
            // Too many combinations to tally densely: one packed key per row.
            let mut keys = vec![0u128; batch.num_rows()];
            fold_codes(&dicts, &mut keys, |c, key, code| {
                key | u128::from(local_ids[c][code as usize]) << (32 * c)
            });
            for key in keys {
                *self.counts.entry(key).or_default() += 1;
            }
        }
        Ok(())
    }

    /// Adds the counts of `other` (over the same columns) to these.
    pub fn merge(&mut self, other: KeyCounter) {
        for (key, n) in other.counts {
            let mut packed = 0u128;
            for (c, values) in other.values.iter().enumerate() {
                let id = ((key >> (32 * c)) & u128::from(u32::MAX)) as usize;
                let v = values.get(id).and_then(|v| v.as_deref());
                packed |= u128::from(self.id(c, v)) << (32 * c);
            }
            *self.counts.entry(packed).or_default() += n;
        }
    }

    /// The counts: the columns, as dictionaries again, and [`COUNT_COLUMN`].
    pub fn finish(self) -> Result<RecordBatch, ArrowError> {
        let k = self.names.len();
        let mut cols: Vec<Vec<Option<&str>>> = vec![Vec::with_capacity(self.counts.len()); k];
        let mut counts = Vec::with_capacity(self.counts.len());
        for (key, n) in &self.counts {
            for (c, col) in cols.iter_mut().enumerate() {
                let id = ((key >> (32 * c)) & u128::from(u32::MAX)) as usize;
                col.push(self.values[c][id].as_deref());
            }
            counts.push(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let mut fields = Vec::with_capacity(k + 1);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(k + 1);
        for (name, col) in self.names.iter().zip(cols) {
            fields.push(Field::new(name, dict.clone(), true));
            arrays.push(cast(&StringArray::from(col), &dict)?);
        }
        fields.push(Field::new(COUNT_COLUMN, DataType::Int64, false));
        arrays.push(Arc::new(Int64Array::from(counts)));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}

/// `a` as a string dictionary with 32-bit keys, cast if it is not one.
fn as_dictionary(a: &ArrayRef) -> Result<DictionaryArray<Int32Type>, ArrowError> {
    if let Some(d) = a.as_dictionary_opt::<Int32Type>() {
        if matches!(d.values().data_type(), DataType::Utf8) {
            return Ok(d.clone());
        }
    }
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Ok(cast(a, &dict)?.as_dictionary::<Int32Type>().clone())
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

    fn counted(c: KeyCounter) -> Vec<(Vec<Option<String>>, i64)> {
        let b = c.finish().expect("finish");
        let k = b.num_columns() - 1;
        let strings: Vec<Vec<Option<String>>> = (0..k)
            .map(|i| crate::output::strings(b.column(i)).expect("strings"))
            .collect();
        let n = b
            .column(k)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let mut rows: Vec<_> = (0..b.num_rows())
            .map(|r| (strings.iter().map(|s| s[r].clone()).collect(), n.value(r)))
            .collect();
        rows.sort();
        rows
    }

    fn s(v: Option<&str>) -> Option<String> {
        v.map(str::to_owned)
    }

    /// Batches with different dictionaries, nulls and two columns count as
    /// the rows would, dense or hashed.
    #[test]
    fn counts_match_the_rows_across_batches() {
        let a1 = [Some("x"), Some("y"), None, Some("x")];
        let b1 = [Some("1"), Some("1"), Some("2"), Some("1")];
        let a2 = [Some("y"), Some("x"), None];
        let b2 = [Some("1"), Some("1"), Some("2")];
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", dict(&[]).data_type().clone(), true),
            Field::new("b", dict(&[]).data_type().clone(), true),
        ]));
        let batch = |a: &[Option<&str>], b: &[Option<&str>]| {
            RecordBatch::try_new(schema.clone(), vec![dict(a), dict(b)]).expect("batch")
        };
        let names = || vec!["a".to_owned(), "b".to_owned()];
        // The first batch twice (its dictionaries known the second time), the
        // other counted apart and merged, as the engine counts one per partition.
        let first = batch(&a1, &b1);
        let mut c = KeyCounter::new(names());
        c.add(&first).expect("add");
        c.add(&first).expect("add");
        let mut part = KeyCounter::new(names());
        part.add(&batch(&a2, &b2)).expect("add");
        c.merge(part);
        assert_eq!(
            counted(c),
            vec![
                (vec![None, s(Some("2"))], 3),
                (vec![s(Some("x")), s(Some("1"))], 5),
                (vec![s(Some("y")), s(Some("1"))], 3),
            ]
        );
    }

    /// Plain strings are cast, and big dictionaries count through the hash map.
    #[test]
    fn plain_strings_and_large_dictionaries() {
        let values: Vec<String> = (0..70_000).map(|i| format!("v{}", i % 66_000)).collect();
        let plain: ArrayRef = Arc::new(StringArray::from_iter_values(values.iter()));
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)]));
        let mut c = KeyCounter::new(vec!["a".into()]);
        c.add(&RecordBatch::try_new(schema, vec![plain]).expect("batch"))
            .expect("add");
        let rows = counted(c);
        assert_eq!(rows.len(), 66_000);
        assert_eq!(rows.iter().map(|r| r.1).sum::<i64>(), 70_000);
        assert_eq!(rows.iter().filter(|r| r.1 == 2).count(), 4_000);
    }
}
