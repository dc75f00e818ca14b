//! `mamori serve` end to end: the real binary on a loopback port, driven
//! over HTTP, UDP and TCP.

mod common;

use std::io::Write;
use std::time::Duration;

use common::server::{make_token, Server};
use serde_json::{json, Value};

fn sample(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{rel}", common::samples())).expect("sample")
}

const TRAIL: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1005Z_Qx7LmS2dXh0pWc4R.json.gz";

/// Who may do what: each route × each role (and no token). `true` = allowed.
/// Stated here on its own, not read from the server's table, so a change to
/// either shows up as a failure.
#[test]
fn authorization_matrix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let s = Server::start(&data, "", &[]);
    let roles = ["ingest", "viewer", "analyst", "admin"];
    let tokens: Vec<String> = roles
        .iter()
        .map(|r| {
            let v = s.ok(
                "POST",
                "/api/tokens",
                &s.admin,
                json!({ "name": format!("t-{r}"), "role": r }),
            );
            v["token"].as_str().expect("token").to_owned()
        })
        .collect();
    let event =
        br#"{"eventTime":"2026-11-20T10:00:00Z","eventName":"Ping","sourceIPAddress":"192.0.2.1"}"#
            .to_vec();
    let rule = json!({ "rule": "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s: {eventName: X}\n  condition: s\n", "events": [] });
    // (method, path, body, allowed for [ingest, viewer, analyst, admin])
    let cases: Vec<(&str, &str, Option<Vec<u8>>, [bool; 4])> = vec![
        ("GET", "/api/me", None, [true, true, true, true]),
        ("GET", "/metrics", None, [false, true, true, true]),
        (
            "POST",
            "/api/ingest",
            Some(event.clone()),
            [true, false, false, true],
        ),
        (
            "POST",
            "/api/query",
            Some(br#"{"query":"stats count(*)"}"#.to_vec()),
            [false, true, true, true],
        ),
        (
            "GET",
            "/api/timeline?entity=192.0.2.1",
            None,
            [false, true, true, true],
        ),
        ("GET", "/api/findings", None, [false, true, true, true]),
        (
            "GET",
            "/api/findings/Fnone",
            None,
            [false, true, true, true],
        ),
        (
            "GET",
            "/api/findings/Fnone/timeline",
            None,
            [false, true, true, true],
        ),
        (
            "POST",
            "/api/findings/Fnone/status",
            Some(br#"{"status":"RESOLVED"}"#.to_vec()),
            [false, false, true, true],
        ),
        (
            "POST",
            "/api/findings/Fnone/assign",
            Some(br#"{"assignee":"x"}"#.to_vec()),
            [false, false, true, true],
        ),
        (
            "POST",
            "/api/findings/Fnone/notes",
            Some(br#"{"text":"x"}"#.to_vec()),
            [false, false, true, true],
        ),
        (
            "POST",
            "/api/findings/bulk",
            Some(br#"{"ids":["Fnone"],"status":"RESOLVED"}"#.to_vec()),
            [false, false, true, true],
        ),
        ("GET", "/api/rules", None, [false, true, true, true]),
        (
            "POST",
            "/api/rules/test",
            Some(rule.to_string().into_bytes()),
            [false, false, true, true],
        ),
        ("GET", "/api/sources", None, [false, true, true, true]),
        ("GET", "/api/tokens", None, [false, false, false, true]),
        (
            "POST",
            "/api/tokens",
            Some(br#"{"name":"made","role":"viewer"}"#.to_vec()),
            [false, false, false, true],
        ),
        (
            "DELETE",
            "/api/tokens/nobody",
            None,
            [false, false, false, true],
        ),
    ];
    let openapi = s.call("GET", "/api/openapi.json", None, None).1;
    for (method, path, body, allowed) in &cases {
        let route = path
            .split('?')
            .next()
            .expect("path")
            .replace("Fnone", "{id}")
            .replace("nobody", "{name}");
        assert!(
            openapi["paths"][&route][method.to_ascii_lowercase()].is_object(),
            "{method} {route} is not in the OpenAPI document"
        );
        let (st, v) = s.call(method, path, None, body.clone());
        assert_eq!(st, 401, "{method} {path} without a token: {v}");
        let (st, _) = s.call(method, path, Some("mamori_not_a_token"), body.clone());
        assert_eq!(st, 401, "{method} {path} with a made-up token");
        for (i, role) in roles.iter().enumerate() {
            let (st, v) = s.call(method, path, Some(&tokens[i]), body.clone());
            if allowed[i] {
                assert!(
                    st != 401 && st != 403,
                    "{method} {path} as {role}: refused {st} {v}"
                );
            } else {
                assert_eq!(st, 403, "{method} {path} as {role}: {v}");
                assert!(
                    v["error"].as_str().unwrap_or_default().contains(role),
                    "{v}"
                );
            }
        }
    }
    // Public: the console, health, the API description.
    for p in [
        "/",
        "/assets/app.js",
        "/healthz",
        "/readyz",
        "/api/health",
        "/api/openapi.json",
    ] {
        assert_eq!(s.call("GET", p, None, None).0, 200, "{p}");
    }
    // Unknown routes are 404 in JSON; a revoked token is refused at once.
    let (st, v) = s.call("GET", "/api/nothing", Some(&s.admin), None);
    assert_eq!(st, 404, "{v}");
    s.ok("DELETE", "/api/tokens/t-viewer", &s.admin, Value::Null);
    assert_eq!(
        s.call("GET", "/api/findings", Some(&tokens[1]), None).0,
        401
    );
    // The refusals are in the audit log, with who was refused.
    let denied = s.wait_for(15, "audit records of refusals", || {
        let rows = s
            .query("filter product = 'Mamori' and eventName = 'auth.denied' | stats count(*) as n");
        let n = rows.first().and_then(|r| r["n"].as_u64()).unwrap_or(0);
        (n > 0).then_some(n)
    });
    // Denied: 16 routes to ingest, 9 to viewer, 4 to analyst.
    assert_eq!(denied, 29);
}

/// Ingest over HTTP → searchable in seconds → rules → findings → analyst
/// works it → every step in the audit log and the metrics. Bad requests get
/// clear 4xx errors and lose nothing.
#[test]
fn ingest_search_detect_and_work_a_finding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let s = Server::start(&data, "[serve]\nmax_body_bytes = 200000\n", &[]);
    let shipper = make_token(&data, "shipper", "ingest");
    let analyst = s.ok(
        "POST",
        "/api/tokens",
        &s.admin,
        json!({ "name": "alice", "role": "analyst" }),
    )["token"]
        .as_str()
        .expect("token")
        .to_owned();

    // A CloudTrail S3 object, gzip and all, as the provider delivers it.
    let (st, v) = s.call("POST", "/api/ingest", Some(&shipper), Some(sample(TRAIL)));
    assert_eq!(st, 202, "{v}");
    let trail = v["accepted"].as_u64().expect("count");
    assert!(trail > 0, "{v}");
    // The Kubernetes audit webhook backend's EventList.
    let (st, v) = s.call(
        "POST",
        "/api/ingest",
        Some(&shipper),
        Some(sample("k8s/webhook-eventlist.json")),
    );
    assert_eq!(st, 202, "{v}");
    let k8s = v["accepted"].as_u64().expect("count");
    // JSON lines with one bad line: the rest goes in, the bad one is named.
    let body = b"{\"eventTime\":\"2026-11-20T10:00:00Z\",\"eventName\":\"A\"}\n{not json\n{\"eventTime\":\"2026-11-20T10:00:01Z\",\"eventName\":\"B\"}\n";
    let (st, v) = s.call(
        "POST",
        "/api/ingest?source=generic",
        Some(&shipper),
        Some(body.to_vec()),
    );
    assert_eq!(st, 202, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    assert!(
        v["reasons"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("line 2:"),
        "{v}"
    );
    // Nothing readable: 400, kept in the dead letter.
    let (st, v) = s.call(
        "POST",
        "/api/ingest",
        Some(&shipper),
        Some(b"{\"truncated\": ".to_vec()),
    );
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["rejected"].as_u64(), Some(1), "{v}");
    // Unknown source kind, empty body, oversized body, malformed JSON request, bad query.
    let (st, v) = s.call(
        "POST",
        "/api/ingest?source=nope",
        Some(&shipper),
        Some(b"{}".to_vec()),
    );
    assert!(
        st == 400
            && v["error"]
                .as_str()
                .unwrap_or_default()
                .contains("not a source kind"),
        "{st} {v}"
    );
    assert_eq!(
        s.call(
            "POST",
            "/api/ingest",
            Some(&shipper),
            Some(b"  \n".to_vec())
        )
        .0,
        400
    );
    let (st, v) = s.call(
        "POST",
        "/api/ingest",
        Some(&shipper),
        Some(vec![b' '; 300_000]),
    );
    assert!(
        st == 413 && v["error"].as_str().unwrap_or_default().contains("200000"),
        "{st} {v}"
    );
    let (st, v) = s.call(
        "POST",
        "/api/query",
        Some(&analyst),
        Some(b"{\"query\": ".to_vec()),
    );
    assert!(
        st == 400
            && v["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("request body"),
        "{st} {v}"
    );
    let (st, v) = s.call(
        "POST",
        "/api/query",
        Some(&analyst),
        Some(br#"{"query":"filter | | stats"}"#.to_vec()),
    );
    assert!(
        st == 400 && v["error"].as_str().unwrap_or_default().contains("line 1"),
        "{st} {v}"
    );
    let (st, v) = s.call(
        "POST",
        "/api/query",
        Some(&analyst),
        Some(br#"{"sql":"SELECT nope FROM events"}"#.to_vec()),
    );
    assert_eq!(st, 400, "{v}");

    // Searchable within seconds; count in = count stored.
    let want = trail + k8s + 2;
    s.wait_for(10, "the events to be searchable", || {
        (s.count("SELECT count(*) AS n FROM events WHERE product <> 'Mamori'") == want)
            .then_some(())
    });
    let by_source = s.query("filter @source = 'k8s_audit' | stats count(*) as n by @source");
    assert!(
        by_source
            .iter()
            .any(|r| r["@source"] == "k8s_audit" && r["n"].as_u64() == Some(k8s)),
        "{by_source:?}"
    );

    // The rules ran on them: the trail has a console sign-in without MFA.
    let findings = s.wait_for(10, "findings", || {
        let v = s.ok("GET", "/api/findings", &analyst, Value::Null);
        let f = v["findings"].as_array().cloned().unwrap_or_default();
        (!f.is_empty()).then_some(f)
    });
    let f = findings
        .iter()
        .find(|f| {
            f["title"]
                .as_str()
                .unwrap_or_default()
                .contains("Without MFA")
        })
        .unwrap_or_else(|| panic!("no MFA finding in {findings:?}"));
    let id = f["id"].as_str().expect("id");
    let one = s.ok("GET", &format!("/api/findings/{id}"), &analyst, Value::Null);
    assert_eq!(one["finding"]["status"], "NEW");
    // The related activity is added off the pipeline, after the finding is recorded.
    let related = s.wait_for(15, "the finding's related activity", || {
        let f = s.ok("GET", &format!("/api/findings/{id}"), &analyst, Value::Null);
        f["finding"]["enrichment"]["related"]
            .as_array()
            .filter(|r| !r.is_empty())
            .cloned()
    });
    assert!(
        related
            .iter()
            .any(|r| r.to_string().contains("ConsoleLogin")),
        "{related:?}"
    );
    let tl = s.ok(
        "GET",
        &format!("/api/findings/{id}/timeline"),
        &analyst,
        Value::Null,
    );
    let rows = tl["rows"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r["in_finding"] == true
            && r["raw"]
                .as_str()
                .is_some_and(|x| x.contains("ConsoleLogin"))),
        "{tl}"
    );
    // The entity timeline of the user who signed in shows the detection inline.
    let user = one["finding"]["entities"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "user"))
        .and_then(|e| e["value"].as_str())
        .expect("a user entity")
        .to_owned();
    let et = s.ok(
        "GET",
        &format!("/api/timeline?entity={user}"),
        &analyst,
        Value::Null,
    );
    // The login row carries its finding inline.
    assert!(
        et["rows"].as_array().is_some_and(|r| r.iter().any(|r| {
            r["operation"] == "ConsoleLogin"
                && r["findings"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["id"] == id))
        })),
        "{et}"
    );

    // The analyst works it.
    s.ok(
        "POST",
        &format!("/api/findings/{id}/assign"),
        &analyst,
        json!({ "assignee": "alice" }),
    );
    s.ok(
        "POST",
        &format!("/api/findings/{id}/notes"),
        &analyst,
        json!({ "text": "called the user" }),
    );
    let v = s.ok(
        "POST",
        &format!("/api/findings/{id}/status"),
        &analyst,
        json!({ "status": "RESOLVED", "note": "benign" }),
    );
    assert_eq!(v["finding"]["status"], "RESOLVED");
    let (st, v) = s.call(
        "POST",
        &format!("/api/findings/{id}/status"),
        Some(&analyst),
        Some(br#"{"status":"DONE"}"#.to_vec()),
    );
    assert!(
        st == 400 && v["error"].as_str().unwrap_or_default().contains("DONE"),
        "{st} {v}"
    );
    let (st, _) = s.call("GET", "/api/findings/Fdoesnotexist", Some(&analyst), None);
    assert_eq!(st, 404);
    let hist =
        s.ok("GET", &format!("/api/findings/{id}"), &analyst, Value::Null)["history"].clone();
    assert!(
        hist.as_array().is_some_and(|h| h
            .iter()
            .any(|e| e["actor"] == "alice" && e["to_status"] == "RESOLVED")),
        "{hist}"
    );

    // Every action is in Mamori's own audit log, a source like any other.
    let audit = s.wait_for(10, "the audit log", || {
        let rows = s.query("filter product = 'Mamori' and actor.user.name = 'alice' | stats count(*) as n by eventName | sort eventName");
        (rows.len() >= 4).then_some(rows)
    });
    let names: Vec<&str> = audit
        .iter()
        .filter_map(|r| r["eventName"].as_str())
        .collect();
    for want in [
        "finding.assign",
        "finding.note",
        "finding.status",
        "query.run",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }

    // Rule testing over the API.
    let rule = "title: Ping\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s: {eventName: Ping}\n  condition: s\n";
    let v = s.ok("POST", "/api/rules/test", &analyst, json!({ "rule": rule, "events": [
        { "eventVersion": "1.08", "eventTime": "2026-11-20T10:00:00Z", "eventSource": "ec2.amazonaws.com", "eventName": "Ping", "awsRegion": "us-east-1", "eventID": "e1", "userIdentity": {"type": "Root"} },
        { "eventVersion": "1.08", "eventTime": "2026-11-20T10:00:00Z", "eventSource": "ec2.amazonaws.com", "eventName": "Pong", "awsRegion": "us-east-1", "eventID": "e2", "userIdentity": {"type": "Root"} }
    ] }));
    assert_eq!(v["matches"].as_array().map(Vec::len), Some(1), "{v}");
    let (st, v) = s.call(
        "POST",
        "/api/rules/test",
        Some(&analyst),
        Some(json!({ "rule": "title: [broken" }).to_string().into_bytes()),
    );
    assert_eq!(st, 422, "{v}");

    // Metrics say the same.
    let (st, m) = s.call("GET", "/metrics", Some(&analyst), None);
    assert_eq!(st, 200);
    let m = m.as_str().expect("text").to_owned();
    assert!(
        m.contains("mamori_events_stored_total{source=\"k8s_audit\"}"),
        "{m}"
    );
    assert!(
        m.contains("mamori_records_rejected_total{receiver=\"http\"} 2"),
        "{m}"
    );
    assert!(m.contains("mamori_rule_matches_total"), "{m}");
    let sources = s.ok("GET", "/api/sources", &analyst, Value::Null);
    assert!(
        sources["sources"].as_array().is_some_and(|a| a
            .iter()
            .any(|x| x["source"] == "cloudtrail" && x["events"].as_u64() == Some(trail))),
        "{sources}"
    );
}

/// An acknowledged event survives a crash: SIGKILL right after the 202s,
/// restart, and every accepted event is stored, once.
#[test]
fn acknowledged_events_survive_a_crash_and_a_graceful_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A long commit interval: the crash comes before any commit.
    let mut s = Server::start(&data, "[serve]\ncommit_interval = \"60s\"\n", &[]);
    let mut sent = 0u64;
    for i in 0..20 {
        let body: String = (0..50)
            .map(|j| format!("{{\"eventTime\":\"2026-11-20T10:{:02}:{:02}Z\",\"eventName\":\"Op{i}\",\"requestId\":\"r-{i}-{j}\"}}\n", i % 60, j % 60))
            .collect();
        let (st, v) = s.call(
            "POST",
            "/api/ingest?source=generic",
            Some(&s.admin),
            Some(body.into_bytes()),
        );
        assert_eq!(st, 202, "{v}");
        sent += v["accepted"].as_u64().expect("count");
    }
    s.crash();
    let mut s = Server::start(&data, "", &[]);
    s.wait_for(15, "the spooled events after the crash", || {
        (s.count("SELECT count(*) AS n FROM events WHERE product <> 'Mamori'") == sent)
            .then_some(())
    });
    // A graceful stop commits what just arrived, and exits 0.
    let (st, _) = s.call(
        "POST",
        "/api/ingest?source=generic",
        Some(&s.admin),
        Some(b"{\"eventTime\":\"2026-11-21T00:00:00Z\",\"eventName\":\"Last\"}".to_vec()),
    );
    assert_eq!(st, 202);
    assert_eq!(s.stop(), Some(0), "{}", s.output());
    assert!(s.output().contains("stopped:"), "{}", s.output());
    let s = Server::start(&data, "", &[]);
    assert_eq!(
        Some(s.count("SELECT count(*) AS n FROM events WHERE product <> 'Mamori'")),
        Some(sent + 1),
        "no event lost or doubled"
    );
    assert!(
        !std::fs::read_dir(data.join("serve/spool"))
            .expect("spool")
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".http"))),
        "the spool is emptied once committed"
    );
}

/// Each commit makes a segment per partition: the service merges them as it
/// goes, loses nothing doing so, and does not checkpoint each request.
#[test]
fn small_commits_are_merged_while_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut s = Server::start(&data, "[serve]\ncommit_interval = \"100ms\"\n", &[]);
    let user = "SELECT count(*) AS n FROM events WHERE product <> 'Mamori'";
    // 20 deliveries, each seen stored before the next is sent: 20 commits,
    // 20 segments of one partition (the audit log's queries go elsewhere).
    for i in 0..20u64 {
        let body: String = (0..5)
            .map(|j| format!("{{\"eventTime\":\"2026-11-20T11:{i:02}:{j:02}Z\",\"eventName\":\"Op{i}\",\"requestId\":\"m-{i}-{j}\"}}\n"))
            .collect();
        let (st, v) = s.call(
            "POST",
            "/api/ingest?source=generic",
            Some(&s.admin),
            Some(body.into_bytes()),
        );
        assert_eq!(st, 202, "{v}");
        s.wait_for(15, "the delivery stored", || {
            (s.count(user) == 5 * (i + 1)).then_some(())
        });
    }
    let partition = data.join("events/source=generic/date=2026-11-20");
    let segments = || {
        std::fs::read_dir(&partition)
            .expect("partition")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet"))
            })
            .count()
    };
    // One merge of 16 into 1; the 16 replaced wait out their grace period
    // (for queries running) beside the 4 others.
    s.wait_for(15, "a compaction step", || {
        (segments() == 20 + 1).then_some(())
    });
    let (_, m) = s.call("GET", "/metrics", Some(&s.admin), None);
    let merged = m
        .as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("mamori_segments_merged_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(merged.is_some_and(|n| n >= 16), "{m}");
    assert_eq!(s.count(user), 100, "nothing lost or doubled by the merge");
    // A newest-first search pages through the API (it runs in time windows).
    let page = s.ok(
        "POST",
        "/api/query",
        &s.admin,
        json!({ "query": "filter eventName like /^Op/ | fields @timestamp, eventName", "limit": 30 }),
    );
    let rows = page["rows"].as_array().expect("rows");
    assert_eq!(
        (rows.len(), &page["truncated"]),
        (30, &json!(true)),
        "{page}"
    );
    assert_eq!(rows[0]["eventName"], "Op19", "newest first: {page}");
    let few = s.ok(
        "POST",
        "/api/query",
        &s.admin,
        json!({ "query": "filter eventName = 'Op3' | fields eventName | limit 100", "limit": 30 }),
    );
    assert_eq!(few["rows"].as_array().map(Vec::len), Some(5), "{few}");
    assert_eq!(few["truncated"], json!(false), "{few}");
    assert_eq!(s.stop(), Some(0), "{}", s.output());
    let manifest = std::fs::read_to_string(data.join("manifest.jsonl")).expect("manifest");
    assert!(
        !manifest.contains("spool"),
        "spooled deliveries are not checkpointed"
    );
    // Opened again, the store deletes what the merge replaced; all is still there.
    let s = Server::start(&data, "", &[]);
    assert_eq!(segments(), 20 - 16 + 1);
    assert_eq!(s.count(user), 100);
}

