//! Which segments of a partition compaction merges next, and whether the
//! merge writes one file or one file per hour.
//!
//! A day of a source is one Hive partition (`date=…`). When a day holds at
//! least [`HOUR_SPLIT_ROWS`] events, one file for the day would be large to
//! rewrite and to scan, so compaction writes one file per hour of the day
//! instead (`seg-<entry>-h<HH>.parquet`), each covering its hour only; the
//! manifest's per-file time range then prunes a one-hour search to one file.
//! The hour is in the file name, not a directory: DuckDB refuses
//! `read_parquet(…, hive_partitioning = true)` over files whose partition
//! directories differ in depth, and every day can't have hour directories
//! without cutting small days into files smaller than a row group.

use std::collections::{BTreeSet, HashMap};

use crate::manifest::FileEntry;
use crate::segment::ROW_GROUP_ROWS;
use crate::MERGE_FAN_IN;

/// A day with at least this many events is compacted into one file per
/// hour: on average a full row group per hour, so the split costs no
/// compression.
pub const HOUR_SPLIT_ROWS: u64 = 24 * ROW_GROUP_ROWS as u64;

const HOUR_MICROS: i64 = 3_600_000_000;

/// The hour (since the epoch) of a time in µs.
pub(crate) fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(HOUR_MICROS)
}

/// The hour of the day, 0–23 (UTC, as partition dates are), of an hour since the epoch.
pub(crate) fn hour_of_day(hour: i64) -> i64 {
    hour.rem_euclid(24)
}

fn hours(f: &FileEntry) -> std::ops::RangeInclusive<i64> {
    hour_of(f.min_time)..=hour_of(f.max_time)
}

/// The next merge in one partition.
#[derive(Debug, PartialEq)]
pub(crate) struct MergePlan {
    /// The segments to merge (at most [`MERGE_FAN_IN`]).
    pub files: Vec<FileEntry>,
    /// Write one file per hour rather than one file.
    pub by_hour: bool,
}

/// Files of a partition that are done: it is split by hour, and each of
/// them lies within one hour that no other file of the partition touches.
pub(crate) fn settled(files: &[FileEntry], split_rows: u64) -> Vec<&FileEntry> {
    if files.iter().map(|f| f.rows).sum::<u64>() < split_rows {
        return Vec::new();
    }
    let mut touching: HashMap<i64, usize> = HashMap::new();
    for f in files {
        for h in hours(f) {
            *touching.entry(h).or_default() += 1;
        }
    }
    files
        .iter()
        .filter(|f| hour_of(f.min_time) == hour_of(f.max_time))
        .filter(|f| touching.get(&hour_of(f.min_time)) == Some(&1))
        .collect()
}

/// What to merge next in a partition holding `files`, or `None` when it is
/// compacted: one file for a small day, one file per hour for a day of at
/// least `split_rows` events.
pub(crate) fn plan(files: &[FileEntry], split_rows: u64) -> Option<MergePlan> {
    let total: u64 = files.iter().map(|f| f.rows).sum();
    let mut chosen: Vec<FileEntry> = if total < split_rows {
        if files.len() < 2 {
            return None;
        }
        files.to_vec()
    } else {
        let done: BTreeSet<&str> = settled(files, split_rows)
            .into_iter()
            .map(|f| f.path.as_str())
            .collect();
        let open: Vec<&FileEntry> = files
            .iter()
            .filter(|f| !done.contains(f.path.as_str()))
            .collect();
        if open.is_empty() {
            return None;
        }
        // The hours the unsettled files touch, and every file in them:
        // merged together, they make one file per hour that nothing else shares.
        let wanted: BTreeSet<i64> = open.iter().flat_map(|f| hours(f)).collect();
        files
            .iter()
            .filter(|f| hours(f).any(|h| wanted.contains(&h)))
            .cloned()
            .collect()
    };
    let whole = chosen.len() <= MERGE_FAN_IN;
    chosen.sort_by_key(|f| f.rows);
    chosen.truncate(MERGE_FAN_IN);
    Some(MergePlan {
        files: chosen,
        // A merge of only some of the files makes one file; the last merge splits.
        by_hour: whole && total >= split_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MICROS;

    fn file(name: &str, rows: u64, from_hour: i64, to_hour: i64) -> FileEntry {
        FileEntry {
            path: name.to_owned(),
            sha256: String::new(),
            bytes: 0,
            rows,
            source: "cloudtrail".into(),
            date: "2026-11-20".into(),
            min_time: from_hour * H + 5,
            max_time: to_hour * H + H - 1,
        }
    }

    fn names(p: &MergePlan) -> Vec<&str> {
        let mut v: Vec<&str> = p.files.iter().map(|f| f.path.as_str()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_small_day_becomes_one_file() {
        assert_eq!(plan(&[file("a", 10, 0, 23)], 100), None);
        let p = plan(&[file("a", 10, 0, 23), file("b", 5, 3, 4)], 100).expect("merge");
        assert_eq!(names(&p), ["a", "b"]);
        assert!(!p.by_hour);
    }

    #[test]
    fn a_large_day_becomes_one_file_per_hour() {
        let p = plan(&[file("a", 150, 0, 23)], 100).expect("split the day's one file");
        assert!(p.by_hour);
        let hours: Vec<FileEntry> = (0..24).map(|h| file(&format!("h{h}"), 10, h, h)).collect();
        assert_eq!(plan(&hours, 100), None, "one file per hour is done");
        assert_eq!(settled(&hours, 100).len(), 24);
    }

    #[test]
    fn a_late_file_is_merged_with_the_hours_it_touches_only() {
        let mut files: Vec<FileEntry> = (0..24)
            .map(|h| file(&format!("h{h:02}"), 10, h, h))
            .collect();
        files.push(file("late", 2, 5, 6));
        let p = plan(&files, 100).expect("merge");
        assert_eq!(names(&p), ["h05", "h06", "late"]);
        assert!(p.by_hour);
        assert_eq!(settled(&files, 100).len(), 22);
    }

    #[test]
    fn more_files_than_the_fan_in_merge_in_rounds_into_one_file() {
        let files: Vec<FileEntry> = (0..20)
            .map(|i| file(&format!("f{i:02}"), 10 + i, 0, 23))
            .collect();
        let p = plan(&files, 100).expect("merge");
        assert_eq!(p.files.len(), MERGE_FAN_IN);
        assert!(!p.by_hour, "only the last round splits");
        assert!(p.files.iter().all(|f| f.rows < 26), "smallest first");
    }

    #[test]
    fn below_the_threshold_nothing_is_settled() {
        let hours: Vec<FileEntry> = (0..3).map(|h| file(&format!("h{h}"), 1, h, h)).collect();
        assert!(settled(&hours, 100).is_empty());
        assert!(plan(&hours, 100).is_some_and(|p| !p.by_hour));
    }

    #[test]
    fn hours_before_the_epoch_are_whole_hours() {
        assert_eq!(hour_of(-1), -1);
        assert_eq!(hour_of_day(-1), 23);
        assert_eq!(hour_of(H), 1);
    }
}
