//! Value counts: how many rows hold each combination of values of a few
//! dictionary-encoded columns.
//!
//! Two users. Compaction writes, into each file's Parquet footer, the counts
//! of every dictionary column jointly with `event_code` (the record's kind:
//! CloudTrail's `eventType`, which Insights fields such as `eventName` are
//! qualified by): a query that counts the rows of a whole file by those
//! columns (`stats count(*) by eventName` over days of events) reads the
//! footer instead of the rows. And a query counting rows that must be read
//! tallies the dictionary keys of each batch ([`KeyCounter`]) rather than
//! hashing every row's string.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, RecordBatch};
use arrow_schema::ArrowError;
use serde::{Deserialize, Serialize};

/// The footer key of a file's counts ([`FileCounts`], JSON).
pub const COUNTS_KEY: &str = "mamori.value_counts";

/// The column every counted column is counted jointly with.
pub const QUALIFIER: &str = "event_code";

/// Most distinct combinations a file keeps for one group: past it, the
/// column is nearly unique per row and its counts would outweigh a scan.
pub const MAX_GROUP_ROWS: usize = 4_096;

/// Most columns a [`KeyCounter`] counts by (their ids pack into 128 bits).
pub const MAX_COLUMNS: usize = 4;

/// Per-batch dictionaries smaller than this (product over the columns) count
/// into a dense array, flushed once per batch.
const DENSE_LIMIT: usize = 1 << 16;

/// Counts rows by the values of up to [`MAX_COLUMNS`] dictionary columns.
#[derive(Clone, Debug)]
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

/// One combination of values and the rows that hold it.
pub type CountRow = (Vec<Option<String>>, u64);

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

    /// The columns counted by.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Distinct combinations counted so far.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
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

    /// Counts the rows of `columns` (the counter's, in order, all of one length).
    pub fn add(&mut self, columns: &[&DictionaryArray<Int32Type>]) -> Result<(), ArrowError> {
        let k = self.names.len();
        if columns.len() != k || k == 0 || k > MAX_COLUMNS {
            return Err(ArrowError::InvalidArgumentError(format!(
                "counting by {k} columns, given {}",
                columns.len()
            )));
        }
        let rows = columns[0].len();
        if columns.iter().any(|c| c.len() != rows) {
            return Err(ArrowError::InvalidArgumentError(
                "counted columns differ in length".into(),
            ));
        }
        // Per column, local codes: 0 is null, i + 1 dictionary value i; and the id of each.
        let mut local_ids: Vec<Vec<u32>> = Vec::with_capacity(k);
        for (c, dict) in columns.iter().enumerate() {
            local_ids.push(self.local_ids(c, dict.values())?);
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
        if let Some(n) = dense {
            // One index per row into a dense tally of every local combination.
            let mut index = vec![0u32; rows];
            fold_codes(columns, &mut index, |c, i, code| i * sizes[c] as u32 + code);
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
            let mut keys = vec![0u128; rows];
            fold_codes(columns, &mut keys, |c, key, code| {
                key | u128::from(local_ids[c][code as usize]) << (32 * c)
            });
            for key in keys {
                *self.counts.entry(key).or_default() += 1;
            }
        }
        Ok(())
    }

    /// Adds `n` rows holding `values` (one per column).
    pub fn add_row(&mut self, values: &[Option<&str>], n: u64) {
        let mut packed = 0u128;
        for (c, v) in values.iter().enumerate().take(self.names.len()) {
            packed |= u128::from(self.id(c, *v)) << (32 * c);
        }
        *self.counts.entry(packed).or_default() += n;
    }

    /// Adds the counts of `other` (over the same columns) to these.
    pub fn merge(&mut self, other: KeyCounter) {
        for (values, n) in other.rows() {
            let values: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
            self.add_row(&values, n);
        }
    }

    /// Every combination counted and its count, in no particular order.
    pub fn rows(&self) -> Vec<CountRow> {
        self.counts
            .iter()
            .map(|(key, n)| {
                let values = (0..self.names.len())
                    .map(|c| {
                        let id = ((key >> (32 * c)) & u128::from(u32::MAX)) as usize;
                        self.values[c].get(id).cloned().flatten()
                    })
                    .collect();
                (values, *n)
            })
            .collect()
    }
}

