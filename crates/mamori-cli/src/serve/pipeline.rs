//! The pipeline thread: commits what the receivers hand it to the store
//! every half second, runs the rules on each committed event, records
//! findings, and wakes the notifier.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mamori_event::{Event, SourceKind, Timestamp};
use mamori_findings::FindingStore;
use mamori_parse::ParseOptions;
use mamori_sigma::Detection;
use mamori_store::{parse_input, Ingest, ParsedInput, ParsedRecord, Store};

use super::health::{self, Sources};
use super::metrics::Metrics;
use super::notifier::Touched;
use super::spool::{Spool, SpoolFile};
use super::upkeep::Upkeep;
use crate::config::Config;
use crate::detect_cmd::{IngestDetector, RuleArgs};
use crate::enrich_cmd::Enricher;
use crate::inspect::now;

/// Events held before a commit is forced, whatever the interval.
const MAX_PENDING_EVENTS: usize = 50_000;
/// Arrivals that may wait for the pipeline before senders block.
const QUEUE: usize = 256;

/// Something to commit.
pub struct Arrival {
    /// The parsed records.
    pub parsed: ParsedInput,
    /// The spool file behind it (deleted once committed).
    pub spool: Option<PathBuf>,
    /// Which receiver: http, syslog, watch, audit, demo.
    pub channel: String,
    /// When it arrived.
    pub received: Instant,
}

enum Msg {
    Arrival(Arrival),
    /// Commit now and answer.
    Flush(mpsc::Sender<()>),
}

/// A rule as the console lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RuleInfo {
    /// Id (or title).
    pub id: String,
    /// Title.
    pub title: String,
    /// Level.
    pub level: Option<String>,
    /// `rule` or the correlation type.
    pub kind: String,
    /// File it came from.
    pub file: String,
    /// Matches since the service started.
    pub hits: u64,
    /// Time of the last match (event time).
    pub last_match: Option<String>,
}

/// The rules the pipeline runs.
#[derive(Default)]
pub struct RuleBoard {
    /// Loaded rules.
    pub rules: Vec<RuleInfo>,
    /// Rules that did not load: `file:line: reason`.
    pub failed: Vec<String>,
}

/// What the API, receivers and pipeline share.
pub struct Shared {
    /// The findings database target.
    pub db: String,
    /// The configuration.
    pub config: Arc<Config>,
    /// The store; the pipeline writes, queries read.
    pub store: RwLock<Store>,
    /// GeoIP and threat lists.
    pub enricher: Enricher,
    /// Deliveries waiting for their commit.
    pub spool: Spool,
    /// Prometheus counters.
    pub metrics: Metrics,
    /// Per-source rates and last arrival.
    pub sources: Mutex<Sources>,
    /// Rules and their hits.
    pub rules: RwLock<RuleBoard>,
    /// API tokens.
    pub tokens: super::auth::Tokens,
    /// When the service started.
    pub started: Instant,
    tx: Mutex<Option<SyncSender<Msg>>>,
    worker: Mutex<Option<JoinHandle<Result<String>>>>,
    notifier: Mutex<Option<(mpsc::Sender<Touched>, JoinHandle<()>)>>,
}

impl Shared {
    /// Parses a delivery, with GeoIP filled in.
    pub fn parse(
        &self,
        name: &str,
        data: &[u8],
        kind: Option<SourceKind>,
        channel: &str,
    ) -> ParsedInput {
        let opts = ParseOptions {
            source: kind,
            ingest_time: now(),
            ..ParseOptions::default()
        };
        let mut p = parse_input(name, data, &opts);
        for r in &mut p.records {
            if let ParsedRecord::Event(e) = r {
                self.enricher.fill(e);
                if channel == "audit" {
                    super::audit::mark(e);
                }
            }
        }
        p
    }

