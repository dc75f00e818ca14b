//! Mamori's event store.
//!
//! Events land in Parquet segment files (zstd, sorted by time, bloom filters
//! and page index on the columns people search by), partitioned Hive-style
//! as `events/source=<kind>/date=<YYYY-MM-DD>/<segment>.parquet`, readable
//! as they are by DuckDB, Spark or DataFusion. Every change is an entry in
//! an append-only, hash-chained manifest ([`manifest`]) that is also the
//! ingest checkpoint, so that a crash at any point leaves the store holding
//! each input event exactly once and the run resumes where it stopped.
//!
//! The principal types: [`Store`] (open, commit, stats, verify, retention,
//! compaction) and [`Ingest`] (files in, committed batches out).
//!
//! ```
//! # fn main() -> Result<(), mamori_store::StoreError> {
//! let dir = tempfile::tempdir().map_err(|e| mamori_store::StoreError::io(std::path::Path::new("tmp"), e))?;
//! let mut store = mamori_store::Store::open(dir.path())?;
//! let data = br#"{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"e1"}"#;
//! let mut ingest = mamori_store::Ingest::new(&mut store, Default::default(), 10_000);
//! ingest.add("trail.json", data)?;
//! let report = ingest.finish()?;
//! assert_eq!(report.events_written, 1);
//! assert!(store.verify()?.is_empty());
//! # Ok(()) }
//! ```

mod backend;
pub mod checkpoint;
pub mod counts;
mod hours;
mod ingest;
mod location;
mod maintenance;
pub mod manifest;
mod remote;
pub mod schema;
mod segment;
mod serving;
mod uids;

pub use hours::HOUR_SPLIT_ROWS;
pub use ingest::{parse_input, Ingest, IngestReport, ParsedInput, ParsedRecord};
pub use location::Location;
pub use manifest::{Entry, FileEntry, InputProgress};
pub use segment::{read_segment, ROW_GROUP_ROWS};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use mamori_event::{Event, Timestamp};

/// What can go wrong in the store. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Parquet could not write or read a file.
    #[error("{path}: parquet: {detail}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What Parquet said.
        detail: String,
    },
    /// Object storage refused or failed a request.
    #[error("{uri}: {detail}")]
    Object {
        /// `s3://bucket/key`.
        uri: String,
        /// What the server or client said.
        detail: String,
    },
    /// The store's own files are not what it wrote.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }
    pub(crate) fn object(uri: &str, e: impl std::fmt::Display) -> Self {
        StoreError::Object {
            uri: uri.to_owned(),
            detail: e.to_string(),
        }
    }
    pub(crate) fn parquet(path: &Path, e: impl std::fmt::Display) -> Self {
        StoreError::Parquet {
            path: path.to_owned(),
            detail: e.to_string(),
        }
    }
}

/// Counts for one source (or the total) in `store stats`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceStats {
    /// Events (rows).
    pub events: u64,
    /// Segment files.
    pub files: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Earliest event time.
    pub min_time: Option<Timestamp>,
    /// Latest event time.
    pub max_time: Option<Timestamp>,
}

/// A problem `verify` found.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The file (relative to the data directory) or `manifest.jsonl`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// The store in a data directory or under an object storage prefix.
pub struct Store {
    /// The data directory; for a store on object storage, the local spool.
    root: PathBuf,
    location: Location,
    /// Set when the store is on object storage.
    remote: Option<remote::Remote>,
    /// Held by a local store open for writing: one writer at a time.
    _lock: Option<fs::File>,
    /// The manifest's entries; after `base` when the store was opened from a checkpoint.
    entries: Vec<Entry>,
    /// The entry of the checkpoint the store was opened from
    /// ([`Store::open_for_queries`]); the entries up to it were not read.
    base: Option<manifest::Link>,
    /// The entry of the last checkpoint written (0: none), for a writer.
    checkpoint_seq: u64,
    live: BTreeMap<String, FileEntry>,
    progress: HashMap<String, InputProgress>,
    /// Hashes of the uids stored per (source, date), loaded when first needed.
    uids: HashMap<(String, String), UidSet>,
    torn_tail: bool,
    chain_break: Option<manifest::ChainBreak>,
    /// Set by [`Store::defer_removals`]: files a commit removed, kept until purged.
    deferred: Option<Vec<(std::time::Instant, String)>>,
    /// A day with this many events is compacted into one file per hour.
    hour_split_rows: u64,
}

const MANIFEST: &str = "manifest.jsonl";

/// Segments merged at once by compaction: each open one holds a page per column.
pub const MERGE_FAN_IN: usize = 16;

/// Events held in memory at once while compacting.
const MERGE_BATCH_ROWS: usize = 16_384;

pub(crate) use uids::uid_hash;
use uids::UidSet;

