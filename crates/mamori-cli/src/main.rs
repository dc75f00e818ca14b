//! `mamori`: the command-line entry point. Thin on purpose: argument
//! parsing, file walking and output; all reading and mapping is in the
//! library crates.

mod inspect;
mod samples;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Mamori: keep, read and search cloud security logs.
#[derive(Parser)]
#[command(name = "mamori", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read log files and report, per file, the detected source and how many
    /// records were seen, normalized and rejected (and why).
    Inspect(inspect::InspectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(args),
    };
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
