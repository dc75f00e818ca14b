//! Rule semantics on events: modifiers, conditions, filters, correlations,
//! and the stream agreeing with the hunt.

use std::sync::Arc;
use std::time::Duration;

use mamori_event::{Event, SourceKind};
use mamori_sigma::ruletest::parse_events;
use mamori_sigma::{run_all, Detection, Detector, LoadOptions, RuleSet};

fn rules(yaml: &str) -> Arc<RuleSet> {
    let set = RuleSet::load_texts(
        vec![("test.yml".into(), yaml.to_owned())],
        &LoadOptions::default(),
    );
    assert!(set.report.errors.is_empty(), "{:?}", set.report.errors);
    Arc::new(set)
}

/// A CloudTrail record at minute `min` of 2024-05-01.
fn ct(min: u32, name: &str, ip: &str, user: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventID":"{name}-{min}-{ip}-{user}","eventTime":"2024-05-01T{:02}:{:02}:00Z","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"aws-cli/2","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/{user}","userName":"{user}"}},"recipientAccountId":"111122223333"{extra}}}"#,
        min / 60,
        min % 60
    )
}

fn events(lines: &[String]) -> Vec<Event> {
    let (ev, rejects) = parse_events("t.jsonl", lines.join("\n").as_bytes(), None);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert!(ev.iter().all(|e| e.source == SourceKind::Cloudtrail));
    ev
}

fn titles(ds: &[Detection]) -> Vec<String> {
    let mut v: Vec<String> = ds.iter().map(|d| d.title.clone()).collect();
    v.sort();
    v
}

const HEAD: &str = "logsource: {product: aws, service: cloudtrail}\n";

