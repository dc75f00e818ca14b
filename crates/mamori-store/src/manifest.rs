//! The manifest: an append-only JSON-lines log of every change to the store,
//! each entry hash-chained to the one before. It is also the ingest
//! checkpoint: an input's progress is committed in the same entry as the
//! segments that hold its events, so a crash can never record one without
//! the other.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use mamori_event::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// A sealed file the store holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the data directory.
    pub path: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows (events, or dead-letter records).
    pub rows: u64,
    /// Source kind, or `dead_letter`.
    pub source: String,
    /// Partition date, `YYYY-MM-DD` (event time for events, ingest time for dead letters).
    pub date: String,
    /// Earliest event time in the file (µs).
    pub min_time: i64,
    /// Latest event time in the file (µs).
    pub max_time: i64,
}

/// How far one input (file or object) has been committed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputProgress {
    /// The input's name as given (path or URI).
    pub input: String,
    /// Its size when read.
    pub size: u64,
    /// Records (events and rejects, in parse order) committed so far.
    pub records: u64,
    /// Whether every record of the input is committed.
    pub done: bool,
    /// The object's version when the source gives one (an S3 ETag): an
    /// object rewritten in place, even at the same size, is read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One manifest entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev: String,
    /// When the entry was written.
    pub time: Timestamp,
    /// What the entry does: `ingest`, `compact`, `retention`, `restore`.
    pub op: String,
    /// Files added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<FileEntry>,
    /// Paths removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Input progress committed with this entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputProgress>,
    /// SHA-256 over `prev` and the entry without this field.
    #[serde(default)]
    pub hash: String,
}

impl Entry {
    /// The hash this entry must carry.
    pub fn compute_hash(&self) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        let text = serde_json::to_string(&body).unwrap_or_default();
        chain_hash(&self.prev, &[text.as_bytes()])
    }
}

/// SHA-256 (hex) of `prev`, a newline, and an entry's text given in `parts`.
fn chain_hash(prev: &str, parts: &[&[u8]]) -> String {
    let mut h = Sha256::new()
        .chain_update(prev.as_bytes())
        .chain_update(b"\n");
    for p in parts {
        h.update(p);
    }
    hex(&h.finalize())
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The first entry's `prev`.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a chain goes on from: an entry's position and hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The entry's `seq`.
    pub seq: u64,
    /// The entry's `hash`, the next one's `prev`.
    pub hash: String,
}

impl Link {
    /// The link to `entry`.
    pub fn to(entry: &Entry) -> Link {
        Link {
            seq: entry.seq,
            hash: entry.hash.clone(),
        }
    }
}

/// A problem found reading the manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainBreak {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Reads the manifest. A last line cut short by a crash (not valid JSON, no
/// newline) is a write that never committed and is reported as `torn`; any
/// other problem breaks the chain and is returned with the entries before it.
pub fn read(path: &Path) -> Result<(Vec<Entry>, Option<ChainBreak>, bool), StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None, false)),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let lines = BufReader::new(file)
        .split(b'\n')
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::io(path, e))?;
    Ok(check_chain(&lines, None, true))
}

