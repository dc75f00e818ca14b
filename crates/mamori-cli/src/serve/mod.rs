//! `mamori serve`: sources → normalize → store + detect → findings →
//! notifications, running continuously, behind an HTTP API and a web console.
//!
//! Data flows one way. Receivers (HTTP ingest, syslog, watched paths) turn
//! what arrives into parsed inputs; HTTP and syslog bodies are first written
//! to the spool and fsync'd, so an acknowledged event survives a crash. One
//! pipeline thread commits inputs to the store every half second (so they
//! are searchable within seconds), runs the rules on each committed event and
//! records findings; a notifier thread delivers them. The API reads the store
//! and the findings database beside it.

mod api;
mod audit;
mod auth;
mod console;
mod demo;
mod health;
mod metrics;
mod notifier;
mod pipeline;
mod receivers;
mod spool;
mod syslog;
mod upkeep;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::Deserialize;

use crate::config::Config;
use crate::store_cmd::DataArgs;

pub use auth::Role;

/// `[serve]` in `mamori.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address the API and console listen on (default `127.0.0.1:8080`).
    pub listen: Option<String>,
    /// PEM certificate chain: with `tls_key`, the API is served over TLS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes (default 16 MiB): larger gets 413.
    pub max_body_bytes: Option<usize>,
    /// How often arrivals are committed to the store (default `1s`).
    pub commit_interval: Option<String>,
    /// `[[serve.watch]]`: directories or `s3://bucket/prefix` polled for new files.
    #[serde(default)]
    pub watch: Vec<WatchConfig>,
    /// `[serve.syslog]`: syslog receivers.
    #[serde(default)]
    pub syslog: SyslogConfig,
    /// `[[serve.expect]]`: how often each source is expected to deliver.
    #[serde(default)]
    pub expect: Vec<ExpectConfig>,
}

/// A path polled for new or grown files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// A directory (read recursively) or `s3://bucket/prefix`.
    pub path: String,
    /// Time between polls (default `10s`).
    pub interval: Option<String>,
    /// Read every record as this source kind instead of detecting it.
    pub source: Option<String>,
}

/// Syslog listeners: RFC 5424 or 3164 messages, newline-framed or
/// octet-counted (RFC 6587) on TCP.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// UDP address, e.g. `127.0.0.1:5514`.
    pub udp: Option<String>,
    /// TCP address.
    pub tcp: Option<String>,
    /// TCP+TLS address (uses `[serve] tls_cert` and `tls_key`).
    pub tls: Option<String>,
}

/// A source's expected delivery interval: silent for longer raises a finding.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectConfig {
    /// Source kind (`cloudtrail`, `k8s_audit`, …).
    pub source: String,
    /// Longest expected silence, e.g. `15m`.
    pub interval: String,
}

/// `mamori serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `[serve] listen`; default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Findings database (default: `[findings] db`, else findings.db in the data directory).
    #[arg(long, env = "MAMORI_DB")]
    db: Option<String>,
    /// Ingest the built-in multi-cloud data set (an attack told in every source) into
    /// ./mamori-demo (or --data) and serve it; prints an admin token.
    #[arg(long)]
    demo: bool,
    /// Stop after this many seconds (tests, load runs); default: until Ctrl-C or SIGTERM.
    #[arg(long)]
    exit_after: Option<u64>,
    #[command(subcommand)]
    cmd: Option<ServeCmd>,
}

