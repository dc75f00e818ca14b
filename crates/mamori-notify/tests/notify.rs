//! Delivery to Slack, PagerDuty, a signed webhook and GitHub issues, each a
//! real HTTP server on loopback that checks requests against the documented
//! shape of the real API and can fail on demand (5xx, 429, refusals, hangs).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use mamori_event::{Entity, EntityKind, Timestamp};
use mamori_findings::{DeliveryState, FindingStore, Status};
use mamori_notify::{ChannelConfig, ChannelKind, Notifier, NotifyOptions, Route};
use mamori_sigma::Detection;
use mamori_testkit::{HttpReceiver, PgServer, Received, Reply};
use serde_json::{json, Value};

const NOW: Timestamp = Timestamp(1_790_000_000_000_000);
const MINUTE: i64 = 60_000_000;
const ROUTING_KEY: &str = "R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y00";
const SECRET: &str = "webhook signing secret";
const TOKEN: &str = "ghp_testtoken";

fn stores() -> Vec<(&'static str, FindingStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("findings.db");
    let sqlite = FindingStore::open(path.to_str().expect("utf-8 path")).expect("open sqlite");
    let pg = FindingStore::open(&PgServer::shared().fresh_database()).expect("open postgres");
    vec![("sqlite", sqlite, Some(dir)), ("postgres", pg, None)]
}

fn sqlite() -> (FindingStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("findings.db");
    (
        FindingStore::open(path.to_str().expect("utf-8 path")).expect("open sqlite"),
        dir,
    )
}

fn det(rule: &str, level: &str, user: &str, uids: &[&str]) -> Detection {
    Detection {
        rule_id: rule.into(),
        title: format!("{rule} <by> {user} & co"),
        level: Some(level.into()),
        tags: vec!["attack.t1078".into(), "attack.initial-access".into()],
        kind: "rule".into(),
        source: "cloudtrail".into(),
        event_uids: uids.iter().map(|s| s.to_string()).collect(),
        group: BTreeMap::new(),
        count: uids.len() as u64,
        first_time: Timestamp(NOW.0 - 10 * MINUTE),
        last_time: Timestamp(NOW.0 - 10 * MINUTE),
        entities: vec![
            Entity::new(
                EntityKind::User,
                format!("arn:aws:iam::111122223333:user/{user}"),
            ),
            Entity::new(EntityKind::Ip, "203.0.113.7"),
            Entity::new(EntityKind::Account, "111122223333"),
        ],
    }
}

fn opts() -> NotifyOptions {
    NotifyOptions {
        timeout: Duration::from_secs(5),
        retries: 2,
        backoff: Duration::from_millis(20),
        max_attempts: 3,
        link: Some("https://mamori.example/findings/{id}".into()),
    }
}

fn channel(name: &str, kind: ChannelKind, route: Route) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        kind,
        route,
    }
}

fn bad(why: &str) -> Reply {
    Reply::Status(400, json!({"message": why}).to_string())
}

/// Slack incoming webhooks: a JSON body with `text`, blocks within Slack's limits; `ok` back.
fn slack_api(r: &Received, _: usize) -> Reply {
    let v = r.json();
    if r.method != "POST" || r.header("content-type") != Some("application/json") {
        return Reply::Status(400, "invalid_payload".into());
    }
    let Some(blocks) = v["blocks"].as_array() else {
        return Reply::Status(400, "invalid_blocks".into());
    };
    let text_ok = v["text"]
        .as_str()
        .is_some_and(|t| !t.is_empty() && t.len() <= 3000);
    let blocks_ok = blocks.len() <= 50
        && blocks.iter().all(|b| match b["type"].as_str() {
            Some("header") => {
                b["text"]["type"] == "plain_text"
                    && b["text"]["text"]
                        .as_str()
                        .is_some_and(|t| t.chars().count() <= 150)
            }
            Some("section") => {
                let fields = b["fields"].as_array();
                fields.is_some_and(|fs| {
                    fs.len() <= 10
                        && fs.iter().all(|f| {
                            f["type"] == "mrkdwn"
                                && f["text"]
                                    .as_str()
                                    .is_some_and(|t| t.chars().count() <= 2000)
                        })
                }) || b["text"]["text"]
                    .as_str()
                    .is_some_and(|t| t.chars().count() <= 3000)
            }
            Some("context") => b["elements"]
                .as_array()
                .is_some_and(|e| !e.is_empty() && e.len() <= 10),
            _ => false,
        });
    if !text_ok || !blocks_ok {
        return Reply::Status(400, "invalid_blocks".into());
    }
    Reply::Status(200, "ok".into())
}

