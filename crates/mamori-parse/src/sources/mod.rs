//! One module per source kind: each turns one record into an [`Event`].
//!
//! JSON sources take the record's text; text sources (VPC Flow Logs, ALB,
//! syslog) take a line. Every mapping is documented in
//! `docs/normalized-event.md`.

pub(crate) mod alb;
pub(crate) mod azure_activity;
pub(crate) mod cloudtrail;
pub(crate) mod entra;
pub(crate) mod gcp;
pub(crate) mod generic;
pub(crate) mod guardduty;
pub(crate) mod k8s;
pub(crate) mod security_hub;
pub(crate) mod syslog;
pub(crate) mod vpc_flow;

use std::net::IpAddr;

use mamori_event::{Event, SourceKind, TimeFlag, Timestamp};
use serde_json::Value;

use crate::RejectReason;

/// What a record's parser may know besides the record.
#[derive(Default)]
pub(crate) struct RecordCtx {
    /// A delivery or receive time found in the record itself (GCP `receiveTimestamp`).
    pub record_delivery: Option<Timestamp>,
}

/// Normalizes one JSON record read as `kind`.
pub(crate) fn normalize_json(
    kind: SourceKind,
    text: &str,
    ctx: &mut RecordCtx,
) -> Result<Event, RejectReason> {
    match kind {
        SourceKind::Cloudtrail => cloudtrail::normalize(text),
        SourceKind::K8sAudit => k8s::normalize(text),
        SourceKind::GcpAudit => gcp::normalize(text, ctx),
        SourceKind::Guardduty => guardduty::normalize(text),
        SourceKind::SecurityHub => security_hub::normalize(text),
        SourceKind::EntraSignin => entra::normalize_signin(text),
        SourceKind::EntraAudit => entra::normalize_audit(text),
        SourceKind::AzureActivity => azure_activity::normalize(text),
        SourceKind::Generic => generic::normalize(text),
        SourceKind::VpcFlow => vpc_flow::normalize_json(text),
        SourceKind::Alb | SourceKind::Syslog => Err(RejectReason::shape(
            kind,
            "a JSON record cannot be read as this text format",
        )),
    }
}

/// The request id (`api.request_uid`) the normalizer of `kind` finds in one
/// stored record; `None` for kinds that have none.
pub(crate) fn request_uid(kind: SourceKind, raw: &str) -> Option<String> {
    let event = match kind {
        SourceKind::Cloudtrail => cloudtrail::normalize(raw),
        SourceKind::K8sAudit => k8s::normalize(raw),
        SourceKind::EntraSignin => entra::normalize_signin(raw),
        SourceKind::EntraAudit => entra::normalize_audit(raw),
        SourceKind::AzureActivity => azure_activity::normalize(raw),
        SourceKind::Alb => alb::normalize(raw),
        _ => return None,
    };
    event.ok()?.api.request_uid
}

/// Reads a time field: absent gives `Ok(None)` (the event is flagged, not
/// dropped); present but unreadable is a wrong-shape reject.
pub(crate) fn time_field(
    kind: SourceKind,
    name: &str,
    value: Option<&str>,
) -> Result<Option<Timestamp>, RejectReason> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Timestamp::parse_any(s)
            .map(Some)
            .ok_or_else(|| RejectReason::shape(kind, format!("{name} {s:?} is not a timestamp"))),
    }
}

/// Like [`time_field`] on a JSON value that may be a string or an epoch number.
pub(crate) fn time_value(
    kind: SourceKind,
    name: &str,
    value: Option<&Value>,
) -> Result<Option<Timestamp>, RejectReason> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64().and_then(Timestamp::from_epoch_number) {
            Some(t) => Ok(Some(t)),
            None => Err(RejectReason::shape(
                kind,
                format!("{name} {n} is not a timestamp"),
            )),
        },
        Some(Value::String(s)) => time_field(kind, name, Some(s)),
        Some(other) => Err(RejectReason::shape(
            kind,
            format!("{name} must be a string or number, not {other}"),
        )),
    }
}

/// A new event for `kind` at `time`, or flagged `missing` when the record has no time.
pub(crate) fn new_event(kind: SourceKind, time: Option<Timestamp>, raw: &str) -> Event {
    let mut ev = Event::new(kind, time.unwrap_or_default(), raw.to_owned());
    if time.is_none() {
        ev.flag_time(TimeFlag::Missing);
    }
    ev
}

