//! The findings suite, run twice: on an embedded SQLite file and on a real
//! PostgreSQL server started on loopback.

use std::collections::BTreeMap;

use mamori_event::{Entity, EntityKind, Timestamp};
use mamori_findings::{
    to_asff, to_ocsf, Filter, FindingStore, FindingsError, Recorded, Severity, Status,
};
use mamori_sigma::Detection;
use mamori_testkit::PgServer;

const HOUR: i64 = 3_600_000_000;

/// A SQLite store and a PostgreSQL store, each new and empty.
fn stores() -> Vec<(&'static str, FindingStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("findings.db");
    let sqlite = FindingStore::open(path.to_str().expect("utf-8 path")).expect("open sqlite");
    let pg = FindingStore::open(&PgServer::shared().fresh_database()).expect("open postgres");
    vec![("sqlite", sqlite, Some(dir)), ("postgres", pg, None)]
}

fn det(rule: &str, user: &str, t: i64, uids: &[&str]) -> Detection {
    Detection {
        rule_id: rule.into(),
        title: format!("{rule} title"),
        level: Some("high".into()),
        tags: vec!["attack.t1098".into(), "attack.persistence".into()],
        kind: "rule".into(),
        source: "cloudtrail".into(),
        event_uids: uids.iter().map(|s| s.to_string()).collect(),
        group: BTreeMap::new(),
        count: uids.len() as u64,
        first_time: Timestamp(t),
        last_time: Timestamp(t),
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

const NOW: Timestamp = Timestamp(1_790_000_000_000_000);

#[test]
fn same_rule_and_principal_within_the_window_update_one_finding() {
    for (name, mut st, _dir) in stores() {
        let t = 1_780_000_000_000_000;
        let a = st.record(&det("r1", "alice", t, &["e1"]), NOW).expect("ok");
        let b = st
            .record(&det("r1", "alice", t + HOUR, &["e2"]), NOW)
            .expect("ok");
        assert!(matches!(a, Recorded::Created(_)), "{name}: {a:?}");
        assert_eq!(b, Recorded::Updated(a.id().into()), "{name}");
        let c = st
            .record(&det("r1", "bob", t + HOUR, &["e3"]), NOW)
            .expect("ok");
        let d = st
            .record(&det("r1", "alice", t + 30 * HOUR, &["e4"]), NOW)
            .expect("ok");
        assert!(
            matches!(c, Recorded::Created(_)) && matches!(d, Recorded::Created(_)),
            "{name}: {c:?} {d:?}"
        );
        let f = st.get(a.id()).expect("ok");
        assert_eq!(
            (f.count, f.first_seen.0, f.last_seen.0),
            (2, t, t + HOUR),
            "{name}"
        );
        assert_eq!(f.event_uids, ["e1", "e2"], "{name}");
        assert_eq!(
            (f.status, f.severity),
            (Status::New, Severity::High),
            "{name}"
        );
        assert_eq!(st.list(&Filter::default()).expect("ok").len(), 3, "{name}");
    }
}

#[test]
fn recording_the_same_detections_twice_changes_nothing() {
    for (name, mut st, _dir) in stores() {
        let t = 1_780_000_000_000_000;
        let batch = vec![
            det("r1", "alice", t, &["e1"]),
            det("r1", "alice", t + 1, &["e2"]),
            det("r2", "alice", t, &["e1"]),
        ];
        let first = st.record_all(&batch, NOW).expect("ok");
        let again = st.record_all(&batch, NOW).expect("ok");
        assert!(
            again.iter().all(|r| matches!(r, Recorded::Replayed(_))),
            "{name}: {again:?}"
        );
        let ids: Vec<&str> = first.iter().map(Recorded::id).collect();
        assert_eq!(
            ids,
            again.iter().map(Recorded::id).collect::<Vec<_>>(),
            "{name}"
        );
        let counts: Vec<u64> = st
            .list(&Filter::default())
            .expect("ok")
            .iter()
            .map(|f| f.count)
            .collect();
        assert_eq!(counts.iter().sum::<u64>(), 3, "{name}: {counts:?}");
    }
}

#[test]
fn events_lead_back_to_every_finding_they_are_part_of() {
    for (name, mut st, _dir) in stores() {
        let t = 1_780_000_000_000_000;
        let a = st
            .record(&det("r1", "alice", t, &["e1", "e2"]), NOW)
            .expect("ok");
        let b = st.record(&det("r2", "alice", t, &["e2"]), NOW).expect("ok");
        // More uids than one statement binds, most of them in no finding.
        let mut asked: Vec<String> = (0..1200).map(|i| format!("x{i}")).collect();
        asked.extend(["e1", "e2", "e3"].map(String::from));
        let got = st.findings_of_events(&asked).expect("ok");
        let ids = |uid: &str| {
            let mut v: Vec<String> = got
                .get(uid)
                .map(|fs| fs.iter().map(|f| f.id.clone()).collect())
                .unwrap_or_default();
            v.sort();
            v
        };
        let mut both = vec![a.id().to_owned(), b.id().to_owned()];
        both.sort();
        assert_eq!(ids("e1"), vec![a.id().to_owned()], "{name}");
        assert_eq!(ids("e2"), both, "{name}");
        assert_eq!(got.len(), 2, "{name}: only e1 and e2 are in findings");
        assert_eq!(got["e1"][0].title, "r1 title", "{name}");
    }
}

#[test]
fn the_workflow_is_recorded_with_who_when_and_why() {
    for (name, mut st, _dir) in stores() {
        let t = 1_780_000_000_000_000;
        let id = st
            .record(&det("r1", "alice", t, &["e1"]), NOW)
            .expect("ok")
            .id()
            .to_owned();
        st.set_status(
            &id,
            Status::Notified,
            "mamori",
            Some("slack"),
            Timestamp(NOW.0 + 1),
        )
        .expect("ok");
        st.assign(&id, "carol", "dave", Some("on call"), Timestamp(NOW.0 + 2))
            .expect("ok");
        st.note(
            &id,
            "carol",
            "checked with alice: her new laptop",
            Timestamp(NOW.0 + 3),
        )
        .expect("ok");
        let f = st
            .set_status(
                &id,
                Status::Resolved,
                "carol",
                Some("benign"),
                Timestamp(NOW.0 + 4),
            )
            .expect("ok");
        assert_eq!(
            (f.status, f.assignee.as_deref()),
            (Status::Resolved, Some("carol")),
            "{name}"
        );
        let h = st.history(&id).expect("ok");
        let rows: Vec<(
            u64,
            i64,
            &str,
            &str,
            Option<&str>,
            Option<&str>,
            Option<&str>,
        )> = h
            .iter()
            .map(|e| {
                (
                    e.seq,
                    e.at.0 - NOW.0,
                    e.actor.as_str(),
                    e.action.as_str(),
                    e.from_status.as_deref(),
                    e.to_status.as_deref(),
                    e.detail.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    1,
                    0,
                    "mamori",
                    "created",
                    None,
                    Some("NEW"),
                    Some("rule detection of r1")
                ),
                (
                    2,
                    1,
                    "mamori",
                    "status",
                    Some("NEW"),
                    Some("NOTIFIED"),
                    Some("slack")
                ),
                (3, 2, "dave", "assign", None, Some("carol"), Some("on call")),
                (
                    4,
                    3,
                    "carol",
                    "note",
                    None,
                    None,
                    Some("checked with alice: her new laptop")
                ),
                (
                    5,
                    4,
                    "carol",
                    "status",
                    Some("NOTIFIED"),
                    Some("RESOLVED"),
                    Some("benign")
                ),
            ],
            "{name}"
        );
        // Evidence cannot be rewritten, even through the database.
        assert!(
            matches!(st.tamper_with_history(&id), Err(FindingsError::Db { .. })),
            "{name}"
        );
        assert_eq!(st.history(&id).expect("ok"), h, "{name}");
        // The same status twice, an unknown finding, an empty note: refused and named.
        assert!(
            matches!(
                st.set_status(&id, Status::Resolved, "x", None, NOW),
                Err(FindingsError::Invalid(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                st.set_status("Fnope", Status::New, "x", None, NOW),
                Err(FindingsError::NotFound(_))
            ),
            "{name}"
        );
        assert!(st.note(&id, "x", "  ", NOW).is_err(), "{name}");
        // A resolved finding absorbs nothing: the next match opens a new one.
        let next = st
            .record(&det("r1", "alice", t + 1, &["e9"]), NOW)
            .expect("ok");
        assert!(
            matches!(&next, Recorded::Created(n) if *n != id),
            "{name}: {next:?}"
        );
    }
}

#[test]
fn suppressions_keep_matches_out_of_the_queue_until_they_expire() {
    for (name, mut st, _dir) in stores() {
        let t = 1_780_000_000_000_000;
        assert!(
            st.add_suppression(None, None, "eve", "everything", None, NOW)
                .is_err(),
            "{name}"
        );
        assert!(
            st.add_suppression(Some("r1"), None, "eve", " ", None, NOW)
                .is_err(),
            "{name}"
        );
        let scanner = Entity::new(EntityKind::Ip, "203.0.113.7");
        let s = st
            .add_suppression(
                Some("r1"),
                Some(scanner.clone()),
                "eve",
                "our scanner",
                Some(Timestamp(NOW.0 + HOUR)),
                NOW,
            )
            .expect("ok");
        let a = st.record(&det("r1", "alice", t, &["e1"]), NOW).expect("ok");
        let b = st
            .record(&det("r1", "alice", t + 1, &["e2"]), NOW)
            .expect("ok");
        assert!(matches!(a, Recorded::Suppressed(_)), "{name}: {a:?}");
        assert_eq!(b, Recorded::Suppressed(a.id().into()), "{name}");
        // Another rule is not covered.
        assert!(
            matches!(
                st.record(&det("r2", "alice", t, &["e1"]), NOW).expect("ok"),
                Recorded::Created(_)
            ),
            "{name}"
        );
        let f = st.get(a.id()).expect("ok");
        assert_eq!((f.status, f.count), (Status::Suppressed, 2), "{name}");
        let h = st.history(a.id()).expect("ok");
        assert!(
            h[1].detail
                .as_deref()
                .is_some_and(|d| d.contains(&s.id) && d.contains("our scanner")),
            "{name}: {h:?}"
        );
        // After expiry the same match is raised.
        let later = Timestamp(NOW.0 + 2 * HOUR);
        assert!(
            matches!(
                st.record(&det("r1", "alice", t + 2, &["e3"]), later)
                    .expect("ok"),
                Recorded::Created(_)
            ),
            "{name}"
        );
        st.expire_suppression(&s.id, later).expect("ok");
        assert!(
            matches!(
                st.expire_suppression("Snope", later),
                Err(FindingsError::NotFound(_))
            ),
            "{name}"
        );
        assert_eq!(
            st.suppressions().expect("ok")[0].entity,
            Some(scanner),
            "{name}"
        );
    }
}

#[test]
fn findings_are_listed_by_status_severity_rule_entity_and_time() {
    for (name, mut st, _dir) in stores() {
        let t = 1_780_000_000_000_000;
        let a = st
            .record(&det("r1", "alice", t, &["e1"]), NOW)
            .expect("ok")
            .id()
            .to_owned();
        let mut low = det("r2", "bob", t + 5 * HOUR, &["e2"]);
        low.level = Some("low".into());
        let b = st.record(&low, NOW).expect("ok").id().to_owned();
        st.set_status(&a, Status::Resolved, "x", None, NOW)
            .expect("ok");
        let ids = |st: &mut FindingStore, f: Filter| -> Vec<String> {
            st.list(&f).expect("ok").into_iter().map(|f| f.id).collect()
        };
        assert_eq!(
            ids(&mut st, Filter::default()),
            [b.clone(), a.clone()],
            "{name}: newest first"
        );
        assert_eq!(
            ids(
                &mut st,
                Filter {
                    status: vec![Status::New],
                    ..Default::default()
                }
            ),
            [b.clone()],
            "{name}"
        );
        assert_eq!(
            ids(
                &mut st,
                Filter {
                    severity: vec![Severity::High, Severity::Critical],
                    ..Default::default()
                }
            ),
            [a.clone()],
            "{name}"
        );
        assert_eq!(
            ids(
                &mut st,
                Filter {
                    rule: Some("r2 title".into()),
                    ..Default::default()
                }
            ),
            [b.clone()],
            "{name}"
        );
        assert_eq!(
            ids(
                &mut st,
                Filter {
                    entity: Some("arn:aws:iam::111122223333:user/alice".into()),
                    ..Default::default()
                }
            ),
            [a.clone()],
            "{name}"
        );
        assert_eq!(
            ids(
                &mut st,
                Filter {
                    entity: Some("ip=203.0.113.7".into()),
                    ..Default::default()
                }
            )
            .len(),
            2,
            "{name}"
        );
        assert!(
            ids(
                &mut st,
                Filter {
                    entity: Some("user=203.0.113.7".into()),
                    ..Default::default()
                }
            )
            .is_empty(),
            "{name}"
        );
        assert_eq!(
            ids(
                &mut st,
                Filter {
                    since: Some(Timestamp(t + HOUR)),
                    ..Default::default()
                }
            ),
            [b.clone()],
            "{name}"
        );
        assert_eq!(
            ids(
                &mut st,
                Filter {
                    until: Some(Timestamp(t + HOUR)),
                    ..Default::default()
                }
            ),
            [a.clone()],
            "{name}"
        );
        assert_eq!(
            ids(
                &mut st,
                Filter {
                    limit: Some(1),
                    ..Default::default()
                }
            ),
            [b.clone()],
            "{name}"
        );
    }
}

#[test]
fn guardduty_findings_read_as_logs_become_findings_as_they_are() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/samples/eventbridge/events.jsonl"
    );
    let data = std::fs::read(path).expect("sample");
    let out = mamori_parse::parse_to_vec(path, &data, &Default::default());
    let gd: Vec<_> = out.events.iter().filter(|e| e.finding.is_some()).collect();
    assert!(!gd.is_empty(), "the sample has product findings");
    for (name, mut st, _dir) in stores() {
        let first = st
            .record_product_finding(gd[0], NOW)
            .expect("ok")
            .expect("a finding");
        let f = st.get(first.id()).expect("ok");
        let info = gd[0].finding.as_ref().expect("ok");
        assert_eq!(f.kind, gd[0].source.as_str(), "{name}");
        assert_eq!(Some(&f.rule_id), info.types.first(), "{name}");
        assert_eq!(Some(&f.title), info.title.as_ref(), "{name}");
        assert_eq!(f.severity, Severity::from_id(gd[0].severity_id), "{name}");
        // The same product finding, delivered again with another event, a week later: one finding.
        let mut again = gd[0].clone();
        again.uid = "another-delivery".into();
        again.time = Timestamp(again.time.0 + 7 * 24 * HOUR);
        assert_eq!(
            st.record_product_finding(&again, NOW).expect("ok"),
            Some(Recorded::Updated(f.id.clone())),
            "{name}"
        );
        assert_eq!(st.get(&f.id).expect("ok").count, 2, "{name}");
        // Security Hub's copy of the same GuardDuty finding (its ARN as id,
        // other type names) is the same finding too.
        let hub = gd
            .iter()
            .find(|e| {
                e.source.as_str() == "security_hub"
                    && e.finding
                        .as_ref()
                        .and_then(|i| i.uid.as_deref())
                        .is_some_and(|u| {
                            u.starts_with("arn:aws:guardduty:")
                                && u.ends_with(info.uid.as_deref().unwrap_or("-"))
                        })
            })
            .expect("the sample has Security Hub's copy");
        assert_eq!(
            st.record_product_finding(hub, NOW).expect("ok"),
            Some(Recorded::Updated(f.id.clone())),
            "{name}"
        );
    }
}

#[test]
fn findings_export_as_asff_and_ocsf() {
    for (name, mut st, _dir) in stores() {
        let id = st
            .record(&det("r1", "alice", 1_780_000_000_000_000, &["e1"]), NOW)
            .expect("ok")
            .id()
            .to_owned();
        let f = st.get(&id).expect("ok");
        let a = to_asff(&f, "us-east-1");
        for k in [
            "SchemaVersion",
            "Id",
            "ProductArn",
            "GeneratorId",
            "AwsAccountId",
            "Types",
            "CreatedAt",
            "UpdatedAt",
            "Severity",
            "Title",
            "Description",
            "Resources",
        ] {
            assert!(a.get(k).is_some(), "{name}: ASFF needs {k}: {a}");
        }
        assert_eq!(a["AwsAccountId"], "111122223333", "{name}");
        assert_eq!(a["Severity"]["Label"], "HIGH", "{name}");
        assert_eq!(a["Workflow"]["Status"], "NEW", "{name}");
        assert_eq!(a["Types"][0], "TTPs/t1098", "{name}");
        assert_eq!(a["FirstObservedAt"], "2026-05-28T20:26:40Z", "{name}");
        let o = to_ocsf(&f);
        assert_eq!(
            (
                o["class_uid"].as_u64(),
                o["severity_id"].as_u64(),
                o["status_id"].as_u64()
            ),
            (Some(2004), Some(4), Some(1)),
            "{name}"
        );
        assert_eq!(o["finding_info"]["analytic"]["uid"], "r1", "{name}");
        assert_eq!(
            o["finding_info"]["attacks"][0]["technique"]["uid"], "T1098",
            "{name}"
        );
        assert_eq!(
            o["finding_info"]["related_events"][0]["uid"], "e1",
            "{name}"
        );
    }
}

#[test]
fn a_database_that_is_not_there_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("ok")
        .local_addr()
        .expect("ok")
        .port();
    let err = FindingStore::open(&format!("postgres://mamori:hunter2@127.0.0.1:{port}/f"))
        .err()
        .expect("no server");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("postgres://mamori@127.0.0.1:{port}/f")) && !msg.contains("hunter2"),
        "{msg}"
    );
    let err = FindingStore::open("/proc/no/such/dir/findings.db")
        .err()
        .expect("unwritable");
    assert!(err.to_string().contains("/proc/no/such/dir"), "{err}");
}

