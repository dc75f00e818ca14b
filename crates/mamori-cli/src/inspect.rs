//! `mamori inspect`: read files and say what is in them.

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mamori_event::{Event, SourceKind, Timestamp};
use mamori_parse::{FileSummary, ParseOptions, Rejected, Sink};

/// Arguments of `mamori inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// Files or directories (read recursively); `-` reads standard input.
    /// Without paths, the sample data built into the binary is read.
    paths: Vec<PathBuf>,
    /// Print the normalized events as JSON lines on standard output (the
    /// per-file report then goes to standard error).
    #[arg(long)]
    events: bool,
    /// Read every record as this source instead of detecting it
    /// (cloudtrail, vpc_flow, alb, guardduty, security_hub, entra_signin,
    /// entra_audit, azure_activity, gcp_audit, k8s_audit, syslog, generic).
    #[arg(long, value_parser = parse_kind)]
    source: Option<SourceKind>,
    /// Where rejected records are written, one JSON object per line (created
    /// only when something is rejected).
    #[arg(long, default_value = "mamori-rejected.jsonl")]
    dead_letter: PathBuf,
    /// Records larger than this many bytes are rejected whole.
    #[arg(long, default_value_t = 4 << 20)]
    max_record_bytes: usize,
    /// The report's format.
    #[arg(long, value_enum, default_value = "table")]
    report: ReportFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    /// One aligned line per file and a total.
    Table,
    /// One JSON object per file.
    Json,
}

pub(crate) fn parse_kind(s: &str) -> Result<SourceKind, String> {
    SourceKind::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown source {s:?}; expected one of {}", names.join(", "))
    })
}

/// An input: a name and where its bytes come from.
enum Input {
    File(PathBuf),
    Stdin,
    Embedded(&'static str, &'static [u8]),
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "-".into(),
            Input::Embedded(n, _) => format!("<embedded>/{n}"),
        }
    }
    fn size(&self) -> u64 {
        match self {
            Input::File(p) => fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Input::Stdin => 0,
            Input::Embedded(_, b) => b.len() as u64,
        }
    }
    fn read(&self) -> io::Result<Vec<u8>> {
        match self {
            Input::File(p) => fs::read(p),
            Input::Stdin => {
                let mut v = Vec::new();
                io::stdin().lock().read_to_end(&mut v)?;
                Ok(v)
            }
            Input::Embedded(_, b) => Ok(b.to_vec()),
        }
    }
}

/// The current time.
pub(crate) fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0),
    )
}

fn walk(path: &Path, out: &mut Vec<Input>) -> Result<()> {
    if path == Path::new("-") {
        out.push(Input::Stdin);
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        if entry.file_type().is_file() {
            out.push(Input::File(entry.into_path()));
        }
    }
    Ok(())
}

struct Output<'a> {
    events: Option<&'a mut dyn Write>,
    dead_letter: &'a mut DeadLetter,
    file: &'a str,
    error: Option<io::Error>,
    shown_rejects: &'a mut usize,
}

impl Sink for Output<'_> {
    fn event(&mut self, event: Event) {
        if let (Some(w), None) = (self.events.as_mut(), &self.error) {
            let line = serde_json::to_string(&event).map_err(io::Error::other);
            if let Err(e) = line.and_then(|l| writeln!(w, "{l}")) {
                self.error = Some(e);
            }
        }
    }
    fn reject(&mut self, r: Rejected) {
        if *self.shown_rejects < 20 {
            let at = if r.line == 0 {
                format!("byte {}", r.byte_offset)
            } else {
                format!("line {}", r.line)
            };
            eprintln!("mamori: {}: {at}: rejected: {}", self.file, r.reason);
            *self.shown_rejects += 1;
        }
        if let Err(e) = self.dead_letter.write(&r.to_dead_letter_json(self.file)) {
            self.error.get_or_insert(e);
        }
    }
}

/// The dead-letter file, created on the first reject.
struct DeadLetter {
    path: PathBuf,
    file: Option<BufWriter<fs::File>>,
    count: u64,
}

impl DeadLetter {
    fn write(&mut self, line: &str) -> io::Result<()> {
        if self.file.is_none() {
            let f = fs::File::create(&self.path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot create dead-letter file {}: {e}",
                        self.path.display()
                    ),
                )
            })?;
            self.file = Some(BufWriter::new(f));
        }
        self.count += 1;
        match self.file.as_mut() {
            Some(f) => writeln!(f, "{line}"),
            None => Ok(()),
        }
    }
}

