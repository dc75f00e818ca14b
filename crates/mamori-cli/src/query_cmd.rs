//! `mamori query` (Logs Insights), `mamori sql` and `mamori get`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use mamori_event::Timestamp;
use mamori_query::output::ArrowError;
use mamori_query::{CompileOptions, Engine, EngineOptions, QueryError};

use crate::config::Config;
use crate::store_cmd::{open_ro, DataArgs};

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// An aligned table.
    Table,
    /// One JSON object per row.
    Json,
    /// CSV with a header.
    Csv,
}

/// A time range: `--since`, `--start`, `--end` (query, sql, hunt).
#[derive(Args)]
pub struct TimeArgs {
    /// Only events of the last period: 15m, 24h, 7d, 2w.
    #[arg(long)]
    since: Option<String>,
    /// Only events at or after this time (2026-11-01 or 2026-11-01T10:00:00Z).
    #[arg(long)]
    start: Option<String>,
    /// Only events before this time.
    #[arg(long)]
    end: Option<String>,
}

impl TimeArgs {
    /// The range as microseconds (`--start` wins over `--since`).
    pub fn range(&self) -> Result<(Option<i64>, Option<i64>)> {
        time_range(
            self.since.as_deref(),
            self.start.as_deref(),
            self.end.as_deref(),
        )
    }
}

/// Options shared by `query` and `sql`.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    time: TimeArgs,
    /// table, json (one object per row) or csv.
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    /// Memory the query may use, in MB; a query that needs more fails with a message.
    #[arg(long, default_value_t = 1024)]
    memory: usize,
    /// Print the SQL and DataFusion's plan instead of running the query.
    #[arg(long)]
    explain: bool,
    /// Print on stderr the rows returned and the time the command took,
    /// from reading the store's manifest to the last row written.
    #[arg(long)]
    stats: bool,
}

/// When each phase of a command ended, for `--stats`.
struct Phases {
    started: Instant,
    marks: Vec<(&'static str, Instant)>,
    /// Files whose rows were counted from their footer's value counts.
    footer_counted: usize,
}

impl Phases {
    fn start() -> Self {
        Phases {
            started: Instant::now(),
            marks: Vec::new(),
            footer_counted: 0,
        }
    }