    /// Spools `data` durably, parses it and queues it for the store;
    /// returns (events, rejected, first rejection reasons).
    pub fn accept(
        &self,
        data: &[u8],
        kind: Option<SourceKind>,
        channel: &str,
    ) -> Result<(u64, u64, Vec<String>)> {
        let f = self.spool.write(kind, channel, data)?;
        let mut parsed = self.parse(&f.name, data, kind, channel);
        parsed.checkpoint = false;
        let events = parsed.summary.normalized;
        let rejected = parsed.summary.rejected;
        let reasons = parsed
            .records
            .iter()
            .filter_map(|r| match r {
                ParsedRecord::Reject(r) => Some(format!("line {}: {}", r.line, r.reason)),
                ParsedRecord::Event(_) => None,
            })
            .take(5)
            .collect();
        self.submit(Arrival {
            parsed,
            spool: Some(f.path),
            channel: channel.to_owned(),
            received: Instant::now(),
        })?;
        Ok((events, rejected, reasons))
    }

    /// The pipeline's queue, unless the service is stopping.
    fn sender(&self) -> Result<SyncSender<Msg>> {
        self.tx
            .lock()
            .map_err(|_| anyhow::anyhow!("pipeline lock poisoned"))?
            .clone()
            .context("the service is stopping")
    }

    /// Queues an arrival; blocks while the pipeline is QUEUE arrivals behind.
    pub fn submit(&self, a: Arrival) -> Result<()> {
        self.metrics.received(&a.channel, &a.parsed);
        self.sender()?
            .send(Msg::Arrival(a))
            .map_err(|_| anyhow::anyhow!("the pipeline has stopped"))
    }

    /// Commits everything queued so far and waits for it.
    pub fn flush(&self) -> Result<()> {
        let (done_tx, done_rx) = mpsc::channel();
        self.sender()?
            .send(Msg::Flush(done_tx))
            .map_err(|_| anyhow::anyhow!("the pipeline has stopped"))?;
        done_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the pipeline has stopped"))
    }

    /// Hands findings just created or updated to the notifier thread, which
    /// enriches them and then notifies: the pipeline does not wait for either.
    fn after_findings(&self, touched: Touched) {
        if let Ok(n) = self.notifier.lock() {
            if let Some((tx, _)) = n.as_ref() {
                let _ = tx.send(touched);
            }
        }
    }

    /// Opens a connection to the findings database.
    pub fn findings(&self) -> Result<FindingStore> {
        let st = FindingStore::open(&self.db)?;
        Ok(match self.config.findings.dedup_window.as_deref() {
            Some(w) => st.with_dedup_window(
                mamori_sigma::parse_timespan(w)
                    .map_err(anyhow::Error::msg)
                    .context("[findings] dedup_window")?
                    / 1000,
            ),
            None => st,
        })
    }
}

/// Opens the store, the rules and the findings database, and starts the
/// pipeline and notifier threads. What the spool still holds from a run that
/// stopped is committed first.
pub fn start(data: &Path, db: String, config: Arc<Config>) -> Result<Arc<Shared>> {
    let mut store =
        Store::open(data).with_context(|| format!("opening the store in {}", data.display()))?;
    // Queries list segments, then read them: what a merge replaces stays a while.
    store.defer_removals();
    let upkeep = Upkeep::new(&config);
    let enricher = Enricher::load(&config)?;
    let detector = IngestDetector::start(&RuleArgs::default(), &config, data, true, &enricher)?;
    let board = RuleBoard {
        rules: detector
            .rules()
            .rules
            .iter()
            .map(|r| (&r.meta, "rule".to_owned()))
            .chain(
                detector
                    .rules()
                    .correlations
                    .iter()
                    .map(|c| (&c.meta, "correlation".to_owned())),
            )
            .map(|(m, kind)| RuleInfo {
                id: m.key().to_owned(),
                title: m.title.clone(),
                level: m.level.clone(),
                kind,
                file: m.file.display().to_string(),
                hits: 0,
                last_match: None,
            })
            .collect(),
        failed: detector
            .rules()
            .report
            .errors
            .iter()
            .chain(&detector.rules().report.needs_values)
            .map(ToString::to_string)
            .collect(),
    };
    let commit_interval = super::span(
        "[serve] commit_interval",
        config.serve.commit_interval.as_deref(),
        // Half a second: an event is hunted (and notified) within about a second of arrival.
        Duration::from_millis(500),
    )?;
    let findings = FindingStore::open(&db).with_context(|| format!("findings database {db}"))?;
    let shared = Arc::new(Shared {
        spool: Spool::open(&data.join("serve").join("spool"))?,
        tokens: super::auth::Tokens::open(&data.join("serve").join("tokens.json"))?,
        db,
        store: RwLock::new(store),
        enricher,
        metrics: Metrics::new(),
        sources: Mutex::new(Sources::new(&config.serve.expect)?),
        rules: RwLock::new(board),
        started: Instant::now(),
        config,
        tx: Mutex::new(None),
        worker: Mutex::new(None),
        notifier: Mutex::new(None),
    });
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let worker = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || {
                Pipeline {
                    shared,
                    detector,
                    findings,
                    pending: Vec::new(),
                    pending_events: 0,
                    recover: true,
                    commit_interval,
                    last_health: Instant::now(),
                    upkeep,
                }
                .run(rx)
            })
            .context("starting the pipeline thread")?
    };
    let notifier = super::notifier::start(Arc::clone(&shared))?;
    *shared.tx.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(tx);
    *shared
        .worker
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))? = Some(worker);
    *shared
        .notifier
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))? = Some(notifier);
    Ok(shared)
}

