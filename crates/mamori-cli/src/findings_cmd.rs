//! `mamori findings …`: the queue analysts work, and where detections land.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use mamori_event::{Entity, EntityKind, Timestamp};
use mamori_findings::{
    to_asff, to_ocsf, DeliveryState, Filter, FindingStore, Recorded, Severity, Status,
};
use mamori_notify::{Notifier, NotifyOptions};
use mamori_sigma::Detection;

use crate::config::Config;
use crate::findings_view::{print_channels, print_list, show};
use crate::inspect::now;
use crate::query_cmd::{Output, TimeArgs};

/// Where the findings database is.
#[derive(Args, Clone)]
pub struct DbArgs {
    /// Findings database: a SQLite file or `postgres://user@host/db` (default: the
    /// config's `[findings] db`, else `findings.db` in the data directory).
    #[arg(long, env = "MAMORI_DB")]
    pub db: Option<String>,
    /// The data directory (for the default database).
    #[arg(long, env = "MAMORI_DATA")]
    pub data: Option<PathBuf>,
}

/// Who makes a change, recorded in the finding's history.
#[derive(Args)]
pub struct ChangeArgs {
    /// Why (recorded in the history).
    #[arg(long)]
    note: Option<String>,
    /// Who is making the change (default: $MAMORI_USER, else $USER).
    #[arg(long = "as", env = "MAMORI_USER")]
    actor: Option<String>,
}

impl ChangeArgs {
    fn actor(&self) -> String {
        self.actor
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "cli".into())
    }
}

/// Which findings.
#[derive(Args)]
pub struct FilterArgs {
    /// Statuses, comma-separated (NEW, NOTIFIED, RESOLVED, SUPPRESSED).
    #[arg(long, value_delimiter = ',')]
    status: Vec<String>,
    /// Severities, comma-separated (informational, low, medium, high, critical).
    #[arg(long, value_delimiter = ',')]
    severity: Vec<String>,
    /// Rule id or title.
    #[arg(long)]
    rule: Option<String>,
    /// An entity value (ARN, IP, account, access key, resource), or `kind=value`.
    #[arg(long)]
    entity: Option<String>,
    #[command(flatten)]
    time: TimeArgs,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter> {
        let status = self
            .status
            .iter()
            .map(|s| {
                Status::parse(s).with_context(|| {
                    format!("--status {s}: expected NEW, NOTIFIED, RESOLVED or SUPPRESSED")
                })
            })
            .collect::<Result<_>>()?;
        let severity = self
            .severity
            .iter()
            .map(|s| {
                Severity::parse(s).with_context(|| {
                    format!("--severity {s}: expected informational, low, medium, high or critical")
                })
            })
            .collect::<Result<_>>()?;
        let (since, until) = self.time.range()?;
        Ok(Filter {
            status,
            severity,
            rule: self.rule.clone(),
            entity: self.entity.clone(),
            since: since.map(Timestamp),
            until: until.map(Timestamp),
            limit: Some(self.limit),
        })
    }
}

/// Export formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// AWS Security Finding Format (Security Hub's BatchImportFindings).
    Asff,
    /// OCSF Detection Finding (class 2004).
    Ocsf,
}

