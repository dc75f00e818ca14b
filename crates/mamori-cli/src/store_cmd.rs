//! `mamori ingest` and `mamori store …`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mamori_event::{SourceKind, Timestamp};
use mamori_parse::ParseOptions;
use mamori_store::{Ingest, Store};

use crate::config::Config;
use crate::inspect::{now, parse_kind};

/// Where the store is.
#[derive(Args)]
pub struct DataArgs {
    /// The data directory (default: the config's `[store] data`, else ./mamori-data).
    #[arg(long, env = "MAMORI_DATA")]
    data: Option<PathBuf>,
}

/// Arguments of `mamori ingest`.
#[derive(Args)]
pub struct IngestArgs {
    /// Files or directories (read recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Read every record as this source instead of detecting it.
    #[arg(long, value_parser = parse_kind)]
    source: Option<SourceKind>,
    /// Records per commit: each commit is durable before the next batch is read.
    #[arg(long, default_value_t = 200_000)]
    batch_events: usize,
    /// Records larger than this many bytes are rejected whole (kept in the dead-letter files).
    #[arg(long, default_value_t = 4 << 20)]
    max_record_bytes: usize,
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
    /// Merge each partition's segments into one.
    Compact {
        #[command(flatten)]
        data: DataArgs,
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

fn walk_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let s = p.to_string_lossy();
        if s.starts_with("s3://") {
            bail!("{s}: S3 ingest is not implemented yet; copy the objects to a local directory (e.g. `aws s3 sync`) and ingest that");
        }
        for entry in walkdir::WalkDir::new(p)
            .follow_links(true)
            .sort_by_file_name()
        {
            let entry = entry.with_context(|| format!("cannot read {}", p.display()))?;
            if entry.file_type().is_file() {
                out.push(
                    std::fs::canonicalize(entry.path())
                        .with_context(|| format!("cannot resolve {}", entry.path().display()))?,
                );
            }
        }
    }
    Ok(out)
}

/// Runs `mamori ingest`.
pub fn ingest(args: IngestArgs, config: &Config) -> Result<ExitCode> {
    let data = config.data_dir(args.data.data.as_deref());
    let mut store =
        Store::open(&data).with_context(|| format!("opening the store in {}", data.display()))?;
    let inputs = walk_inputs(&args.paths)?;
    let opts = ParseOptions {
        source: args.source,
        ingest_time: now(),
        max_record_bytes: args.max_record_bytes,
        ..ParseOptions::default()
    };
    let total: u64 = inputs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut ing = Ingest::new(&mut store, opts, args.batch_events);
    let mut unreadable = 0;
    for path in &inputs {
        let name = path.display().to_string();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        bar.set_message(name.clone());
        if !ing.is_done(&name, size) {
            match std::fs::read(path) {
                Ok(bytes) => {
                    ing.add(&name, &bytes).with_context(|| format!("ingesting {name}; what was committed before is safe, run the same command again to resume"))?;
                }
                Err(e) => {
                    bar.suspend(|| eprintln!("mamori: {name}: cannot read: {e}"));
                    unreadable += 1;
                }
            }
        } else {
            ing.skipped();
        }
        bar.inc(size);
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
    Ok(if unreadable > 0 || report.rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn open_ro(data: &DataArgs, config: &Config) -> Result<(PathBuf, Store)> {
    let dir = config.data_dir(data.data.as_deref());
    if !dir.join("manifest.jsonl").exists() {
        bail!(
            "{}: no store here (no manifest.jsonl); ingest something first or pass --data",
            dir.display()
        );
    }
    let store = Store::open_read_only(&dir)
        .with_context(|| format!("reading the store in {}", dir.display()))?;
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
            let (dir, store) = open_ro(&data, config)?;
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
        StoreCmd::Compact { data } => {
            let dir = config.data_dir(data.data.as_deref());
            let mut store = Store::open(&dir)?;
            let (parts, removed) = store.compact(now())?;
            println!("compacted {parts} partitions, {removed} files merged");
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
