//! Behaviour of framing, envelopes, time flags and rejects, one case each.

use mamori_event::TimeFlag;
use mamori_parse::{parse_to_vec, ParseOptions, RejectReason, SourceKind, Timestamp};

fn opts() -> ParseOptions {
    ParseOptions {
        ingest_time: ts("2026-01-01T00:00:00Z"),
        ..ParseOptions::default()
    }
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_iso8601(s).unwrap_or_default()
}

fn ct(id: &str, time: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"{id}","awsRegion":"us-east-1"}}"#
    )
}

#[test]
fn a_truncated_records_document_keeps_every_complete_record() {
    let doc = format!(
        "{{\"Records\": [{}, {}, {}]}}",
        ct("a", "2025-01-01T00:00:00Z"),
        ct("b", "2025-01-01T00:00:01Z"),
        ct("c", "2025-01-01T00:00:02Z")
    );
    let cut = &doc.as_bytes()[..doc.len() - 40];
    let out = parse_to_vec("x.json", cut, &opts());
    let uids: Vec<&str> = out.events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(uids, ["a", "b"]);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reason, RejectReason::TruncatedJson);
    assert!(doc.as_bytes()[out.rejected[0].byte_offset as usize..].starts_with(b"{\"eventVersion"));
    assert_eq!(out.summary.seen, 3);
}

#[test]
fn one_malformed_record_in_an_array_does_not_sink_the_others() {
    let doc = format!(
        "[{}, {{\"eventName\": tru}}, 42, {}]",
        ct("a", "2025-01-01T00:00:00Z"),
        ct("b", "2025-01-01T00:00:01Z")
    );
    let out = parse_to_vec("x.json", doc.as_bytes(), &opts());
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.rejected.len(), 2);
    assert!(matches!(
        out.rejected[0].reason,
        RejectReason::MalformedJson(_)
    ));
    assert!(matches!(
        out.rejected[1].reason,
        RejectReason::WrongShape { .. }
    ));
}

#[test]
fn pretty_printed_documents_report_the_line_of_each_rejected_record() {
    let doc = "{\n  \"Records\": [\n    {\"eventName\": \"A\", \"eventTime\": \"2025-01-01T00:00:00Z\"},\n    {\"eventName\": \"B\", \"eventTime\": \"yesterday\"}\n  ]\n}\n";
    let out = parse_to_vec("x.json", doc.as_bytes(), &opts());
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.rejected[0].line, 4);
    assert!(out.rejected[0]
        .reason
        .to_string()
        .contains("eventTime \"yesterday\" is not a timestamp"));
}

#[test]
fn oversized_and_non_utf8_records_are_rejected_whole() {
    let big = format!(
        r#"{{"eventName":"PutObject","eventTime":"2025-01-01T00:00:00Z","blob":"{}"}}"#,
        "x".repeat(10 << 20)
    );
    let big_len = big.len();
    let mut input = big.into_bytes();
    input.push(b'\n');
    input
        .extend_from_slice(b"{\"eventName\":\"Get\xff\",\"eventTime\":\"2025-01-01T00:00:00Z\"}\n");
    input.extend_from_slice(ct("ok", "2025-01-01T00:00:00Z").as_bytes());
    let out = parse_to_vec("x.jsonl", &input, &opts());
    assert_eq!(out.events.len(), 1);
    assert!(
        matches!(out.rejected[0].reason, RejectReason::TooLarge { size, .. } if size > 10 << 20)
    );
    assert_eq!(out.rejected[0].record.len(), big_len);
    assert!(matches!(
        out.rejected[1].reason,
        RejectReason::InvalidUtf8(_) | RejectReason::MalformedJson(_)
    ));
    assert_eq!(out.rejected[1].line, 2);
}

#[test]
fn deep_nesting_is_refused_not_recursed() {
    let bomb = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let out = parse_to_vec("x.json", bomb.as_bytes(), &opts());
    assert_eq!(out.events.len(), 0);
    assert_eq!(out.summary.seen, out.summary.rejected);
}

#[test]
fn bom_crlf_and_blank_lines_are_tolerated() {
    let input = format!(
        "\u{feff}{}\r\n\r\n{}\r\n",
        ct("a", "2025-01-01T00:00:00Z"),
        ct("b", "2025-01-01T00:00:00Z")
    );
    let out = parse_to_vec("x.jsonl", input.as_bytes(), &opts());
    assert_eq!((out.events.len(), out.rejected.len()), (2, 0));
    assert_eq!(out.summary.container, "json-lines");
}