/// Syslog over UDP and TCP (both framings), a watched directory, and a
/// source that stops sending raising a finding.
#[test]
fn syslog_watched_directory_and_source_health() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let watched = dir.path().join("incoming");
    std::fs::create_dir_all(&watched).expect("dir");
    let (udp, tcp) = (common::server::free_port(), common::server::free_port());
    let cfg = format!(
        "[serve.syslog]\nudp = \"127.0.0.1:{udp}\"\ntcp = \"127.0.0.1:{tcp}\"\n\n[[serve.watch]]\npath = \"{}\"\ninterval = \"1s\"\n\n[[serve.expect]]\nsource = \"k8s_audit\"\ninterval = \"3s\"\n",
        watched.display()
    );
    let s = Server::start(&data, &cfg, &[]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.send_to(b"<34>1 2026-11-20T10:00:00Z host1 sshd 100 - - Failed password for root from 198.51.100.7 port 22 ssh2", ("127.0.0.1", udp))
        .expect("send");
    let mut t = std::net::TcpStream::connect(("127.0.0.1", tcp)).expect("tcp");
    let m1 = "<38>1 2026-11-20T10:00:01Z host2 sshd 101 - - Accepted publickey for deploy from 198.51.100.8 port 22 ssh2";
    let m2 =
        "<86>Nov 20 10:00:02 host3 sudo: deploy : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh";
    write!(t, "{} {m1}{m2}\n", m1.len()).expect("write");
    t.flush().expect("flush");
    drop(t);
    std::fs::copy(
        format!("{}/k8s/kube-apiserver-audit.log", common::samples()),
        watched.join("audit.log"),
    )
    .expect("copy");
    let k8s_lines = std::fs::read_to_string(watched.join("audit.log"))
        .expect("read")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    s.wait_for(15, "syslog and watched events", || {
        let rows =
            s.query("filter @source = 'syslog' or @source = 'k8s_audit' | stats count(*) as n by @source | sort @source");
        let n = |k: &str| {
            rows.iter()
                .find(|r| r["@source"] == k)
                .and_then(|r| r["n"].as_u64())
        };
        (n("syslog") == Some(3) && n("k8s_audit") == Some(k8s_lines)).then_some(())
    });
    // The file grows: only the new line goes in.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(watched.join("audit.log"))
        .expect("open");
    let first = std::fs::read_to_string(watched.join("audit.log"))
        .expect("read")
        .lines()
        .next()
        .expect("line")
        .replace("\"auditID\":\"", "\"auditID\":\"x");
    writeln!(f, "{first}").expect("append");
    drop(f);
    s.wait_for(15, "the appended line", || {
        let rows = s.query("filter @source = 'k8s_audit' | stats count(*) as n");
        (rows.first().and_then(|r| r["n"].as_u64()) == Some(k8s_lines + 1)).then_some(())
    });
    // k8s_audit is expected every 3 s: once it stops, a finding says so.
    let f = s.wait_for(20, "a source-silent finding", || {
        let v = s.ok(
            "GET",
            "/api/findings?rule=mamori-source-silent",
            &s.admin,
            Value::Null,
        );
        v["findings"].as_array().and_then(|a| a.first().cloned())
    });
    assert!(
        f["title"]
            .as_str()
            .unwrap_or_default()
            .contains("k8s_audit"),
        "{f}"
    );
    assert_eq!(f["severity"], "high");
    let src = s.ok("GET", "/api/sources", &s.admin, Value::Null);
    assert!(
        src["sources"].as_array().is_some_and(|a| a
            .iter()
            .any(|x| x["source"] == "k8s_audit" && x["silent"] == true)),
        "{src}"
    );
    std::thread::sleep(Duration::from_millis(10));
}