/// PagerDuty Events API v2 `/v2/enqueue`.
fn pagerduty_api(r: &Received, _: usize) -> Reply {
    let v = r.json();
    let invalid = |why: &str| {
        Reply::Status(
            400,
            json!({"status": "invalid event", "message": "Event object is invalid", "errors": [why]}).to_string(),
        )
    };
    if r.method != "POST" || r.path != "/v2/enqueue" {
        return Reply::Status(404, String::new());
    }
    if v["routing_key"].as_str().map(str::len) != Some(32) {
        return invalid("'routing_key' must be 32 characters");
    }
    let dedup = v["dedup_key"].as_str().unwrap_or_default();
    if dedup.is_empty() || dedup.len() > 255 {
        return invalid("'dedup_key' is required here");
    }
    match v["event_action"].as_str() {
        Some("trigger") => {
            let p = &v["payload"];
            if !p["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.len() <= 1024)
                || !p["source"].as_str().is_some_and(|s| !s.is_empty())
                || !matches!(
                    p["severity"].as_str(),
                    Some("critical" | "error" | "warning" | "info")
                )
            {
                return invalid("payload needs summary, source and severity");
            }
        }
        Some("acknowledge" | "resolve") => {}
        _ => return invalid("'event_action' is invalid"),
    }
    Reply::Status(
        202,
        json!({"status": "success", "message": "Event processed", "dedup_key": dedup}).to_string(),
    )
}

fn signed(r: &Received) -> bool {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(r.body.as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    r.header("x-mamori-signature-256") == Some(&format!("sha256={want}"))
}

/// The generic webhook: a signed JSON body.
fn webhook_api(r: &Received, _: usize) -> Reply {
    if !signed(r) {
        return Reply::Status(401, "bad signature".into());
    }
    let v = r.json();
    if v["finding"]["id"].is_string() && r.header("x-mamori-delivery").is_some() {
        Reply::Status(204, String::new())
    } else {
        bad("no finding")
    }
}

/// GitHub's issues API, with its issues kept in memory.
#[derive(Default)]
struct GitHub {
    issues: Mutex<Vec<Value>>,
    /// Answer 502 after creating the next issue (a proxy failing after GitHub did the work).
    fail_after_create: Mutex<bool>,
}

impl GitHub {
    fn api(&self, r: &Received) -> Reply {
        if r.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return Reply::Status(401, json!({"message": "Bad credentials"}).to_string());
        }
        if r.header("accept") != Some("application/vnd.github+json")
            || r.header("x-github-api-version") != Some("2022-11-28")
            || r.header("user-agent").is_none_or(str::is_empty)
        {
            return bad("missing GitHub headers");
        }
        let v = r.json();
        let mut issues = self.issues.lock().expect("issues");
        let path = r.path.as_str();
        let rest = path.strip_prefix("/api/v3/repos/acme/security/issues");
        match (r.method.as_str(), rest) {
            ("POST", Some("")) => {
                let Some(title) = v["title"].as_str() else {
                    return Reply::Status(422, json!({"message": "Validation Failed"}).to_string());
                };
                if !v["labels"]
                    .as_array()
                    .is_some_and(|l| l.iter().all(Value::is_string))
                {
                    return Reply::Status(422, json!({"message": "Validation Failed"}).to_string());
                }
                let n = issues.len() + 1;
                let issue = json!({"number": n, "title": title, "state": "open", "labels": v["labels"], "body": v["body"], "comments": []});
                issues.push(issue.clone());
                if std::mem::take(&mut *self.fail_after_create.lock().expect("flag")) {
                    return Reply::Status(502, "Bad Gateway".into());
                }
                Reply::Status(201, issue.to_string())
            }
            ("GET", Some(q)) if q.starts_with('?') => {
                let list: Vec<Value> = issues
                    .iter()
                    .filter(|i| {
                        i["labels"]
                            .as_array()
                            .is_some_and(|l| l.contains(&json!("mamori")))
                    })
                    .cloned()
                    .collect();
                Reply::Status(200, Value::Array(list).to_string())
            }
            (method, Some(rest)) => {
                let mut parts = rest.trim_start_matches('/').split('/');
                let n: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let Some(issue) = n.checked_sub(1).and_then(|i| issues.get_mut(i)) else {
                    return Reply::Status(404, json!({"message": "Not Found"}).to_string());
                };
                match (method, parts.next()) {
                    ("POST", Some("comments")) => match v["body"].as_str() {
                        Some(b) => {
                            issue["comments"]
                                .as_array_mut()
                                .expect("comments")
                                .push(json!(b));
                            Reply::Status(201, json!({"id": 1, "body": b}).to_string())
                        }
                        None => {
                            Reply::Status(422, json!({"message": "Validation Failed"}).to_string())
                        }
                    },
                    ("PATCH", None) => {
                        let state_ok = matches!(v["state"].as_str(), Some("open" | "closed"));
                        let reason_ok = v.get("state_reason").is_none()
                            || matches!(
                                v["state_reason"].as_str(),
                                Some("completed" | "not_planned" | "reopened")
                            );
                        if !state_ok || !reason_ok {
                            return Reply::Status(
                                422,
                                json!({"message": "Validation Failed"}).to_string(),
                            );
                        }
                        issue["state"] = v["state"].clone();
                        issue["state_reason"] =
                            v.get("state_reason").cloned().unwrap_or(Value::Null);
                        Reply::Status(200, issue.to_string())
                    }
                    _ => Reply::Status(404, json!({"message": "Not Found"}).to_string()),
                }
            }
            _ => Reply::Status(404, json!({"message": "Not Found"}).to_string()),
        }
    }
}

fn all_channels(
    slack: &HttpReceiver,
    pd: &HttpReceiver,
    hook: &HttpReceiver,
    gh: &HttpReceiver,
) -> Vec<ChannelConfig> {
    vec![
        channel(
            "secops-slack",
            ChannelKind::Slack {
                url: Some(format!("{}/services/T000/B000/XXXXSECRET", slack.url())),
                url_env: None,
            },
            Route {
                min_severity: Some("high".into()),
                ..Route::default()
            },
        ),
        channel(
            "oncall",
            ChannelKind::Pagerduty {
                routing_key: Some(ROUTING_KEY.into()),
                routing_key_env: None,
                url: Some(format!("{}/v2/enqueue", pd.url())),
            },
            Route::default(),
        ),
        channel(
            "soar",
            ChannelKind::Webhook {
                url: format!("{}/hooks/mamori", hook.url()),
                secret: Some(SECRET.into()),
                secret_env: None,
            },
            Route {
                tags: vec!["attack.initial-access".into()],
                ..Route::default()
            },
        ),
        channel(
            "tickets",
            ChannelKind::Github {
                repo: "acme/security".into(),
                token: Some(TOKEN.into()),
                token_env: None,
                api_url: Some(format!("{}/api/v3", gh.url())),
            },
            Route::default(),
        ),
    ]
}

fn sent(reports: &[mamori_notify::ChannelReport]) -> Vec<(String, usize, usize, usize, usize)> {
    reports
        .iter()
        .map(|r| (r.channel.clone(), r.sent, r.skipped, r.failing, r.dead))
        .collect()
}

fn row(name: &str, s: usize, k: usize, f: usize, d: usize) -> (String, usize, usize, usize, usize) {
    (name.to_owned(), s, k, f, d)
}

#[test]
fn each_channel_follows_a_finding_from_new_to_resolved_in_its_api_shape() {
    for (db, mut st, _dir) in stores() {
        let slack = HttpReceiver::start(slack_api);
        let pd = HttpReceiver::start(pagerduty_api);
        let hook = HttpReceiver::start(webhook_api);
        let github = Arc::new(GitHub::default());
        let g = Arc::clone(&github);
        let gh = HttpReceiver::start(move |r, _| g.api(r));
        let notifier =
            Notifier::new(&all_channels(&slack, &pd, &hook, &gh), opts()).expect("notifier");

        let high = st
            .record(&det("root-login", "high", "alice", &["e1"]), NOW)
            .expect("record");
        let low = st
            .record(&det("odd-call", "low", "bob", &["e2"]), NOW)
            .expect("record");
        // Enrichment recorded before delivery reaches the ticket and the message as sentences.
        let related = json!([{"subject": "user=alice", "events": 7, "failed": 2, "first_seen": "a", "last_seen": "b",
            "operations": [{"value": "ConsoleLogin", "count": 3}], "sources": [{"value": "cloudtrail", "count": 7}],
            "countries": [{"value": "GB", "count": 7}]}]);
        st.enrich(high.id(), [("related".to_owned(), related)], NOW)
            .expect("enrich");
        let reports = notifier.run(&mut st, NOW).expect("run");
        assert_eq!(
            sent(&reports),
            [
                row("secops-slack", 1, 1, 0, 0),
                row("oncall", 2, 0, 0, 0),
                row("soar", 2, 0, 0, 0),
                row("tickets", 2, 0, 0, 0)
            ],
            "{db}: {reports:?}"
        );
        for r in slack
            .requests()
            .iter()
            .chain(pd.requests().iter())
            .chain(hook.requests().iter())
        {
            assert!(
                matches!(r.header("content-type"), Some("application/json")),
                "{db}"
            );
        }
        // Every request was accepted as the real API would (the servers answer 4xx otherwise).
        let f = st.get(high.id()).expect("get");
        assert_eq!(f.status, Status::Notified, "{db}");
        let h = st.history(high.id()).expect("history");
        assert!(
            h.iter()
                .any(|e| e.action == "notified" && e.to_status.as_deref() == Some("NOTIFIED")),
            "{db}: {h:?}"
        );
        let slack_msg = slack.requests()[0].json();
        assert_eq!(
            slack_msg["blocks"][0]["text"]["text"], "[HIGH] root-login <by> alice & co",
            "{db}"
        );
        let around =
            "Around it, user=alice: 7 events (2 failed), a … b; operations: ConsoleLogin ×3";
        assert!(slack_msg.to_string().contains(around), "{db}: {slack_msg}");
        let fields = slack_msg["blocks"][1]["fields"].to_string();
        assert!(
            fields.contains("&lt;by&gt;")
                || fields.contains("arn:aws:iam::111122223333:user/alice"),
            "{db}"
        );
        assert!(
            slack_msg
                .to_string()
                .contains(&format!("https://mamori.example/findings/{}", f.id)),
            "{db}"
        );
        let triggers: Vec<Value> = pd.requests().iter().map(Received::json).collect();
        assert!(
            triggers.iter().all(|t| t["event_action"] == "trigger"),
            "{db}"
        );
        let t = triggers
            .iter()
            .find(|t| t["dedup_key"] == f.id.as_str())
            .expect("trigger for the finding");
        assert_eq!(t["payload"]["severity"], "error", "{db}");
        let issues = github.issues.lock().expect("issues").clone();
        assert_eq!(issues.len(), 2, "{db}");
        let issue = issues
            .iter()
            .find(|i| i["title"].as_str().is_some_and(|s| s.contains(&f.id)))
            .expect("issue");
        assert!(
            issue["labels"]
                .as_array()
                .expect("labels")
                .contains(&json!("severity:high")),
            "{db}"
        );
        let body = issue["body"].as_str().unwrap_or("");
        assert!(
            body.contains(&format!("**Context**\n\n- {around}")),
            "{db}: {body}"
        );
        assert!(
            hook.requests()
                .iter()
                .all(|r| r.json()["event"] == "finding.opened"),
            "{db}"
        );

        // Nothing changed: nothing is sent again.
        let again = notifier.run(&mut st, NOW).expect("run");
        assert!(
            again.iter().all(|r| r.sent == 0 && r.failing == 0),
            "{db}: {again:?}"
        );
        assert_eq!(pd.requests().len(), 2, "{db}");

        // More events: PagerDuty re-triggers under the same key, GitHub gets a comment.
        st.record(&det("root-login", "high", "alice", &["e3", "e4"]), NOW)
            .expect("record");
        let upd = notifier.run(&mut st, NOW).expect("run");
        assert_eq!(
            upd.iter().map(|r| r.sent).sum::<usize>(),
            4,
            "{db}: {upd:?}"
        );
        let last = pd.requests().last().expect("request").json();
        assert_eq!(
            (last["event_action"].as_str(), last["dedup_key"].as_str()),
            (Some("trigger"), Some(f.id.as_str())),
            "{db}"
        );
        assert_eq!(
            hook.requests().last().expect("request").json()["event"],
            "finding.updated",
            "{db}"
        );
        let comments = github
            .issues
            .lock()
            .expect("issues")
            .iter()
            .find(|i| i["title"] == issue["title"])
            .expect("issue")["comments"]
            .clone();
        assert_eq!(
            comments,
            json!(["2 more events (3 in all), last seen 2026-09-21T14:03:20Z."]),
            "{db}"
        );

        // Resolved: PagerDuty resolves, the issue is closed as completed; suppressed: not planned.
        st.set_status(high.id(), Status::Resolved, "bob", Some("expected"), NOW)
            .expect("resolve");
        st.set_status(low.id(), Status::Suppressed, "bob", Some("noise"), NOW)
            .expect("suppress");
        let closed = notifier.run(&mut st, NOW).expect("run");
        assert_eq!(
            sent(&closed),
            [
                row("secops-slack", 1, 0, 0, 0),
                row("oncall", 2, 0, 0, 0),
                row("soar", 2, 0, 0, 0),
                row("tickets", 2, 0, 0, 0)
            ],
            "{db}"
        );
        let resolve = pd
            .requests()
            .iter()
            .rev()
            .take(2)
            .map(Received::json)
            .collect::<Vec<_>>();
        assert!(
            resolve
                .iter()
                .all(|r| r["event_action"] == "resolve" && r.get("payload").is_none()),
            "{db}: {resolve:?}"
        );
        let states: BTreeMap<String, (String, String)> = github
            .issues
            .lock()
            .expect("issues")
            .iter()
            .map(|i| {
                (
                    i["title"].as_str().unwrap_or_default().to_owned(),
                    (
                        i["state"].as_str().unwrap_or_default().to_owned(),
                        i["state_reason"].as_str().unwrap_or_default().to_owned(),
                    ),
                )
            })
            .collect();
        let mut reasons: Vec<_> = states.values().cloned().collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                ("closed".to_owned(), "completed".to_owned()),
                ("closed".to_owned(), "not_planned".to_owned())
            ],
            "{db}"
        );
        assert!(
            notifier
                .run(&mut st, NOW)
                .expect("run")
                .iter()
                .all(|r| r.sent == 0),
            "{db}"
        );
    }
}