#[test]
fn time_far_from_delivery_or_in_the_future_is_flagged_not_dropped() {
    let name =
        "AWSLogs/1/CloudTrail/us-east-1/2025/06/01/1_CloudTrail_us-east-1_20250601T1205Z_abc.json";
    let doc = format!(
        "{{\"Records\":[{},{},{}]}}",
        ct("on-time", "2025-06-01T12:01:00Z"),
        ct("old", "2025-05-01T00:00:00Z"),
        ct("future", "2027-01-01T00:00:00Z")
    );
    let out = parse_to_vec(name, doc.as_bytes(), &opts());
    let flags: Vec<(&str, Vec<TimeFlag>)> = out
        .events
        .iter()
        .map(|e| (e.uid.as_str(), e.time_flags.clone()))
        .collect();
    assert_eq!(
        flags,
        [
            ("on-time", vec![]),
            ("old", vec![TimeFlag::Skewed]),
            ("future", vec![TimeFlag::Future, TimeFlag::Skewed])
        ]
    );
}

#[test]
fn a_record_without_time_takes_the_delivery_time_and_is_flagged() {
    let name =
        "AWSLogs/1/CloudTrail/us-east-1/2025/06/01/1_CloudTrail_us-east-1_20250601T1205Z_abc.json";
    let out = parse_to_vec(
        name,
        br#"{"eventName":"ListUsers","eventSource":"iam.amazonaws.com"}"#,
        &opts(),
    );
    assert_eq!(out.events[0].time, ts("2025-06-01T12:05:00Z"));
    assert_eq!(out.events[0].time_flags, [TimeFlag::Missing]);
    assert!(
        out.events[0].uid.starts_with("h:"),
        "content hash when there is no eventID"
    );
}

#[test]
fn envelopes_are_opened() {
    let inner = ct("eb", "2025-01-01T00:00:00Z");
    let eb = format!(
        r#"{{"version":"0","id":"x","detail-type":"AWS Console Signin via CloudTrail","source":"aws.signin","account":"1","time":"2025-01-01T00:00:05Z","region":"us-east-1","resources":[],"detail":{inner}}}"#
    );
    let lookup = format!(
        r#"{{"Events":[{{"EventId":"x","CloudTrailEvent":{}}}]}}"#,
        serde_json::to_string(&ct("lk", "2025-01-01T00:00:00Z")).unwrap_or_default()
    );
    let concat = format!("{eb}\n{lookup}");
    let out = parse_to_vec("x.json", concat.as_bytes(), &opts());
    let uids: Vec<&str> = out.events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(uids, ["eb", "lk"]);
    assert_eq!(
        out.events[0].raw, inner,
        "raw is the CloudTrail record, without the envelope"
    );
    let other_eb = r#"{"version":"0","detail-type":"Scheduled Event","source":"aws.events","time":"2025-01-01T00:00:00Z","detail":{}}"#;
    let out = parse_to_vec("x.json", other_eb.as_bytes(), &opts());
    assert_eq!(out.events[0].source, SourceKind::Generic);
}

#[test]
fn digest_files_are_set_aside_and_control_messages_too() {
    let digest = br#"{"awsAccountId":"1","digestStartTime":"2025-01-01T00:00:00Z","digestEndTime":"2025-01-01T01:00:00Z","logFiles":[]}"#;
    let out = parse_to_vec("d.json", digest, &opts());
    assert_eq!((out.summary.seen, out.summary.set_aside.len()), (0, 1));
    let control = br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
    let out = parse_to_vec("c.json", control, &opts());
    assert_eq!((out.summary.seen, out.summary.set_aside.len()), (0, 1));
}

#[test]
fn source_override_reads_records_as_that_source() {
    let o = ParseOptions {
        source: Some(SourceKind::Cloudtrail),
        ..opts()
    };
    let out = parse_to_vec(
        "x.json",
        br#"{"eventName":"X","eventTime":"2025-01-01T00:00:00Z"}"#,
        &o,
    );
    assert_eq!(out.events[0].source, SourceKind::Cloudtrail);
    let out = parse_to_vec("x.json", br#"{"something":"else"}"#, &o);
    assert!(out.rejected[0]
        .reason
        .to_string()
        .contains("not a valid cloudtrail record: eventName is required"));
}

#[test]
fn unknown_text_is_rejected_line_by_line() {
    let out = parse_to_vec("x.txt", b"hello world\nthis is not a log\n", &opts());
    assert_eq!((out.summary.seen, out.summary.rejected), (2, 2));
    assert_eq!(out.rejected[1].line, 2);
    assert_eq!(out.rejected[1].reason.code(), "unknown_format");
}
