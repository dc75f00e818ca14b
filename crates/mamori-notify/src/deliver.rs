//! Sending: which findings each channel is due, the requests, retries,
//! backoff, and what is recorded after each attempt.

use std::time::Duration;

use mamori_event::Timestamp;
use mamori_findings::{Delivery, DeliveryState, Finding, FindingStore, Phase};

use crate::channel::{ChannelConfig, Endpoint};
use crate::message::{self, Action, HttpRequest};
use crate::NotifyError;

/// How hard to try.
#[derive(Clone, Debug)]
pub struct NotifyOptions {
    /// Per request.
    pub timeout: Duration,
    /// Retries of a failed request within a run (429, 5xx, timeouts, refused connections).
    pub retries: u32,
    /// First wait between retries; doubles each time (a `Retry-After` is honoured up to 30 s).
    pub backoff: Duration,
    /// Runs a delivery may fail before it is given up as dead.
    pub max_attempts: u32,
    /// A link to a finding, `{id}` replaced by its id (e.g. `https://mamori.example/findings/{id}`).
    pub link: Option<String>,
}

impl Default for NotifyOptions {
    fn default() -> NotifyOptions {
        NotifyOptions {
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(500),
            max_attempts: 8,
            link: None,
        }
    }
}

/// What a run did on one channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelReport {
    /// The channel.
    pub channel: String,
    /// Deliveries the channel confirmed.
    pub sent: usize,
    /// Findings its routing does not take.
    pub skipped: usize,
    /// Deliveries that failed and will be tried again.
    pub failing: usize,
    /// Deliveries given up (the dead letter).
    pub dead: usize,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// The run stopped early on this channel (unusable config, or it kept failing).
    pub stopped: Option<String>,
}

impl std::fmt::Display for ChannelReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} sent, {} not routed, {} failing, {} dead",
            self.channel, self.sent, self.skipped, self.failing, self.dead
        )?;
        if let Some(e) = &self.last_error {
            write!(f, "; last error: {e}")?;
        }
        if let Some(s) = &self.stopped {
            write!(f, "; {s}")?;
        }
        Ok(())
    }
}

/// A failed request.
struct Failure {
    retryable: bool,
    message: String,
    retry_after: Option<Duration>,
}

/// Consecutive failed deliveries after which a run stops trying a channel:
/// a channel that is down is not hammered once per finding.
const STOP_AFTER: usize = 3;

/// Delivers findings to the configured channels.
pub struct Notifier {
    channels: Vec<ChannelConfig>,
    client: reqwest::blocking::Client,
    opts: NotifyOptions,
}

/// Scheme, host and port of a URL: webhook URLs carry secrets in their path.
fn host_of(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    &url[..end]
}

/// A transport error and its causes, without the URL (a webhook URL is a secret).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

