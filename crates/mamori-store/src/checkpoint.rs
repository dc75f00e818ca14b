//! The manifest checkpoint: the live files as of one entry, so that a query
//! reads the entries after it rather than the whole log. Every ingest entry
//! carries its inputs' progress, so the log grows with the number of input
//! files (10,000 files of 1,000 events: 3 MB), and replaying it took most
//! of a needle query's time.
//!
//! It is a cache, never the record: it is trusted only when the entry it
//! names is in the log at the place it says, with the hash it says, and its
//! own digest matches its content. Otherwise the reader replays the whole
//! manifest, as it would without one. Writers keep it within
//! [`CHECKPOINT_EVERY`] entries of the end; `mamori store verify` checks it
//! against the log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::{self, hex, Entry, FileEntry, Link};
use crate::{Location, Problem, Store, StoreError};

/// The checkpoint of a local store, beside `manifest.jsonl`; on object
/// storage, the object of that name under the prefix.
pub const CHECKPOINT: &str = "manifest.checkpoint.json";

/// Entries a writer lets pass before it writes a new checkpoint: a reader
/// then reads at most this many, whatever the manifest's length.
pub const CHECKPOINT_EVERY: u64 = 64;

/// The live files after one entry of the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The entry: its `seq` and `hash`.
    pub seq: u64,
    /// The entry's hash.
    pub hash: String,
    /// Where the entry's line starts in `manifest.jsonl` (bytes; unused on object storage).
    pub at: u64,
    /// The live files once the entry is applied.
    pub files: Vec<FileEntry>,
    /// SHA-256 of the checkpoint without this field.
    #[serde(default)]
    pub digest: String,
}

impl Checkpoint {
    /// The checkpoint of `files` after the entry `link`, whose line starts at `at`.
    pub fn new(link: &Link, at: u64, files: Vec<FileEntry>) -> Checkpoint {
        let mut cp = Checkpoint {
            seq: link.seq,
            hash: link.hash.clone(),
            at,
            files,
            digest: String::new(),
        };
        cp.digest = cp.compute_digest();
        cp
    }

    fn compute_digest(&self) -> String {
        let body = Checkpoint {
            digest: String::new(),
            ..self.clone()
        };
        let text = serde_json::to_vec(&body).unwrap_or_default();
        hex(&Sha256::digest(&text))
    }

    /// The entry it follows from.
    pub fn link(&self) -> Link {
        Link {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }

    /// Its JSON text.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The checkpoint in `bytes`, unless they are not one or were changed
    /// since it was written (its digest does not match).
    pub fn decode(bytes: &[u8]) -> Option<Checkpoint> {
        let cp: Checkpoint = serde_json::from_slice(bytes).ok()?;
        (cp.seq > 0 && cp.digest == cp.compute_digest()).then_some(cp)
    }
}

impl Store {
    /// Reads what a query needs, the live files, without changing anything:
    /// from the checkpoint and the entries after it when the checkpoint
    /// holds, else from the whole manifest. Input progress is that of the
    /// entries read only: a store to ingest into is opened with [`Store::open`].
    pub fn open_for_queries(location: impl Into<Location>) -> Result<Store, StoreError> {
        let mut store = Self::empty(location.into())?;
        // A checkpoint that cannot be read is no checkpoint: the log is the record.
        let cp = store
            .checkpoint_bytes()
            .ok()
            .flatten()
            .and_then(|b| Checkpoint::decode(&b));
        if let Some(cp) = cp {
            if let Some(after) = store.entries_after(&cp)? {
                let link = cp.link();
                let (entries, chain_break, torn_tail) =
                    manifest::check_chain(&after, Some(&link), store.remote.is_none());
                store.torn_tail = torn_tail;
                store.chain_break = chain_break;
                store.base = Some(link);
                store.live = cp.files.into_iter().map(|f| (f.path.clone(), f)).collect();
                for e in entries {
                    store.apply(&e);
                    store.entries.push(e);
                }
                return Ok(store);
            }
        }
        store.replay()?;
        Ok(store)
    }