#[test]
fn modifiers_conditions_and_missing_fields() {
    let r = rules(&format!(
        "title: contains-all\n{HEAD}detection:\n  s:\n    userAgent|contains|all: [aws, cli]\n    eventName|startswith: Create\n  condition: s\n---\n\
         title: not-internal\n{HEAD}detection:\n  s:\n    eventName: CreateUser\n  internal:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: s and not internal\n---\n\
         title: missing-field-never-matches\n{HEAD}detection:\n  s:\n    requestParameters.policyArn|endswith: AdministratorAccess\n  condition: s\n---\n\
         title: null-means-absent\n{HEAD}detection:\n  s:\n    eventName: CreateUser\n    errorCode: null\n  condition: s\n---\n\
         title: exists\n{HEAD}detection:\n  s:\n    errorCode|exists: true\n  condition: s\n---\n\
         title: neq\n{HEAD}detection:\n  s:\n    eventName: CreateUser\n    userIdentity.userName|neq: alice\n  condition: s\n---\n\
         title: fieldref\n{HEAD}detection:\n  s:\n    userIdentity.userName|fieldref: requestParameters.userName\n  condition: s\n---\n\
         title: keywords\n{HEAD}detection:\n  k:\n    - 'AccessDenied'\n  condition: k\n---\n\
         title: regex\n{HEAD}detection:\n  s:\n    userIdentity.arn|re: ':user/b[a-z]+$'\n  condition: s\n"
    ));
    let ev = events(&[
        ct(
            0,
            "CreateUser",
            "10.1.1.1",
            "alice",
            r#","requestParameters":{"userName":"alice"}"#,
        ),
        ct(
            1,
            "CreateUser",
            "203.0.113.9",
            "bob",
            r#","errorCode":"AccessDenied""#,
        ),
    ]);
    let got = run_all(r, ev.iter());
    let by_event = |uid_part: &str| {
        let mut v: Vec<String> = got
            .iter()
            .filter(|d| d.event_uids[0].contains(uid_part))
            .map(|d| d.title.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        by_event("alice"),
        ["contains-all", "fieldref", "null-means-absent"]
    );
    assert_eq!(
        by_event("bob"),
        [
            "contains-all",
            "exists",
            "keywords",
            "neq",
            "not-internal",
            "regex"
        ]
    );
}

#[test]
fn a_meta_filter_narrows_the_rules_it_names() {
    let r = rules(&format!(
        "title: user created\nid: 11111111-0000-0000-0000-000000000001\n{HEAD}detection:\n  s:\n    eventName: CreateUser\n  condition: s\n---\n\
         title: not from the office\nlogsource: {{product: aws}}\nfilter:\n  rules: [11111111-0000-0000-0000-000000000001]\n  office:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: not office\n"
    ));
    assert_eq!(r.report.filters, 1);
    let ev = events(&[
        ct(0, "CreateUser", "10.1.1.1", "a", ""),
        ct(1, "CreateUser", "8.8.8.8", "b", ""),
    ]);
    let got = run_all(r, ev.iter());
    assert_eq!(got.len(), 1);
    assert!(got[0].event_uids[0].contains("8.8.8.8"));
}

const SPRAY: &str = "title: failed login\nname: failed_login\nlogsource: {product: aws, service: cloudtrail}\n\
detection:\n  s:\n    eventName: ConsoleLogin\n    errorMessage: Failed authentication\n  condition: s\n---\n\
title: Password spray\nid: 22222222-0000-0000-0000-000000000002\nlevel: high\ncorrelation:\n  type: value_count\n  rules: failed_login\n  group-by: [sourceIPAddress]\n  timespan: 10m\n  condition:\n    gte: 3\n    field: userIdentity.userName\n";

fn login(min: u32, ip: &str, user: &str) -> String {
    ct(
        min,
        "ConsoleLogin",
        ip,
        user,
        r#","errorMessage":"Failed authentication""#,
    )
}

#[test]
fn value_count_fires_once_per_window_and_hides_its_base_rule() {
    let r = rules(SPRAY);
    let ev = events(&[
        login(0, "1.1.1.1", "a"),
        login(1, "1.1.1.1", "a"),
        login(2, "1.1.1.1", "b"),
        login(3, "2.2.2.2", "c"),
        login(4, "1.1.1.1", "c"),
        login(30, "1.1.1.1", "d"),
        login(31, "1.1.1.1", "e"),
    ]);
    let got = run_all(r, ev.iter());
    assert_eq!(titles(&got), ["Password spray"]);
    let d = &got[0];
    assert_eq!(d.kind, "value_count");
    assert_eq!(
        d.group.get("sourceIPAddress").map(String::as_str),
        Some("1.1.1.1")
    );
    assert_eq!(d.count, 4);
    assert_eq!(d.event_uids.len(), 4);
    assert_eq!(d.first_time.to_string(), "2024-05-01T00:00:00Z");
    assert_eq!(d.last_time.to_string(), "2024-05-01T00:04:00Z");
}

#[test]
fn event_count_temporal_ordered_and_chaining() {
    let r = rules(&format!(
        "title: create\nname: create\n{HEAD}detection:\n  s:\n    eventName: CreateAccessKey\n  condition: s\n---\n\
         title: attach\nname: attach\n{HEAD}detection:\n  s:\n    eventName: AttachUserPolicy\n  condition: s\n---\n\
         title: many keys\nname: many_keys\ncorrelation:\n  type: event_count\n  rules: [create]\n  group-by: [userIdentity.userName]\n  timespan: 5m\n  condition: {{gte: 2}}\n---\n\
         title: keys then policy\ncorrelation:\n  type: temporal_ordered\n  rules: [many_keys, attach]\n  group-by: [user]\n  aliases:\n    user: {{many_keys: userIdentity.userName, attach: userIdentity.userName, create: userIdentity.userName}}\n  timespan: 10m\n---\n\
         title: policy then keys\ncorrelation:\n  type: temporal_ordered\n  rules: [attach, create]\n  group-by: [userIdentity.userName]\n  timespan: 10m\n"
    ));
    let ev = events(&[
        ct(0, "CreateAccessKey", "1.1.1.1", "eve", ""),
        ct(1, "CreateAccessKey", "1.1.1.1", "eve", ""),
        ct(2, "AttachUserPolicy", "1.1.1.1", "eve", ""),
        ct(3, "CreateAccessKey", "1.1.1.1", "bob", ""),
    ]);
    let got = run_all(r, ev.iter());
    // `many keys` feeds `keys then policy` and is not reported on its own; `policy then keys`
    // needs a key created after the policy was attached, which nobody does.
    assert_eq!(titles(&got), ["keys then policy"]);
    assert_eq!(got[0].group.get("user").map(String::as_str), Some("eve"));
}

#[test]
fn sum_avg_and_percentile() {
    let r = rules(&format!(
        "title: bytes\nname: bytes\n{HEAD}detection:\n  s:\n    eventName: GetObject\n  condition: s\n---\n\
         title: sum\ncorrelation: {{type: value_sum, rules: bytes, group-by: [sourceIPAddress], timespan: 1h, condition: {{gt: 250, field: additionalEventData.bytesTransferredOut}}}}\ngenerate: true\n---\n\
         title: avg\ncorrelation: {{type: value_avg, rules: bytes, group-by: [sourceIPAddress], timespan: 1h, condition: {{gte: 100, field: additionalEventData.bytesTransferredOut}}}}\n---\n\
         title: p90\ncorrelation: {{type: value_percentile, rules: bytes, group-by: [sourceIPAddress], timespan: 1h, condition: {{gte: 200, percentile: 90, field: additionalEventData.bytesTransferredOut}}}}\n"
    ));
    let g = |m, n: u32| {
        ct(
            m,
            "GetObject",
            "3.3.3.3",
            "x",
            &format!(r#","additionalEventData":{{"bytesTransferredOut":{n}}}"#),
        )
    };
    let got = run_all(r, events(&[g(0, 50), g(1, 60), g(2, 250)]).iter());
    // generate: true also reports the base rule's three matches.
    assert_eq!(
        titles(&got),
        ["avg", "bytes", "bytes", "bytes", "p90", "sum"]
    );
}

#[test]
fn the_stream_agrees_with_the_hunt_under_disorder_within_the_lateness_bound_and_across_a_restart() {
    let r = rules(SPRAY);
    let mut lines = Vec::new();
    for i in 0..60u32 {
        let ip = format!("9.9.9.{}", i % 3);
        lines.push(login(i, &ip, &format!("u{}", i % 7)));
    }
    let sorted = events(&lines);
    let hunt = run_all(Arc::clone(&r), sorted.iter());
    assert!(hunt.len() >= 3, "{hunt:?}");
    // Reverse each block of 5 minutes: events arrive up to 4 minutes late.
    let mut shuffled = Vec::new();
    for chunk in sorted.chunks(5) {
        shuffled.extend(chunk.iter().rev().cloned());
    }
    let mut d = Detector::new(Arc::clone(&r), Some(Duration::from_secs(300)));
    let mut out = Vec::new();
    for (i, e) in shuffled.iter().enumerate() {
        d.process(e, &mut out);
        if i == 29 {
            // A restart: the state goes through JSON, as the CLI saves it.
            let text = serde_json::to_string(&d.state()).expect("state serializes");
            d = Detector::new(Arc::clone(&r), Some(Duration::from_secs(300)))
                .with_state(serde_json::from_str(&text).expect("state reads"));
        }
    }
    d.flush(&mut out);
    assert_eq!(d.stats().late, 0);
    assert_eq!(out, hunt);
}

#[test]
fn a_bad_rule_is_named_and_the_others_still_load() {
    let set = RuleSet::load_texts(
        vec![
            (
                "good.yml".into(),
                format!("title: ok\n{HEAD}detection:\n  s:\n    eventName: X\n  condition: s\n"),
            ),
            (
                "bad.yml".into(),
                format!(
                    "title: bad\n{HEAD}detection:\n  s:\n    eventName|bogus: X\n  condition: s\n"
                ),
            ),
            ("worse.yml".into(), "title: [unclosed\n".into()),
            (
                "cond.yml".into(),
                format!("title: c\n{HEAD}detection:\n  s:\n    a: 1\n  condition: s and t\n"),
            ),
        ],
        &LoadOptions::default(),
    );
    assert_eq!(set.report.detections, 1);
    let errs: Vec<String> = set.report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with("bad.yml:5: bad:") && errs[0].contains("unknown modifier 'bogus'"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("worse.yml:2:") && errs[1].contains("not valid YAML"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with("cond.yml:6:") && errs[2].contains("'t'"),
        "{errs:?}"
    );
}