/// Checks entries in log order: each parses, carries its position as `seq`,
/// chains to the one before and hashes to its content. The first follows
/// `from` (the start of the log when `None`). With `last_may_be_torn` an
/// unparsable last entry is a torn write (the third value), not a break.
pub fn check_chain(
    items: &[Vec<u8>],
    from: Option<&Link>,
    last_may_be_torn: bool,
) -> (Vec<Entry>, Option<ChainBreak>, bool) {
    let mut entries: Vec<Entry> = Vec::new();
    let before = from.map_or(0, |l| l.seq);
    for (i, item) in items.iter().enumerate() {
        let n = before as usize + i + 1;
        let entry: Entry = match serde_json::from_slice(item) {
            Ok(e) => e,
            Err(_) if last_may_be_torn && i + 1 == items.len() => return (entries, None, true),
            Err(e) => {
                let reason = format!("not a manifest entry: {e}");
                return (entries, Some(ChainBreak { line: n, reason }), false);
            }
        };
        let prev = match (entries.last(), from) {
            (Some(e), _) => e.hash.clone(),
            (None, Some(l)) => l.hash.clone(),
            (None, None) => GENESIS.to_owned(),
        };
        let reason = if entry.seq != n as u64 {
            Some(format!(
                "sequence {} where {} was expected (an entry was removed or inserted)",
                entry.seq, n
            ))
        } else if entry.prev != prev {
            Some("does not chain to the entry before it".to_owned())
        } else if !hashes_to(&entry, &prev, item) {
            Some("its hash does not match its content (the entry was modified)".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            return (entries, Some(ChainBreak { line: n, reason }), false);
        }
        entries.push(entry);
    }
    (entries, None, false)
}

/// Whether `entry`, read from the line `text`, carries the hash of its content.
/// A line as [`append`] wrote it is the entry's canonical form with the hash
/// as last field, so the hash is checked over the line itself: no copy and no
/// second encoding of each entry, which was most of opening a store of a few
/// thousand entries. A line in any other form (rewritten by hand or by a tool)
/// is checked against its canonical form, as the hash is defined.
pub(crate) fn hashes_to(entry: &Entry, prev: &str, text: &[u8]) -> bool {
    const FIELD: &[u8] = b",\"hash\":\"";
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let n = text.len();
    let hex_len = entry.hash.len();
    let as_written = n > FIELD.len() + hex_len + 2
        && text.ends_with(b"\"}")
        && &text[n - 2 - hex_len..n - 2] == entry.hash.as_bytes()
        && &text[n - 2 - hex_len - FIELD.len()..n - 2 - hex_len] == FIELD;
    if as_written {
        let body = &text[..n - 2 - hex_len - FIELD.len()];
        if chain_hash(prev, &[body, b",\"hash\":\"\"}"]) == entry.hash {
            return true;
        }
    }
    entry.hash == entry.compute_hash()
}

/// Fills `seq`, `prev` and `hash` of an entry that follows `last`.
pub fn seal(last: Option<&Link>, mut entry: Entry) -> Entry {
    entry.seq = last.map_or(1, |e| e.seq + 1);
    entry.prev = last.map_or(GENESIS.to_owned(), |e| e.hash.clone());
    entry.hash = entry.compute_hash();
    entry
}

/// The object that holds entry `seq` in a store on object storage.
pub fn object_name(seq: u64) -> String {
    format!("manifest/{seq:020}.json")
}

/// Appends an entry (filling `seq`, `prev`, `hash`) and fsyncs. Returns it.
pub fn append(path: &Path, last: Option<&Link>, entry: Entry) -> Result<Entry, StoreError> {
    let entry = seal(last, entry);
    let mut line = serde_json::to_string(&entry)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode manifest entry: {e}")))?;
    line.push('\n');
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    f.write_all(line.as_bytes())
        .map_err(|e| StoreError::io(path, e))?;
    f.sync_all().map_err(|e| StoreError::io(path, e))?;
    Ok(entry)
}

/// Rewrites the manifest without a torn last line (the write that never committed).
pub fn drop_torn_tail(path: &Path, entries: &[Entry]) -> Result<(), StoreError> {
    let mut text = String::new();
    for e in entries {
        text.push_str(&serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        text.push('\n');
    }
    crate::segment::write_durably(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(op: &str) -> Entry {
        Entry {
            seq: 0,
            prev: String::new(),
            time: Timestamp(1),
            op: op.to_owned(),
            add: Vec::new(),
            remove: vec!["events/a.parquet".to_owned()],
            inputs: Vec::new(),
            hash: String::new(),
        }
    }

    /// Lines as written check over their text; a line in another form (here
    /// pretty-printed) against its canonical form; a changed line fails either way.
    #[test]
    fn hashes_check_as_written_and_in_any_other_form() {
        let first = seal(None, entry("ingest"));
        let second = seal(Some(&Link::to(&first)), entry("compact"));
        let line = |e: &Entry| serde_json::to_vec(e).expect("json");
        let pretty = serde_json::to_string_pretty(&second)
            .expect("json")
            .replace('\n', " ")
            .into_bytes();
        for lines in [
            vec![line(&first), line(&second)],
            vec![line(&first), pretty],
        ] {
            let (entries, broken, torn) = check_chain(&lines, None, true);
            assert_eq!((entries.len(), broken, torn), (2, None, false));
        }
        let changed = String::from_utf8(line(&second))
            .expect("utf-8")
            .replace("events/a.parquet", "events/b.parquet")
            .into_bytes();
        let (entries, broken, _) = check_chain(&[line(&first), changed], None, true);
        assert_eq!(entries.len(), 1);
        assert!(broken.is_some_and(|b| b.line == 2 && b.reason.contains("hash")));
    }
}