    /// Writes a checkpoint of the live files after the last entry when the
    /// one there is [`CHECKPOINT_EVERY`] entries behind or, with `check`
    /// (a writer opening the store, which has read every entry), does not
    /// read or names an entry the log does not have. One that cannot be
    /// written is left for the next commit: the commit stands either way.
    pub(crate) fn refresh_checkpoint(&mut self, check: bool) {
        if check {
            let valid = self
                .checkpoint_bytes()
                .ok()
                .flatten()
                .and_then(|b| Checkpoint::decode(&b));
            self.checkpoint_seq = valid
                .filter(|cp| self.checkpoint_holds(cp))
                .map_or(0, |cp| cp.seq);
        }
        let Some(last) = self.entries.last() else {
            return;
        };
        if last.seq < self.checkpoint_seq + CHECKPOINT_EVERY {
            return;
        }
        // The last line is the last entry as `append` wrote it; if it is
        // not (edited by hand), readers find no entry at `at` and replay
        // the whole manifest.
        let line = serde_json::to_vec(last).map_or(0, |l| l.len() as u64 + 1);
        let link = Link::to(last);
        let written = self.manifest_len().and_then(|len| {
            let files = self.live.values().cloned().collect();
            self.put_checkpoint(&Checkpoint::new(&link, len.saturating_sub(line), files))
        });
        if written.is_ok() {
            self.checkpoint_seq = link.seq;
        }
    }

    /// The text of the entries after `cp`'s, if `cp` holds: the entry it
    /// names is in the log where it says, as it was written.
    fn entries_after(&self, cp: &Checkpoint) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let Some(mut items) = self.read_manifest_from(cp)? else {
            return Ok(None);
        };
        if !items.first().is_some_and(|a| anchors(cp, a)) {
            return Ok(None);
        }
        items.remove(0);
        Ok(Some(items))
    }

    /// Whether readers can use `cp` ([`Store::entries_after`]).
    fn checkpoint_holds(&self, cp: &Checkpoint) -> bool {
        self.entries_after(cp).ok().flatten().is_some()
    }

    /// The checkpoint against the log (for `verify`): one that names an
    /// entry of the log must list the files live after it. One that does
    /// not read, or names no entry of the log, is not used by readers, and
    /// is named too.
    pub(crate) fn verify_checkpoint(&self) -> Result<Vec<Problem>, StoreError> {
        let Some(bytes) = self.checkpoint_bytes()? else {
            return Ok(Vec::new());
        };
        let problem = |reason: String| {
            Ok(vec![Problem {
                path: CHECKPOINT.to_owned(),
                reason,
            }])
        };
        let Some(cp) = Checkpoint::decode(&bytes) else {
            return problem("not a checkpoint, or changed since it was written (its digest does not match); queries read the whole manifest".into());
        };
        if !self.checkpoint_holds(&cp) {
            return problem(format!("names entry {}, which the manifest does not have where and as it says; queries read the whole manifest", cp.seq));
        }
        let mut live: BTreeMap<&str, &FileEntry> = BTreeMap::new();
        for e in self.entries.iter().take_while(|e| e.seq <= cp.seq) {
            for r in &e.remove {
                live.remove(r.as_str());
            }
            for a in &e.add {
                live.insert(&a.path, a);
            }
        }
        let listed: BTreeMap<&str, &FileEntry> =
            cp.files.iter().map(|f| (f.path.as_str(), f)).collect();
        match listed.keys().chain(live.keys()).find(|p| listed.get(*p) != live.get(*p)) {
            None => Ok(Vec::new()),
            Some(differ) => problem(format!("lists other files than the manifest has after entry {} (first: {differ}); queries read the wrong files", cp.seq)),
        }
    }
}

/// Whether `anchor`, the text of the entry `cp` names, is that entry as written.
fn anchors(cp: &Checkpoint, anchor: &[u8]) -> bool {
    serde_json::from_slice::<Entry>(anchor).is_ok_and(|e| {
        e.seq == cp.seq && e.hash == cp.hash && manifest::hashes_to(&e, &e.prev, anchor)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            sha256: "ab".repeat(32),
            bytes: 10,
            rows: 2,
            source: "cloudtrail".into(),
            date: "2026-10-01".into(),
            min_time: 1,
            max_time: 2,
        }
    }

    /// A checkpoint reads back as written; one changed in any way, cut
    /// short, or naming no entry does not read at all.
    #[test]
    fn decodes_only_as_written() {
        let link = Link {
            seq: 7,
            hash: "cd".repeat(32),
        };
        let cp = Checkpoint::new(&link, 1234, vec![file("events/a.parquet")]);
        let bytes = cp.encode();
        assert_eq!(Checkpoint::decode(&bytes), Some(cp.clone()));
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        for changed in [
            text.replace("events/a.parquet", "events/b.parquet"),
            text.replace("1234", "1235"),
            text[..text.len() - 1].to_owned(),
        ] {
            assert_eq!(Checkpoint::decode(changed.as_bytes()), None, "{changed}");
        }
        let zero = Checkpoint::new(
            &Link {
                seq: 0,
                hash: link.hash,
            },
            0,
            Vec::new(),
        );
        assert_eq!(Checkpoint::decode(&zero.encode()), None);
    }
}
