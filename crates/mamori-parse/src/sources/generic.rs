//! Any other JSON record: kept whole, with its time field found by name and
//! a few common fields (source IP, user, operation) picked up when present.

use mamori_event::{Event, SourceKind, Timestamp};
use serde_json::{Map, Value};

use super::{ip, new_event};
use crate::json::{parse_value, scalar_text};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::Generic;

/// Time field names, compared lower-case with `_`, `-`, `@`, `.` and spaces
/// removed, best first.
const TIME_KEYS: &[&str] = &[
    "eventtime",
    "timestamp",
    "time",
    "datetime",
    "eventdatetime",
    "date",
    "timegenerated",
    "published",
    "createdat",
    "createddatetime",
    "activitydatetime",
    "creationtime",
    "created",
    "ts",
    "eventtimestamp",
    "logtime",
    "starttime",
    "receivedat",
    "occurredat",
];
const IP_KEYS: &[&str] = &[
    "sourceipaddress",
    "sourceip",
    "srcip",
    "srcaddr",
    "clientip",
    "clientipaddress",
    "callerip",
    "calleripaddress",
    "ipaddress",
    "remoteip",
    "remoteaddr",
    "actorip",
    "ip",
];
const USER_KEYS: &[&str] = &[
    "username",
    "user",
    "actor",
    "userid",
    "principal",
    "login",
    "useridentity",
];
const OP_KEYS: &[&str] = &[
    "eventname",
    "action",
    "operation",
    "operationname",
    "methodname",
    "eventtype",
    "activity",
];

fn squash(k: &str) -> String {
    k.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn find<'v>(obj: &'v Map<String, Value>, keys: &[&str]) -> Vec<&'v Value> {
    let squashed: Vec<(String, &Value)> = obj.iter().map(|(k, v)| (squash(k), v)).collect();
    keys.iter()
        .filter_map(|want| squashed.iter().find(|(k, _)| k == want).map(|(_, v)| *v))
        .collect()
}

fn time_of(v: &Value) -> Option<Timestamp> {
    match v {
        Value::String(s) => Timestamp::parse_any(s),
        Value::Number(n) => n
            .as_i64()
            .and_then(Timestamp::from_epoch_number)
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f > 1e8 && *f < 1e11)
                    .map(|f| Timestamp((f * 1e6) as i64))
            }),
        _ => None,
    }
}

/// Normalizes one JSON record.
pub(crate) fn normalize(raw: &str) -> Result<Event, RejectReason> {
    match parse_value(raw)? {
        Value::Object(obj) => Ok(from_object(&obj, raw)),
        other => Err(RejectReason::shape(
            KIND,
            format!("a record must be a JSON object, not {}", kind_name(&other)),
        )),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds an event from an object (a JSON record or a CSV row).
pub(crate) fn from_object(obj: &Map<String, Value>, raw: &str) -> Event {
    let time = find(obj, TIME_KEYS).into_iter().find_map(time_of);
    let mut ev = new_event(KIND, time, raw);
    ev.product = "JSON".into();
    ev.src.ip = find(obj, IP_KEYS)
        .into_iter()
        .find_map(|v| ip(scalar_text(v)));
    if ev.src.ip.is_none() {
        // One level down: `client.ipAddress` (Okta), `httpRequest.clientIp` (WAF).
        ev.src.ip = obj.values().filter_map(Value::as_object).find_map(|o| {
            find(o, IP_KEYS)
                .into_iter()
                .find_map(|v| ip(scalar_text(v)))
        });
    }
    ev.actor.user_name = find(obj, USER_KEYS).into_iter().find_map(|v| match v {
        Value::Object(o) => find(o, &["alternateid", "username", "login", "name", "arn"])
            .into_iter()
            .find_map(scalar_text),
        other => scalar_text(other),
    });
    ev.api.operation = find(obj, OP_KEYS).into_iter().find_map(scalar_text);
    ev
}
