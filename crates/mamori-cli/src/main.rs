//! `mamori`: the command-line entry point. Thin on purpose: argument
//! parsing, file walking and output; all reading and mapping is in the
//! library crates.

mod config;
mod detect_cmd;
mod enrich_cmd;
mod findings_cmd;
mod findings_view;
mod inspect;
mod query_cmd;
mod samples;
mod serve;
mod store_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Mamori: keep, read and search cloud security logs.
#[derive(Parser)]
#[command(name = "mamori", version, about)]
struct Cli {
    /// Configuration file (default: ./mamori.toml when present).
    #[arg(long, global = true)]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read log files and report, per file, the detected source and how many
    /// records were seen, normalized and rejected (and why).
    Inspect(inspect::InspectArgs),
    /// Read log files and append their events to the store, durably and exactly once.
    Ingest(store_cmd::IngestArgs),
    /// Look after the store: stats, verify, compact, retention.
    #[command(subcommand)]
    Store(store_cmd::StoreCmd),
    /// Search the store with a CloudWatch Logs Insights query.
    Query(query_cmd::QueryArgs),
    /// Search the store with SQL (tables: events, and one per source kind).
    Sql(query_cmd::SqlArgs),
    /// Print the original record behind an @ptr from a query result.
    Get(query_cmd::GetArgs),
    /// Run the detection rules over the stored events.
    Hunt(detect_cmd::HuntArgs),
    /// Check and test detection rules.
    #[command(subcommand)]
    Rules(detect_cmd::RulesCmd),
    /// Work the findings: list, show, assign, resolve, suppress, note, export.
    #[command(subcommand)]
    Findings(findings_cmd::FindingsCmd),
    /// Run continuously: receivers, store, rules, findings and notifications, behind an HTTP API and a web console.
    Serve(serve::ServeArgs),
}

/// mimalloc's `mi_option_purge_delay` (the C enum's index, the same in its
/// v2 and v3; the Rust bindings name only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Query(_) | Command::Sql(_)) {
        // A query frees and takes again a decompressed page of `raw` (8 MB)
        // per row group read; given back to the system after mimalloc's
        // 10 ms, each comes back as fresh pages the kernel must zero: a
        // tenth of a scan of the original records (BENCHMARKS.md). A query
        // is one short process whose memory DataFusion's pool bounds, so it
        // keeps what it frees. `serve` runs for days and gives memory back.
        // SAFETY: sets an integer option; mimalloc reads options at each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
        // mimalloc asks for transparent huge pages on its whole arena; where
        // the kernel compacts memory to satisfy such a fault (`defrag =
        // madvise`, a common default), a 25 ms search now and then took 0.09 s,
        // nearly all of it system time, and a scan of the original records
        // spent 0.7-1.3 s in the kernel. With 4 KB pages: no such outliers,
        // the scan 8 % faster (BENCHMARKS.md). Best effort: an older kernel
        // without the option keeps its pages.
        #[cfg(target_os = "linux")]
        // SAFETY: a process-wide flag; no memory is touched.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    let result = config::Config::load(cli.config.as_deref()).and_then(|config| match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Ingest(args) => store_cmd::ingest(args, &config),
        Command::Store(cmd) => store_cmd::store(cmd, &config),
        Command::Query(args) => query_cmd::query(args, &config),
        Command::Sql(args) => query_cmd::sql(args, &config),
        Command::Get(args) => query_cmd::get(args, &config),
        Command::Hunt(args) => detect_cmd::hunt(args, &config),
        Command::Rules(cmd) => detect_cmd::rules(cmd, &config),
        Command::Findings(cmd) => findings_cmd::findings(cmd, &config),
        Command::Serve(args) => serve::serve(args, config),
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mamori: {err:#}");
            ExitCode::from(2)
        }
    }
}