/// Takes the writer's lock of a local store. Object storage has no locks;
/// there the manifest's conditional create refuses the second writer.
fn lock(root: &Path) -> Result<fs::File, StoreError> {
    let path = root.join("lock");
    let file = fs::File::create(&path).map_err(|e| StoreError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::io(
            &path,
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another process is writing to this store",
            ),
        )),
        Err(fs::TryLockError::Error(e)) => Err(StoreError::io(&path, e)),
    }
}

fn date_of(t: Timestamp) -> String {
    let (y, m, d) = t.date();
    format!("{y:04}-{m:02}-{d:02}")
}

impl Store {
    /// Opens (creating if needed) the store at `location` (a directory, or
    /// `s3://bucket/prefix`), finishing what a crash interrupted: a torn last
    /// manifest line is dropped, committed segments still in `tmp/` are moved
    /// into place, uncommitted ones are deleted, and files an entry removed
    /// are deleted.
    pub fn open(location: impl Into<Location>) -> Result<Store, StoreError> {
        let mut store = Self::load(location.into())?;
        if store.remote.is_none() {
            store._lock = Some(lock(&store.root)?);
        }
        if let Some(b) = &store.chain_break {
            let (path, reason) = store.describe_break(b);
            return Err(StoreError::Corrupt(format!(
                "{path} {reason}; run `mamori store verify`"
            )));
        }
        if store.torn_tail {
            manifest::drop_torn_tail(&store.root.join(MANIFEST), &store.entries)?;
            store.torn_tail = false;
        }
        store.roll_forward(true)?;
        store.refresh_checkpoint(true);
        Ok(store)
    }

    /// Reads the store without changing anything (for `stats` and `verify`).
    pub fn open_read_only(location: impl Into<Location>) -> Result<Store, StoreError> {
        Self::load(location.into())
    }

    fn load(location: Location) -> Result<Store, StoreError> {
        let mut store = Self::empty(location)?;
        store.replay()?;
        Ok(store)
    }

    /// The store with nothing read yet.
    fn empty(location: Location) -> Result<Store, StoreError> {
        let (root, remote) = match &location {
            Location::Local(p) => (p.clone(), None),
            Location::S3 { bucket, prefix } => {
                let r = remote::Remote::connect(bucket, prefix, remote::REQUEST_TIMEOUT)?;
                (r.spool().to_owned(), Some(r))
            }
        };
        for d in ["events", "dead-letter", "tmp"] {
            fs::create_dir_all(root.join(d)).map_err(|e| StoreError::io(&root.join(d), e))?;
        }
        Ok(Store {
            root,
            location,
            remote,
            _lock: None,
            entries: Vec::new(),
            base: None,
            checkpoint_seq: 0,
            live: BTreeMap::new(),
            progress: HashMap::new(),
            uids: HashMap::new(),
            torn_tail: false,
            chain_break: None,
            deferred: None,
            hour_split_rows: HOUR_SPLIT_ROWS,
        })
    }

    /// Reads the whole manifest and applies every entry.
    fn replay(&mut self) -> Result<(), StoreError> {
        let (entries, chain_break, torn_tail) = self.read_manifest()?;
        self.torn_tail = torn_tail;
        self.chain_break = chain_break;
        for e in entries {
            self.apply(&e);
            self.entries.push(e);
        }
        Ok(())
    }

