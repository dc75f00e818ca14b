//! What each channel is sent, in the shape its API documents.

use hmac::{Hmac, Mac};
use mamori_event::{EntityKind, Timestamp};
use mamori_findings::{Finding, Severity, Status};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::channel::Endpoint;

/// What a delivery tells a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A finding to act on: new, or reopened.
    Open,
    /// More events of an open finding (from `previous` to its count).
    Update {
        /// The count the channel was last told.
        previous: u64,
    },
    /// The finding was resolved or suppressed.
    Close,
}

impl Action {
    fn event_name(self) -> &'static str {
        match self {
            Action::Open => "finding.opened",
            Action::Update { .. } => "finding.updated",
            Action::Close => "finding.closed",
        }
    }
}

/// An HTTP request to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// `POST`, `PATCH` or `GET`.
    pub method: &'static str,
    /// Full URL.
    pub url: String,
    /// Extra headers (Content-Type is JSON whenever there is a body).
    pub headers: Vec<(String, String)>,
    /// JSON body (none for a GET).
    pub body: Option<String>,
}

impl HttpRequest {
    fn post(url: String, body: &Value) -> HttpRequest {
        HttpRequest {
            method: "POST",
            url,
            headers: Vec::new(),
            body: Some(body.to_string()),
        }
    }
}

/// Cuts `s` to at most `max` characters, marking the cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped.
fn mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn entities_of<'a>(f: &'a Finding, kinds: &[EntityKind]) -> Vec<&'a str> {
    f.entities
        .iter()
        .filter(|e| kinds.contains(&e.kind))
        .map(|e| e.value.as_str())
        .collect()
}

fn who(f: &Finding) -> String {
    let users = entities_of(f, &[EntityKind::User, EntityKind::AccessKey]);
    if users.is_empty() {
        "-".into()
    } else {
        users.join(", ")
    }
}

fn place(f: &Finding) -> String {
    let mut parts = Vec::new();
    for (kind, label) in [
        (EntityKind::Account, "account"),
        (EntityKind::Ip, "from"),
        (EntityKind::Resource, "resource"),
    ] {
        let v = entities_of(f, &[kind]);
        if !v.is_empty() {
            parts.push(format!("{label} {}", v.join(", ")));
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" · ")
    }
}

/// The link to a finding: the `{id}` template, or the CLI command.
pub(crate) fn link(template: Option<&str>, f: &Finding) -> Option<String> {
    template.map(|t| t.replace("{id}", &f.id))
}

fn headline(f: &Finding, action: Action) -> String {
    let sev = f.severity.as_str().to_uppercase();
    match action {
        Action::Open => format!("[{sev}] {}", f.title),
        Action::Update { previous } => {
            format!("[{sev}] {} ({} → {} events)", f.title, previous, f.count)
        }
        Action::Close => format!("[{}] {}", f.status.as_str(), f.title),
    }
}

fn slack(f: &Finding, action: Action, link_url: Option<&str>) -> Value {
    let field = |name: &str, value: &str| json!({"type": "mrkdwn", "text": cut(&format!("*{name}*\n{}", mrkdwn(value)), 2000)});
    let when = if f.first_seen == f.last_seen {
        f.first_seen.to_string()
    } else {
        format!("{} … {}", f.first_seen, f.last_seen)
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&headline(f, action), 150)}}),
        json!({"type": "section", "fields": [
            field("Severity", f.severity.as_str()),
            field("Status", f.status.as_str()),
            field("Who", &who(f)),
            field("Where", &place(f)),
            field("When", &when),
            field("Events", &f.count.to_string()),
        ]}),
    ];
    let mut context = format!("rule `{}` · finding `{}`", mrkdwn(&f.rule_id), f.id);
    if !f.tags.is_empty() {
        context.push_str(&format!(" · {}", mrkdwn(&f.tags.join(" "))));
    }
    blocks.push(
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(&context, 3000)}]}),
    );
    let context = mamori_findings::context_lines(&f.enrichment);
    if !context.is_empty() {
        let text: Vec<String> = context
            .iter()
            .take(6)
            .map(|l| format!("• {}", mrkdwn(l)))
            .collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text.join("\n"), 3000)}}));
    }
    let open = match link_url {
        Some(u) => format!("<{u}|Open finding {}>", f.id),
        None => format!("`mamori findings show {}`", f.id),
    };
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": open}}));
    json!({"text": cut(&headline(f, action), 3000), "blocks": blocks})
}