/// Runs `mamori inspect`.
pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let mut inputs = Vec::new();
    if args.paths.is_empty() {
        inputs.extend(
            crate::samples::SAMPLES
                .iter()
                .map(|(n, b)| Input::Embedded(n, b)),
        );
    }
    for p in &args.paths {
        walk(p, &mut inputs)?;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let opts = ParseOptions {
        source: args.source,
        ingest_time: Timestamp(now),
        max_record_bytes: args.max_record_bytes,
        ..ParseOptions::default()
    };

    let total: u64 = inputs.iter().map(Input::size).sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut report: Vec<(String, Result<FileSummary, String>)> = Vec::new();
    let mut dead = DeadLetter {
        path: args.dead_letter.clone(),
        file: None,
        count: 0,
    };
    let mut shown = 0usize;
    for input in &inputs {
        let name = input.name();
        bar.set_message(name.clone());
        let data = match input.read() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("mamori: {name}: cannot read: {e}");
                report.push((name, Err(e.to_string())));
                continue;
            }
        };
        let mut sink = Output {
            events: args.events.then_some(&mut out as &mut dyn Write),
            dead_letter: &mut dead,
            file: &name,
            error: None,
            shown_rejects: &mut shown,
        };
        let summary = mamori_parse::parse(&name, &data, &opts, &mut sink);
        if let Some(e) = sink.error {
            return Err(e).context("writing output");
        }
        bar.inc(data.len() as u64);
        report.push((name, Ok(summary)));
    }
    bar.finish_and_clear();
    out.flush()?;
    if let Some(f) = dead.file.as_mut() {
        f.flush()?;
    }

    let text = render(&report, args.report);
    if args.events {
        eprint!("{text}");
    } else {
        write!(out, "{text}")?;
        out.flush()?;
    }
    if dead.count > 0 {
        eprintln!(
            "mamori: {} rejected record(s) written to {}",
            dead.count,
            args.dead_letter.display()
        );
    }
    let failed = report
        .iter()
        .any(|(_, r)| r.as_ref().map_or(true, |s| s.rejected > 0));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(report: &[(String, Result<FileSummary, String>)], format: ReportFormat) -> String {
    let mut s = String::new();
    match format {
        ReportFormat::Json => {
            for (name, r) in report {
                let v = match r {
                    Ok(x) => serde_json::json!({
                        "file": name,
                        "source": x.main_source().map(|k| k.as_str()),
                        "sources": x.sources.iter().map(|(k, n)| (k.as_str().to_owned(), serde_json::Value::from(*n))).collect::<serde_json::Map<_, _>>(),
                        "compression": x.compression.as_str(),
                        "container": x.container,
                        "seen": x.seen,
                        "normalized": x.normalized,
                        "rejected": x.rejected,
                        "reject_reasons": x.reject_reasons,
                        "set_aside": x.set_aside,
                    }),
                    Err(e) => serde_json::json!({ "file": name, "error": e }),
                };
                s.push_str(&v.to_string());
                s.push('\n');
            }
        }
        ReportFormat::Table => {
            let width = report
                .iter()
                .map(|(n, _)| n.len())
                .max()
                .unwrap_or(4)
                .clamp(4, 80);
            s.push_str(&format!(
                "{:<width$}  {:<14} {:<5} {:<13} {:>8} {:>10} {:>8}  notes\n",
                "file", "source", "comp", "container", "seen", "normalized", "rejected"
            ));
            let (mut seen, mut norm, mut rej) = (0, 0, 0);
            for (name, r) in report {
                match r {
                    Ok(x) => {
                        let src = match x.sources.len() {
                            0 => "-".to_owned(),
                            1 => x
                                .main_source()
                                .map_or("-".into(), |k| k.as_str().to_owned()),
                            _ => format!(
                                "{}+{}",
                                x.main_source().map_or("-", |k| k.as_str()),
                                x.sources.len() - 1
                            ),
                        };
                        let mut notes: Vec<String> = x
                            .reject_reasons
                            .iter()
                            .map(|(c, n)| format!("{c}={n}"))
                            .collect();
                        if x.sources.len() > 1 {
                            notes.push(
                                x.sources
                                    .iter()
                                    .map(|(k, n)| format!("{k}:{n}"))
                                    .collect::<Vec<_>>()
                                    .join(","),
                            );
                        }
                        notes.extend(x.set_aside.iter().cloned());
                        s.push_str(&format!(
                            "{name:<width$}  {src:<14} {:<5} {:<13} {:>8} {:>10} {:>8}  {}\n",
                            x.compression.as_str(),
                            x.container,
                            x.seen,
                            x.normalized,
                            x.rejected,
                            notes.join("; ")
                        ));
                        seen += x.seen;
                        norm += x.normalized;
                        rej += x.rejected;
                    }
                    Err(e) => s.push_str(&format!("{name:<width$}  unreadable: {e}\n")),
                }
            }
            s.push_str(&format!(
                "{:<width$}  {:<14} {:<5} {:<13} {seen:>8} {norm:>10} {rej:>8}\n",
                format!("total ({} files)", report.len()),
                "",
                "",
                ""
            ));
        }
    }
    s
}
