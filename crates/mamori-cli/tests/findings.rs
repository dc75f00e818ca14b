//! `mamori findings …` and findings recorded by `ingest` and `hunt`, end to end,
//! on SQLite and on a real PostgreSQL.

mod common;

use std::path::Path;
use std::process::Output;

use common::{mamori, ok, samples, text};
use serde_json::Value;

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn list(db: &[&str], extra: &[&str], dir: &Path) -> Vec<Value> {
    let mut args = vec!["findings", "list", "--output", "json"];
    args.extend_from_slice(db);
    args.extend_from_slice(extra);
    json_lines(&ok(&mamori(&args, dir)))
}

#[test]
fn ingest_records_findings_that_analysts_work_through_the_cli() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let data = ["--data", "d"];
    let out = ok(&mamori(&["ingest", &samples(), "--data", "d"], dir));
    assert!(out.contains("findings (d/findings.db): "), "{out}");

    let all = list(&data, &[], dir);
    assert!(all.len() >= 5, "{all:?}");
    assert!(all.iter().all(|f| f["status"] == "NEW"));
    // GuardDuty's finding and Security Hub's copy of it are one finding.
    let console: Vec<_> = all
        .iter()
        .filter(|f| f["title"] == "Unusual console login by dev-alice.")
        .collect();
    assert_eq!(console.len(), 1, "{console:?}");
    assert_eq!(console[0]["count"], 2);
    assert_eq!(console[0]["severity"], "medium");

    // Recording the same detections again changes nothing.
    let out = ok(&mamori(
        &[
            "findings",
            "import",
            "d/detections/detections.jsonl",
            "--data",
            "d",
        ],
        dir,
    ));
    assert!(out.contains(" 0 new, 0 updated, 0 suppressed"), "{out}");
    assert_eq!(list(&data, &[], dir).len(), all.len());

    // The workflow, with who and why.
    let mfa = all
        .iter()
        .find(|f| f["title"] == "Console Login Without MFA")
        .expect("the MFA finding");
    let id = mfa["id"].as_str().expect("id");
    ok(&mamori(
        &[
            "findings", "assign", id, "bob", "--as", "alice", "--note", "on it", "--data", "d",
        ],
        dir,
    ));
    ok(&mamori(
        &[
            "findings",
            "note",
            id,
            "test user, confirmed with the owner",
            "--as",
            "bob",
            "--data",
            "d",
        ],
        dir,
    ));
    let out = ok(&mamori(
        &[
            "findings", "resolve", id, "--as", "bob", "--note", "expected", "--data", "d",
        ],
        dir,
    ));
    assert!(out.contains("RESOLVED"), "{out}");
    let err = mamori(&["findings", "resolve", id, "--data", "d"], dir);
    assert!(!err.status.success());
    assert!(
        text(&err.stderr).contains("already RESOLVED"),
        "{}",
        text(&err.stderr)
    );

    let shown = json_lines(&ok(&mamori(
        &["findings", "show", id, "--output", "json", "--data", "d"],
        dir,
    )));
    let f = &shown[0];
    assert_eq!(f["status"], "RESOLVED");
    assert_eq!(f["assignee"], "bob");
    assert!(!f["event_uids"].as_array().expect("uids").is_empty());
    let history: Vec<(String, String, String)> = f["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["actor"].as_str().unwrap_or("").to_owned(),
                h["action"].as_str().unwrap_or("").to_owned(),
                h["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let actions: Vec<(&str, &str)> = history
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("mamori", "created"),
            ("alice", "assign"),
            ("bob", "note"),
            ("bob", "status")
        ]
    );
    assert_eq!(history[3].2, "expected");

    // Filters and outputs.
    let resolved = ok(&mamori(
        &[
            "findings", "list", "--status", "resolved", "--output", "csv", "--data", "d",
        ],
        dir,
    ));
    let rows: Vec<&str> = resolved.lines().collect();
    assert_eq!(rows.len(), 2, "{resolved}");
    assert!(
        rows[0].starts_with("id,status,severity,rule_id"),
        "{resolved}"
    );
    assert!(
        rows[1].starts_with(&format!("{id},RESOLVED,")),
        "{resolved}"
    );
    let by_ip = list(&data, &["--entity", "ip=203.0.113.66"], dir);
    assert!(!by_ip.is_empty() && by_ip.len() < all.len(), "{by_ip:?}");
    let high = list(&data, &["--severity", "high,critical"], dir);
    assert!(high
        .iter()
        .all(|f| f["severity"] == "high" || f["severity"] == "critical"));
    assert!(!high.is_empty());
    let table = ok(&mamori(&["findings", "list", "--data", "d"], dir));
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains("Console Login Without MFA"), "{table}");

    // Exports.
    let asff = json_lines(&ok(&mamori(
        &["findings", "export", "--format", "asff", "--data", "d"],
        dir,
    )));
    assert_eq!(asff.len(), all.len());
    for a in &asff {
        assert_eq!(a["SchemaVersion"], "2018-10-08");
        assert!(a["Severity"]["Label"].is_string());
    }
    assert!(asff.iter().any(|a| a["Workflow"]["Status"] == "RESOLVED"));
    let ocsf = json_lines(&ok(&mamori(
        &["findings", "export", "--format", "ocsf", "--data", "d"],
        dir,
    )));
    assert!(ocsf.iter().all(|o| o["class_uid"] == 2004));

    // Bad requests are named.
    for (args, says) in [
        (
            vec!["findings", "show", "F0000000000000000"],
            "no finding or suppression F0000000000000000",
        ),
        (
            vec!["findings", "list", "--status", "OPEN"],
            "--status OPEN",
        ),
        (
            vec![
                "findings",
                "suppression",
                "add",
                "--entity",
                "host=x",
                "--reason",
                "r",
            ],
            "kinds are",
        ),
    ] {
        let mut args = args;
        args.extend_from_slice(&data);
        let out = mamori(&args, dir);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    std::fs::write(dir.join("junk.jsonl"), "{\"rule_id\": 1}\n").expect("write");
    let out = mamori(&["findings", "import", "junk.jsonl", "--data", "d"], dir);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("junk.jsonl:1: not a detection"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_suppression_keeps_a_known_ip_out_of_the_queue_until_it_expires() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let db = ["--db", "team.db"];
    let id = ok(&mamori(
        &[
            "findings",
            "suppression",
            "add",
            "--entity",
            "ip=203.0.113.66",
            "--reason",
            "red team exercise",
            "--expires",
            "30d",
            "--as",
            "carol",
            "--db",
            "team.db",
        ],
        dir,
    ));
    let id = id.trim();
    assert!(id.starts_with('S'), "{id}");
    let listed = ok(&mamori(
        &["findings", "suppression", "list", "--db", "team.db"],
        dir,
    ));
    assert!(
        listed.contains("active") && listed.contains("by carol"),
        "{listed}"
    );

    let out = ok(&mamori(
        &["ingest", &samples(), "--data", "d", "--db", "team.db"],
        dir,
    ));
    assert!(out.contains("findings (team.db)"), "{out}");
    let suppressed = list(&db, &["--status", "SUPPRESSED"], dir);
    assert!(!suppressed.is_empty());
    for f in &suppressed {
        let ips: Vec<&str> = f["entities"]
            .as_array()
            .expect("entities")
            .iter()
            .filter(|e| e["kind"] == "ip")
            .filter_map(|e| e["value"].as_str())
            .collect();
        assert!(ips.contains(&"203.0.113.66"), "{f}");
    }
    let queue = list(&db, &["--status", "NEW"], dir);
    assert!(!queue.is_empty(), "other findings still reach the queue");
    assert!(!std::path::Path::new(&dir.join("d/findings.db")).exists());

    ok(&mamori(
        &["findings", "suppression", "expire", id, "--db", "team.db"],
        dir,
    ));
    let listed = ok(&mamori(
        &["findings", "suppression", "list", "--db", "team.db"],
        dir,
    ));
    assert!(listed.contains("expired"), "{listed}");
}

#[test]
fn hunt_records_into_postgresql_and_the_cli_reads_it_back() {
    let url = mamori_testkit::PgServer::shared().fresh_database();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    ok(&mamori(
        &["ingest", &samples(), "--data", "d", "--no-detect"],
        dir,
    ));
    assert!(!dir.join("d/findings.db").exists());
    let out = mamori(&["hunt", "--data", "d", "--record", "--db", &url], dir);
    ok(&out);
    assert!(
        text(&out.stderr).contains("findings (postgres://"),
        "{}",
        text(&out.stderr)
    );
    let db = ["--db", url.as_str()];
    let found = list(&db, &[], dir);
    assert!(found.len() >= 3, "{found:?}");
    // Hunting again over the same history records nothing new.
    let out = mamori(&["hunt", "--data", "d", "--record", "--db", &url], dir);
    assert!(
        text(&ok_err(&out)).contains(" 0 new, 0 updated"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(list(&db, &[], dir).len(), found.len());
}

fn ok_err(out: &Output) -> Vec<u8> {
    ok(out);
    out.stderr.clone()
}

#[test]
fn ingest_delivers_findings_to_channels_and_a_failing_channel_is_visible() {
    use mamori_testkit::{HttpReceiver, Reply};
    let hook = HttpReceiver::start(|r, _| {
        if r.header("x-mamori-signature-256")
            .is_some_and(|s| s.starts_with("sha256="))
        {
            Reply::Status(204, String::new())
        } else {
            Reply::Status(401, "unsigned".into())
        }
    });
    let down = HttpReceiver::start(|_, _| Reply::Status(503, "maintenance".into()));
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(
        dir.join("mamori.toml"),
        format!(
            "[findings]\nlink = \"https://mamori.example/f/{{id}}\"\n\n\
             [[notify]]\nname = \"soar\"\ntype = \"webhook\"\nurl = \"{}/in\"\nsecret = \"s3cret\"\n\n\
             [[notify]]\nname = \"pager\"\ntype = \"pagerduty\"\nrouting_key = \"R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y00\"\nurl = \"{}/v2/enqueue\"\nmin_severity = \"high\"\n",
            hook.url(),
            down.url()
        ),
    )
    .expect("config");
    let out = mamori(&["ingest", &samples(), "--data", "d"], dir);
    ok(&out);
    let err = text(&out.stderr);
    assert!(err.contains("notify soar: "), "{err}");
    assert!(err.contains("notify pager: 0 sent"), "{err}");
    assert!(err.contains("HTTP 503: maintenance"), "{err}");
    let all = list(&["--data", "d"], &[], dir);
    let opened: Vec<_> = hook.requests().iter().map(|r| r.json()).collect();
    assert_eq!(opened.len(), all.len(), "one delivery per finding");
    assert!(opened.iter().all(|o| o["event"] == "finding.opened"));
    assert!(all.iter().all(|f| f["status"] == "NOTIFIED"), "{all:?}");

    let channels = ok(&mamori(&["findings", "channels", "--data", "d"], dir));
    assert!(
        channels.contains("pager") && channels.contains("HTTP 503"),
        "{channels}"
    );
    let failing = mamori(&["findings", "notify", "--data", "d"], dir);
    assert_eq!(failing.status.code(), Some(1), "{}", text(&failing.stderr));

    let id = all[0]["id"].as_str().expect("id");
    let out = mamori(
        &["findings", "resolve", id, "--note", "done", "--data", "d"],
        dir,
    );
    ok(&out);
    let last = hook.requests().last().expect("request").json();
    assert_eq!(last["event"], "finding.closed");
    assert_eq!(last["finding"]["id"], id);
}
