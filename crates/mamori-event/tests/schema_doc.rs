//! `docs/normalized-event.md` lists exactly the fields the event serializes.

use std::collections::BTreeSet;

use mamori_event::*;
use serde_json::Value;

fn s(x: &str) -> Option<String> {
    Some(x.to_owned())
}

/// An event with every field set, so that its JSON shows every path.
fn full() -> Event {
    let ep = Endpoint {
        ip: s("192.0.2.1"),
        port: Some(1),
        hostname: s("h"),
        uid: s("u"),
        user_agent: s("ua"),
        country: s("NL"),
    };
    let mut e = Event::new(SourceKind::Cloudtrail, Timestamp(1), "{}".into());
    e.time_flags = vec![TimeFlag::Skewed];
    e.set_class(class::API_ACTIVITY, activity::READ);
    e.status_code = s("c");
    e.status_detail = s("d");
    e.product = "p".into();
    e.event_code = s("e");
    e.actor = Actor {
        user_name: s("n"),
        user_uid: s("u"),
        user_type: s("t"),
        account_uid: s("a"),
        credential_uid: s("k"),
        session_issuer: s("i"),
        is_mfa: Some(true),
        invoked_by: s("b"),
    };
    e.src = ep.clone();
    e.dst = ep;
    e.api = Api {
        service: s("s"),
        operation: s("o"),
        request_uid: s("r"),
    };
    e.cloud = Cloud {
        provider: s("AWS"),
        account_uid: s("1"),
        region: s("r"),
    };
    e.resources = vec![Resource {
        uid: s("u"),
        kind: s("t"),
        name: s("n"),
        namespace: s("ns"),
    }];
    e.http = Http {
        method: s("GET"),
        url: s("/"),
        status: Some(200),
        bytes_in: Some(1),
        bytes_out: Some(2),
    };
    e.network = Network {
        protocol_num: Some(6),
        bytes: Some(1),
        packets: Some(1),
        action: s("allowed"),
        direction: s("inbound"),
    };
    e.finding = Some(FindingInfo {
        uid: s("f"),
        title: s("t"),
        types: vec!["x".into()],
        product: s("p"),
        status: s("NEW"),
    });
    e.message = s("m");
    e.uid = "id".into();
    e.fields = s("{}");
    e
}

fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                paths(x, &p, out);
            }
        }
        Value::Array(a) => match a.first() {
            Some(first @ Value::Object(_)) => paths(first, &format!("{prefix}[]"), out),
            _ => {
                out.insert(format!("{prefix}[]"));
            }
        },
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

#[test]
fn the_documented_fields_are_the_serialized_fields() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/normalized-event.md"
    ))
    .expect("docs/normalized-event.md");
    let table = doc
        .split("<!-- fields:start -->")
        .nth(1)
        .and_then(|t| t.split("<!-- fields:end -->").next())
        .expect("field table markers");
    let documented: BTreeSet<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    let mut serialized = BTreeSet::new();
    paths(
        &serde_json::to_value(full()).expect("serializes"),
        "",
        &mut serialized,
    );
    let missing: Vec<_> = serialized.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&serialized).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "undocumented fields: {missing:?}; documented but absent: {stale:?}"
    );
}

#[test]
fn events_round_trip_through_json() {
    let e = full();
    let back: Event = serde_json::from_str(&serde_json::to_string(&e).expect("ser")).expect("de");
    assert_eq!(back, e);
}
