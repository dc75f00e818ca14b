//! Channel configuration (`[[notify]]` in `mamori.toml`) and routing.

use mamori_findings::{Finding, Severity};
use serde::Deserialize;

use crate::NotifyError;

/// The kind of a channel and what it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// A Slack incoming webhook.
    Slack {
        /// The webhook URL (a secret).
        url: Option<String>,
        /// An environment variable holding the URL.
        url_env: Option<String>,
    },
    /// PagerDuty Events API v2.
    Pagerduty {
        /// The integration's routing key (a secret).
        routing_key: Option<String>,
        /// An environment variable holding the routing key.
        routing_key_env: Option<String>,
        /// The events endpoint (default `https://events.pagerduty.com/v2/enqueue`).
        url: Option<String>,
    },
    /// Any HTTP endpoint: a JSON body, signed with HMAC-SHA256 when a secret is set.
    Webhook {
        /// Where to POST.
        url: String,
        /// The signing secret.
        secret: Option<String>,
        /// An environment variable holding the signing secret.
        secret_env: Option<String>,
    },
    /// GitHub (or GitHub Enterprise) issues.
    Github {
        /// `owner/name`.
        repo: String,
        /// A token with issues write access (a secret).
        token: Option<String>,
        /// An environment variable holding the token (e.g. `GITHUB_TOKEN`).
        token_env: Option<String>,
        /// The API base: `https://api.github.com` (default), or
        /// `https://HOST/api/v3` for GitHub Enterprise Server.
        api_url: Option<String>,
    },
}

/// Which findings a channel takes. Empty lists take all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// At least this severity (informational, low, medium, high, critical).
    pub min_severity: Option<String>,
    /// Only these rules (rule id or title).
    pub rules: Vec<String>,
    /// Only findings with one of these tags (`attack.t1078`, `attack.initial-access`…).
    pub tags: Vec<String>,
}

/// One `[[notify]]` entry: `name`, `type` (slack, pagerduty, webhook,
/// github), the fields of that type, and the routing fields. A field the
/// type does not take is an error, not ignored: a misspelt `min_severity`
/// must not route everything.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(try_from = "RawChannel")]
pub struct ChannelConfig {
    /// The channel's name, as findings' histories and reports show it.
    pub name: String,
    /// Kind and endpoint.
    pub kind: ChannelKind,
    /// Which findings.
    pub route: Route,
}

/// `[[notify]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    url_env: Option<String>,
    routing_key: Option<String>,
    routing_key_env: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    repo: Option<String>,
    token: Option<String>,
    token_env: Option<String>,
    api_url: Option<String>,
    min_severity: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl TryFrom<RawChannel> for ChannelConfig {
    type Error = String;

    fn try_from(r: RawChannel) -> Result<ChannelConfig, String> {
        let set: Vec<(&str, bool)> = vec![
            ("url", r.url.is_some()),
            ("url_env", r.url_env.is_some()),
            ("routing_key", r.routing_key.is_some()),
            ("routing_key_env", r.routing_key_env.is_some()),
            ("secret", r.secret.is_some()),
            ("secret_env", r.secret_env.is_some()),
            ("repo", r.repo.is_some()),
            ("token", r.token.is_some()),
            ("token_env", r.token_env.is_some()),
            ("api_url", r.api_url.is_some()),
        ];
        let takes: &[&str] = match r.kind.as_str() {
            "slack" => &["url", "url_env"],
            "pagerduty" => &["routing_key", "routing_key_env", "url"],
            "webhook" => &["url", "secret", "secret_env"],
            "github" => &["repo", "token", "token_env", "api_url"],
            other => {
                return Err(format!(
                    "notify channel {}: type {other}: expected slack, pagerduty, webhook or github",
                    r.name
                ))
            }
        };
        if let Some((field, _)) = set.iter().find(|(f, on)| *on && !takes.contains(f)) {
            return Err(format!(
                "notify channel {}: a {} channel has no `{field}` (it takes {})",
                r.name,
                r.kind,
                takes.join(", ")
            ));
        }
        let missing = |f: &str| format!("notify channel {}: `{f}` is required", r.name);
        let kind = match r.kind.as_str() {
            "slack" => ChannelKind::Slack {
                url: r.url,
                url_env: r.url_env,
            },
            "pagerduty" => ChannelKind::Pagerduty {
                routing_key: r.routing_key,
                routing_key_env: r.routing_key_env,
                url: r.url,
            },
            "webhook" => ChannelKind::Webhook {
                url: r.url.ok_or_else(|| missing("url"))?,
                secret: r.secret,
                secret_env: r.secret_env,
            },
            _ => ChannelKind::Github {
                repo: r.repo.ok_or_else(|| missing("repo"))?,
                token: r.token,
                token_env: r.token_env,
                api_url: r.api_url,
            },
        };
        Ok(ChannelConfig {
            name: r.name,
            kind,
            route: Route {
                min_severity: r.min_severity,
                rules: r.rules,
                tags: r.tags,
            },
        })
    }
}