#[test]
fn a_failing_channel_is_retried_with_backoff_then_dead_lettered_while_others_deliver() {
    let (mut st, _dir) = sqlite();
    // 503 twice, then fine: retried within the run.
    let flaky = HttpReceiver::start(|r, n| {
        if n < 2 {
            Reply::Status(503, "busy".into())
        } else {
            webhook_api(r, n)
        }
    });
    // Always 500.
    let down = HttpReceiver::start(|_, _| Reply::Status(500, "internal error".into()));
    let slack = HttpReceiver::start(slack_api);
    let hook = |name: &str, url: String| {
        channel(
            name,
            ChannelKind::Webhook {
                url,
                secret: Some(SECRET.into()),
                secret_env: None,
            },
            Route::default(),
        )
    };
    let channels = vec![
        hook("flaky", format!("{}/in", flaky.url())),
        hook("down", format!("{}/in", down.url())),
        channel(
            "slack",
            ChannelKind::Slack {
                url: Some(format!("{}/services/SECRET", slack.url())),
                url_env: None,
            },
            Route::default(),
        ),
    ];
    let notifier = Notifier::new(&channels, opts()).expect("notifier");
    let f = st
        .record(&det("root-login", "high", "alice", &["e1"]), NOW)
        .expect("record");
    let reports = notifier.run(&mut st, NOW).expect("run");
    assert_eq!(
        sent(&reports),
        [
            row("flaky", 1, 0, 0, 0),
            row("down", 0, 0, 1, 0),
            row("slack", 1, 0, 0, 0)
        ],
        "{reports:?}"
    );
    assert_eq!(flaky.requests().len(), 3);
    assert_eq!(down.requests().len(), 3, "one try and two retries");
    assert!(
        reports[1]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 500: internal error")),
        "{reports:?}"
    );
    // The finding was delivered elsewhere: NOTIFIED; the failing channel keeps it due.
    assert_eq!(st.get(f.id()).expect("get").status, Status::Notified);

    // Within the backoff nothing is tried; after it, again; after max_attempts, dead.
    notifier.run(&mut st, NOW).expect("run");
    assert_eq!(down.requests().len(), 3, "backing off");
    let later = Timestamp(NOW.0 + 2 * MINUTE);
    let r = notifier.run(&mut st, later).expect("run");
    assert_eq!(sent(&r)[1], row("down", 0, 0, 1, 0));
    let r = notifier
        .run(&mut st, Timestamp(later.0 + 5 * MINUTE))
        .expect("run");
    assert_eq!(sent(&r)[1], row("down", 0, 0, 0, 1), "{r:?}");
    assert_eq!(down.requests().len(), 9);
    let dead = st.deliveries(Some("down")).expect("deliveries");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].state, DeliveryState::Dead);
    assert_eq!(dead[0].attempts, 3);
    // Dead stays dead (visible) until put back.
    notifier
        .run(&mut st, Timestamp(later.0 + 60 * MINUTE))
        .expect("run");
    assert_eq!(down.requests().len(), 9);
    assert_eq!(st.retry_dead(Some("down")).expect("retry"), 1);
    notifier
        .run(&mut st, Timestamp(later.0 + 60 * MINUTE))
        .expect("run");
    assert_eq!(down.requests().len(), 12);
}

