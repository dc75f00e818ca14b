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

mod ingest;
pub mod manifest;
pub mod schema;
mod segment;

pub use ingest::{parse_input, Ingest, IngestReport, ParsedInput, ParsedRecord};
pub use manifest::{Entry, FileEntry, InputProgress};
pub use segment::{read_segment, ROW_GROUP_ROWS};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::hash::{Hash, Hasher};
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

/// The store in a data directory.
pub struct Store {
    root: PathBuf,
    entries: Vec<Entry>,
    live: BTreeMap<String, FileEntry>,
    progress: HashMap<String, InputProgress>,
    /// Hashes of the uids stored per (source, date), loaded when first needed.
    uids: HashMap<(String, String), HashSet<u64>>,
    torn_tail: bool,
    chain_break: Option<manifest::ChainBreak>,
}

const MANIFEST: &str = "manifest.jsonl";

/// Segments merged at once by compaction: each open one holds a page per column.
pub const MERGE_FAN_IN: usize = 16;

/// Events held in memory at once while compacting.
const MERGE_BATCH_ROWS: usize = 16_384;

pub(crate) fn uid_hash(uid: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    uid.hash(&mut h);
    h.finish()
}

fn date_of(t: Timestamp) -> String {
    let (y, m, d) = t.date();
    format!("{y:04}-{m:02}-{d:02}")
}

