//! Keeping the store in shape while serving. The pipeline commits every half
//! second, one segment per partition touched; left alone, a day would hold
//! tens of thousands of small files and every query would open them all.
//! After each commit the pipeline thread runs one size-tiered merge step
//! (bounded work: [`mamori_store::MERGE_FAN_IN`] segments of one size), and
//! applies the configured retention once an hour. Files a merge replaced are
//! deleted after a grace period, so that queries which listed them still
//! read them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mamori_store::Store;

use super::metrics::Metrics;
use crate::config::Config;
use crate::inspect::now;

/// How long a replaced segment is kept for the queries that listed it.
pub const REMOVAL_GRACE: Duration = Duration::from_secs(120);

const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// What the upkeep remembers between steps.
pub struct Upkeep {
    retention: BTreeMap<String, u32>,
    default_days: Option<u32>,
    last_retention: Option<Instant>,
}

impl Upkeep {
    pub fn new(config: &Config) -> Upkeep {
        let mut retention = config.retention.clone();
        let default_days = retention.remove("default");
        Upkeep {
            retention,
            default_days,
            last_retention: None,
        }
    }

    /// One step: retention when due, one merge, due deletions. Errors are
    /// reported and retried at the next step; nothing is lost by them (a
    /// merge commits all or nothing).
    pub fn step(&mut self, store: &mut Store, metrics: &Metrics) {
        let due = self
            .last_retention
            .is_none_or(|t| t.elapsed() >= RETENTION_EVERY);
        if due && (self.default_days.is_some() || !self.retention.is_empty()) {
            self.last_retention = Some(Instant::now());
            match store.apply_retention(&self.retention, self.default_days, now()) {
                Ok(removed) if !removed.is_empty() => {
                    eprintln!("mamori: retention removed {} files", removed.len());
                }
                Ok(_) => {}
                Err(e) => eprintln!("mamori: retention: {e}"),
            }
        }
        match store.compact_step(now()) {
            Ok(merged) => metrics.compacted(merged, store.files().count()),
            Err(e) => eprintln!("mamori: compaction: {e}"),
        }
        if let Err(e) = store.purge_removed(REMOVAL_GRACE) {
            eprintln!("mamori: deleting replaced segments: {e}");
        }
    }
}