/// Stops taking arrivals, commits what is queued, saves the detector's
/// state and lets the notifier finish; returns a one-line report.
pub fn shutdown(shared: &Shared) -> Result<String> {
    drop(
        shared
            .tx
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .take(),
    );
    let worker = shared
        .worker
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .take();
    let report = match worker {
        Some(w) => w
            .join()
            .map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??,
        None => String::new(),
    };
    let notifier = shared
        .notifier
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .take();
    if let Some((tx, h)) = notifier {
        drop(tx);
        let _ = h.join();
    }
    Ok(report)
}

struct Pipeline {
    shared: Arc<Shared>,
    detector: IngestDetector,
    findings: FindingStore,
    pending: Vec<Arrival>,
    pending_events: usize,
    /// Commit what the spool holds (at start, and after a failed commit).
    recover: bool,
    commit_interval: Duration,
    last_health: Instant,
    upkeep: Upkeep,
}

impl Pipeline {
    fn run(mut self, rx: mpsc::Receiver<Msg>) -> Result<String> {
        let mut last = Instant::now();
        let (mut events, mut commits) = (0u64, 0u64);
        loop {
            let mut waiters = Vec::new();
            let mut stop = false;
            match rx.recv_timeout(self.commit_interval.saturating_sub(last.elapsed())) {
                Ok(Msg::Arrival(a)) => self.push(a),
                Ok(Msg::Flush(w)) => waiters.push(w),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop = true,
            }
            // Take whatever else is queued without waiting.
            while self.pending_events < MAX_PENDING_EVENTS {
                match rx.try_recv() {
                    Ok(Msg::Arrival(a)) => self.push(a),
                    Ok(Msg::Flush(w)) => waiters.push(w),
                    Err(_) => break,
                }
            }
            if stop
                || !waiters.is_empty()
                || last.elapsed() >= self.commit_interval
                || self.pending_events >= MAX_PENDING_EVENTS
            {
                // The next commit is due an interval after this one started, not after it ended.
                let started = Instant::now();
                match self.commit() {
                    Ok(n) => {
                        events += n;
                        commits += u64::from(n > 0);
                    }
                    Err(e) => {
                        eprintln!("mamori: commit failed, retrying from the spool: {e:#}");
                        self.shared.metrics.commit_failed();
                        self.recover = true;
                    }
                }
                last = started;
                waiters.into_iter().for_each(|w| {
                    let _ = w.send(());
                });
                if !stop {
                    if let Ok(mut store) = self.shared.store.write() {
                        self.upkeep.step(&mut store, &self.shared.metrics);
                    }
                }
            }
            if self.last_health.elapsed() >= Duration::from_secs(2) || stop {
                self.last_health = Instant::now();
                self.check_health();
            }
            if stop {
                self.detector
                    .finish()
                    .context("saving the detector state")?;
                return Ok(format!("{events} events stored in {commits} commits"));
            }
        }
    }

    fn push(&mut self, a: Arrival) {
        self.pending_events += a.parsed.records.len();
        self.pending.push(a);
    }

