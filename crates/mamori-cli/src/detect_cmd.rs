//! `mamori rules lint|test`, `mamori hunt`, and the detector `ingest` runs.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mamori_sigma::{Detection, Detector, DetectorState, LoadOptions, RuleSet};

use crate::config::Config;
use crate::enrich_cmd::Enricher;
use crate::query_cmd::{Output, TimeArgs};
use crate::store_cmd::{open_ro, DataArgs};

/// Which rules to run.
#[derive(Args, Clone, Default)]
pub struct RuleArgs {
    /// Rule files or directories (repeatable); Mamori's own pack is loaded too unless --no-builtin-rules.
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// Leave out Mamori's built-in rule pack.
    #[arg(long)]
    pub no_builtin_rules: bool,
    /// YAML file of placeholder values for `expand` (`Name: [value, …]`).
    #[arg(long)]
    pub placeholders: Option<PathBuf>,
}

/// `mamori rules …`.
#[derive(Subcommand)]
pub enum RulesCmd {
    /// Load rules and report each one that does not load (file, line, reason); exit 1 if any.
    Lint {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// YAML file of placeholder values.
        #[arg(long)]
        placeholders: Option<PathBuf>,
        /// Also list warnings (fields a source never has, logsources Mamori does not read).
        #[arg(long)]
        warnings: bool,
    },
    /// Run the tests kept next to rules (`name.tests.yml`); exit 1 on any failure.
    Test {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// YAML file of placeholder values.
        #[arg(long)]
        placeholders: Option<PathBuf>,
    },
}

/// `mamori hunt`.
#[derive(Args)]
pub struct HuntArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    time: TimeArgs,
    /// table, json (one detection per line) or csv.
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    /// Record the detections as findings (deduplicated with those already there).
    #[arg(long)]
    record: bool,
    /// Findings database for `--record` (default: the config's `[findings] db`, else `findings.db` in the data directory).
    #[arg(long, env = "MAMORI_DB")]
    db: Option<String>,
}

impl HuntArgs {
    fn findings_db(&self) -> crate::findings_cmd::DbArgs {
        crate::findings_cmd::DbArgs {
            db: self.db.clone(),
            data: self.data.data.clone(),
        }
    }
}

/// Placeholder values: the config's `[detect.placeholders]`, then the file;
/// and the threat lists, for `%name%` values that name one.
fn load_options(file: Option<&Path>, config: &Config, enricher: &Enricher) -> Result<LoadOptions> {
    let mut placeholders: HashMap<String, Vec<String>> = config.detect.placeholders.clone();
    if let Some(f) = file.or(config.detect.placeholders_file.as_deref()) {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let more: HashMap<String, Vec<String>> = serde_yaml::from_str(&text)
            .with_context(|| format!("{}: expected a map of `Name: [value, …]`", f.display()))?;
        placeholders.extend(more);
    }
    Ok(LoadOptions {
        placeholders,
        lists: enricher.rule_lists(),
        ..LoadOptions::default()
    })
}

/// The rule set `ingest` and `hunt` run: the built-in pack, then `--rules` and the config's.
pub fn load_rules(args: &RuleArgs, config: &Config, enricher: &Enricher) -> Result<Arc<RuleSet>> {
    let opts = load_options(args.placeholders.as_deref(), config, enricher)?;
    let mut texts: Vec<(PathBuf, String)> = Vec::new();
    if !args.no_builtin_rules {
        texts.extend(
            crate::samples::RULES
                .iter()
                .map(|(p, t)| (PathBuf::from(format!("builtin:{p}")), (*t).to_owned())),
        );
    }
    let dirs: Vec<PathBuf> = args
        .rules
        .iter()
        .chain(&config.detect.rules)
        .cloned()
        .collect();
    for f in mamori_sigma::rule_files(&dirs) {
        let t = std::fs::read_to_string(&f)
            .with_context(|| format!("cannot read rule {}", f.display()))?;
        texts.push((f, t));
    }
    let set = RuleSet::load_texts(texts, &opts);
    for e in &set.report.errors {
        eprintln!("mamori: rule skipped: {e}");
    }
    for e in &set.report.needs_values {
        eprintln!("mamori: rule skipped: {e}");
    }
    Ok(Arc::new(set))
}