#[test]
fn a_database_that_goes_away_mid_run_is_an_error_not_a_crash_and_loses_nothing_recorded() {
    let server = PgServer::start();
    let url = server.fresh_database();
    let mut st = FindingStore::open(&url).expect("open");
    let first = st
        .record(&det("r1", "alice", 1_780_000_000_000_000, &["e1"]), NOW)
        .expect("recorded while up");
    drop(server);
    let err = st
        .record(&det("r1", "bob", 1_780_000_000_000_000, &["e2"]), NOW)
        .err()
        .expect("the server is gone");
    assert!(
        matches!(err, FindingsError::Db { .. }) && err.to_string().contains("postgres://"),
        "{err}"
    );
    assert!(st.list(&Filter::default()).is_err());
    // The SQLite file survives a closed handle: what was committed is there when reopened.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("findings.db");
    let path = path.to_str().expect("utf-8 path");
    let id = {
        let mut st = FindingStore::open(path).expect("open");
        st.record(&det("r1", "alice", 1_780_000_000_000_000, &["e1"]), NOW)
            .expect("record")
            .id()
            .to_owned()
    };
    assert_eq!(id, first.id(), "ids are stable across databases");
    let mut again = FindingStore::open(path).expect("reopen");
    assert_eq!(again.get(&id).expect("kept").count, 1);
}
