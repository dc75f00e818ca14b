//! `mamori-gen`: write generated log volume to disk, or benchmark parsing on it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
mod bench_detect;

use clap::{Parser, Subcommand, ValueEnum};
use mamori_event::{Event, Timestamp};
use mamori_gen::{GenConfig, Generator, Object, Templates};
use mamori_parse::{ParseOptions, Rejected, Sink};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic log volume for tests and benchmarks.
#[derive(Parser)]
#[command(name = "mamori-gen", about)]
struct Cli {
    /// Directories of template records (default: ../shared/corpus and testdata/samples).
    #[arg(long, global = true)]
    templates: Vec<PathBuf>,
    /// Random seed.
    #[arg(long, global = true, default_value_t = 42)]
    seed: u64,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Cloudtrail,
    K8s,
    Entra,
    Vpc,
    Alb,
    Syslog,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write objects in the provider's layout under a directory.
    Generate {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Which source.
        #[arg(long, value_enum, default_value = "cloudtrail")]
        kind: Kind,
        /// Total events.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Events per object.
        #[arg(long, default_value_t = 1_000)]
        per_file: usize,
    },
    /// Benchmark CloudTrail parse+normalize on one core, decompression timed apart.
    BenchParse {
        /// Total events.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Events per object.
        #[arg(long, default_value_t = 1_000)]
        per_file: usize,
        /// Timed runs; the best and the median are reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Time detection on generated CloudTrail events: every cloud rule of the
    /// corpus plus Mamori's pack, then one rule; streaming and hunt.
    BenchDetect {
        /// Total events.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Timed runs; the best is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn templates(dirs: &[PathBuf]) -> Result<Templates> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let default = [root.join("../shared/corpus"), root.join("testdata/samples")];
    let dirs: Vec<&Path> = if dirs.is_empty() {
        default.iter().map(PathBuf::as_path).collect()
    } else {
        dirs.iter().map(PathBuf::as_path).collect()
    };
    let t = Templates::load(&dirs);
    if !t.complete() {
        bail!(
            "no templates for every kind under {dirs:?} (cloudtrail {}, k8s {}, entra {})",
            t.cloudtrail.len(),
            t.k8s.len(),
            t.entra.len()
        );
    }
    eprintln!(
        "templates: {} cloudtrail, {} k8s, {} entra",
        t.cloudtrail.len(),
        t.k8s.len(),
        t.entra.len()
    );
    Ok(t)
}

struct Count {
    events: u64,
    rejected: u64,
}

impl Sink for Count {
    fn event(&mut self, e: Event) {
        self.events += 1;
        std::hint::black_box(e);
    }
    fn reject(&mut self, r: Rejected) {
        self.rejected += 1;
        if self.rejected <= 3 {
            eprintln!("rejected: {}", r.reason);
        }
    }
}

fn make(gen: &mut Generator, kind: Kind, n: usize) -> Object {
    match kind {
        Kind::Cloudtrail => gen.cloudtrail_object(n),
        Kind::K8s => gen.k8s_object(n),
        Kind::Entra => gen.entra_object(n),
        Kind::Vpc => gen.vpc_object(n),
        Kind::Alb => gen.alb_object(n),
        Kind::Syslog => gen.syslog_object(n),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let cfg = GenConfig {
        seed: cli.seed,
        ..GenConfig::default()
    };
    match cli.command {
        Cmd::Generate {
            out,
            kind,
            events,
            per_file,
        } => {
            let mut gen = Generator::new(cfg, templates(&cli.templates)?);
            let mut left = events;
            let (mut files, mut bytes) = (0, 0);
            while left > 0 {
                let n = left.min(per_file.max(1));
                let obj = make(&mut gen, kind, n);
                let path = out.join(&obj.key);
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                fs::write(&path, &obj.bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                left -= n;
                files += 1;
                bytes += obj.bytes.len();
            }
            eprintln!(
                "wrote {events} events in {files} objects ({bytes} bytes) under {}",
                out.display()
            );
        }
        Cmd::BenchParse {
            events,
            per_file,
            runs,
        } => bench(cfg, &cli.templates, events, per_file, runs)?,
        Cmd::BenchDetect { events, runs } => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
            let corpus = root.join("../shared/corpus/sigma-rules");
            let all = vec![
                corpus.join("rules/cloud"),
                corpus.join("rules-threat-hunting/cloud"),
                corpus.join("unsupported/cloud"),
                root.join("rules"),
            ];
            let one = vec![root.join("rules/aws/cloudtrail_logging_tampered.yml")];
            let gen = Generator::new(cfg, templates(&cli.templates)?);
            bench_detect::run(
                gen,
                events,
                &[("every cloud rule".into(), all), ("one rule".into(), one)],
                runs,
            )?;
        }
    }
    Ok(())
}

fn bench(
    cfg: GenConfig,
    dirs: &[PathBuf],
    events: usize,
    per_file: usize,
    runs: usize,
) -> Result<()> {
    let mut gen = Generator::new(cfg, templates(dirs)?);
    let t = Instant::now();
    let objects: Vec<Object> = (0..events.div_ceil(per_file))
        .map(|_| gen.cloudtrail_object(per_file))
        .collect();
    let total_events: usize = objects.iter().map(|o| o.events).sum();
    let compressed: usize = objects.iter().map(|o| o.bytes.len()).sum();
    eprintln!(
        "generated {total_events} events in {} objects in {:.1}s",
        objects.len(),
        t.elapsed().as_secs_f64()
    );

    let opts = ParseOptions {
        ingest_time: Timestamp::parse_iso8601("2026-11-01T00:00:00Z").unwrap_or_default(),
        ..ParseOptions::default()
    };
    let (mut decomp, mut parse, mut e2e) = (Vec::new(), Vec::new(), Vec::new());
    let mut plain_bytes = 0usize;
    for run in 0..runs.max(1) {
        let t = Instant::now();
        let plain: Vec<Vec<u8>> = objects
            .iter()
            .map(|o| mamori_parse::decode(&o.bytes, u64::MAX).data.into_owned())
            .collect();
        decomp.push(t.elapsed().as_secs_f64());
        plain_bytes = plain.iter().map(Vec::len).sum();

        let mut sink = Count {
            events: 0,
            rejected: 0,
        };
        let t = Instant::now();
        for (o, p) in objects.iter().zip(&plain) {
            mamori_parse::parse(&o.key, p, &opts, &mut sink);
        }
        parse.push(t.elapsed().as_secs_f64());
        drop(plain);
        if sink.events as usize != total_events || sink.rejected != 0 {
            bail!(
                "run {run}: {} events, {} rejected, expected {total_events} and 0",
                sink.events,
                sink.rejected
            );
        }

        let mut sink = Count {
            events: 0,
            rejected: 0,
        };
        let t = Instant::now();
        for o in &objects {
            mamori_parse::parse(&o.key, &o.bytes, &opts, &mut sink);
        }
        e2e.push(t.elapsed().as_secs_f64());
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let (d_best, d_med) = stat(&mut decomp);
    let (p_best, p_med) = stat(&mut parse);
    let (e_best, e_med) = stat(&mut e2e);
    let mb = plain_bytes as f64 / 1e6;
    let n = total_events as f64;
    println!("events                      {total_events}");
    println!("objects                     {} x {per_file} events, {:.1} MB gzip, {mb:.1} MB JSON ({:.0} B/event)", objects.len(), compressed as f64 / 1e6, plain_bytes as f64 / n);
    println!(
        "gzip decompression          best {d_best:.3}s  median {d_med:.3}s  {:.0} MB/s of JSON out",
        mb / d_best
    );
    println!("parse+normalize (1 core)    best {p_best:.3}s  median {p_med:.3}s  {:.0} events/s  {:.0} MB/s", n / p_best, mb / p_best);
    println!(
        "gz file -> events (1 core)  best {e_best:.3}s  median {e_med:.3}s  {:.0} events/s",
        n / e_best
    );
    Ok(())
}
