//! `mamori ingest` and `mamori store …`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mamori_event::{SourceKind, Timestamp};
use mamori_parse::ParseOptions;
use mamori_source::{parse_s3_uri, S3Reader};
use mamori_store::{parse_input, Ingest, ParsedInput, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::inspect::{now, parse_kind};

/// Parsed files that may wait for the committing thread. Each CloudTrail
/// object of 1,000 events holds about 4 MB parsed; 8 keep the parsers busy
/// while a batch is written (16 gave no speed and 30 MB more).
const PARSED_AHEAD: usize = 8;

/// Where the store is.
#[derive(Args)]
pub struct DataArgs {
    /// The data directory, or `s3://bucket/prefix` for a store on object storage (default: the config's `[store] data`, else ./mamori-data).
    #[arg(long, env = "MAMORI_DATA")]
    pub data: Option<PathBuf>,
}

/// Arguments of `mamori ingest`.
#[derive(Args)]
pub struct IngestArgs {
    /// Files, directories (read recursively) or `s3://bucket/prefix` (credentials,
    /// region and endpoint from the AWS environment variables).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Read every record as this source instead of detecting it.
    #[arg(long, value_parser = parse_kind)]
    source: Option<SourceKind>,
    /// Records per commit: each commit is durable before the next batch is read.
    /// Memory grows with it (about 3.5 KB per CloudTrail event held); smaller
    /// batches make smaller files, which `store compact` merges. 10,000:
    /// at 10M events both faster and 60 MB smaller than 20,000 (BENCHMARKS.md).
    #[arg(long, default_value_t = 10_000)]
    batch_events: usize,
    /// Records larger than this many bytes are rejected whole (kept in the dead-letter files).
    #[arg(long, default_value_t = 4 << 20)]
    max_record_bytes: usize,
    /// Threads: one commits, the others read and parse (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds before an S3 request is given up (it is retried twice first).
    #[arg(long, default_value_t = 30)]
    s3_timeout: u64,
    /// Skip inputs whose key carries a date (AWS `…/YYYY/MM/DD/…`, Azure `y=/m=/d=`) before this day (YYYY-MM-DD).
    #[arg(long)]
    since: Option<String>,
    /// Skip inputs whose key carries a date after this day (YYYY-MM-DD).
    #[arg(long)]
    until: Option<String>,
    #[command(flatten)]
    rules: crate::detect_cmd::RuleArgs,
    /// Store only: run no detection rules (and record no findings).
    #[arg(long)]
    no_detect: bool,
    /// Findings database the detections are recorded in: a SQLite file or
    /// `postgres://…` (default: the config's `[findings] db`, else
    /// `findings.db` in a local data directory).
    #[arg(long, env = "MAMORI_DB")]
    db: Option<String>,
}

/// The day an object key names in the AWS (`/2024/01/31/`) or Azure
/// (`/y=2024/m=01/d=31/`) layouts, as `YYYY-MM-DD`.
pub fn date_in_key(key: &str) -> Option<String> {
    let segs: Vec<&str> = key.split('/').collect();
    for w in segs.windows(3) {
        let num = |s: &str, n: usize| {
            (s.len() == n && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.to_owned())
        };
        if let (Some(y), Some(m), Some(d)) = (num(w[0], 4), num(w[1], 2), num(w[2], 2)) {
            return Some(format!("{y}-{m}-{d}"));
        }
        let kv = |s: &str, k: &str, n: usize| s.strip_prefix(k).and_then(|v| num(v, n));
        if let (Some(y), Some(m), Some(d)) =
            (kv(w[0], "y=", 4), kv(w[1], "m=", 2), kv(w[2], "d=", 2))
        {
            return Some(format!("{y}-{m}-{d}"));
        }
    }
    None
}

fn check_day(flag: &str, v: &Option<String>) -> Result<()> {
    if let Some(d) = v {
        if Timestamp::parse_iso8601(d).is_none() || d.len() != 10 {
            bail!("{flag} {d:?}: expected a day, YYYY-MM-DD");
        }
    }
    Ok(())
}

/// `mamori store …`.
#[derive(Subcommand)]
pub enum StoreCmd {
    /// Events, bytes, bytes per event and time range, per source and in total.
    Stats {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check every file against the hash-chained manifest; exit 1 naming each problem.
    Verify {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Merge each partition's segments into one, or a large day's into one per hour.
    Compact {
        #[command(flatten)]
        data: DataArgs,
        /// A day of a source with at least this many events becomes one file per hour.
        #[arg(long, value_name = "EVENTS", default_value_t = mamori_store::HOUR_SPLIT_ROWS)]
        hour_split_rows: u64,
    },
    /// Copy the manifest and every file to DEST (local), and check the copy.
    Snapshot {
        #[command(flatten)]
        data: DataArgs,
        /// Where the snapshot goes; must not exist or be empty.
        dest: PathBuf,
    },
    /// Restore a snapshot into the data directory (which must not exist or be empty), and check it.
    Restore {
        #[command(flatten)]
        data: DataArgs,
        /// The snapshot to restore.
        snapshot: PathBuf,
    },
    /// Delete whole partitions older than their source's retention (`[retention]` in the config, or --days).
    Retention {
        #[command(flatten)]
        data: DataArgs,
        /// SOURCE=DAYS, or DAYS for every source not named; overrides the config.
        #[arg(long = "days")]
        days: Vec<String>,
    },
}

/// Where one input's bytes are.
enum Source {
    File(PathBuf),
    S3(Arc<S3Reader>, String),
}

/// One input to read: where, its checkpoint name, its size and version.
pub(crate) struct Input {
    source: Source,
    pub(crate) name: String,
    pub(crate) size: u64,
    /// The ETag of an object.
    pub(crate) version: Option<String>,
}

impl Input {
    /// Its bytes.
    pub(crate) fn read(&self) -> std::io::Result<Vec<u8>> {
        match &self.source {
            Source::File(p) => std::fs::read(p),
            Source::S3(r, key) => r.get(key).map_err(std::io::Error::other),
        }
    }
}

/// The inputs under `paths` (local files and directories, `s3://bucket/prefix`
/// listings), and the entries that could not be read (named, not fatal).
pub(crate) fn walk_inputs(
    paths: &[PathBuf],
    s3_timeout: Duration,
) -> Result<(Vec<Input>, Vec<String>)> {
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for p in paths {
        let s = p.to_string_lossy();
        if let Some((bucket, prefix)) = parse_s3_uri(&s) {
            let reader = Arc::new(S3Reader::new(&bucket, s3_timeout)?);
            for o in reader
                .list(&prefix)
                .with_context(|| format!("listing {s}"))?
            {
                out.push(Input {
                    name: reader.uri(&o.key),
                    size: o.size,
                    version: o.etag,
                    source: Source::S3(Arc::clone(&reader), o.key),
                });
            }
            continue;
        }
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
        for entry in walkdir::WalkDir::new(p)
            .follow_links(true)
            .sort_by_file_name()
        {
            match entry {
                Ok(e) if e.file_type().is_file() => match std::fs::canonicalize(e.path()) {
                    Ok(c) => {
                        let size = std::fs::metadata(&c).map(|m| m.len()).unwrap_or(0);
                        out.push(Input {
                            name: c.display().to_string(),
                            size,
                            version: None,
                            source: Source::File(c),
                        });
                    }
                    Err(err) => errors.push(format!("{}: {err}", e.path().display())),
                },
                Ok(_) => {}
                Err(err) => errors.push(err.to_string()),
            }
        }
    }
    Ok((out, errors))
}

/// Runs `mamori ingest`.
pub fn ingest(args: IngestArgs, config: &Config) -> Result<ExitCode> {
    let data = config.data_dir(args.data.data.as_deref());
    let mut store =
        Store::open(&data).with_context(|| format!("opening the store in {}", data.display()))?;
    check_day("--since", &args.since)?;
    check_day("--until", &args.until)?;
    let (mut inputs, walk_errors) = walk_inputs(&args.paths, Duration::from_secs(args.s3_timeout))?;
    for e in &walk_errors {
        eprintln!("mamori: cannot read {e}");
    }
    inputs.retain(|i| match date_in_key(&i.name) {
        Some(day) => {
            args.since.as_ref().is_none_or(|s| &day >= s)
                && args.until.as_ref().is_none_or(|u| &day <= u)
        }
        None => true,
    });
    let opts = ParseOptions {
        source: args.source,
        ingest_time: now(),
        max_record_bytes: args.max_record_bytes,
        ..ParseOptions::default()
    };
    let total: u64 = inputs.iter().map(|i| i.size).sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let enricher = crate::enrich_cmd::Enricher::load(config)?;
    let mut detect = if args.no_detect {
        None
    } else {
        let local = !mamori_store::Location::from(&data).is_remote();
        Some(crate::detect_cmd::IngestDetector::start(
            &args.rules,
            config,
            &data,
            local,
            &enricher,
        )?)
    };
    let mut ing = Ingest::new(&mut store, opts.clone(), args.batch_events);
    if let Some(det) = detect.as_mut() {
        // Rules run on each event once its commit is durable, never on a duplicate.
        // GuardDuty and Security Hub findings are findings already.
        ing.observe(Box::new(|e| {
            det.detector.process(e, &mut det.found);
            det.products.extend(mamori_findings::product_detection(e));
        }));
    }
    let mut todo = Vec::new();
    for input in inputs {
        if ing.is_done(&input.name, input.size, input.version.as_deref()) {
            ing.skipped();
            bar.inc(input.size);
        } else {
            todo.push(input);
        }
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let mut unreadable = walk_errors.len();
    let mut commit = |ing: &mut Ingest,
                      name: &str,
                      size: u64,
                      parsed: std::io::Result<mamori_store::ParsedInput>|
     -> Result<()> {
        match parsed {
            Ok(p) => {
                enricher.refresh();
                bar.set_message(name.to_owned());
                ing.add_parsed(p).with_context(|| format!("ingesting {name}; what was committed before is safe, run the same command again to resume"))?;
            }
            Err(e) => {
                bar.suspend(|| eprintln!("mamori: {name}: cannot read: {e}"));
                unreadable += 1;
            }
        }
        bar.inc(size);
        Ok(())
    };
    let read = |input: &Input| {
        input.read().map(|b| {
            let mut p = ParsedInput {
                version: input.version.clone(),
                ..parse_input(&input.name, &b, &opts)
            };
            // Stored with the country, so queries and rules see it on every source.
            for r in &mut p.records {
                if let mamori_store::ParsedRecord::Event(e) = r {
                    enricher.fill(e);
                }
            }
            p
        })
    };
    if threads == 1 {
        for input in &todo {
            commit(&mut ing, &input.name, input.size, read(input))?;
        }
    } else {
        // Parsers read and parse files in parallel; this thread commits, so
        // commits stay in one order and the checkpoint stays simple.
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| -> Result<()> {
            // Deep enough that parsing goes on while a batch is being written.
            let (tx, rx) = mpsc::sync_channel(PARSED_AHEAD);
            for _ in 1..threads {
                let (tx, next, todo, read) = (tx.clone(), &next, &todo, &read);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = todo.get(i) else {
                        break;
                    };
                    if tx.send((i, read(input))).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (i, parsed) in rx {
                commit(&mut ing, &todo[i].name, todo[i].size, parsed)?;
            }
            Ok(())
        })?;
    }
    let report = ing
        .finish()
        .context("committing the last batch; run the same command again to resume")?;
    bar.finish_and_clear();
    println!(
        "inputs: {} read, {} already stored, {} unreadable; events: {} written, {} duplicates dropped, {} rejected (dead-letter in {}); {} commits",
        report.inputs_read,
        report.inputs_skipped,
        unreadable,
        report.events_written,
        report.duplicates,
        report.rejected,
        data.join("dead-letter").display(),
        report.commits
    );
    println!(
        "store: {} events in {}",
        store.event_count(),
        data.display()
    );
    enricher.report();
    if let Some(det) = detect.as_mut() {
        // A batch run reports every detection it can: matches held back for
        // ordering are handed to the correlations now; open windows are kept.
        let mut found = std::mem::take(&mut det.found);
        det.detector.flush(&mut found);
        det.found = found;
        let stats = det.detector.stats();
        let written = det.finish().context("saving detections")?;
        println!(
            "detections: {} from {} events ({} rules, {} correlations){}",
            det.found.len(),
            stats.events,
            det.detector_rules().0,
            det.detector_rules().1,
            written.map_or(String::new(), |p| format!(", appended to {}", p.display()))
        );
        let db = crate::findings_cmd::DbArgs {
            db: args.db.clone(),
            data: args.data.data.clone(),
        };
        if crate::findings_cmd::db_target(&db, config).is_some() {
            let mut st = crate::findings_cmd::open(&db, config)?;
            let mut all = std::mem::take(&mut det.products);
            all.extend(det.found.iter().cloned());
            let sum = crate::findings_cmd::record(&mut st, &all).with_context(|| {
                "recording findings (the events and detections are stored; `mamori findings import` \
                 of <data>/detections/detections.jsonl and product-findings.jsonl retries)"
            })?;
            println!("findings ({}): {sum}", st.target());
            let n = enricher.enrich_findings(&mut st, &sum.touched, Some(&store))?;
            if n > 0 {
                println!("findings enriched: {n}");
            }
            crate::findings_cmd::notify(&mut st, config)?;
        } else if !det.found.is_empty() || !det.products.is_empty() {
            println!(
                "findings: not recorded (a store on object storage needs --db or [findings] db)"
            );
        }
    }
    Ok(if unreadable > 0 || report.rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Opens the store to read its events (queries, hunts, stats): from the
/// manifest's checkpoint when it holds.
pub fn open_ro(data: &DataArgs, config: &Config) -> Result<(PathBuf, Store)> {
    open_reading(data, config, |dir: &PathBuf| Store::open_for_queries(dir))
}

/// Opens the store reading every manifest entry (verify, snapshot).
fn open_whole(data: &DataArgs, config: &Config) -> Result<(PathBuf, Store)> {
    open_reading(data, config, |dir: &PathBuf| Store::open_read_only(dir))
}

fn open_reading(
    data: &DataArgs,
    config: &Config,
    open: impl Fn(&PathBuf) -> Result<Store, mamori_store::StoreError>,
) -> Result<(PathBuf, Store)> {
    let dir = config.data_dir(data.data.as_deref());
    let local = !mamori_store::Location::from(&dir).is_remote();
    if local && !dir.join("manifest.jsonl").exists() && !dir.join("events").is_dir() {
        bail!(
            "{}: no store here (no manifest.jsonl); ingest something first or pass --data",
            dir.display()
        );
    }
    let store = open(&dir).with_context(|| format!("reading the store in {}", dir.display()))?;
    if !local && store.manifest_entries() == 0 {
        bail!(
            "{}: no store here (no manifest/ entries); ingest something first or pass --data",
            dir.display()
        );
    }
    Ok((dir, store))
}

fn ts(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".into(), |t| t.to_string())
}

/// Runs `mamori store …`.
pub fn store(cmd: StoreCmd, config: &Config) -> Result<ExitCode> {
    match cmd {
        StoreCmd::Stats { data, json } => {
            let (_, store) = open_ro(&data, config)?;
            let (per, total) = store.stats();
            if json {
                let row = |s: &mamori_store::SourceStats| serde_json::json!({"events": s.events, "files": s.files, "bytes": s.bytes, "bytes_per_event": if s.events > 0 { s.bytes as f64 / s.events as f64 } else { 0.0 }, "min_time": s.min_time.map(|t| t.to_string()), "max_time": s.max_time.map(|t| t.to_string())});
                let sources: serde_json::Map<String, serde_json::Value> =
                    per.iter().map(|(k, v)| (k.clone(), row(v))).collect();
                println!(
                    "{}",
                    serde_json::json!({"sources": sources, "total": row(&total)})
                );
            } else {
                println!(
                    "{:<16} {:>12} {:>7} {:>14} {:>9}  {:<24} {:<24}",
                    "source", "events", "files", "bytes", "B/event", "from", "to"
                );
                for (k, s) in per
                    .iter()
                    .chain(std::iter::once((&"total".to_owned(), &total)))
                {
                    let bpe = if s.events > 0 {
                        s.bytes as f64 / s.events as f64
                    } else {
                        0.0
                    };
                    println!(
                        "{k:<16} {:>12} {:>7} {:>14} {bpe:>9.1}  {:<24} {:<24}",
                        s.events,
                        s.files,
                        s.bytes,
                        ts(s.min_time),
                        ts(s.max_time)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreCmd::Verify { data } => {
            let (dir, store) = open_whole(&data, config)?;
            let problems = store.verify()?;
            for p in &problems {
                println!("{}: {}", p.path, p.reason);
            }
            let files = store.files().count();
            if problems.is_empty() {
                println!("ok: {files} files match the manifest in {}", dir.display());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("mamori: {} problem(s) in {}", problems.len(), dir.display());
                Ok(ExitCode::from(1))
            }
        }
        StoreCmd::Snapshot { data, dest } => {
            let (dir, store) = open_whole(&data, config)?;
            let n = store
                .snapshot(&dest)
                .with_context(|| format!("snapshot of {} to {}", dir.display(), dest.display()))?;
            println!(
                "snapshot: {n} files copied to {} and verified",
                dest.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        StoreCmd::Restore { data, snapshot } => {
            let dir = config.data_dir(data.data.as_deref());
            let snap = Store::open_read_only(&snapshot)
                .with_context(|| format!("reading snapshot {}", snapshot.display()))?;
            let n = snap.snapshot(&dir).with_context(|| {
                format!("restoring {} into {}", snapshot.display(), dir.display())
            })?;
            println!("restored: {n} files into {} and verified", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        StoreCmd::Compact {
            data,
            hour_split_rows,
        } => {
            let dir = config.data_dir(data.data.as_deref());
            let mut store = Store::open(&dir)?;
            store.split_hours_from(hour_split_rows);
            let (merges, removed) = store.compact(now())?;
            println!("{merges} merges, {removed} files merged away");
            Ok(ExitCode::SUCCESS)
        }
        StoreCmd::Retention { data, days } => {
            let mut map: BTreeMap<String, u32> = config.retention.clone();
            for d in &days {
                match d.split_once('=') {
                    Some((k, v)) => map.insert(
                        k.to_owned(),
                        v.parse()
                            .with_context(|| format!("--days {d}: not a number of days"))?,
                    ),
                    None => map.insert(
                        "default".into(),
                        d.parse()
                            .with_context(|| format!("--days {d}: not a number of days"))?,
                    ),
                };
            }
            let default = map.remove("default");
            for k in map.keys() {
                if SourceKind::from_name(k).is_none() {
                    bail!("retention: unknown source {k:?}");
                }
            }
            let dir = config.data_dir(data.data.as_deref());
            let mut store = Store::open(&dir)?;
            let removed = store.apply_retention(&map, default, now())?;
            for r in &removed {
                println!("removed {r}");
            }
            println!("{} files removed", removed.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