/// Whether `s` is an IP address. Dotted quads with zero-padded octets
/// (`10.01.00.16`, as some anonymisers write them) count too; the text is
/// kept as the source wrote it.
pub(crate) fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok() || {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 4
            && parts.iter().all(|p| {
                (1..=3).contains(&p.len())
                    && p.bytes().all(|c| c.is_ascii_digit())
                    && p.parse::<u16>().is_ok_and(|n| n <= 255)
            })
    }
}

/// Splits a source address into an IP (when it is one) or a host name.
pub(crate) fn ip_or_host(s: Option<String>) -> (Option<String>, Option<String>) {
    match s {
        Some(s) if is_ip(&s) => (Some(s), None),
        Some(s) => (None, Some(s)),
        None => (None, None),
    }
}

/// `s` if it is an IP address.
pub(crate) fn ip(s: Option<String>) -> Option<String> {
    s.filter(|s| is_ip(s))
}

/// A value that is not the text sources' "empty" marker.
pub(crate) fn dash(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// The API Activity `activity_id` for an operation name, from its leading
/// verb: the first CamelCase word (`CreateUser` → `Create`).
pub(crate) fn api_activity(op: &str) -> u32 {
    use mamori_event::activity::*;
    let end = op
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_ascii_uppercase() || c.is_ascii_digit())
        .map_or(op.len(), |(i, _)| i);
    match &op[..end] {
        "Create" | "Run" | "Generate" | "Import" | "Allocate" | "Issue" | "Copy" | "Restore" => {
            CREATE
        }
        "Get" | "List" | "Describe" | "Search" | "Lookup" | "Head" | "Select" | "Scan"
        | "Query" | "Batch" | "View" => READ,
        "Update" | "Put" | "Modify" | "Add" | "Remove" | "Start" | "Stop" | "Attach" | "Detach"
        | "Associate" | "Disassociate" | "Tag" | "Untag" | "Enable" | "Disable" | "Register"
        | "Deregister" | "Set" | "Authorize" | "Revoke" | "Reset" | "Change" | "Replace"
        | "Reboot" | "Apply" => UPDATE,
        "Delete" | "Terminate" | "Release" | "Purge" | "Cancel" => DELETE,
        _ => OTHER,
    }
}

/// `activity_id` for a lower-case verb (`create`, `get`, `patch`…) as
/// Kubernetes and GCP method names use them.
pub(crate) fn verb_activity(verb: &str) -> u32 {
    use mamori_event::activity::*;
    let v = verb.to_ascii_lowercase();
    match v.as_str() {
        "create" | "insert" | "post" => CREATE,
        "get" | "list" | "watch" | "read" | "search" | "query" => READ,
        "update" | "patch" | "put" | "write" | "replace" => UPDATE,
        "delete" | "deletecollection" | "remove" => DELETE,
        _ if v.starts_with("set")
            || v.starts_with("update")
            || v.starts_with("patch")
            || v.starts_with("add") =>
        {
            UPDATE
        }
        _ if v.starts_with("get") || v.starts_with("list") => READ,
        _ if v.starts_with("create") || v.starts_with("insert") => CREATE,
        _ if v.starts_with("delete") || v.starts_with("remove") => DELETE,
        _ => OTHER,
    }
}

/// The OCSF `severity_id` for a provider severity word.
pub(crate) fn severity_word(s: &str) -> u8 {
    use mamori_event::severity::*;
    match s.to_ascii_lowercase().as_str() {
        "informational" | "information" | "info" | "debug" | "notice" | "verbose" | "default"
        | "none" => INFORMATIONAL,
        "low" | "warning" | "warn" => LOW,
        "medium" | "moderate" => MEDIUM,
        "high" | "error" => HIGH,
        "critical" | "alert" | "emergency" | "fatal" => CRITICAL,
        _ => UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_activity_reads_the_leading_verb() {
        use mamori_event::activity::*;
        for (op, want) in [
            ("CreateUser", CREATE),
            ("GetObject", READ),
            ("ListBuckets", READ),
            ("PutBucketPolicy", UPDATE),
            ("DeleteTrail", DELETE),
            ("StopLogging", UPDATE),
            ("ConsoleLogin", OTHER),
            ("Getaway", OTHER),
            ("UpdateFunctionCode20150331v2", UPDATE),
            ("Get", READ),
        ] {
            assert_eq!(super::api_activity(op), want, "{op}");
        }
    }
}
