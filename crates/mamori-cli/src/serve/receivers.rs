//! The receivers that run beside the API: watched paths (local directories
//! and S3 prefixes, polled) and syslog.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mamori_event::SourceKind;
use tokio::sync::watch;

use super::pipeline::{Arrival, Shared};
use super::WatchConfig;

/// Starts every receiver the config names.
pub async fn start(
    shared: &Arc<Shared>,
    stop: watch::Receiver<bool>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> Result<()> {
    for w in &shared.config.serve.watch {
        let interval = super::span(
            "[[serve.watch]] interval",
            w.interval.as_deref(),
            Duration::from_secs(10),
        )?;
        let kind = match &w.source {
            Some(s) => Some(
                SourceKind::from_name(s)
                    .with_context(|| format!("[[serve.watch]] source {s:?}: not a source kind"))?,
            ),
            None => None,
        };
        let (shared, stop, w) = (Arc::clone(shared), stop.clone(), w.clone());
        std::thread::Builder::new()
            .name(format!("watch {}", w.path))
            .spawn(move || watch_loop(&shared, &w, kind, interval, &stop))
            .context("starting a watcher")?;
    }
    super::syslog::start(shared, stop, tls).await
}

/// Polls one path: each file (or object) not yet wholly stored, or grown, is
/// read and handed to the pipeline. The store's checkpoint says what is done,
/// so a restart neither misses nor repeats anything.
fn watch_loop(
    shared: &Shared,
    w: &WatchConfig,
    kind: Option<SourceKind>,
    interval: Duration,
    stop: &watch::Receiver<bool>,
) {
    let paths = [PathBuf::from(&w.path)];
    // Handed over but perhaps not committed yet: not sent again until it changes
    // or a minute passes (a commit that failed is retried that way).
    let mut sent: HashMap<String, (u64, Instant)> = HashMap::new();
    let mut last_error = String::new();
    while !*stop.borrow() {
        match crate::store_cmd::walk_inputs(&paths, Duration::from_secs(30)) {
            Ok((inputs, errors)) => {
                for e in errors {
                    eprintln!("mamori: watch {}: cannot read {e}", w.path);
                }
                last_error.clear();
                for input in inputs {
                    if *stop.borrow() {
                        return;
                    }
                    let done = shared.store.read().is_ok_and(|s| {
                        s.progress(&input.name).is_some_and(|p| {
                            p.done
                                && p.size == input.size
                                && (p.version.is_none()
                                    || input.version.is_none()
                                    || p.version == input.version)
                        })
                    });
                    if done
                        || sent.get(&input.name).is_some_and(|(size, at)| {
                            *size == input.size && at.elapsed() < Duration::from_secs(60)
                        })
                    {
                        continue;
                    }
                    match input.read() {
                        Ok(data) => {
                            let mut parsed = shared.parse(&input.name, &data, kind, "watch");
                            parsed.version = input.version.clone();
                            let a = Arrival {
                                parsed,
                                spool: None,
                                channel: "watch".into(),
                                received: Instant::now(),
                            };
                            if shared.submit(a).is_err() {
                                return;
                            }
                            sent.insert(input.name.clone(), (input.size, Instant::now()));
                        }
                        Err(e) => eprintln!("mamori: watch: {}: cannot read: {e}", input.name),
                    }
                }
            }
            Err(e) => {
                let text = format!("{e:#}");
                if text != last_error {
                    eprintln!("mamori: watch {}: {text}", w.path);
                    last_error = text;
                }
            }
        }
        let until = Instant::now() + interval;
        while Instant::now() < until && !*stop.borrow() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
