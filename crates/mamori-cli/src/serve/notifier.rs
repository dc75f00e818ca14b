//! The notifier thread: what happens after a finding is recorded. Enrichment
//! (GeoIP, threat lists, travel, related activity: queries over the store)
//! and notification both take time the pipeline must not wait for, so the
//! pipeline hands each commit's new and updated findings here and goes on
//! committing. Here they are enriched (places, threat lists, travel), every
//! channel is told, and then new findings get their related activity, the
//! slow part, which the console and `findings show` present; failed
//! deliveries are retried every few seconds.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use mamori_findings::FindingStore;
use mamori_query::{Engine, EngineOptions};

use super::pipeline::Shared;

/// Findings touched by one commit: (id, whether it is new).
pub type Touched = Vec<(String, bool)>;

/// Starts the thread; it ends once the sender is dropped and what it holds is done.
pub fn start(shared: Arc<Shared>) -> Result<(mpsc::Sender<Touched>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<Touched>();
    let h = std::thread::Builder::new()
        .name("notifier".into())
        .spawn(move || run(&shared, &rx))
        .context("starting the notifier thread")?;
    Ok((tx, h))
}

fn run(shared: &Shared, rx: &mpsc::Receiver<Touched>) {
    let mut st = match shared.findings() {
        Ok(st) => st,
        Err(e) => {
            eprintln!("mamori: enrichment and notifications off: {e:#}");
            while rx.recv().is_ok() {}
            return;
        }
    };
    let mut healthy_before = true;
    loop {
        // Woken by findings; every few seconds anyway, for retries.
        let (mut touched, stop) = match rx.recv_timeout(Duration::from_secs(3)) {
            Ok(t) => (t, false),
            Err(RecvTimeoutError::Timeout) => (Vec::new(), false),
            Err(RecvTimeoutError::Disconnected) => (Vec::new(), true),
        };
        while let Ok(t) = rx.try_recv() {
            touched.extend(t);
        }
        // What a message shows (addresses' places, threat-list hits, travel)
        // comes before the message; the related activity, queries over the
        // day around each new finding, after it: the page must not wait.
        if !touched.is_empty() {
            enrich(shared, &mut st, &touched, false);
        }
        if !shared.config.notify.is_empty() {
            healthy_before = notify(shared, &mut st, healthy_before);
        }
        if touched.iter().any(|(_, new)| *new) {
            enrich(shared, &mut st, &touched, true);
        }
        if stop {
            return;
        }
    }
}

fn enrich(shared: &Shared, st: &mut FindingStore, touched: &Touched, related: bool) {
    // The read lock only while the engine lists the segments: commits go on
    // while the enrichment's queries run.
    let open = |opts: &EngineOptions| {
        let store = shared.store.read().ok()?;
        match Engine::open(&store, opts) {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("mamori: enrichment without the store: {e}");
                None
            }
        }
    };
    if let Err(e) = shared
        .enricher
        .enrich_findings_with(st, touched, related, open)
    {
        eprintln!("mamori: enrichment: {e:#}");
    }
}

/// Delivers what is due; returns whether the channels are healthy.
fn notify(shared: &Shared, st: &mut FindingStore, healthy_before: bool) -> bool {
    match crate::findings_cmd::notify_quiet(st, &shared.config) {
        Ok((healthy, failures)) => {
            shared.metrics.notify_failures(failures);
            if healthy != healthy_before {
                eprintln!(
                    "mamori: notifications {}",
                    if healthy {
                        "healthy again"
                    } else {
                        "failing; retrying with backoff"
                    }
                );
            }
            healthy
        }
        Err(e) => {
            eprintln!("mamori: notify: {e:#}");
            healthy_before
        }
    }
}