/// Folds each row's code of every column into `acc` (one value per row).
fn fold_codes<T: Copy>(
    dicts: &[&DictionaryArray<Int32Type>],
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

/// The counts one file keeps in its footer: per group of columns
/// ([`QUALIFIER`] and one other dictionary column), every combination of
/// their values in the file and its rows. A group with more than
/// [`MAX_GROUP_ROWS`] combinations is left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileCounts {
    /// Rows of the file.
    pub rows: u64,
    /// Group (columns joined by `,`) → combinations and their rows.
    pub groups: BTreeMap<String, Vec<CountRow>>,
}

impl FileCounts {
    /// The file's rows counted by `columns`, summed over the other columns
    /// of a group holding them all; `None` if no group does. `constant`
    /// gives the value of a column that is the same on every row of the file
    /// (`source`, the partition), which any group can answer.
    pub fn marginal(
        &self,
        columns: &[String],
        constant: impl Fn(&str) -> Option<String>,
    ) -> Option<Vec<CountRow>> {
        let fixed: Vec<Option<Option<String>>> =
            columns.iter().map(|c| constant(c).map(Some)).collect();
        let counted: Vec<&String> = columns
            .iter()
            .zip(&fixed)
            .filter(|(_, f)| f.is_none())
            .map(|(c, _)| c)
            .collect();
        if counted.is_empty() {
            let values = fixed.into_iter().map(|f| f.flatten()).collect();
            return Some(vec![(values, self.rows)]);
        }
        for (key, rows) in &self.groups {
            let group: Vec<&str> = key.split(',').collect();
            let Some(at) = counted
                .iter()
                .map(|c| group.iter().position(|g| g == c))
                .collect::<Option<Vec<usize>>>()
            else {
                continue;
            };
            let mut sums: HashMap<Vec<Option<String>>, u64> = HashMap::new();
            for (values, n) in rows {
                let mut picked = at.iter().map(|&i| values.get(i).cloned().flatten());
                let out: Vec<Option<String>> = fixed
                    .iter()
                    .map(|f| match f {
                        Some(v) => v.clone(),
                        None => picked.next().flatten(),
                    })
                    .collect();
                *sums.entry(out).or_default() += n;
            }
            return Some(sums.into_iter().collect());
        }
        None
    }
}

/// Counts the rows a segment writer is given, for its footer.
pub(crate) struct FileCounter {
    /// Per counted column: its index in the batch, and the counter of
    /// ([`QUALIFIER`], it); `None` once past [`MAX_GROUP_ROWS`].
    groups: Vec<(usize, Option<KeyCounter>)>,
    qualifier: usize,
    rows: u64,
}

impl FileCounter {
    /// A counter of `dictionary_columns` (names) of batches of `schema`.
    pub(crate) fn new(schema: &arrow_schema::Schema, dictionary_columns: &[&str]) -> Option<Self> {
        let qualifier = schema.index_of(QUALIFIER).ok()?;
        let groups = dictionary_columns
            .iter()
            .filter(|c| **c != QUALIFIER)
            .filter_map(|c| {
                let i = schema.index_of(c).ok()?;
                let names = vec![QUALIFIER.to_owned(), (*c).to_owned()];
                Some((i, Some(KeyCounter::new(names))))
            })
            .collect();
        Some(FileCounter {
            groups,
            qualifier,
            rows: 0,
        })
    }