/// PagerDuty's severities: critical, error, warning, info.
fn pagerduty_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "info",
    }
}

fn pagerduty(f: &Finding, action: Action, routing_key: &str, link_url: Option<&str>) -> Value {
    if action == Action::Close {
        return json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": f.id});
    }
    let mut v = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": f.id,
        "client": "Mamori",
        "payload": {
            "summary": cut(&headline(f, Action::Open), 1024),
            "source": cut(&place(f), 255),
            "severity": pagerduty_severity(f.severity),
            "timestamp": f.last_seen.to_string(),
            "component": f.source,
            "group": f.rule_id,
            "class": f.kind,
            "custom_details": {
                "finding": f.id,
                "who": who(f),
                "count": f.count,
                "first_seen": f.first_seen.to_string(),
                "last_seen": f.last_seen.to_string(),
                "tags": f.tags,
                "entities": f.entities,
            },
        },
    });
    if let Some(u) = link_url {
        v["client_url"] = json!(u);
        v["links"] = json!([{"href": u, "text": format!("Finding {}", f.id)}]);
    }
    v
}

fn webhook(f: &Finding, action: Action, now: Timestamp) -> Value {
    json!({
        "event": action.event_name(),
        "delivery": delivery_id(f, action),
        "sent_at": now.to_string(),
        "finding": f,
    })
}