/// `mamori findings …`.
#[derive(Subcommand)]
pub enum FindingsCmd {
    /// List findings, newest first.
    List {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// table, json (one finding per line) or csv.
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Show one finding with its events and history.
    Show {
        #[command(flatten)]
        db: DbArgs,
        /// Finding id.
        id: String,
        /// table or json.
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Assign a finding to someone (an empty name unassigns it).
    Assign {
        #[command(flatten)]
        db: DbArgs,
        /// Finding id.
        id: String,
        /// Who will work it.
        assignee: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Mark a finding resolved.
    Resolve {
        #[command(flatten)]
        db: DbArgs,
        /// Finding id.
        id: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Mark a finding suppressed (no action needed).
    Suppress {
        #[command(flatten)]
        db: DbArgs,
        /// Finding id.
        id: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Put a resolved or suppressed finding back in the queue (NEW).
    Reopen {
        #[command(flatten)]
        db: DbArgs,
        /// Finding id.
        id: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Add a note to a finding.
    Note {
        #[command(flatten)]
        db: DbArgs,
        /// Finding id.
        id: String,
        /// The note.
        text: String,
        /// Who writes it (default: $MAMORI_USER, else $USER).
        #[arg(long = "as", env = "MAMORI_USER")]
        actor: Option<String>,
    },
    /// Export findings, one JSON object per line.
    Export {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// asff or ocsf.
        #[arg(long, value_enum, default_value = "ocsf")]
        format: ExportFormat,
        /// AWS region named in ASFF product ARNs.
        #[arg(long, default_value = "us-east-1")]
        region: String,
    },
    /// Enrich findings again (after adding GeoIP or threat lists, say): GeoIP,
    /// threat-list hits, travel and related activity from the store.
    Enrich {
        #[command(flatten)]
        db: DbArgs,
        /// Finding ids (default: every finding the filter selects).
        ids: Vec<String>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Record detections from a JSON-lines file (`hunt --output json`, `detections.jsonl`).
    Import {
        #[command(flatten)]
        db: DbArgs,
        /// The file.
        file: PathBuf,
    },
    /// Standing decisions that some detections need no action.
    #[command(subcommand)]
    Suppression(SuppressionCmd),
    /// Deliver what is due to the `[[notify]]` channels now (ingest and every change do this too).
    Notify {
        #[command(flatten)]
        db: DbArgs,
        /// First put dead deliveries (given up) back in the queue.
        #[arg(long)]
        retry_dead: bool,
    },
    /// Each channel's deliveries: sent, failing (with the error), dead.
    Channels {
        #[command(flatten)]
        db: DbArgs,
        /// Only this channel, one line per delivery.
        channel: Option<String>,
    },
}

/// `mamori findings suppression …`.
#[derive(Subcommand)]
pub enum SuppressionCmd {
    /// Add one: matching detections become SUPPRESSED findings.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// Only this rule (id or name as findings show it).
        #[arg(long)]
        rule: Option<String>,
        /// Only detections about this entity: `ip=203.0.113.7`, `account=…`, `user=…`.
        #[arg(long)]
        entity: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Ends after this period (30d, 12h) or at this time (2026-12-31).
        #[arg(long)]
        expires: Option<String>,
        /// Who decides (default: $MAMORI_USER, else $USER).
        #[arg(long = "as", env = "MAMORI_USER")]
        actor: Option<String>,
    },
    /// List them, expired ones included.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// End one now.
    Expire {
        #[command(flatten)]
        db: DbArgs,
        /// Suppression id.
        id: String,
    },
}

/// The database `args` and the config name; `None` for a store on object
/// storage without one configured.
pub fn db_target(args: &DbArgs, config: &Config) -> Option<String> {
    if let Some(db) = args.db.clone().or_else(|| config.findings.db.clone()) {
        return Some(db);
    }
    let dir = config.data_dir(args.data.as_deref());
    (!mamori_store::Location::from(&dir).is_remote())
        .then(|| dir.join("findings.db").to_string_lossy().into_owned())
}

/// Opens the findings database.
pub fn open(args: &DbArgs, config: &Config) -> Result<FindingStore> {
    let target = db_target(args, config).context(
        "the store is on object storage: name a findings database with --db or [findings] db",
    )?;
    let st = FindingStore::open(&target)?;
    Ok(match config.findings.dedup_window.as_deref() {
        Some(w) => st.with_dedup_window(
            mamori_sigma::parse_timespan(w)
                .map_err(anyhow::Error::msg)
                .context("[findings] dedup_window")?
                / 1000,
        ),
        None => st,
    })
}

/// Counts of what recording did.
#[derive(Default)]
pub struct RecordSummary {
    pub(crate) created: usize,
    pub(crate) updated: usize,
    suppressed: usize,
    replayed: usize,
    /// Findings created (`true`) or updated, once each, to enrich.
    pub touched: Vec<(String, bool)>,
}

impl std::fmt::Display for RecordSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} new, {} updated, {} suppressed, {} already recorded",
            self.created, self.updated, self.suppressed, self.replayed
        )
    }
}

/// Records detections, in transactions of a few thousand.
pub fn record(st: &mut FindingStore, ds: &[Detection]) -> Result<RecordSummary> {
    let mut sum = RecordSummary::default();
    let mut seen = std::collections::HashSet::new();
    for chunk in ds.chunks(5000) {
        for r in st.record_all(chunk, now())? {
            match &r {
                Recorded::Created(id) => {
                    sum.created += 1;
                    seen.insert(id.clone());
                    sum.touched.push((id.clone(), true));
                }
                Recorded::Updated(id) => {
                    sum.updated += 1;
                    if seen.insert(id.clone()) {
                        sum.touched.push((id.clone(), false));
                    }
                }
                Recorded::Suppressed(_) => sum.suppressed += 1,
                Recorded::Replayed(_) => sum.replayed += 1,
            }
        }
    }
    Ok(sum)
}

fn parse_entity(s: &str) -> Result<Entity> {
    let (k, v) = s
        .split_once('=')
        .context("--entity: expected kind=value, e.g. ip=203.0.113.7")?;
    let kind = EntityKind::parse(k).with_context(|| {
        format!("--entity {k}=…: kinds are user, ip, account, access_key, resource")
    })?;
    Ok(Entity::new(kind, v))
}

fn parse_expiry(s: &str, now: Timestamp) -> Result<Timestamp> {
    if let Ok(ms) = mamori_sigma::parse_timespan(s) {
        return Ok(Timestamp(now.0 + ms * 1000));
    }
    let iso = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    Timestamp::parse_iso8601(&iso)
        .with_context(|| format!("--expires {s}: expected a period (30d) or a date (2026-12-31)"))
}

fn change(db: &DbArgs, config: &Config, id: &str, to: Status, c: &ChangeArgs) -> Result<ExitCode> {
    let mut st = open(db, config)?;
    let f = st.set_status(id, to, &c.actor(), c.note.as_deref(), now())?;
    println!("{} {}", f.id, f.status.as_str());
    // The change is recorded; a channel failing to hear of it is reported, not an error.
    notify(&mut st, config)?;
    Ok(ExitCode::SUCCESS)
}

/// Delivers what is due to the configured channels, reporting each on
/// stderr; `true` when every channel is healthy.
pub fn notify(st: &mut FindingStore, config: &Config) -> Result<bool> {
    if config.notify.is_empty() {
        return Ok(true);
    }
    let opts = NotifyOptions {
        link: config.findings.link.clone(),
        ..NotifyOptions::default()
    };
    let notifier = Notifier::new(&config.notify, opts)?;
    let reports = notifier.run(st, now())?;
    // Healthy means nothing left failing, in this run or backing off from an earlier one.
    let backlog = st.deliveries(None)?;
    let mut healthy = true;
    for r in reports {
        let (retrying, dead) =
            backlog
                .iter()
                .filter(|d| d.channel == r.channel)
                .fold((0, 0), |(a, b), d| match d.state {
                    DeliveryState::Retrying => (a + 1, b),
                    DeliveryState::Dead => (a, b + 1),
                    _ => (a, b),
                });
        healthy &= retrying == 0 && dead == 0 && r.stopped.is_none();
        if retrying + dead > 0 {
            eprintln!("notify {r} ({retrying} waiting to retry, {dead} dead in all)");
        } else {
            eprintln!("notify {r}");
        }
    }
    Ok(healthy)
}

/// Delivers what is due without printing: (every channel healthy,
/// deliveries waiting to retry or dead). For `serve`, which runs it every few seconds.
pub fn notify_quiet(st: &mut FindingStore, config: &Config) -> Result<(bool, u64)> {
    let opts = NotifyOptions {
        link: config.findings.link.clone(),
        ..NotifyOptions::default()
    };
    let notifier = Notifier::new(&config.notify, opts)?;
    let reports = notifier.run(st, now())?;
    let failing = st
        .deliveries(None)?
        .iter()
        .filter(|d| matches!(d.state, DeliveryState::Retrying | DeliveryState::Dead))
        .count() as u64;
    Ok((
        failing == 0 && reports.iter().all(|r| r.stopped.is_none()),
        failing,
    ))
}

/// Runs `mamori findings …`.
pub fn findings(cmd: FindingsCmd, config: &Config) -> Result<ExitCode> {
    match cmd {
        FindingsCmd::List { db, filter, output } => {
            let fs = open(&db, config)?.list(&filter.filter()?)?;
            print_list(&fs, output)?;
        }
        FindingsCmd::Show { db, id, output } => show(&mut open(&db, config)?, &id, output)?,
        FindingsCmd::Assign {
            db,
            id,
            assignee,
            change,
        } => {
            let f = open(&db, config)?.assign(
                &id,
                &assignee,
                &change.actor(),
                change.note.as_deref(),
                now(),
            )?;
            println!(
                "{} assigned to {}",
                f.id,
                f.assignee.as_deref().unwrap_or("nobody")
            );
        }
        FindingsCmd::Resolve { db, id, change: c } => {
            return change(&db, config, &id, Status::Resolved, &c)
        }
        FindingsCmd::Suppress { db, id, change: c } => {
            return change(&db, config, &id, Status::Suppressed, &c)
        }
        FindingsCmd::Reopen { db, id, change: c } => {
            return change(&db, config, &id, Status::New, &c)
        }
        FindingsCmd::Note {
            db,
            id,
            text,
            actor,
        } => {
            let who = ChangeArgs { note: None, actor }.actor();
            open(&db, config)?.note(&id, &who, &text, now())?;
            println!("{id} noted");
        }
        FindingsCmd::Export {
            db,
            filter,
            format,
            region,
        } => {
            let mut st = open(&db, config)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for f in st.list(&filter.filter()?)? {
                let f = st.get(&f.id)?;
                let v = match format {
                    ExportFormat::Asff => to_asff(&f, &region),
                    ExportFormat::Ocsf => to_ocsf(&f),
                };
                serde_json::to_writer(&mut out, &v)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        FindingsCmd::Enrich { db, ids, filter } => {
            let mut st = open(&db, config)?;
            let ids = if ids.is_empty() {
                st.list(&filter.filter()?)?
                    .into_iter()
                    .map(|f| f.id)
                    .collect()
            } else {
                ids
            };
            let data = crate::store_cmd::DataArgs {
                data: db.data.clone(),
            };
            // Without a store (another machine's findings database), GeoIP and threat lists only.
            let store = crate::store_cmd::open_ro(&data, config)
                .ok()
                .map(|(_, s)| s);
            let enricher = crate::enrich_cmd::Enricher::load(config)?;
            let touched: Vec<(String, bool)> = ids.into_iter().map(|id| (id, true)).collect();
            let n = enricher.enrich_findings(&mut st, &touched, store.as_ref())?;
            println!("findings enriched: {n} of {}", touched.len());
        }
        FindingsCmd::Import { db, file } => {
            let ds = read_detections(&file)?;
            let mut st = open(&db, config)?;
            let sum = record(&mut st, &ds)?;
            println!("findings ({}): {sum}", st.target());
            // No store at hand: GeoIP and threat lists only.
            let enricher = crate::enrich_cmd::Enricher::load(config)?;
            enricher.enrich_findings(&mut st, &sum.touched, None)?;
        }
        FindingsCmd::Suppression(SuppressionCmd::Add {
            db,
            rule,
            entity,
            reason,
            expires,
            actor,
        }) => {
            let now = now();
            let entity = entity.as_deref().map(parse_entity).transpose()?;
            let expires = expires
                .as_deref()
                .map(|e| parse_expiry(e, now))
                .transpose()?;
            let who = ChangeArgs { note: None, actor }.actor();
            let s = open(&db, config)?.add_suppression(
                rule.as_deref(),
                entity,
                &who,
                &reason,
                expires,
                now,
            )?;
            println!("{}", s.id);
        }
        FindingsCmd::Suppression(SuppressionCmd::List { db }) => {
            let now = now();
            for s in open(&db, config)?.suppressions()? {
                let state = if s.expires.is_some_and(|t| t <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}  {:<7}  rule={}  entity={}  by {}  until {}  {}",
                    s.id,
                    state,
                    s.rule_id.as_deref().unwrap_or("*"),
                    s.entity.as_ref().map_or("*".into(), Entity::to_string),
                    s.author,
                    s.expires.map_or("-".into(), |t| t.to_string()),
                    s.reason
                );
            }
        }
        FindingsCmd::Notify { db, retry_dead } => {
            if config.notify.is_empty() {
                bail!("no channels: add [[notify]] sections to mamori.toml (see docs/findings.md)");
            }
            let mut st = open(&db, config)?;
            if retry_dead {
                eprintln!("{} dead deliveries queued again", st.retry_dead(None)?);
            }
            if !notify(&mut st, config)? {
                return Ok(ExitCode::from(1));
            }
        }
        FindingsCmd::Channels { db, channel } => {
            let ds = open(&db, config)?.deliveries(channel.as_deref())?;
            print_channels(&ds, channel.is_some());
        }
        FindingsCmd::Suppression(SuppressionCmd::Expire { db, id }) => {
            open(&db, config)?.expire_suppression(&id, now())?;
            println!("{id} expired");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads detections, one JSON object per line; a bad line is named and fails the import.
fn read_detections(path: &Path) -> Result<Vec<Detection>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(d) => out.push(d),
            Err(e) => bail!("{}:{}: not a detection: {e}", path.display(), i + 1),
        }
    }
    Ok(out)
}
