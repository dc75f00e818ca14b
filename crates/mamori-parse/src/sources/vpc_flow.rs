//! Amazon VPC Flow Logs: text records in the default (version 2) format or
//! a custom format declared by the file's header line, and the JSON form
//! (camelCase keys) that CloudWatch Logs Insights and pipelines produce.

use mamori_event::{activity, class, status, Event, SourceKind, Timestamp};
use serde_json::{Map, Value};

use super::{dash, ip, new_event};
use crate::json::{parse_value, scalar_text};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::VpcFlow;

/// The default (version 2) format's fields, in order.
pub(crate) const DEFAULT_FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// Every field name a custom format may use (versions 2–8).
const KNOWN_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
];

/// If `line` is a header line declaring a format, its field names.
pub(crate) fn header(line: &str) -> Option<Vec<String>> {
    let names: Vec<&str> = line.split_ascii_whitespace().collect();
    let known = names.iter().filter(|n| KNOWN_FIELDS.contains(n)).count();
    let plausible = names.iter().all(|n| {
        n.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    });
    (known >= 3
        && known * 2 > names.len()
        && plausible
        && names.iter().any(|n| n.ends_with("addr") || *n == "action"))
    .then(|| names.iter().map(|s| (*s).to_owned()).collect())
}

/// Whether a headerless line looks like a default-format record.
pub(crate) fn looks_default(line: &str) -> bool {
    let mut it = line.split_ascii_whitespace();
    it.next() == Some("2") && it.count() == 13
}

/// Normalizes one text record read with `names` as its format.
pub(crate) fn normalize_text(line: &str, names: &[String]) -> Result<Event, RejectReason> {
    let values: Vec<&str> = line.split_ascii_whitespace().collect();
    if values.len() != names.len() {
        return Err(RejectReason::shape(
            KIND,
            format!(
                "{} fields where the format has {}",
                values.len(),
                names.len()
            ),
        ));
    }
    let get = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .and_then(|i| dash(values[i]))
    };
    let mut ev = map(&get, line)?;
    let obj: Map<String, Value> = names
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.clone(), Value::String((*v).to_owned())))
        .collect();
    ev.fields = Some(Value::Object(obj).to_string());
    Ok(ev)
}

/// camelCase JSON keys for the text names (`srcAddr` → `srcaddr`).
fn json_key(name: &str) -> String {
    let mut out = String::new();
    for (i, part) in name.split('-').enumerate() {
        if i == 0 {
            out.push_str(part);
        } else {
            let mut c = part.chars();
            if let Some(f) = c.next() {
                out.push(f.to_ascii_uppercase());
                out.push_str(c.as_str());
            }
        }
    }
    out.replace("Srcaddr", "SrcAddr")
        .replace("Dstaddr", "DstAddr")
        .replace("srcaddr", "srcAddr")
        .replace("dstaddr", "dstAddr")
        .replace("srcport", "srcPort")
        .replace("dstport", "dstPort")
}

/// Normalizes one JSON flow record (`srcAddr`, `dstPort`, `flowDirection`…).
pub(crate) fn normalize_json(raw: &str) -> Result<Event, RejectReason> {
    let Value::Object(obj) = parse_value(raw)? else {
        return Err(RejectReason::shape(
            KIND,
            "a flow record must be a JSON object",
        ));
    };
    let vals: Vec<(String, Option<String>)> = KNOWN_FIELDS
        .iter()
        .map(|n| {
            let v = obj
                .get(&json_key(n))
                .or_else(|| obj.get(*n))
                .or_else(|| match *n {
                    "account-id" => obj.get("account"),
                    "log-status" => obj.get("status"),
                    _ => None,
                });
            ((*n).to_owned(), v.and_then(scalar_text))
        })
        .collect();
    let get = |n: &str| {
        vals.iter()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.as_deref())
            .and_then(dash)
    };
    map(&get, raw)
}

fn map<'a>(get: &dyn Fn(&str) -> Option<&'a str>, raw: &str) -> Result<Event, RejectReason> {
    let start = match get("start") {
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .and_then(Timestamp::from_secs)
                .ok_or_else(|| {
                    RejectReason::shape(KIND, format!("start {s:?} is not epoch seconds"))
                })?,
        ),
        None => None,
    };
    let mut ev = new_event(KIND, start, raw);
    ev.product = "Amazon VPC".into();
    let action = get("action");
    let act = match action {
        Some("REJECT") => activity::REFUSE,
        Some("ACCEPT") => activity::TRAFFIC,
        _ => activity::UNKNOWN,
    };
    ev.set_class(class::NETWORK_ACTIVITY, act);
    ev.network.action = action.map(|a| if a == "ACCEPT" { "allowed" } else { "denied" }.to_owned());
    ev.status_code = get("log-status").map(str::to_owned);
    ev.status_id = match get("log-status") {
        Some("OK") => status::SUCCESS,
        Some(_) => status::OTHER,
        None => status::UNKNOWN,
    };
    ev.status_detail = get("reject-reason").map(str::to_owned);
    // Behind a NAT or transit gateway the packet addresses are the real peers.
    ev.src.ip = ip(get("pkt-srcaddr").or(get("srcaddr")).map(str::to_owned));
    ev.dst.ip = ip(get("pkt-dstaddr").or(get("dstaddr")).map(str::to_owned));
    ev.src.port = get("srcport").and_then(|p| p.parse().ok());
    ev.dst.port = get("dstport").and_then(|p| p.parse().ok());
    ev.src.hostname = get("pkt-src-aws-service").map(str::to_owned);
    ev.dst.hostname = get("pkt-dst-aws-service").map(str::to_owned);
    let direction = get("flow-direction");
    ev.network.direction = direction.map(|d| {
        if d == "ingress" {
            "inbound"
        } else {
            "outbound"
        }
        .to_owned()
    });
    let local = if direction == Some("ingress") {
        &mut ev.dst
    } else {
        &mut ev.src
    };
    local.uid = get("interface-id")
        .or(get("instance-id"))
        .map(str::to_owned);
    ev.network.protocol_num = get("protocol").and_then(|p| p.parse().ok());
    ev.network.bytes = get("bytes").and_then(|p| p.parse().ok());
    ev.network.packets = get("packets").and_then(|p| p.parse().ok());
    ev.cloud.provider = Some("AWS".into());
    ev.cloud.account_uid = get("account-id").map(str::to_owned);
    ev.cloud.region = get("region").map(str::to_owned);
    if let Some(id) = get("instance-id") {
        ev.resources.push(mamori_event::Resource {
            uid: Some(id.to_owned()),
            kind: Some("AWS::EC2::Instance".into()),
            ..Default::default()
        });
    }
    Ok(ev)
}