/// TLS when configured: HTTPS only, with the configured certificate.
#[test]
fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let data = dir.path().join("data");
    let port = common::server::free_port();
    let token = make_token(
        &{
            std::fs::create_dir_all(&data).expect("dir");
            data.clone()
        },
        "admin",
        "admin",
    );
    let cfg = dir.path().join("tls.toml");
    let syslog_port = common::server::free_port();
    std::fs::write(
        &cfg,
        format!(
            "[serve]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n[serve.syslog]\ntls = \"127.0.0.1:{syslog_port}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .expect("cfg");
    let log = std::fs::File::create(dir.path().join("log")).expect("log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args([
            "serve",
            "--data",
            &data.display().to_string(),
            "--config",
            &cfg.display().to_string(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn");
    let pem = std::fs::read(&cert).expect("cert");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        // A self-signed certificate is its own CA, which rustls refuses as a server certificate.
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let url = format!("https://127.0.0.1:{port}/api/me");
    let t0 = std::time::Instant::now();
    let r = loop {
        match client.get(&url).bearer_auth(&token).send() {
            Ok(r) => break r,
            Err(e) => {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "no HTTPS: {e}\n{}",
                    std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().expect("json")["role"], "admin");
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"));
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    // Syslog over TLS, octet-counted (RFC 5425), through openssl's client.
    let msg =
        "<34>1 2026-11-20T10:00:00Z web1 sshd 42 - - Failed password for root from 203.0.113.9";
    // The listener may come up after HTTPS answers: the line is sent again
    // until it is stored (a resend is the same event: its uid keeps it single).
    let send = || {
        let mut tls = std::process::Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{syslog_port}")])
            .args(["-quiet", "-no_ign_eof"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_client");
        tls.stdin
            .take()
            .expect("stdin")
            .write_all(format!("{} {msg}", msg.len()).as_bytes())
            .expect("send");
        let _ = tls.wait();
    };
    send();
    let mut last_send = std::time::Instant::now();
    let q = format!("https://127.0.0.1:{port}/api/query");
    let t0 = std::time::Instant::now();
    loop {
        let v: Value = client
            .post(&q)
            .bearer_auth(&token)
            .body(r#"{"query":"filter @source = 'syslog' | fields @message"}"#)
            .send()
            .and_then(|r| r.json())
            .expect("query");
        if v["rows"].as_array().is_some_and(|r| {
            r.len() == 1
                && r[0]["@message"]
                    .as_str()
                    .is_some_and(|m| m.contains("203.0.113.9"))
        }) {
            break;
        }
        if last_send.elapsed() > Duration::from_secs(3) {
            send();
            last_send = std::time::Instant::now();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the TLS syslog line is not stored: {v}\n{}",
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
}