fn secret(
    channel: &str,
    what: &str,
    value: &Option<String>,
    env: &Option<String>,
) -> Result<String, NotifyError> {
    if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
        return Ok(v.clone());
    }
    if let Some(var) = env {
        return std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| NotifyError::Config {
                channel: channel.to_owned(),
                reason: format!("{what}: environment variable {var} is not set"),
            });
    }
    Err(NotifyError::Config {
        channel: channel.to_owned(),
        reason: format!("{what} is required (or {what}_env naming a variable)"),
    })
}

/// A channel with its secrets read and its route checked.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    Slack {
        url: String,
    },
    PagerDuty {
        url: String,
        routing_key: String,
    },
    Webhook {
        url: String,
        secret: Option<String>,
    },
    GitHub {
        api: String,
        repo: String,
        token: String,
    },
}

impl ChannelConfig {
    pub(crate) fn endpoint(&self) -> Result<Endpoint, NotifyError> {
        let n = &self.name;
        let bad = |reason: String| NotifyError::Config {
            channel: n.clone(),
            reason,
        };
        if let Some(s) = &self.route.min_severity {
            Severity::parse(s).ok_or_else(|| {
                bad(format!(
                    "min_severity {s}: expected informational, low, medium, high or critical"
                ))
            })?;
        }
        let url_ok = |u: &str| {
            if u.starts_with("https://") || u.starts_with("http://") {
                Ok(u.trim_end_matches('/').to_owned())
            } else {
                Err(bad(format!("{u}: expected an http(s) URL")))
            }
        };
        Ok(match &self.kind {
            ChannelKind::Slack { url, url_env } => Endpoint::Slack {
                url: url_ok(&secret(n, "url", url, url_env)?)?,
            },
            ChannelKind::Pagerduty {
                routing_key,
                routing_key_env,
                url,
            } => Endpoint::PagerDuty {
                url: url_ok(
                    url.as_deref()
                        .unwrap_or("https://events.pagerduty.com/v2/enqueue"),
                )?,
                routing_key: secret(n, "routing_key", routing_key, routing_key_env)?,
            },
            ChannelKind::Webhook {
                url,
                secret: s,
                secret_env,
            } => Endpoint::Webhook {
                url: url_ok(url)?,
                secret: if s.is_some() || secret_env.is_some() {
                    Some(secret(n, "secret", s, secret_env)?)
                } else {
                    None
                },
            },
            ChannelKind::Github {
                repo,
                token,
                token_env,
                api_url,
            } => {
                if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
                    return Err(bad(format!("repo {repo}: expected owner/name")));
                }
                Endpoint::GitHub {
                    api: url_ok(api_url.as_deref().unwrap_or("https://api.github.com"))?,
                    repo: repo.clone(),
                    token: secret(n, "token", token, token_env)?,
                }
            }
        })
    }
}

impl Route {
    /// Whether the channel takes this finding.
    pub fn takes(&self, f: &Finding) -> bool {
        let severity_ok = self
            .min_severity
            .as_deref()
            .and_then(Severity::parse)
            .is_none_or(|min| f.severity.id() >= min.id());
        let rule_ok =
            self.rules.is_empty() || self.rules.iter().any(|r| *r == f.rule_id || *r == f.title);
        let tag_ok = self.tags.is_empty()
            || self
                .tags
                .iter()
                .any(|t| f.tags.iter().any(|ft| ft.eq_ignore_ascii_case(t)));
        severity_ok && rule_ok && tag_ok
    }
}
