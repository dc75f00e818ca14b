//! What a long-running writer (`mamori serve`) needs from the store. It
//! commits about once a second, so partitions fill with small segments:
//! [`Store::compact_step`] merges them in small steps, size-tiered, so that
//! an event is rewritten a few times in its life rather than at every merge
//! of its whole day. Queries list segments and read them later, so the files
//! a merge replaces are kept for a grace period ([`Store::defer_removals`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mamori_event::Timestamp;

use crate::backend::prune_empty_dirs;
use crate::manifest::FileEntry;
use crate::segment::Effort;
use crate::{hours, Store, StoreError, MERGE_FAN_IN};

/// Merges into a segment of at least this many rows compress `raw` harder.
const ARCHIVE_ROWS: u64 = 1_000_000;

/// Segments of 1–15 rows are tier 0, 16–255 tier 1, and so on: a merge of
/// [`MERGE_FAN_IN`] segments of one tier makes one of the next.
fn tier(rows: u64) -> u32 {
    rows.max(1).ilog2() / 4
}

impl Store {
    /// From now on, files that a commit removes (compaction, retention)
    /// stay where they are until [`Store::purge_removed`]; opening the
    /// store again deletes any left over.
    pub fn defer_removals(&mut self) {
        self.deferred.get_or_insert_with(Vec::new);
    }

    /// Deletes the removed files held back for at least `grace`. Returns how
    /// many were deleted; the others are kept for a later call.
    pub fn purge_removed(&mut self, grace: Duration) -> Result<usize, StoreError> {
        let Some(later) = self.deferred.as_mut() else {
            return Ok(0);
        };
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(later)
            .into_iter()
            .partition(|(at, _)| now.duration_since(*at) >= grace);
        *later = keep;
        let mut deleted = 0;
        for (i, (_, rel)) in due.iter().enumerate() {
            if let Err(e) = self.delete_removed(rel) {
                if let Some(later) = self.deferred.as_mut() {
                    later.extend(due[i..].iter().cloned());
                }
                return Err(e);
            }
            deleted += 1;
        }
        if deleted > 0 && self.remote.is_none() {
            prune_empty_dirs(&self.root.join("events"));
        }
        Ok(deleted)
    }

    fn delete_removed(&self, rel: &str) -> Result<(), StoreError> {
        match &self.remote {
            Some(remote) => remote.delete(rel),
            None => {
                let p = self.root.join(rel);
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(StoreError::io(&p, e))
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// Files a commit removed that are still kept (see [`Store::defer_removals`]).
    pub fn removals_pending(&self) -> usize {
        self.deferred.as_ref().map_or(0, Vec::len)
    }

    /// One step of size-tiered compaction: in the first partition (lowest
    /// tier first) holding [`MERGE_FAN_IN`] segments of one size tier, merges
    /// those into one, in one commit. Returns the segments merged, 0 when
    /// there was nothing to do.
    pub fn compact_step(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let mut parts: BTreeMap<(String, String), Vec<FileEntry>> = BTreeMap::new();
        for f in self.live.values().filter(|f| f.source != "dead_letter") {
            parts
                .entry((f.source.clone(), f.date.clone()))
                .or_default()
                .push(f.clone());
        }
        let mut tiers: BTreeMap<(u32, String, String), Vec<FileEntry>> = BTreeMap::new();
        for ((source, date), files) in parts {
            // The hour segments of a day `store compact` split stay as they are.
            let settled: Vec<&str> = hours::settled(&files, self.hour_split_rows)
                .into_iter()
                .map(|f| f.path.as_str())
                .collect();
            for f in files.iter().filter(|f| !settled.contains(&f.path.as_str())) {
                tiers
                    .entry((tier(f.rows), source.clone(), date.clone()))
                    .or_default()
                    .push(f.clone());
            }
        }
        let Some(((_, source, date), mut files)) = tiers
            .into_iter()
            .find(|(_, files)| files.len() >= MERGE_FAN_IN)
        else {
            return Ok(0);
        };
        files.sort_by_key(|f| f.rows);
        files.truncate(MERGE_FAN_IN);
        let merged = files.len();
        // Small merges recur; only segments that will last get the slower, denser `raw`.
        let rows: u64 = files.iter().map(|f| f.rows).sum();
        let effort = if rows >= ARCHIVE_ROWS {
            Effort::Archive
        } else {
            Effort::Ingest
        };
        self.merge(&source, &date, files, now, effort, false)?;
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::tier;

    #[test]
    fn tiers_grow_by_the_fan_in() {
        assert_eq!(tier(0), 0);
        assert_eq!(tier(15), 0);
        assert_eq!(tier(16), 1);
        assert_eq!(tier(255), 1);
        assert_eq!(tier(256), 2);
        assert_eq!(tier(10_000), 3);
        assert_eq!(tier(160_000), 4);
    }
}
