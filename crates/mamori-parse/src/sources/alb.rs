//! Application Load Balancer access logs: one space-separated line per
//! request, some fields double-quoted, `-` for empty. AWS appends new fields
//! at the end over time, so unknown trailing fields are kept, not refused.

use mamori_event::{class, status, Event, SourceKind, Timestamp};
use serde_json::{Map, Value};

use super::{dash, ip, new_event};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::Alb;

/// Field names in order (AWS documentation, 30 fields plus the transform fields).
pub(crate) const FIELDS: &[&str] = &[
    "type",
    "time",
    "elb",
    "client:port",
    "target:port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target:port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
    "transformed_host",
    "transformed_uri",
    "request_transform_status",
];

const TYPES: &[&str] = &["http", "https", "h2", "grpcs", "ws", "wss"];

/// Whether a line starts like an ALB record.
pub(crate) fn looks_like(line: &str) -> bool {
    let mut it = line.splitn(3, ' ');
    matches!((it.next(), it.next()), (Some(t), Some(time)) if TYPES.contains(&t) && Timestamp::parse_iso8601(time).is_some())
}

/// Splits on spaces, keeping `"…"` (with `\"` escapes) together.
fn tokens(line: &str) -> Result<Vec<String>, RejectReason> {
    let mut out = Vec::with_capacity(32);
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut tok = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(RejectReason::shape(KIND, "a quoted field is not closed")),
                    Some('\\') => match chars.next() {
                        Some(e) => tok.push(e),
                        None => {
                            return Err(RejectReason::shape(KIND, "a quoted field is not closed"))
                        }
                    },
                    Some('"') => break,
                    Some(x) => tok.push(x),
                }
            }
        } else {
            while let Some(&x) = chars.peek() {
                if x == ' ' {
                    break;
                }
                tok.push(x);
                chars.next();
            }
        }
        out.push(tok);
    }
    Ok(out)
}

fn host_port(s: &str) -> (Option<String>, Option<u16>) {
    match s.rsplit_once(':') {
        Some((h, p)) => (
            ip(Some(h.trim_matches(['[', ']']).to_owned())),
            p.parse().ok(),
        ),
        None => (ip(Some(s.to_owned())), None),
    }
}

fn method_activity(m: &str) -> u32 {
    match m {
        "CONNECT" => 1,
        "DELETE" => 2,
        "GET" => 3,
        "HEAD" => 4,
        "OPTIONS" => 5,
        "POST" => 6,
        "PUT" => 7,
        "TRACE" => 8,
        "PATCH" => 9,
        _ => 99,
    }
}

/// Normalizes one access-log line.
pub(crate) fn normalize(line: &str) -> Result<Event, RejectReason> {
    let toks = tokens(line)?;
    if toks.len() < 13 {
        return Err(RejectReason::shape(
            KIND,
            format!("{} fields; an access-log entry has at least 13", toks.len()),
        ));
    }
    let get = |name: &str| {
        FIELDS
            .iter()
            .position(|f| *f == name)
            .and_then(|i| toks.get(i))
            .and_then(|v| dash(v))
    };
    let time = Timestamp::parse_iso8601(&toks[1]).ok_or_else(|| {
        RejectReason::shape(KIND, format!("time {:?} is not a timestamp", toks[1]))
    })?;
    let mut ev = new_event(KIND, Some(time), line);
    ev.product = "Elastic Load Balancing".into();
    ev.event_code = Some(toks[0].clone());
    ev.dst.uid = get("elb").map(str::to_owned);
    (ev.src.ip, ev.src.port) = get("client:port").map_or((None, None), host_port);
    if let Some(t) = get("target:port") {
        (ev.dst.ip, ev.dst.port) = host_port(t);
    }
    ev.dst.hostname = get("domain_name").map(str::to_owned);
    ev.http.status = get("elb_status_code").and_then(|s| s.parse().ok());
    ev.http.bytes_in = get("received_bytes").and_then(|s| s.parse().ok());
    ev.http.bytes_out = get("sent_bytes").and_then(|s| s.parse().ok());
    let mut req = get("request").unwrap_or("").splitn(3, ' ');
    ev.http.method = req
        .next()
        .filter(|m| !m.is_empty() && *m != "-")
        .map(str::to_owned);
    ev.http.url = req.next().map(str::to_owned);
    ev.set_class(
        class::HTTP_ACTIVITY,
        ev.http.method.as_deref().map_or(0, method_activity),
    );
    ev.src.user_agent = get("user_agent").map(str::to_owned);
    ev.api.request_uid = get("trace_id").map(str::to_owned);
    ev.status_id = match ev.http.status {
        Some(s) if s < 400 => status::SUCCESS,
        Some(_) => status::FAILURE,
        None => status::UNKNOWN,
    };
    ev.status_code = get("elb_status_code").map(str::to_owned);
    ev.status_detail = get("error_reason").map(str::to_owned);
    ev.cloud.provider = Some("AWS".into());
    if let Some(arn) = get("target_group_arn").or(get("chosen_cert_arn")) {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() > 5 && parts[0] == "arn" {
            ev.cloud.region = dash(parts[3]).map(str::to_owned);
            ev.cloud.account_uid = dash(parts[4]).map(str::to_owned);
        }
    }
    let mut obj = Map::new();
    for (i, t) in toks.iter().enumerate() {
        let key = FIELDS
            .get(i)
            .map_or_else(|| format!("field_{}", i + 1), |f| (*f).to_owned());
        obj.insert(key, Value::String(t.clone()));
    }
    ev.fields = Some(Value::Object(obj).to_string());
    Ok(ev)
}