impl Notifier {
    /// A notifier for these channels.
    pub fn new(channels: &[ChannelConfig], opts: NotifyOptions) -> Result<Notifier, NotifyError> {
        let mut names = std::collections::BTreeSet::new();
        for c in channels {
            if !names.insert(c.name.as_str()) {
                return Err(NotifyError::Config {
                    channel: c.name.clone(),
                    reason: "two channels have this name".into(),
                });
            }
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(opts.timeout)
            .user_agent(concat!("mamori/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Config {
                channel: "*".into(),
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Notifier {
            channels: channels.to_vec(),
            client,
            opts,
        })
    }

    /// Whether any channel is configured.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Delivers everything due on every channel. A channel's failures are in
    /// its report, never an error: only the findings database failing is.
    pub fn run(
        &self,
        store: &mut FindingStore,
        now: Timestamp,
    ) -> Result<Vec<ChannelReport>, NotifyError> {
        let mut reports = Vec::new();
        for c in &self.channels {
            let mut report = ChannelReport {
                channel: c.name.clone(),
                ..ChannelReport::default()
            };
            match c.endpoint() {
                Ok(endpoint) => self.run_channel(c, &endpoint, store, now, &mut report)?,
                Err(e) => report.stopped = Some(e.to_string()),
            }
            reports.push(report);
        }
        Ok(reports)
    }

    fn run_channel(
        &self,
        c: &ChannelConfig,
        endpoint: &Endpoint,
        store: &mut FindingStore,
        now: Timestamp,
        report: &mut ChannelReport,
    ) -> Result<(), NotifyError> {
        let mut consecutive = 0;
        // Each delivery leaves the due set (sent, backed off, dead or
        // skipped), so this ends; the bound is a guard.
        for _ in 0..10_000 {
            let due = store.due_deliveries(&c.name, now)?;
            if due.is_empty() {
                return Ok(());
            }
            for (f, d) in due {
                let mut d = d.unwrap_or_else(|| Delivery::new(&c.name, &f.id));
                d.updated = now;
                if !c.route.takes(&f) {
                    d.state = DeliveryState::Skipped;
                    store.save_delivery(&d)?;
                    report.skipped += 1;
                    continue;
                }
                let phase = Phase::of(f.status);
                let action = match (phase, d.sent_phase) {
                    (Phase::Open, None | Some(Phase::Closed)) => Some(Action::Open),
                    (Phase::Open, Some(Phase::Open)) if f.count > d.sent_count => {
                        Some(Action::Update {
                            previous: d.sent_count,
                        })
                    }
                    (Phase::Closed, Some(Phase::Open)) => Some(Action::Close),
                    _ => None,
                };
                let outcome = match action {
                    Some(a) => self.deliver(endpoint, &f, a, &mut d, now),
                    None => Ok(()),
                };
                match outcome {
                    Ok(()) => {
                        consecutive = 0;
                        d.state = DeliveryState::Sent;
                        d.sent_phase = Some(phase);
                        d.sent_count = f.count;
                        d.attempts = 0;
                        d.last_error = None;
                        store.save_delivery(&d)?;
                        if action.is_some() {
                            report.sent += 1;
                        }
                        if action == Some(Action::Open) {
                            store.mark_notified(&f.id, &c.name, now)?;
                        }
                    }
                    Err(fail) => {
                        consecutive += 1;
                        d.attempts += 1;
                        d.last_error = Some(fail.message.clone());
                        report.last_error = Some(fail.message.clone());
                        if !fail.retryable || d.attempts >= self.opts.max_attempts {
                            d.state = DeliveryState::Dead;
                            report.dead += 1;
                        } else {
                            d.state = DeliveryState::Retrying;
                            let wait_s =
                                60i64.saturating_mul(1 << (d.attempts - 1).min(6)).min(3600);
                            d.next_attempt = Timestamp(now.0 + wait_s * 1_000_000);
                            report.failing += 1;
                        }
                        store.save_delivery(&d)?;
                        if consecutive >= STOP_AFTER {
                            report.stopped = Some(format!(
                                "stopped after {STOP_AFTER} failures in a row; the rest waits for the next run"
                            ));
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn deliver(
        &self,
        endpoint: &Endpoint,
        f: &Finding,
        action: Action,
        d: &mut Delivery,
        now: Timestamp,
    ) -> Result<(), Failure> {
        let link = message::link(self.opts.link.as_deref(), f);
        let Endpoint::GitHub { api, repo, token } = endpoint else {
            return match message::simple(endpoint, f, action, link.as_deref(), now) {
                Some(r) => self
                    .execute(&r, matches!(endpoint, Endpoint::Slack { .. }))
                    .map(drop),
                None => Ok(()),
            };
        };
        // An earlier attempt may have opened the issue and failed after:
        // find it by the finding id in its title before opening another.
        if action == Action::Open && d.external_ref.is_none() && d.attempts > 0 {
            let body = self.execute(&message::github_lookup(api, repo, token), false)?;
            let title = message::github_title(f);
            let found = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.as_array()?
                        .iter()
                        .find(|i| i["title"].as_str() == Some(title.as_str()))
                        .and_then(|i| i["number"].as_u64())
                });
            if let Some(n) = found {
                d.external_ref = Some(n.to_string());
                return Ok(());
            }
        }
        let requests = message::github(
            f,
            action,
            api,
            repo,
            token,
            d.external_ref.as_deref(),
            link.as_deref(),
        );
        for r in requests {
            let body = self.execute(&r, false)?;
            if d.external_ref.is_none() {
                let number = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["number"].as_u64());
                match number {
                    Some(n) => d.external_ref = Some(n.to_string()),
                    None => {
                        return Err(Failure {
                            retryable: true,
                            message: format!(
                                "{}: the created issue has no number",
                                host_of(&r.url)
                            ),
                            retry_after: None,
                        })
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends one request, retrying what can succeed later; the response body on success.
    fn execute(&self, r: &HttpRequest, slack: bool) -> Result<String, Failure> {
        let mut attempt = 0;
        loop {
            match self.once(r, slack) {
                Ok(body) => return Ok(body),
                Err(f) if f.retryable && attempt < self.opts.retries => {
                    let backoff = self.opts.backoff.saturating_mul(1 << attempt.min(10));
                    let wait = f
                        .retry_after
                        .map_or(backoff, |ra| ra.min(Duration::from_secs(30)).max(backoff));
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err(f) => return Err(f),
            }
        }
    }

    fn once(&self, r: &HttpRequest, slack: bool) -> Result<String, Failure> {
        let host = host_of(&r.url);
        let method =
            reqwest::Method::from_bytes(r.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut b = self.client.request(method, &r.url);
        for (k, v) in &r.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(body) = &r.body {
            b = b
                .header("Content-Type", "application/json")
                .body(body.clone());
        }
        let resp = b.send().map_err(|e| Failure {
            retryable: true,
            message: format!("{} {host}: {}", r.method, describe(e)),
            retry_after: None,
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.text().map_err(|e| Failure {
            retryable: true,
            message: format!(
                "{} {host}: reading the response: {}",
                r.method,
                e.without_url()
            ),
            retry_after: None,
        })?;
        // Slack answers 200 "ok"; anything else in a 200 is an error it reports in the body.
        if status.is_success() && (!slack || body.trim() == "ok") {
            return Ok(body);
        }
        let code = status.as_u16();
        Err(Failure {
            retryable: code == 408 || code == 429 || status.is_server_error(),
            message: format!(
                "{} {host}: HTTP {code}: {}",
                r.method,
                body.chars().take(200).collect::<String>().trim()
            ),
            retry_after,
        })
    }
}