    fn apply(&mut self, e: &Entry) {
        // Compaction keeps every uid of the partition (it only drops doubles):
        // its cached uid set stays right. Any other removal invalidates it.
        let keeps_uids = e.op == "compact";
        for r in &e.remove {
            if let Some(f) = self.live.remove(r) {
                if !keeps_uids {
                    self.uids.remove(&(f.source, f.date));
                }
            }
        }
        for a in &e.add {
            self.live.insert(a.path.clone(), a.clone());
        }
        for p in &e.inputs {
            self.progress.insert(p.input.clone(), p.clone());
        }
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Entries in the manifest (0 for a new store).
    pub fn manifest_entries(&self) -> usize {
        self.base.as_ref().map_or(0, |l| l.seq as usize) + self.entries.len()
    }

    /// Committed progress of an input (of the entries read: a store opened
    /// with [`Store::open_for_queries`] may not have read them all).
    pub fn progress(&self, input: &str) -> Option<&InputProgress> {
        self.progress.get(input)
    }

    /// Live files, by path.
    pub fn files(&self) -> impl Iterator<Item = &FileEntry> {
        self.live.values()
    }

    /// Total events stored.
    pub fn event_count(&self) -> u64 {
        self.live
            .values()
            .filter(|f| f.source != "dead_letter")
            .map(|f| f.rows)
            .sum()
    }

    fn known_uids(&mut self, source: &str, date: &str) -> Result<&mut UidSet, StoreError> {
        let key = (source.to_owned(), date.to_owned());
        if !self.uids.contains_key(&key) {
            let mut set = UidSet::default();
            for f in self
                .live
                .values()
                .filter(|f| f.source == source && f.date == date)
            {
                for u in segment::read_uids(self.fetch(f)?.path())? {
                    set.insert(uid_hash(&u));
                }
            }
            self.uids.insert(key.clone(), set);
        }
        self.uids
            .get_mut(&key)
            .ok_or_else(|| StoreError::Corrupt("uid cache".into()))
    }

    /// Commits events and dead letters with the input progress they complete.
    /// Events whose uid the store already holds in their partition are
    /// dropped (returned count). Durable on return.
    pub fn commit(
        &mut self,
        events: &[(Event, std::sync::Arc<str>)],
        dead_letters: &[String],
        inputs: Vec<InputProgress>,
        now: Timestamp,
    ) -> Result<(u64, u64), StoreError> {
        let mut stored = Vec::new();
        self.commit_marking(events, dead_letters, inputs, now, &mut stored)
    }

    /// As [`Store::commit`], and sets `stored[i]` to whether `events[i]` was
    /// new (written) rather than a duplicate, for whatever runs on stored events.
    pub fn commit_marking(
        &mut self,
        events: &[(Event, std::sync::Arc<str>)],
        dead_letters: &[String],
        inputs: Vec<InputProgress>,
        now: Timestamp,
        stored: &mut Vec<bool>,
    ) -> Result<(u64, u64), StoreError> {
        stored.clear();
        let mut parts: BTreeMap<(String, String), Vec<(&Event, &str)>> = BTreeMap::new();
        let mut fresh: HashMap<(String, String), HashSet<u128>> = HashMap::new();
        let mut dupes = 0;
        for (e, origin) in events {
            let key = (e.source.as_str().to_owned(), date_of(e.time));
            let h = uid_hash(&e.uid);
            let known = self.known_uids(&key.0, &key.1)?.contains(h);
            if known || !fresh.entry(key.clone()).or_default().insert(h) {
                dupes += 1;
                stored.push(false);
                continue;
            }
            stored.push(true);
            parts.entry(key).or_default().push((e, origin));
        }
        let seq = self.last_link().map_or(1, |l| l.seq + 1);
        let mut add = Vec::new();
        for (i, ((source, date), mut evs)) in parts.into_iter().enumerate() {
            evs.sort_by_key(|(e, _)| e.time);
            let rel = format!("events/source={source}/date={date}/seg-{seq:08}-{i:03}.parquet");
            add.push(segment::write_segment(
                &self.tmp_path(&rel),
                &rel,
                &source,
                &date,
                &evs,
            )?);
        }
        if !dead_letters.is_empty() {
            let date = date_of(now);
            let rel = format!("dead-letter/date={date}/rejected-{seq:08}.jsonl");
            let mut text = dead_letters.join("\n");
            text.push('\n');
            let tmp = self.tmp_path(&rel);
            segment::write_durably(&tmp, text.as_bytes())?;
            let (sha256, bytes) = segment::hash_file(&tmp)?;
            add.push(FileEntry {
                path: rel,
                sha256,
                bytes,
                rows: dead_letters.len() as u64,
                source: "dead_letter".into(),
                date,
                min_time: now.0,
                max_time: now.0,
            });
        }
        if add.is_empty() && inputs.is_empty() {
            return Ok((0, dupes));
        }
        self.stage(&add)?;
        let written = add
            .iter()
            .filter(|f| f.source != "dead_letter")
            .map(|f| f.rows)
            .sum();
        let entry = Entry {
            seq: 0,
            prev: String::new(),
            time: now,
            op: "ingest".into(),
            add,
            remove: Vec::new(),
            inputs,
            hash: String::new(),
        };
        self.append_entry(entry)?;
        for (k, set) in fresh {
            if let Some(known) = self.uids.get_mut(&k) {
                known.extend(set);
            }
        }
        Ok((written, dupes))
    }

    /// Per-source and total counts, from the manifest.
    pub fn stats(&self) -> (BTreeMap<String, SourceStats>, SourceStats) {
        let mut per: BTreeMap<String, SourceStats> = BTreeMap::new();
        let mut total = SourceStats::default();
        for f in self.live.values().filter(|f| f.source != "dead_letter") {
            for s in [per.entry(f.source.clone()).or_default(), &mut total] {
                s.events += f.rows;
                s.files += 1;
                s.bytes += f.bytes;
                s.min_time = Some(
                    s.min_time
                        .map_or(Timestamp(f.min_time), |m| m.min(Timestamp(f.min_time))),
                );
                s.max_time = Some(
                    s.max_time
                        .map_or(Timestamp(f.max_time), |m| m.max(Timestamp(f.max_time))),
                );
            }
        }
        (per, total)
    }
}
