//! What keeps a store sound over time: verification, retention, compaction
//! and snapshots.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;

use mamori_event::{Event, Timestamp};

use crate::manifest::{Entry, FileEntry};
use crate::{date_of, segment, uid_hash, Location, Problem, Store, StoreError};
use crate::{hours, MERGE_BATCH_ROWS};

impl Store {
    /// An error unless every entry of the manifest was read (not a store
    /// opened from its checkpoint, [`Store::open_for_queries`]).
    fn whole_log(&self, what: &str) -> Result<(), StoreError> {
        match &self.base {
            None => Ok(()),
            Some(_) => Err(StoreError::Corrupt(format!(
                "{what} needs the whole manifest: open the store with Store::open_read_only"
            ))),
        }
    }

    /// Checks the manifest chain and every file against it: modified,
    /// missing and inserted files are named. Empty means all is well.
    pub fn verify(&self) -> Result<Vec<Problem>, StoreError> {
        self.whole_log("verify")?;
        let mut problems = Vec::new();
        if let Some(b) = &self.chain_break {
            let (path, reason) = self.describe_break(b);
            problems.push(Problem { path, reason });
        }
        for f in self.live.values() {
            match self.hash_stored(f)? {
                None => problems.push(Problem {
                    path: f.path.clone(),
                    reason: "missing: the manifest lists it but it is not there".into(),
                }),
                Some((sha, bytes)) if sha != f.sha256 || bytes != f.bytes => {
                    problems.push(Problem { path: f.path.clone(), reason: format!("modified: SHA-256 {sha} ({bytes} bytes), the manifest recorded {} ({} bytes)", f.sha256, f.bytes) });
                }
                Some(_) => {}
            }
        }
        // A file an entry removed may still be there for a while (a writer
        // that defers removals for its readers): as it was, it is expected.
        let removed: HashMap<&str, &FileEntry> = self
            .entries
            .iter()
            .flat_map(|e| e.add.iter())
            .filter(|f| !self.live.contains_key(&f.path))
            .map(|f| (f.path.as_str(), f))
            .collect();
        problems.extend(self.verify_checkpoint()?);
        for rel in self.list_stored()? {
            let pending = match removed.get(rel.as_str()) {
                Some(f) => self
                    .hash_stored(f)?
                    .is_some_and(|(sha, bytes)| sha == f.sha256 && bytes == f.bytes),
                None => false,
            };
            if !self.live.contains_key(&rel) && !pending {
                problems.push(Problem {
                    path: rel,
                    reason: "inserted: not in the manifest".into(),
                });
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
        self.append_entry(entry)
    }

    /// Compacts every partition: a day into one segment, or a day of at
    /// least [`crate::HOUR_SPLIT_ROWS`] events into one segment per hour
    /// (the hour is in the file name), dropping duplicate uids. The segments are each
    /// sorted by time, so they are merged as streams, at most
    /// [`crate::MERGE_FAN_IN`] at a time: memory holds a page per open file, not the
    /// partition. Returns (merges, files removed).
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
            let next = by_part.into_iter().find_map(|((source, date), files)| {
                hours::plan(&files, self.hour_split_rows).map(|p| (source, date, p))
            });
            let Some((source, date, plan)) = next else {
                break;
            };
            merges += 1;
            removed += plan.files.len();
            self.merge(
                &source,
                &date,
                plan.files,
                now,
                segment::Effort::Archive,
                plan.by_hour,
            )?;
        }
        Ok((merges, removed))
    }

    /// From now on, [`Store::compact`] splits a day of at least `rows`
    /// events into one segment per hour (default [`crate::HOUR_SPLIT_ROWS`]).
    pub fn split_hours_from(&mut self, rows: u64) {
        self.hour_split_rows = rows.max(1);
    }