#[test]
fn refusals_are_not_retried_timeouts_are_and_secrets_stay_out_of_errors() {
    let (mut st, _dir) = sqlite();
    let gone = HttpReceiver::start(|_, _| Reply::Status(404, "no_service".into()));
    let hang = HttpReceiver::start(|_, _| Reply::Hang);
    let slow = HttpReceiver::start(|r, n| match slack_api(r, n) {
        Reply::Status(200, b) => Reply::Slow(Duration::from_millis(300), 200, b),
        other => other,
    });
    let limited = HttpReceiver::start(|r, n| {
        if n == 0 {
            Reply::RetryAfter(429, 1)
        } else {
            slack_api(r, n)
        }
    });
    let slack = |name: &str, url: &HttpReceiver| {
        channel(
            name,
            ChannelKind::Slack {
                url: Some(format!("{}/services/T0/B0/TOPSECRET", url.url())),
                url_env: None,
            },
            Route::default(),
        )
    };
    let mut o = opts();
    o.timeout = Duration::from_millis(1500);
    o.retries = 1;
    let notifier = Notifier::new(
        &[
            slack("gone", &gone),
            slack("hang", &hang),
            slack("slow", &slow),
            slack("limited", &limited),
        ],
        o,
    )
    .expect("notifier");
    st.record(&det("root-login", "high", "alice", &["e1"]), NOW)
        .expect("record");
    let r = notifier.run(&mut st, NOW).expect("run");
    assert_eq!(
        sent(&r),
        [
            row("gone", 0, 0, 0, 1),
            row("hang", 0, 0, 1, 0),
            row("slow", 1, 0, 0, 0),
            row("limited", 1, 0, 0, 0)
        ],
        "{r:?}"
    );
    assert_eq!(gone.requests().len(), 1, "a 404 is not retried");
    assert_eq!(hang.requests().len(), 2, "a timeout is");
    assert_eq!(limited.requests().len(), 2, "a 429 is, after Retry-After");
    for rep in &r[..2] {
        let e = rep.last_error.as_deref().expect("error");
        assert!(!e.contains("TOPSECRET") && e.contains("127.0.0.1"), "{e}");
    }
    assert!(
        r[1].last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out") || e.contains("timeout")),
        "{r:?}"
    );
}

