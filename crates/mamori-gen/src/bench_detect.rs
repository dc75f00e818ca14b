//! `mamori-gen bench-detect`: detection throughput on generated CloudTrail events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use mamori_event::{Event, Timestamp};
use mamori_gen::Generator;
use mamori_parse::{ParseOptions, Rejected, Sink};
use mamori_sigma::{Detector, LoadOptions, RuleSet};

struct Keep(Vec<Event>);

impl Sink for Keep {
    fn event(&mut self, e: Event) {
        self.0.push(e);
    }
    fn reject(&mut self, _: Rejected) {}
}

/// Runs every rule set over the events, streaming (15-minute lateness) and as
/// a hunt, `runs` times each; prints the best run.
pub fn run(
    mut gen: Generator,
    events: usize,
    rule_sets: &[(String, Vec<PathBuf>)],
    runs: usize,
) -> Result<()> {
    let opts = ParseOptions {
        ingest_time: Timestamp::parse_iso8601("2026-11-01T00:00:00Z").unwrap_or_default(),
        ..ParseOptions::default()
    };
    let mut keep = Keep(Vec::with_capacity(events));
    while keep.0.len() < events {
        let o = gen.cloudtrail_object(1000.min(events - keep.0.len()));
        mamori_parse::parse(&o.key, &o.bytes, &opts, &mut keep);
    }
    let evs = keep.0;
    println!("events                 {}", evs.len());
    for (label, paths) in rule_sets {
        let rules = Arc::new(RuleSet::load(paths, &LoadOptions::default()));
        if !rules.report.errors.is_empty() {
            bail!(
                "{label}: {} rules did not load, first: {}",
                rules.report.errors.len(),
                rules.report.errors[0]
            );
        }
        let ct = mamori_event::SourceKind::Cloudtrail;
        let (keyed, unkeyed) = rules.route_sizes(ct);
        let searched = rules.prefiltered(ct);
        for (mode, lateness) in [("stream", Some(Duration::from_secs(900))), ("hunt", None)] {
            let mut best = f64::MAX;
            let mut found = 0;
            let mut evaluations = 0;
            for _ in 0..runs.max(1) {
                let mut d = Detector::new(Arc::clone(&rules), lateness);
                let mut out = Vec::new();
                let t = Instant::now();
                for e in &evs {
                    d.process(e, &mut out);
                }
                d.flush(&mut out);
                best = best.min(t.elapsed().as_secs_f64());
                found = out.len();
                evaluations = d.stats().evaluations;
            }
            println!(
                "{label:<22} {mode:<6} {keyed:>3} indexed + {unkeyed:>2} other CloudTrail rules ({searched} by substring)  {:>9.0} events/s (1 core)  {:.2} rules tried/event  {found} detections",
                evs.len() as f64 / best,
                evaluations as f64 / evs.len() as f64
            );
        }
    }
    Ok(())
}