impl Store {
    /// Opens (creating if needed) the store in `root`, finishing what a crash
    /// interrupted: a torn last manifest line is dropped, committed segments
    /// still in `tmp/` are moved into place, uncommitted ones are deleted, and
    /// files an entry removed are deleted.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for d in ["events", "dead-letter", "tmp"] {
            fs::create_dir_all(root.join(d)).map_err(|e| StoreError::io(&root.join(d), e))?;
        }
        let mut store = Self::load(root)?;
        if let Some(b) = &store.chain_break {
            return Err(StoreError::Corrupt(format!(
                "{MANIFEST} line {}: {}; run `mamori store verify`",
                b.line, b.reason
            )));
        }
        if store.torn_tail {
            manifest::drop_torn_tail(&root.join(MANIFEST), &store.entries)?;
            store.torn_tail = false;
        }
        store.roll_forward()?;
        Ok(store)
    }

    /// Reads the store without changing anything (for `stats` and `verify`).
    pub fn open_read_only(root: &Path) -> Result<Store, StoreError> {
        Self::load(root)
    }

    fn load(root: &Path) -> Result<Store, StoreError> {
        let (entries, chain_break, torn_tail) = manifest::read(&root.join(MANIFEST))?;
        let mut store = Store {
            root: root.to_owned(),
            entries: Vec::new(),
            live: BTreeMap::new(),
            progress: HashMap::new(),
            uids: HashMap::new(),
            torn_tail,
            chain_break,
        };
        for e in entries {
            store.apply(&e);
            store.entries.push(e);
        }
        Ok(store)
    }

    fn apply(&mut self, e: &Entry) {
        for r in &e.remove {
            self.live.remove(r);
        }
        for a in &e.add {
            self.live.insert(a.path.clone(), a.clone());
        }
        for p in &e.inputs {
            self.progress.insert(p.input.clone(), p.clone());
        }
        if !e.remove.is_empty() {
            self.uids.clear();
        }
    }

    fn tmp_path(&self, rel: &str) -> PathBuf {
        self.root.join("tmp").join(rel.replace('/', "__"))
    }

    /// Where a live file is: in place, or (committed just before a crash,
    /// not yet moved) still in `tmp/`.
    fn locate(&self, f: &FileEntry) -> PathBuf {
        let p = self.root.join(&f.path);
        if p.exists() {
            return p;
        }
        let tmp = self.tmp_path(&f.path);
        if tmp.exists() {
            tmp
        } else {
            p
        }
    }

    fn roll_forward(&mut self) -> Result<(), StoreError> {
        for f in self.live.values() {
            let final_path = self.root.join(&f.path);
            let tmp = self.tmp_path(&f.path);
            if !final_path.exists() && tmp.exists() {
                if let Some(dir) = final_path.parent() {
                    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                }
                fs::rename(&tmp, &final_path).map_err(|e| StoreError::io(&final_path, e))?;
                segment::sync_dir(final_path.parent().unwrap_or(&self.root))?;
            }
        }
        let tmp_dir = self.root.join("tmp");
        for entry in fs::read_dir(&tmp_dir)
            .map_err(|e| StoreError::io(&tmp_dir, e))?
            .flatten()
        {
            let _ = fs::remove_file(entry.path());
        }
        for e in &self.entries {
            for r in &e.remove {
                if !self.live.contains_key(r) {
                    let p = self.root.join(r);
                    if p.exists() {
                        fs::remove_file(&p).map_err(|err| StoreError::io(&p, err))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Committed progress of an input.
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

    fn known_uids(&mut self, source: &str, date: &str) -> Result<&mut HashSet<u64>, StoreError> {
        let key = (source.to_owned(), date.to_owned());
        if !self.uids.contains_key(&key) {
            let mut set = HashSet::new();
            for f in self
                .live
                .values()
                .filter(|f| f.source == source && f.date == date)
            {
                for u in segment::read_uids(&self.locate(f))? {
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
        let mut parts: BTreeMap<(String, String), Vec<(&Event, &str)>> = BTreeMap::new();
        let mut fresh: HashMap<(String, String), HashSet<u64>> = HashMap::new();
        let mut dupes = 0;
        for (e, origin) in events {
            let key = (e.source.as_str().to_owned(), date_of(e.time));
            let h = uid_hash(&e.uid);
            let known = self.known_uids(&key.0, &key.1)?.contains(&h);
            if known || !fresh.entry(key.clone()).or_default().insert(h) {
                dupes += 1;
                continue;
            }
            parts.entry(key).or_default().push((e, origin));
        }
        let seq = self.entries.last().map_or(1, |e| e.seq + 1);
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
        segment::sync_dir(&self.root.join("tmp"))?;
        if add.is_empty() && inputs.is_empty() {
            return Ok((0, dupes));
        }
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
        let entry = manifest::append(&self.root.join(MANIFEST), self.entries.last(), entry)?;
        self.apply(&entry);
        self.entries.push(entry);
        self.roll_forward()?;
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

    /// Checks the manifest chain and every file against it: modified,
    /// missing and inserted files are named. Empty means all is well.
    pub fn verify(&self) -> Result<Vec<Problem>, StoreError> {
        let mut problems = Vec::new();
        if let Some(b) = &self.chain_break {
            problems.push(Problem {
                path: MANIFEST.into(),
                reason: format!("line {}: {}", b.line, b.reason),
            });
        }
        for f in self.live.values() {
            let p = self.locate(f);
            if !p.exists() {
                problems.push(Problem {
                    path: f.path.clone(),
                    reason: "missing: the manifest lists it but it is not there".into(),
                });
                continue;
            }
            let (sha, bytes) = segment::hash_file(&p)?;
            if sha != f.sha256 || bytes != f.bytes {
                problems.push(Problem { path: f.path.clone(), reason: format!("modified: SHA-256 {sha} ({bytes} bytes), the manifest recorded {} ({} bytes)", f.sha256, f.bytes) });
            }
        }
        for dir in ["events", "dead-letter"] {
            let base = self.root.join(dir);
            for entry in walk(&base) {
                let rel = entry
                    .strip_prefix(&self.root)
                    .unwrap_or(&entry)
                    .to_string_lossy()
                    .replace('\\', "/");
                if !self.live.contains_key(&rel) {
                    problems.push(Problem {
                        path: rel,
                        reason: "inserted: not in the manifest".into(),
                    });
                }
            }
        }
        Ok(problems)
    }

    /// Deletes whole partitions older than their source's retention (days;
    /// `default` for sources not named). Returns the files removed.
    pub fn apply_retention(
        &mut self,
        days: &BTreeMap<String, u32>,
        default: Option<u32>,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let mut remove = Vec::new();
        for f in self.live.values() {
            let keep = days.get(&f.source).copied().or(default);
            if let Some(d) = keep {
                let cutoff = date_of(Timestamp(now.0 - i64::from(d) * 86_400_000_000));
                if f.date < cutoff {
                    remove.push(f.path.clone());
                }
            }
        }
        self.commit_change("retention", Vec::new(), remove.clone(), now)?;
        Ok(remove)
    }

    fn commit_change(
        &mut self,
        op: &str,
        add: Vec<FileEntry>,
        remove: Vec<String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let entry = Entry {
            seq: 0,
            prev: String::new(),
            time: now,
            op: op.into(),
            add,
            remove,
            inputs: Vec::new(),
            hash: String::new(),
        };
        let entry = manifest::append(&self.root.join(MANIFEST), self.entries.last(), entry)?;
        self.apply(&entry);
        self.entries.push(entry);
        self.roll_forward()?;
        prune_empty_dirs(&self.root.join("events"));
        Ok(())
    }

    /// Merges each partition's segments into one when it has more than one,
    /// dropping duplicate uids. The segments are each sorted by time, so they
    /// are merged as streams, at most [`MERGE_FAN_IN`] at a time: memory holds
    /// a page per open file, not the partition. Returns (merges, files removed).
    pub fn compact(&mut self, now: Timestamp) -> Result<(usize, usize), StoreError> {
        let (mut merges, mut removed) = (0, 0);
        loop {
            let mut by_part: BTreeMap<(String, String), Vec<FileEntry>> = BTreeMap::new();
            for f in self.live.values().filter(|f| f.source != "dead_letter") {
                by_part
                    .entry((f.source.clone(), f.date.clone()))
                    .or_default()
                    .push(f.clone());
            }
            let Some(((source, date), mut files)) = by_part.into_iter().find(|(_, f)| f.len() > 1)
            else {
                break;
            };
            merges += 1;
            files.sort_by_key(|f| f.rows);
            files.truncate(MERGE_FAN_IN);
            removed += files.len();
            self.merge(&source, &date, files, now)?;
        }
        Ok((merges, removed))
    }

    /// Merges `files` of one partition into one segment, in one commit.
    fn merge(
        &mut self,
        source: &str,
        date: &str,
        files: Vec<FileEntry>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        {
            let seq = self.entries.last().map_or(1, |e| e.seq + 1);
            let rel = format!("events/source={source}/date={date}/seg-{seq:08}-000.parquet");
            let rows: u64 = files.iter().map(|f| f.rows).sum();
            let mut out = segment::SegmentWriter::create(
                &self.tmp_path(&rel),
                &rel,
                source,
                date,
                rows as usize,
            )?;
            let mut readers = Vec::with_capacity(files.len());
            for f in &files {
                readers.push(segment::SegmentReader::open(
                    &self.locate(f),
                    MERGE_BATCH_ROWS / files.len().max(1) + 1,
                )?);
            }
            // A k-way merge on (time, reader): the heap holds each reader's next event.
            let mut heap = std::collections::BinaryHeap::new();
            let mut heads: Vec<Option<(Event, String)>> = Vec::with_capacity(readers.len());
            for (i, r) in readers.iter_mut().enumerate() {
                let head = r.next_event()?;
                if let Some((e, _)) = &head {
                    heap.push(std::cmp::Reverse((e.time, i)));
                }
                heads.push(head);
            }
            let mut seen = HashSet::new();
            let mut chunk: Vec<(Event, String)> = Vec::with_capacity(MERGE_BATCH_ROWS);
            while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
                let Some((e, origin)) = heads[i].take() else {
                    continue;
                };
                let next = readers[i].next_event()?;
                if let Some((n, _)) = &next {
                    heap.push(std::cmp::Reverse((n.time, i)));
                }
                heads[i] = next;
                if seen.insert(uid_hash(&e.uid)) {
                    chunk.push((e, origin));
                }
                if chunk.len() >= MERGE_BATCH_ROWS {
                    write_chunk(&mut out, &mut chunk)?;
                }
            }
            write_chunk(&mut out, &mut chunk)?;
            let entry = out.finish()?;
            segment::sync_dir(&self.root.join("tmp"))?;
            self.commit_change(
                "compact",
                vec![entry],
                files.into_iter().map(|f| f.path).collect(),
                now,
            )
        }
    }

    /// Copies the manifest and every live file to `dest`, which must not
    /// exist or be empty, and checks the copy with [`Store::verify`]. The
    /// same call restores: a snapshot is a store. Returns the files copied.
    pub fn snapshot(&self, dest: &Path) -> Result<usize, StoreError> {
        if dest.exists()
            && fs::read_dir(dest)
                .map_err(|e| StoreError::io(dest, e))?
                .next()
                .is_some()
        {
            return Err(StoreError::io(
                dest,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the destination is not empty",
                ),
            ));
        }
        if let Some(b) = &self.chain_break {
            return Err(StoreError::Corrupt(format!(
                "{MANIFEST} line {}: {}",
                b.line, b.reason
            )));
        }
        for f in self.live.values() {
            let to = dest.join(&f.path);
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            }
            let data = fs::read(self.locate(f))
                .map_err(|e| StoreError::io(&self.root.join(&f.path), e))?;
            segment::write_durably(&to, &data)?;
        }
        let manifest = fs::read(self.root.join(MANIFEST))
            .map_err(|e| StoreError::io(&self.root.join(MANIFEST), e))?;
        // Only the entries this store validated: a torn tail is not copied.
        let keep: usize = self
            .entries
            .iter()
            .map(|e| serde_json::to_string(e).map_or(0, |t| t.len() + 1))
            .sum();
        segment::write_durably(&dest.join(MANIFEST), &manifest[..keep.min(manifest.len())])?;
        for d in ["events", "dead-letter", "tmp"] {
            fs::create_dir_all(dest.join(d)).map_err(|e| StoreError::io(&dest.join(d), e))?;
        }
        let copy = Store::open_read_only(dest)?;
        if let Some(p) = copy.verify()?.first() {
            return Err(StoreError::Corrupt(format!(
                "the copy in {} does not verify: {}: {}",
                dest.display(),
                p.path,
                p.reason
            )));
        }
        Ok(self.live.len())
    }

    /// Every stored event, partition by partition (for tests and exports).
    pub fn read_all(&self) -> Result<Vec<(Event, String)>, StoreError> {
        let mut out = Vec::new();
        for f in self.live.values().filter(|f| f.source != "dead_letter") {
            out.extend(segment::read_segment(&self.locate(f))?);
        }
        Ok(out)
    }
}

/// Writes and empties a chunk of merged events.
fn write_chunk(
    out: &mut segment::SegmentWriter,
    chunk: &mut Vec<(Event, String)>,
) -> Result<(), StoreError> {
    out.write(
        &chunk
            .iter()
            .map(|(e, o)| (e, o.as_str()))
            .collect::<Vec<_>>(),
    )?;
    chunk.clear();
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect()
}

fn prune_empty_dirs(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            prune_empty_dirs(&p);
            let _ = fs::remove_dir(&p);
        }
    }
}