    /// The spool's files not already pending.
    fn recover_spool(&mut self) -> Result<()> {
        let queued: std::collections::HashSet<PathBuf> = self
            .pending
            .iter()
            .filter_map(|a| a.spool.clone())
            .collect();
        for f in self.shared.spool.pending()? {
            if queued.contains(&f.path) {
                continue;
            }
            let SpoolFile {
                path,
                name,
                kind,
                channel,
            } = f;
            let data =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut parsed = self.shared.parse(&name, &data, kind, &channel);
            parsed.checkpoint = false;
            self.push(Arrival {
                parsed,
                spool: Some(path),
                channel,
                received: Instant::now(),
            });
        }
        Ok(())
    }

    /// Commits the pending arrivals in one manifest entry; returns the events stored.
    fn commit(&mut self) -> Result<u64> {
        if self.recover {
            self.recover_spool()?;
            self.recover = false;
        }
        if self.pending.is_empty() {
            return Ok(0);
        }
        let arrivals = std::mem::take(&mut self.pending);
        self.pending_events = 0;
        let t0 = Instant::now();
        let mut stored: HashMap<SourceKind, (u64, i64)> = HashMap::new();
        let mut after = Vec::with_capacity(arrivals.len());
        let report = {
            let mut store = self
                .shared
                .store
                .write()
                .map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
            let opts = ParseOptions {
                ingest_time: now(),
                ..ParseOptions::default()
            };
            let mut ing = Ingest::new(&mut store, opts, usize::MAX);
            let det = &mut self.detector;
            let stored = &mut stored;
            ing.observe(Box::new(move |e: &Event| {
                det.detector.process(e, &mut det.found);
                det.products.extend(mamori_findings::product_detection(e));
                let s = stored.entry(e.source).or_insert((0, i64::MIN));
                s.0 += 1;
                s.1 = s.1.max(e.time.0);
            }));
            for a in arrivals {
                after.push((a.spool, a.channel, a.received));
                ing.add_parsed(a.parsed)?;
            }
            ing.finish()?
        };
        for (spool, _, received) in &after {
            if let Some(p) = spool {
                if let Err(e) = std::fs::remove_file(p) {
                    eprintln!("mamori: {}: committed but not removed: {e}", p.display());
                }
            }
            self.shared.metrics.lag(received.elapsed());
        }
        self.shared
            .metrics
            .committed(&report, &stored, t0.elapsed());
        if let Ok(mut s) = self.shared.sources.lock() {
            s.committed(&stored, report.rejected, now());
        }
        self.detections()?;
        Ok(report.events_written)
    }

    /// Records what the rules found as findings and hands them to the notifier thread.
    fn detections(&mut self) -> Result<()> {
        if self.detector.found.is_empty() && self.detector.products.is_empty() {
            return Ok(());
        }
        // Kept on disk first, so `findings import` can redo what fails below.
        self.detector.finish().context("saving detections")?;
        let found = std::mem::take(&mut self.detector.found);
        let mut all = std::mem::take(&mut self.detector.products);
        self.shared.metrics.matches(&found);
        if let Ok(mut board) = self.shared.rules.write() {
            let mut by_id: BTreeMap<&str, (u64, Timestamp)> = BTreeMap::new();
            for d in &found {
                let e = by_id.entry(&d.rule_id).or_insert((0, d.last_time));
                e.0 += 1;
                e.1 = e.1.max(d.last_time);
            }
            for r in &mut board.rules {
                if let Some((n, t)) = by_id.get(r.id.as_str()) {
                    r.hits += n;
                    r.last_match = Some(t.to_string());
                }
            }
        }
        all.extend(found);
        self.record(&all)
    }

    fn record(&mut self, all: &[Detection]) -> Result<()> {
        let sum = crate::findings_cmd::record(&mut self.findings, all).context(
            "recording findings (detections are kept in detections/; `findings import` retries)",
        )?;
        self.shared
            .metrics
            .findings(sum.created as u64, sum.updated as u64);
        self.shared.after_findings(sum.touched);
        Ok(())
    }

    fn check_health(&mut self) {
        let alerts = match self.shared.sources.lock() {
            Ok(mut s) => s.check(now()),
            Err(_) => return,
        };
        if alerts.is_empty() {
            return;
        }
        let ds: Vec<Detection> = alerts.iter().map(health::Alert::detection).collect();
        if let Err(e) = self.record(&ds) {
            eprintln!("mamori: source health: {e:#}");
        }
    }
}