#[test]
fn a_ticket_opened_by_a_failed_attempt_is_found_not_opened_twice() {
    let (mut st, _dir) = sqlite();
    let github = Arc::new(GitHub::default());
    *github.fail_after_create.lock().expect("flag") = true;
    let g = Arc::clone(&github);
    let gh = HttpReceiver::start(move |r, _| g.api(r));
    let ch = channel(
        "tickets",
        ChannelKind::Github {
            repo: "acme/security".into(),
            token: Some(TOKEN.into()),
            token_env: None,
            api_url: Some(format!("{}/api/v3", gh.url())),
        },
        Route::default(),
    );
    let mut o = opts();
    o.retries = 0;
    let notifier = Notifier::new(&[ch], o).expect("notifier");
    st.record(&det("root-login", "high", "alice", &["e1"]), NOW)
        .expect("record");
    let r = notifier.run(&mut st, NOW).expect("run");
    assert_eq!(sent(&r), [row("tickets", 0, 0, 1, 0)], "{r:?}");
    let r = notifier
        .run(&mut st, Timestamp(NOW.0 + 2 * MINUTE))
        .expect("run");
    assert_eq!(sent(&r), [row("tickets", 1, 0, 0, 0)], "{r:?}");
    assert_eq!(github.issues.lock().expect("issues").len(), 1);
    assert_eq!(
        st.deliveries(None).expect("deliveries")[0]
            .external_ref
            .as_deref(),
        Some("1")
    );
}