    /// Marks the end of the phase `name`.
    fn mark(&mut self, name: &'static str) {
        self.marks.push((name, Instant::now()));
    }
}

/// Prints `--stats`: rows returned, the time since the command started, and
/// how long each phase took (where a query's time goes, without a profiler).
fn report(run: &RunArgs, mut phases: Phases, rows: usize) -> ExitCode {
    if run.stats {
        phases.mark("rows");
        let mut last = phases.started;
        let parts: Vec<String> = phases
            .marks
            .iter()
            .map(|(name, at)| {
                let ms = at.duration_since(last).as_secs_f64() * 1e3;
                last = *at;
                format!("{name} {ms:.1} ms")
            })
            .collect();
        let footers = match phases.footer_counted {
            0 => String::new(),
            n => format!("; {n} file(s) counted from their footer"),
        };
        eprintln!(
            "mamori: {rows} row(s) in {:.3} s ({}){footers}",
            phases.started.elapsed().as_secs_f64(),
            parts.join(", ")
        );
    }
    ExitCode::SUCCESS
}

/// `mamori query`.
#[derive(Args)]
pub struct QueryArgs {
    /// A Logs Insights query: `fields … | filter … | stats … by … | sort … | limit …`.
    query: String,
    #[command(flatten)]
    run: RunArgs,
}

/// `mamori sql`.
#[derive(Args)]
pub struct SqlArgs {
    /// SQL over the tables `events` (all sources) and one per source kind (`cloudtrail`, `k8s`, …).
    sql: String,
    #[command(flatten)]
    run: RunArgs,
}

/// `mamori get`.
#[derive(Args)]
pub struct GetArgs {
    /// An `@ptr` value from a query result (`source/date/uid`).
    ptr: String,
    #[command(flatten)]
    data: DataArgs,
}

fn period_micros(s: &str) -> Option<i64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: i64 = s[..split].parse().ok()?;
    let unit: i64 = match &s[split..] {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(unit)?.checked_mul(1_000_000)
}

fn instant(flag: &str, s: &str) -> Result<i64> {
    let t = if s.len() == 10 {
        Timestamp::parse_iso8601(&format!("{s}T00:00:00Z"))
    } else {
        Timestamp::parse_iso8601(s)
    };
    t.map(|t| t.0).with_context(|| {
        format!("{flag} {s}: expected a date (2026-11-01) or a time (2026-11-01T10:00:00Z)")
    })
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn range(a: &RunArgs) -> Result<(Option<i64>, Option<i64>)> {
    a.time.range()
}

/// `--since`, `--start` and `--end` as microseconds (start wins over since).
pub(crate) fn time_range(
    since: Option<&str>,
    start_flag: Option<&str>,
    end: Option<&str>,
) -> Result<(Option<i64>, Option<i64>)> {
    let mut start = match since {
        Some(s) => Some(
            now_micros()
                - period_micros(s).with_context(|| {
                    format!("--since {s}: expected a period such as 15m, 24h, 7d")
                })?,
        ),
        None => None,
    };
    if let Some(s) = start_flag {
        start = Some(instant("--start", s)?);
    }
    let end = end.map(|e| instant("--end", e)).transpose()?;
    Ok((start, end))
}

fn engine_options(
    run: &RunArgs,
    sources: Vec<String>,
    (start, end): (Option<i64>, Option<i64>),
) -> EngineOptions {
    EngineOptions {
        memory_limit: run.memory.max(16) << 20,
        start,
        end,
        sources,
        ..EngineOptions::default()
    }
}

/// Whether every event file in the range is CloudTrail's.
pub(crate) fn only_cloudtrail(
    store: &mamori_store::Store,
    start: Option<i64>,
    end: Option<i64>,
) -> bool {
    let mut any = false;
    for f in store.files().filter(|f| f.source != "dead_letter") {
        if start.is_some_and(|s| f.max_time < s) || end.is_some_and(|e| f.min_time >= e) {
            continue;
        }
        if f.source != "cloudtrail" {
            return false;
        }
        any = true;
    }
    any
}

/// Runs `sql` and writes its rows; returns how many.
fn print(engine: &Engine, sql: &str, output: Output) -> Result<usize, QueryError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let io = |e: std::io::Error| QueryError::Engine(e.to_string());
    let arrow = |e: ArrowError| QueryError::Engine(e.to_string());
    let mut rows = 0;
    match output {
        Output::Table => {
            let r = engine.run(sql)?;
            return print_batches(Some(r.schema), &r.batches, output);
        }
        Output::Json => {
            engine.stream(sql, |b| {
                rows += b.num_rows();
                mamori_query::output::json_lines(b, &mut out).map_err(arrow)
            })?;
        }
        Output::Csv => {
            let mut first = true;
            engine.stream(sql, |b| {
                rows += b.num_rows();
                let r = mamori_query::output::csv(b, first, &mut out).map_err(arrow);
                first = false;
                r
            })?;
        }
    }
    out.flush().map_err(io)?;
    Ok(rows)
}

/// Runs `mamori query`.
pub fn query(args: QueryArgs, config: &Config) -> Result<ExitCode> {
    let mut phases = Phases::start();
    let parsed = match mamori_query::parse(&args.query) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("mamori: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let (start, end) = range(&args.run)?;
    let (_, store) = open_ro(&args.run.data, config)?;
    phases.mark("store");
    // `diff` also reads an earlier window: files and sources are judged from the beginning.
    let diff = parsed
        .commands
        .iter()
        .any(|c| matches!(c, mamori_query::ast::Command::Diff(_)));
    let files_from = if diff { None } else { start };
    let opts = CompileOptions {
        start,
        end,
        only_cloudtrail: only_cloudtrail(&store, files_from, end),
        ..CompileOptions::default()
    };
    let compiled = mamori_query::compile(&parsed, &opts)?;
    phases.mark("compile");
    let engine = Engine::open(
        &store,
        &EngineOptions {
            raw_as_view: parsed.rows_end_in_stats(),
            ..engine_options(&args.run, compiled.sources.clone(), (files_from, end))
        },
    )?;
    phases.mark("engine");
    engine.prepare(&compiled)?;
    phases.mark("prepare");
    phases.footer_counted = engine.footer_counted();
    if args.run.explain {
        println!("{}\n\n{}", compiled.sql, engine.explain(&compiled.sql)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(limit) = mamori_query::newest::windowed_limit(&parsed, opts.default_limit) {
        // Newest first, the newest windows are read first and the rest only if needed.
        let Some(span) = span_of(&store, &compiled.sources, start, end) else {
            let rows = print(&engine, &compiled.sql, args.run.output)?;
            return Ok(report(&args.run, phases, rows));
        };
        let (schema, batches) =
            mamori_query::newest::run_newest_first(&engine, &parsed, &opts, span, limit)?;
        let rows = print_batches(schema, &batches, args.run.output)?;
        return Ok(report(&args.run, phases, rows));
    }
    let rows = print(&engine, &compiled.sql, args.run.output)?;
    Ok(report(&args.run, phases, rows))
}

/// The time span (µs, end exclusive) of the event files a query reads, within its range.
pub(crate) fn span_of(
    store: &mamori_store::Store,
    sources: &[String],
    start: Option<i64>,
    end: Option<i64>,
) -> Option<(i64, i64)> {
    let files = store.files().filter(|f| {
        f.source != "dead_letter"
            && (sources.is_empty() || sources.contains(&f.source))
            && start.is_none_or(|s| f.max_time >= s)
            && end.is_none_or(|e| f.min_time < e)
    });
    let (lo, hi) = files.fold((i64::MAX, i64::MIN), |(lo, hi), f| {
        (lo.min(f.min_time), hi.max(f.max_time.saturating_add(1)))
    });
    let lo = start.map_or(lo, |s| s.max(lo));
    let hi = end.map_or(hi, |e| e.min(hi));
    (lo < hi).then_some((lo, hi))
}

/// Prints rows already computed, as [`print`] does.
fn print_batches(
    schema: Option<mamori_query::output::SchemaRef>,
    batches: &[mamori_query::output::RecordBatch],
    output: Output,
) -> Result<usize, QueryError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let io = |e: std::io::Error| QueryError::Engine(e.to_string());
    let arrow = |e: ArrowError| QueryError::Engine(e.to_string());
    // A table shows its header even with no rows (as `print` does); CSV and JSON print nothing.
    let empty;
    let batches = match (batches.is_empty() && output == Output::Table, schema) {
        (true, Some(s)) => {
            empty = [mamori_query::output::RecordBatch::new_empty(s)];
            &empty[..]
        }
        _ => batches,
    };
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    match output {
        Output::Table => {
            writeln!(
                out,
                "{}",
                mamori_query::output::table(batches).map_err(arrow)?
            )
            .map_err(io)?;
            eprintln!("{rows} row(s)");
        }
        Output::Json => {
            for b in batches {
                mamori_query::output::json_lines(b, &mut out).map_err(arrow)?;
            }
        }
        Output::Csv => {
            for (i, b) in batches.iter().enumerate() {
                mamori_query::output::csv(b, i == 0, &mut out).map_err(arrow)?;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(rows)
}

/// Runs `mamori sql`.
pub fn sql(args: SqlArgs, config: &Config) -> Result<ExitCode> {
    // A time range prunes the files registered; the SQL itself is the user's.
    let mut phases = Phases::start();
    let (_, store) = open_ro(&args.run.data, config)?;
    phases.mark("store");
    let engine = Engine::open(
        &store,
        &engine_options(&args.run, Vec::new(), range(&args.run)?),
    )?;
    phases.mark("engine");
    if args.run.explain {
        println!("{}", engine.explain(&args.sql)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = print(&engine, &args.sql, args.run.output)?;
    Ok(report(&args.run, phases, rows))
}

/// Runs `mamori get`: the whole original record behind an `@ptr`.
pub fn get(args: GetArgs, config: &Config) -> Result<ExitCode> {
    let mut parts = args.ptr.splitn(3, '/');
    let (Some(source), Some(day), Some(uid)) = (parts.next(), parts.next(), parts.next()) else {
        bail!(
            "{}: an @ptr is source/date/uid, as query results give it",
            args.ptr
        );
    };
    let start = instant("@ptr date", day)?;
    let (_, store) = open_ro(&args.data, config)?;
    let opts = EngineOptions {
        start: Some(start),
        end: Some(start + 86_400_000_000),
        sources: vec![source.to_owned()],
        ..EngineOptions::default()
    };
    let engine = Engine::open(&store, &opts)?;
    let sql = format!(
        "SELECT raw FROM events WHERE source = '{}' AND uid = '{}'",
        source.replace('\'', "''"),
        uid.replace('\'', "''")
    );
    let r = engine.run(&sql)?;
    let mut found = 0;
    for b in &r.batches {
        let col = mamori_query::output::strings(b.column(0)).context("reading the raw column")?;
        for v in col.into_iter().flatten() {
            println!("{v}");
            found += 1;
        }
    }
    if found == 0 {
        eprintln!("mamori: {}: no such event in the store", args.ptr);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