/// `mamori rules lint|test`.
pub fn rules(cmd: RulesCmd, config: &Config) -> Result<ExitCode> {
    match cmd {
        RulesCmd::Lint {
            paths,
            placeholders,
            warnings,
        } => {
            let opts = load_options(placeholders.as_deref(), config, &Enricher::load(config)?)?;
            let set = RuleSet::load(&paths, &opts);
            let r = &set.report;
            for e in &r.errors {
                println!("error: {e}");
            }
            for e in &r.needs_values {
                println!("needs values: {e}");
            }
            if warnings {
                for e in &r.warnings {
                    println!("warning: {e}");
                }
                for e in &r.translated {
                    println!("translated: {e}");
                }
            }
            println!(
                "{} files: {} detection rules, {} correlations, {} filters loaded; {} failed, {} need placeholder values, {} warnings, {} legacy aggregations translated",
                r.files, r.detections, r.correlations, r.filters, r.errors.len(), r.needs_values.len(), r.warnings.len(), r.translated.len()
            );
            Ok(if r.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RulesCmd::Test {
            paths,
            placeholders,
        } => {
            let opts = load_options(placeholders.as_deref(), config, &Enricher::load(config)?)?;
            let (set, results) = mamori_sigma::ruletest::run(&paths, &opts);
            for e in &set.report.errors {
                println!("error: {e}");
            }
            let failed = results.iter().filter(|r| !r.passed).count();
            for r in &results {
                if r.passed {
                    println!("ok    {}: {}", r.file.display(), r.name);
                } else {
                    println!("FAIL  {}: {}: {}", r.file.display(), r.name, r.detail);
                }
            }
            println!(
                "{} tests: {} passed, {} failed",
                results.len(),
                results.len() - failed,
                failed
            );
            Ok(if failed == 0 && set.report.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// `mamori hunt`: every rule over the stored events.
pub fn hunt(args: HuntArgs, config: &Config) -> Result<ExitCode> {
    let enricher = Enricher::load(config)?;
    let rules = load_rules(&args.rules, config, &enricher)?;
    let (start, end) = args.time.range()?;
    let (_, store) = open_ro(&args.data, config)?;
    let sources: Vec<&str> = rules.sources().iter().map(|k| k.as_str()).collect();
    // The scan goes file by file in order of first event, and files are per
    // UTC day, so no event comes a day or more after a later one: a one-day
    // bound orders correlation input as exactly as holding everything would,
    // and holds at most a day of matches.
    let mut detector = Detector::new(Arc::clone(&rules), Some(Duration::from_secs(86_400)));
    let mut found = Vec::new();
    let scanned = store
        .scan(
            &sources,
            start.map(mamori_event::Timestamp),
            end.map(mamori_event::Timestamp),
            &mut |mut e, _| {
                // Events stored before GeoIP was configured get their country now.
                enricher.fill(&mut e);
                detector.process(&e, &mut found)
            },
        )
        .context("reading the store")?;
    detector.flush(&mut found);
    enricher.report();
    found.sort_by(|a, b| (a.last_time, &a.rule_id).cmp(&(b.last_time, &b.rule_id)));
    print_detections(&found, args.output)?;
    if args.record {
        let mut st = crate::findings_cmd::open(&args.findings_db(), config)?;
        let sum = crate::findings_cmd::record(&mut st, &found)?;
        eprintln!("findings ({}): {sum}", st.target());
        let n = enricher.enrich_findings(&mut st, &sum.touched, Some(&store))?;
        if n > 0 {
            eprintln!("findings enriched: {n}");
        }
        crate::findings_cmd::notify(&mut st, config)?;
    }
    eprintln!(
        "{} events of {} sources hunted with {} rules and {} correlations: {} detections",
        scanned,
        sources.len(),
        rules.rules.len(),
        rules.correlations.len(),
        found.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints detections as a table, JSON lines or CSV.
pub fn print_detections(ds: &[Detection], output: Output) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let group = |d: &Detection| {
        d.group
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match output {
        Output::Json => {
            for d in ds {
                serde_json::to_writer(&mut out, d)?;
                out.write_all(b"\n")?;
            }
        }
        Output::Csv => {
            writeln!(
                out,
                "last_time,first_time,level,rule_id,title,kind,count,source,group,event_uids"
            )?;
            for d in ds {
                let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{}",
                    d.last_time,
                    d.first_time,
                    d.level.as_deref().unwrap_or(""),
                    q(&d.rule_id),
                    q(&d.title),
                    d.kind,
                    d.count,
                    d.source,
                    q(&group(d)),
                    q(&d.event_uids.join(" "))
                )?;
            }
        }
        Output::Table => {
            writeln!(
                out,
                "{:<20}  {:<8}  {:>5}  {:<13}  {:<60}  GROUP / EVENT",
                "TIME", "LEVEL", "COUNT", "SOURCE", "RULE"
            )?;
            for d in ds {
                let what = if d.group.is_empty() {
                    d.event_uids.first().cloned().unwrap_or_default()
                } else {
                    group(d)
                };
                let mut title = d.title.clone();
                if title.chars().count() > 60 {
                    title = title.chars().take(59).collect::<String>() + "…";
                }
                writeln!(
                    out,
                    "{:<20}  {:<8}  {:>5}  {:<13}  {:<60}  {}",
                    d.last_time.to_string(),
                    d.level.as_deref().unwrap_or("-"),
                    d.count,
                    d.source,
                    title,
                    what
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The detector `ingest` runs on each stored event, with its state and
/// detections kept in the data directory (a local store only).
pub struct IngestDetector {
    /// The detector.
    pub detector: Detector,
    /// Detections so far.
    pub found: Vec<Detection>,
    /// GuardDuty and Security Hub findings read, as detections (findings, not rule matches).
    pub products: Vec<Detection>,
    rules: Arc<RuleSet>,
    state_path: Option<PathBuf>,
    out_dir: Option<PathBuf>,
}

impl IngestDetector {
    /// Loads the rules and the saved correlation state.
    pub fn start(
        args: &RuleArgs,
        config: &Config,
        data: &Path,
        local: bool,
        enricher: &Enricher,
    ) -> Result<IngestDetector> {
        let rules = load_rules(args, config, enricher)?;
        let lateness = match &config.detect.lateness {
            Some(l) => Duration::from_millis(
                mamori_sigma::parse_timespan(l)
                    .map_err(anyhow::Error::msg)
                    .context("[detect] lateness")? as u64,
            ),
            None => Duration::from_secs(15 * 60),
        };
        let mut detector = Detector::new(Arc::clone(&rules), Some(lateness));
        let state_path = local.then(|| data.join("detect").join("state.json"));
        if let Some(p) = state_path.as_ref().filter(|p| p.exists()) {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let state: DetectorState = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a detector state; move it away to start afresh",
                    p.display()
                )
            })?;
            detector = detector.with_state(state);
        }
        Ok(IngestDetector {
            detector,
            found: Vec::new(),
            products: Vec::new(),
            rules,
            state_path,
            out_dir: local.then(|| data.join("detections")),
        })
    }

    /// The rules loaded.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Detection rules and correlations loaded.
    pub fn detector_rules(&self) -> (usize, usize) {
        (self.rules.rules.len(), self.rules.correlations.len())
    }

    /// Saves the state and appends the detections (JSON lines) to
    /// `detections/detections.jsonl`, and the product findings to
    /// `detections/product-findings.jsonl`, so that recording them as
    /// findings can be retried (`findings import`).
    pub fn finish(&mut self) -> Result<Option<PathBuf>> {
        if let Some(p) = &self.state_path {
            let dir = p.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let tmp = p.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(&self.detector.state())?)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, p).with_context(|| format!("cannot write {}", p.display()))?;
        }
        let Some(dir) = &self.out_dir else {
            return Ok(None);
        };
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("detections.jsonl");
        append_lines(&path, &self.found)?;
        if !self.products.is_empty() {
            append_lines(&dir.join("product-findings.jsonl"), &self.products)?;
        }
        Ok(Some(path))
    }
}

/// Appends detections as JSON lines and syncs the file.
fn append_lines(path: &Path, ds: &[Detection]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    for d in ds {
        let mut line = serde_json::to_vec(d)?;
        line.push(b'\n');
        f.write_all(&line)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    f.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))
}