    /// Counts a batch about to be written.
    pub(crate) fn add(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let not_dict = || ArrowError::SchemaError("a counted column is not a dictionary".into());
        let q = batch
            .column(self.qualifier)
            .as_dictionary_opt::<Int32Type>()
            .ok_or_else(not_dict)?;
        for (i, group) in &mut self.groups {
            let Some(counter) = group else { continue };
            let col = batch
                .column(*i)
                .as_dictionary_opt::<Int32Type>()
                .ok_or_else(not_dict)?;
            counter.add(&[q, col])?;
            if counter.len() > MAX_GROUP_ROWS {
                *group = None;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// The counts, as the footer keeps them.
    pub(crate) fn finish(self) -> FileCounts {
        let groups = self
            .groups
            .into_iter()
            .filter_map(|(_, g)| g)
            .map(|g| {
                let mut rows = g.rows();
                rows.sort();
                (g.names().join(","), rows)
            })
            .collect();
        FileCounts {
            rows: self.rows,
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(values: &[Option<&str>]) -> DictionaryArray<Int32Type> {
        values.iter().copied().collect()
    }

    fn sorted(mut rows: Vec<CountRow>) -> Vec<CountRow> {
        rows.sort();
        rows
    }

    fn s(v: Option<&str>) -> Option<String> {
        v.map(str::to_owned)
    }

    /// Batches with different dictionaries, nulls and two columns count as
    /// the rows would, dense or hashed, merged or not.
    #[test]
    fn counts_match_the_rows_across_batches() {
        let (a1, b1) = (
            dict(&[Some("x"), Some("y"), None, Some("x")]),
            dict(&[Some("1"), Some("1"), Some("2"), Some("1")]),
        );
        let (a2, b2) = (
            dict(&[Some("y"), Some("x"), None]),
            dict(&[Some("1"), Some("1"), Some("2")]),
        );
        let names = || vec!["a".to_owned(), "b".to_owned()];
        let mut c = KeyCounter::new(names());
        c.add(&[&a1, &b1]).expect("add");
        c.add(&[&a1, &b1]).expect("add");
        let mut part = KeyCounter::new(names());
        part.add(&[&a2, &b2]).expect("add");
        c.merge(part);
        assert_eq!(
            sorted(c.rows()),
            vec![
                (vec![None, s(Some("2"))], 3),
                (vec![s(Some("x")), s(Some("1"))], 5),
                (vec![s(Some("y")), s(Some("1"))], 3),
            ]
        );
    }

    /// Big dictionaries count through the hash map.
    #[test]
    fn large_dictionaries() {
        let values: Vec<String> = (0..70_000).map(|i| format!("v{}", i % 66_000)).collect();
        let a: DictionaryArray<Int32Type> = values.iter().map(String::as_str).collect();
        let mut c = KeyCounter::new(vec!["a".into()]);
        c.add(&[&a]).expect("add");
        let rows = c.rows();
        assert_eq!(rows.len(), 66_000);
        assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 70_000);
        assert_eq!(rows.iter().filter(|r| r.1 == 2).count(), 4_000);
    }

    /// A file's counts give any of its columns' counts, alone, with the
    /// qualifier, or with a constant; a column past the cap is left out.
    #[test]
    fn file_counts_and_their_marginals() {
        let schema = arrow_schema::Schema::new(vec![
            arrow_schema::Field::new(QUALIFIER, dict(&[]).data_type().clone(), true),
            arrow_schema::Field::new("op", dict(&[]).data_type().clone(), true),
            arrow_schema::Field::new("id", dict(&[]).data_type().clone(), true),
        ]);
        let schema = Arc::new(schema);
        let mut fc = FileCounter::new(&schema, &[QUALIFIER, "op", "id"]).expect("counter");
        let n = MAX_GROUP_ROWS + 10;
        let ids: Vec<String> = (0..n).map(|i| format!("id{i}")).collect();
        let q: Vec<Option<&str>> = (0..n).map(|i| (i % 3 == 0).then_some("I")).collect();
        let op: Vec<Option<&str>> = (0..n).map(|i| Some(["A", "B"][i % 2])).collect();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(dict(&q)),
                Arc::new(dict(&op)),
                Arc::new(
                    ids.iter()
                        .map(String::as_str)
                        .collect::<DictionaryArray<Int32Type>>(),
                ),
            ],
        )
        .expect("batch");
        fc.add(&batch).expect("add");
        let counts = fc.finish();
        assert_eq!(counts.rows, n as u64);
        assert_eq!(counts.groups.keys().collect::<Vec<_>>(), ["event_code,op"]);
        let none = |_: &str| None;
        let by_op = sorted(counts.marginal(&["op".into()], none).expect("op"));
        let half = n as u64 / 2;
        assert_eq!(
            by_op,
            vec![
                (vec![s(Some("A"))], n as u64 - half),
                (vec![s(Some("B"))], half)
            ]
        );
        let both = counts
            .marginal(&["op".into(), QUALIFIER.into()], none)
            .expect("both");
        assert_eq!(both.len(), 4);
        assert_eq!(both.iter().map(|r| r.1).sum::<u64>(), n as u64);
        assert!(counts.marginal(&["id".into()], none).is_none());
        let source = |c: &str| (c == "source").then(|| "cloudtrail".to_owned());
        let with_source = sorted(
            counts
                .marginal(&["source".into(), "op".into()], source)
                .expect("source"),
        );
        assert_eq!(with_source[0].0, vec![s(Some("cloudtrail")), s(Some("A"))]);
        assert_eq!(
            counts.marginal(&["source".into()], source),
            Some(vec![(vec![s(Some("cloudtrail"))], n as u64)])
        );
        // The JSON the footer keeps reads back the same.
        let text = serde_json::to_string(&counts).expect("json");
        let back: FileCounts = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, counts);
    }
}