#[test]
fn a_channel_with_a_missing_secret_is_reported_and_the_others_still_run() {
    let (mut st, _dir) = sqlite();
    let slack = HttpReceiver::start(slack_api);
    let channels = vec![
        channel(
            "pd",
            ChannelKind::Pagerduty {
                routing_key: None,
                routing_key_env: Some("MAMORI_TEST_UNSET_KEY".into()),
                url: None,
            },
            Route::default(),
        ),
        channel(
            "slack",
            ChannelKind::Slack {
                url: Some(format!("{}/s", slack.url())),
                url_env: None,
            },
            Route::default(),
        ),
    ];
    let notifier = Notifier::new(&channels, opts()).expect("notifier");
    st.record(&det("root-login", "high", "alice", &["e1"]), NOW)
        .expect("record");
    let r = notifier.run(&mut st, NOW).expect("run");
    assert!(
        r[0].stopped
            .as_deref()
            .is_some_and(|s| s.contains("MAMORI_TEST_UNSET_KEY")),
        "{r:?}"
    );
    assert_eq!(r[1].sent, 1);
    let dup = Notifier::new(&[channels[1].clone(), channels[1].clone()], opts());
    assert!(dup.is_err());
}

#[test]
fn channels_read_from_toml() {
    let text = r#"
        name = "oncall"
        type = "pagerduty"
        routing_key_env = "PD_KEY"
        min_severity = "high"
        tags = ["attack.impact"]
    "#;
    let c: ChannelConfig = toml::from_str(text).expect("channel");
    assert_eq!(c.name, "oncall");
    assert!(matches!(c.kind, ChannelKind::Pagerduty { .. }));
    assert_eq!(c.route.min_severity.as_deref(), Some("high"));
    assert_eq!(c.route.tags, ["attack.impact"]);
    // A misspelt routing field, or a field of another type, is refused, not ignored.
    for (text, says) in [
        (
            "name = \"s\"\ntype = \"slack\"\nurl = \"https://x\"\nmin_severty = \"high\"",
            "min_severty",
        ),
        (
            "name = \"s\"\ntype = \"slack\"\nurl = \"https://x\"\nrepo = \"a/b\"",
            "a slack channel has no `repo`",
        ),
        ("name = \"s\"\ntype = \"teams\"", "type teams"),
        ("name = \"s\"\ntype = \"webhook\"", "`url` is required"),
    ] {
        let err = toml::from_str::<ChannelConfig>(text)
            .expect_err(text)
            .to_string();
        assert!(err.contains(says), "{text}: {err}");
    }
}