/// The same finding in the same state always has the same delivery id, so
/// a receiver can drop the duplicates at-least-once delivery may bring.
pub(crate) fn delivery_id(f: &Finding, action: Action) -> String {
    format!("{}-{}-{}", f.id, action.event_name(), f.count)
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut s = String::from("sha256=");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// GitHub issue title: the finding id in it is how the issue is found again.
pub(crate) fn github_title(f: &Finding) -> String {
    format!(
        "[Mamori] {}: {} ({})",
        f.severity.as_str(),
        cut(&f.title, 200),
        f.id
    )
}

fn github_labels(f: &Finding) -> Vec<String> {
    let mut labels = vec![
        "mamori".to_owned(),
        format!("severity:{}", f.severity.as_str()),
    ];
    labels.extend(f.tags.iter().take(8).map(|t| cut(t, 50)));
    labels
}

fn github_body(f: &Finding, link_url: Option<&str>) -> String {
    let mut s = format!(
        "**{}**\n\n| | |\n|---|---|\n| Severity | {} |\n| Rule | `{}` |\n| Who | {} |\n| Where | {} |\n| First seen | {} |\n| Last seen | {} |\n| Events | {} |\n| Finding | `{}` |\n",
        f.title,
        f.severity.as_str(),
        f.rule_id,
        who(f),
        place(f),
        f.first_seen,
        f.last_seen,
        f.count,
        f.id
    );
    if !f.tags.is_empty() {
        s.push_str(&format!("\nTags: {}\n", f.tags.join(", ")));
    }
    let context = mamori_findings::context_lines(&f.enrichment);
    if !context.is_empty() {
        s.push_str("\n**Context**\n\n");
        for line in context {
            s.push_str(&format!("- {line}\n"));
        }
    }
    if !f.enrichment.is_empty() {
        s.push_str(&format!(
            "\n<details><summary>Enrichment</summary>\n\n```json\n{}\n```\n</details>\n",
            serde_json::to_string_pretty(&f.enrichment).unwrap_or_default()
        ));
    }
    match link_url {
        Some(u) => s.push_str(&format!("\n[Open the finding]({u})\n")),
        None => s.push_str(&format!("\n`mamori findings show {}`\n", f.id)),
    }
    s
}

fn github_headers(token: &str) -> Vec<(String, String)> {
    vec![
        ("Authorization".into(), format!("Bearer {token}")),
        ("Accept".into(), "application/vnd.github+json".into()),
        ("X-GitHub-Api-Version".into(), "2022-11-28".into()),
    ]
}

/// The GitHub requests for an action on an issue (`issue`: its number, if
/// one was opened already).
pub(crate) fn github(
    f: &Finding,
    action: Action,
    api: &str,
    repo: &str,
    token: &str,
    issue: Option<&str>,
    link_url: Option<&str>,
) -> Vec<HttpRequest> {
    let with_auth = |mut r: HttpRequest| {
        r.headers = github_headers(token);
        r
    };
    let issues = format!("{api}/repos/{repo}/issues");
    let comment = |n: &str, body: String| {
        with_auth(HttpRequest::post(
            format!("{issues}/{n}/comments"),
            &json!({"body": body}),
        ))
    };
    let patch = |n: &str, body: Value| {
        with_auth(HttpRequest {
            method: "PATCH",
            url: format!("{issues}/{n}"),
            headers: Vec::new(),
            body: Some(body.to_string()),
        })
    };
    match (action, issue) {
        (Action::Open, None) => vec![with_auth(HttpRequest::post(
            issues,
            &json!({"title": github_title(f), "body": github_body(f, link_url), "labels": github_labels(f)}),
        ))],
        (Action::Open, Some(n)) => vec![
            patch(n, json!({"state": "open"})),
            comment(
                n,
                format!(
                    "Reopened: {} ({} events, last seen {}).",
                    f.status.as_str(),
                    f.count,
                    f.last_seen
                ),
            ),
        ],
        (Action::Update { previous }, Some(n)) => vec![comment(
            n,
            format!(
                "{} more events ({} in all), last seen {}.",
                f.count.saturating_sub(previous),
                f.count,
                f.last_seen
            ),
        )],
        (Action::Close, Some(n)) => vec![
            comment(n, format!("Finding {}: {}.", f.id, f.status.as_str())),
            patch(
                n,
                json!({"state": "closed", "state_reason": if f.status == Status::Suppressed { "not_planned" } else { "completed" }}),
            ),
        ],
        // Nothing was opened: nothing to update or close.
        (_, None) => Vec::new(),
    }
}

/// The GET that finds an issue a failed attempt may have opened anyway.
pub(crate) fn github_lookup(api: &str, repo: &str, token: &str) -> HttpRequest {
    HttpRequest {
        method: "GET",
        url: format!("{api}/repos/{repo}/issues?labels=mamori&state=all&per_page=100"),
        headers: github_headers(token),
        body: None,
    }
}

/// The single request for Slack, PagerDuty and webhooks.
pub(crate) fn simple(
    endpoint: &Endpoint,
    f: &Finding,
    action: Action,
    link_url: Option<&str>,
    now: Timestamp,
) -> Option<HttpRequest> {
    match endpoint {
        Endpoint::Slack { url } => {
            Some(HttpRequest::post(url.clone(), &slack(f, action, link_url)))
        }
        Endpoint::PagerDuty { url, routing_key } => Some(HttpRequest::post(
            url.clone(),
            &pagerduty(f, action, routing_key, link_url),
        )),
        Endpoint::Webhook { url, secret } => {
            let mut r = HttpRequest::post(url.clone(), &webhook(f, action, now));
            r.headers
                .push(("X-Mamori-Event".into(), action.event_name().into()));
            r.headers
                .push(("X-Mamori-Delivery".into(), delivery_id(f, action)));
            if let (Some(s), Some(b)) = (secret, &r.body) {
                r.headers
                    .push(("X-Mamori-Signature-256".into(), signature(s, b.as_bytes())));
            }
            Some(r)
        }
        Endpoint::GitHub { .. } => None,
    }
}
