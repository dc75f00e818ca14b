//! `/metrics`, in the Prometheus text format.

use std::collections::HashMap;
use std::time::Duration;

use mamori_event::SourceKind;
use mamori_sigma::Detection;
use mamori_store::{IngestReport, ParsedInput, ParsedRecord};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Every counter the service keeps.
pub struct Metrics {
    registry: Registry,
    received: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    stored: Family<Labels, Counter>,
    duplicates: Counter,
    commits: Counter,
    commit_failures: Counter,
    segments_merged: Counter,
    store_segments: Gauge,
    commit_seconds: Histogram,
    lag_seconds: Histogram,
    rule_matches: Family<Labels, Counter>,
    findings_created: Counter,
    findings_updated: Counter,
    notify_failing: Gauge,
    http: Family<Labels, Counter>,
}

fn label(k: &str, v: &str) -> Labels {
    vec![(k.to_owned(), v.to_owned())]
}

fn buckets() -> impl Iterator<Item = f64> {
    [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0].into_iter()
}

impl Metrics {
    /// Registers everything.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            received: Family::default(),
            rejected: Family::default(),
            stored: Family::default(),
            duplicates: Counter::default(),
            commits: Counter::default(),
            commit_failures: Counter::default(),
            segments_merged: Counter::default(),
            store_segments: Gauge::default(),
            commit_seconds: Histogram::new(buckets()),
            lag_seconds: Histogram::new(buckets()),
            rule_matches: Family::default(),
            findings_created: Counter::default(),
            findings_updated: Counter::default(),
            notify_failing: Gauge::default(),
            http: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "mamori_segments_merged",
            "Store segments merged away by compaction while serving",
            m.segments_merged.clone(),
        );
        r.register(
            "mamori_store_segments",
            "Live segment files in the store",
            m.store_segments.clone(),
        );
        r.register(
            "mamori_events_received",
            "Events parsed from arrivals, by source kind",
            m.received.clone(),
        );
        r.register(
            "mamori_records_rejected",
            "Records rejected (kept in the dead letter), by receiver",
            m.rejected.clone(),
        );
        r.register(
            "mamori_events_stored",
            "Events committed to the store, by source kind",
            m.stored.clone(),
        );
        r.register(
            "mamori_events_duplicate",
            "Events dropped because their uid was already stored",
            m.duplicates.clone(),
        );
        r.register("mamori_commits", "Store commits", m.commits.clone());
        r.register(
            "mamori_commit_failures",
            "Store commits that failed (retried from the spool)",
            m.commit_failures.clone(),
        );
        r.register(
            "mamori_commit_seconds",
            "Time to commit one batch",
            m.commit_seconds.clone(),
        );
        r.register(
            "mamori_ingest_lag_seconds",
            "From arrival to durable commit",
            m.lag_seconds.clone(),
        );
        r.register(
            "mamori_rule_matches",
            "Detections, by rule",
            m.rule_matches.clone(),
        );
        r.register(
            "mamori_findings_created",
            "Findings created",
            m.findings_created.clone(),
        );
        r.register(
            "mamori_findings_updated",
            "Detections folded into an open finding",
            m.findings_updated.clone(),
        );
        r.register(
            "mamori_notification_failures",
            "Deliveries waiting to retry or dead",
            m.notify_failing.clone(),
        );
        r.register(
            "mamori_http_requests",
            "API requests, by status class",
            m.http.clone(),
        );
        m
    }

    /// An arrival handed to the pipeline.
    pub fn received(&self, channel: &str, p: &ParsedInput) {
        let mut by_kind: HashMap<SourceKind, u64> = HashMap::new();
        let mut rejected = 0;
        for r in &p.records {
            match r {
                ParsedRecord::Event(e) => *by_kind.entry(e.source).or_default() += 1,
                ParsedRecord::Reject(_) => rejected += 1,
            }
        }
        for (k, n) in by_kind {
            self.received
                .get_or_create(&label("source", k.as_str()))
                .inc_by(n);
        }
        if rejected > 0 {
            self.rejected
                .get_or_create(&label("receiver", channel))
                .inc_by(rejected);
        }
    }

    /// A commit done.
    pub fn committed(
        &self,
        r: &IngestReport,
        stored: &HashMap<SourceKind, (u64, i64)>,
        took: Duration,
    ) {
        for (k, (n, _)) in stored {
            self.stored
                .get_or_create(&label("source", k.as_str()))
                .inc_by(*n);
        }
        self.duplicates.inc_by(r.duplicates);
        self.commits.inc();
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// A commit failed.
    pub fn commit_failed(&self) {
        self.commit_failures.inc();
    }

    /// A compaction step merged `merged` segments; the store now has `live`.
    pub fn compacted(&self, merged: usize, live: usize) {
        self.segments_merged.inc_by(merged as u64);
        self.store_segments.set(live as i64);
    }

    /// One arrival's time from receipt to commit.
    pub fn lag(&self, d: Duration) {
        self.lag_seconds.observe(d.as_secs_f64());
    }

    /// Rule matches.
    pub fn matches(&self, ds: &[Detection]) {
        for d in ds {
            self.rule_matches
                .get_or_create(&label("rule", &d.rule_id))
                .inc();
        }
    }

    /// Findings recorded.
    pub fn findings(&self, created: u64, updated: u64) {
        self.findings_created.inc_by(created);
        self.findings_updated.inc_by(updated);
    }

    /// Deliveries failing now.
    pub fn notify_failures(&self, n: u64) {
        self.notify_failing.set(n as i64);
    }

    /// An API response.
    pub fn http(&self, status: u16) {
        self.http
            .get_or_create(&label("status", &format!("{}xx", status / 100)))
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