    /// Merges `files` of one partition, in one commit, into one segment, or
    /// into one per hour when `by_hour`.
    pub(crate) fn merge(
        &mut self,
        source: &str,
        date: &str,
        files: Vec<FileEntry>,
        now: Timestamp,
        effort: segment::Effort,
        by_hour: bool,
    ) -> Result<(), StoreError> {
        let seq = self.last_link().map_or(1, |l| l.seq + 1);
        let rows: u64 = files.iter().map(|f| f.rows).sum();
        let mut out = Outputs {
            store: self,
            source,
            date,
            seq,
            rows_hint: rows as usize,
            effort,
            by_hour,
            current: None,
            chunk: Vec::with_capacity(MERGE_BATCH_ROWS),
            written: Vec::new(),
        };
        let mut readers = Vec::with_capacity(files.len());
        for f in &files {
            let copy = out.store.fetch(f)?;
            readers.push(segment::SegmentReader::open_columns_only(
                copy.path(),
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
                out.push(e, origin)?;
            }
        }
        let written = out.finish()?;
        drop(readers);
        self.stage(&written)?;
        self.commit_change(
            "compact",
            written,
            files.into_iter().map(|f| f.path).collect(),
            now,
        )
    }

    /// Copies the manifest and every live file to `dest` (a directory or
    /// `s3://bucket/prefix`), which must hold no store, and checks the copy
    /// with [`Store::verify`]. The same call restores: a snapshot is a store.
    /// Returns the files copied.
    pub fn snapshot(&self, dest: impl Into<Location>) -> Result<usize, StoreError> {
        self.whole_log("snapshot")?;
        let dest = dest.into();
        if let Location::Local(dir) = &dest {
            let occupied = dir.exists()
                && fs::read_dir(dir)
                    .map_err(|e| StoreError::io(dir, e))?
                    .next()
                    .is_some();
            if occupied {
                return Err(not_empty(&dest));
            }
        }
        if let Some(b) = &self.chain_break {
            let (path, reason) = self.describe_break(b);
            return Err(StoreError::Corrupt(format!("{path} {reason}")));
        }
        let mut target = Store::open(&dest)?;
        if !target.is_empty()? {
            return Err(not_empty(&dest));
        }
        for f in self.live.values() {
            target.put_file(self.fetch(f)?.path(), &f.path)?;
        }
        // Only the entries this store validated: a torn tail is not copied.
        // Sealing them again after the same chain gives the same hashes.
        for e in &self.entries {
            target.append_entry(e.clone())?;
        }
        let copy = Store::open_read_only(&dest)?;
        if let Some(p) = copy.verify()?.first() {
            return Err(StoreError::Corrupt(format!(
                "the copy in {dest} does not verify: {}: {}",
                p.path, p.reason
            )));
        }
        Ok(self.live.len())
    }

    /// Streams the stored events of the given sources (all when empty) whose
    /// files overlap `[start, end)`, file by file in order of their first
    /// event; events outside the range are skipped. `f` gets each event and
    /// its origin, without the fields that are not columns (`api.request_uid`:
    /// hunts, its user, never read it). Returns how many events were passed.
    pub fn scan(
        &self,
        sources: &[&str],
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        f: &mut dyn FnMut(Event, &str),
    ) -> Result<u64, StoreError> {
        let mut files: Vec<&FileEntry> = self
            .live
            .values()
            .filter(|f| f.source != "dead_letter")
            .filter(|f| sources.is_empty() || sources.contains(&f.source.as_str()))
            .filter(|f| {
                start.is_none_or(|s| f.max_time >= s.0) && end.is_none_or(|e| f.min_time < e.0)
            })
            .collect();
        files.sort_by_key(|f| (f.min_time, f.path.clone()));
        let mut n = 0;
        for file in files {
            let copy = self.fetch(file)?;
            let mut reader = segment::SegmentReader::open_columns_only(copy.path(), 8192)?;
            while let Some((e, origin)) = reader.next_event()? {
                if start.is_some_and(|s| e.time < s) || end.is_some_and(|x| e.time >= x) {
                    continue;
                }
                n += 1;
                f(e, &origin);
            }
        }
        Ok(n)
    }

    /// Every stored event, partition by partition (for tests and exports).
    pub fn read_all(&self) -> Result<Vec<(Event, String)>, StoreError> {
        let mut out = Vec::new();
        for f in self.live.values().filter(|f| f.source != "dead_letter") {
            out.extend(segment::read_segment(self.fetch(f)?.path())?);
        }
        Ok(out)
    }
}

fn not_empty(dest: &Location) -> StoreError {
    let why = "the destination is not empty; a snapshot goes to an empty place";
    match dest {
        Location::Local(dir) => StoreError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, why),
        ),
        Location::S3 { .. } => StoreError::object(&dest.to_string(), why),
    }
}

/// The segments a merge writes: one, or one per hour of the events, which
/// arrive in time order, so one is open at a time.
struct Outputs<'a> {
    store: &'a Store,
    source: &'a str,
    date: &'a str,
    seq: u64,
    rows_hint: usize,
    effort: segment::Effort,
    by_hour: bool,
    /// The segment being written and the hour (since the epoch) it holds.
    current: Option<(i64, segment::SegmentWriter)>,
    chunk: Vec<(Event, String)>,
    written: Vec<FileEntry>,
}

impl Outputs<'_> {
    fn push(&mut self, e: Event, origin: String) -> Result<(), StoreError> {
        let hour = if self.by_hour {
            hours::hour_of(e.time.0)
        } else {
            0
        };
        if self.current.as_ref().map(|(h, _)| *h) != Some(hour) {
            self.close()?;
            let name = if self.by_hour {
                format!("h{:02}", hours::hour_of_day(hour))
            } else {
                "000".to_owned()
            };
            let rel = format!(
                "events/source={}/date={}/seg-{:08}-{name}.parquet",
                self.source, self.date, self.seq
            );
            let w = segment::SegmentWriter::create(
                &self.store.tmp_path(&rel),
                &rel,
                self.source,
                self.date,
                self.rows_hint,
                self.effort,
            )?;
            self.current = Some((hour, w));
        }
        self.chunk.push((e, origin));
        if self.chunk.len() >= MERGE_BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if let Some((_, w)) = self.current.as_mut() {
            w.write(
                &self
                    .chunk
                    .iter()
                    .map(|(e, o)| (e, o.as_str()))
                    .collect::<Vec<_>>(),
            )?;
        }
        self.chunk.clear();
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        if let Some((_, w)) = self.current.take() {
            self.written.push(w.finish()?);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<FileEntry>, StoreError> {
        self.close()?;
        Ok(self.written)
    }
}