/// `mamori serve token …`.
#[derive(Subcommand)]
pub enum ServeCmd {
    /// Create an API token (printed once; only its hash is kept).
    Token {
        /// A name for the token (who or what uses it).
        name: String,
        /// viewer, analyst, admin or ingest.
        #[arg(long, default_value = "viewer")]
        role: Role,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the tokens (names and roles).
    Tokens {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Parses a `15m`-style span.
pub(crate) fn span(what: &str, v: Option<&str>, default: Duration) -> Result<Duration> {
    match v {
        None => Ok(default),
        // Milliseconds too, for commit intervals under a second.
        Some(v) if v.ends_with("ms") => v[..v.len() - 2]
            .trim()
            .parse::<u64>()
            .map(|n| Duration::from_millis(n.max(1)))
            .with_context(|| format!("{what} {v:?}: not a number of milliseconds")),
        Some(v) => Ok(Duration::from_millis(
            mamori_sigma::parse_timespan(v)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("{what} {v:?}"))?
                .max(1) as u64,
        )),
    }
}

/// Runs `mamori serve`.
pub fn serve(args: ServeArgs, config: Config) -> Result<ExitCode> {
    let data = if args.demo && args.data.data.is_none() && config.store.data.is_none() {
        PathBuf::from("mamori-demo")
    } else {
        config.data_dir(args.data.data.as_deref())
    };
    if let Some(cmd) = args.cmd {
        return auth::token_cmd(cmd, &config);
    }
    if mamori_store::Location::from(&data).is_remote() {
        anyhow::bail!("serve keeps its spool, tokens and findings beside a local store: --data must be a directory");
    }
    let listen = args
        .listen
        .clone()
        .or_else(|| config.serve.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("listen address {listen:?}: expected IP:PORT"))?;
    let db_args = crate::findings_cmd::DbArgs {
        db: args.db.clone(),
        data: Some(data.clone()),
    };
    let db = crate::findings_cmd::db_target(&db_args, &config)
        .context("no findings database: give --db")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let config = Arc::new(config);
    let state = pipeline::start(&data, db, Arc::clone(&config))?;
    let demo_token = if args.demo {
        Some(demo::prepare(&state)?)
    } else {
        None
    };
    runtime.block_on(run(state, addr, demo_token, args.exit_after))
}

async fn run(
    state: Arc<pipeline::Shared>,
    addr: SocketAddr,
    demo_token: Option<String>,
    exit_after: Option<u64>,
) -> Result<ExitCode> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tls = tls_config(&state.config)?;
    receivers::start(&state, stop_rx.clone(), tls.clone()).await?;
    let app = api::router(Arc::clone(&state));
    let handle = axum_server::Handle::new();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = {
        let handle = handle.clone();
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        match tls {
            Some(cfg) => {
                let rustls = axum_server::tls_rustls::RustlsConfig::from_config(cfg);
                let srv = axum_server::bind_rustls(addr, rustls).handle(handle);
                tokio::spawn(async move { srv.serve(app).await })
            }
            None => {
                let srv = axum_server::bind(addr).handle(handle);
                tokio::spawn(async move { srv.serve(app).await })
            }
        }
    };
    let bound = tokio::time::timeout(Duration::from_secs(30), handle.listening())
        .await
        .ok()
        .flatten()
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("mamori: serving {scheme}://{bound}/ (API under /api/, metrics at /metrics)");
    if let Some(t) = &demo_token {
        println!("mamori: demo console: {scheme}://{bound}/#token={t}");
        println!("mamori: demo admin token: {t}");
    }
    let stop = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        let timer = async {
            match exit_after {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
            _ = timer => {},
        }
    };
    tokio::select! {
        _ = stop => {}
        r = server => {
            r.context("server task")?.context("serving")?;
        }
    }
    println!("mamori: stopping: finishing requests, committing what arrived");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
    let _ = stop_tx.send(true);
    // Receivers flush their buffers to the spool before the pipeline's last commit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let st = Arc::clone(&state);
    let report = tokio::task::spawn_blocking(move || pipeline::shutdown(&st))
        .await
        .context("shutdown task")??;
    println!("mamori: stopped: {report}");
    Ok(ExitCode::SUCCESS)
}

/// The rustls server configuration when `[serve] tls_cert` and `tls_key` are set.
fn tls_config(config: &Config) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>> {
    let (cert, key) = match (&config.serve.tls_cert, &config.serve.tls_key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => return Ok(None),
        _ => anyhow::bail!("[serve] tls_cert and tls_key go together"),
    };
    let certs = read_pem(cert, |r| {
        rustls_pemfile::certs(r).collect::<std::result::Result<Vec<_>, _>>()
    })?;
    let key = read_pem(key, |r| rustls_pemfile::private_key(r))?
        .with_context(|| format!("{}: no private key in it", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| format!("{}: certificate and key do not go together", cert.display()))?;
    Ok(Some(Arc::new(cfg)))
}

fn read_pem<T>(
    path: &Path,
    f: impl FnOnce(&mut dyn std::io::BufRead) -> std::io::Result<T>,
) -> Result<T> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut r = std::io::BufReader::new(file);
    f(&mut r).with_context(|| format!("{}: not PEM", path.display()))
}
