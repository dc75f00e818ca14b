//! Kubernetes audit events (`audit.k8s.io/v1` `Event`), as the API server,
//! EKS (CloudWatch export) and AKS (diagnostic `properties.log`) deliver them.

use mamori_event::{class, status, Event, Resource, SourceKind};
use serde_json::Value;

use super::{ip, new_event, time_value, verb_activity};
use crate::json::{at, parse_value, text, uint};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::K8sAudit;

/// Normalizes one audit event.
pub(crate) fn normalize(raw: &str) -> Result<Event, RejectReason> {
    let v = parse_value(raw)?;
    if !v.is_object() {
        return Err(RejectReason::shape(
            KIND,
            "an audit event must be a JSON object",
        ));
    }
    let verb = text(&v, &["verb"]);
    if let Some(k) = at(&v, &["kind"]) {
        if !k.is_string() {
            return Err(RejectReason::shape(
                KIND,
                format!("`kind` must be a string, not {k}"),
            ));
        }
    }
    let audit_api = text(&v, &["apiVersion"]).is_some_and(|a| a.starts_with("audit.k8s.io"));
    if verb.is_none()
        && at(&v, &["auditID"]).is_none()
        && !audit_api
        && text(&v, &["kind"]).as_deref() != Some("Event")
    {
        return Err(RejectReason::shape(
            KIND,
            "an audit event needs `verb`, `auditID`, or `kind: Event`",
        ));
    }
    let time = match time_value(KIND, "stageTimestamp", at(&v, &["stageTimestamp"]))? {
        Some(t) => Some(t),
        None => time_value(
            KIND,
            "requestReceivedTimestamp",
            at(&v, &["requestReceivedTimestamp"]),
        )?,
    };
    let mut ev = new_event(KIND, time, raw);
    ev.product = "Kubernetes".into();
    ev.event_code = text(&v, &["stage"]);
    ev.set_class(
        class::API_ACTIVITY,
        verb.as_deref().map_or(0, verb_activity),
    );
    // One request gives one event per stage, so the stage is part of the uid.
    ev.uid = match (text(&v, &["auditID"]), text(&v, &["stage"])) {
        (Some(id), Some(stage)) => format!("{id}:{stage}"),
        (Some(id), None) => id,
        _ => String::new(),
    };
    ev.api.operation = verb;
    ev.api.request_uid = text(&v, &["auditID"]);
    ev.api.service = text(&v, &["objectRef", "apiGroup"])
        .or_else(|| Some("core".into()).filter(|_| at(&v, &["objectRef"]).is_some()));
    // An impersonated request acts as the impersonated user.
    let user = if at(&v, &["impersonatedUser", "username"]).is_some() {
        "impersonatedUser"
    } else {
        "user"
    };
    ev.actor.user_name = text(&v, &[user, "username"]);
    ev.actor.user_uid = text(&v, &[user, "uid"]).or_else(|| text(&v, &[user, "extra", "arn", "0"]));
    ev.actor.user_type = ev.actor.user_name.as_deref().map(|u| {
        if u.starts_with("system:serviceaccount:") {
            "ServiceAccount"
        } else if u.starts_with("system:") {
            "System"
        } else {
            "User"
        }
        .to_owned()
    });
    ev.actor.credential_uid = text(&v, &[user, "extra", "accessKeyId", "0"]);
    ev.actor.session_issuer = text(&v, &[user, "extra", "canonicalArn", "0"]);
    if user == "impersonatedUser" {
        ev.actor.invoked_by = text(&v, &["user", "username"]);
    }
    if let Some(arn) = text(&v, &[user, "extra", "arn", "0"]) {
        ev.actor.account_uid = arn
            .split(':')
            .nth(4)
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
    }
    // The last source IP is the one the API server saw; earlier ones are client-supplied.
    if let Some(Value::Array(ips)) = at(&v, &["sourceIPs"]) {
        ev.src.ip = ip(ips.first().and_then(crate::json::scalar_text));
    }
    ev.src.user_agent = text(&v, &["userAgent"]);
    ev.http.url = text(&v, &["requestURI"]);
    ev.http.status = uint(&v, &["responseStatus", "code"]).and_then(|c| u16::try_from(c).ok());
    ev.status_id = match ev.http.status {
        Some(c) if c < 400 => status::SUCCESS,
        Some(_) => status::FAILURE,
        None => status::UNKNOWN,
    };
    if ev.status_id == status::FAILURE {
        ev.status_code = text(&v, &["responseStatus", "reason"])
            .or_else(|| ev.http.status.map(|c| c.to_string()));
        ev.status_detail = text(&v, &["responseStatus", "message"]);
    }
    if let Some(decision) = text(&v, &["annotations", "authorization.k8s.io/decision"]) {
        if decision == "forbid" {
            ev.status_id = status::FAILURE;
            ev.status_detail = ev
                .status_detail
                .take()
                .or_else(|| text(&v, &["annotations", "authorization.k8s.io/reason"]));
        }
    }
    if at(&v, &["objectRef"]).is_some() {
        let resource = text(&v, &["objectRef", "resource"]);
        let kind = match (resource, text(&v, &["objectRef", "subresource"])) {
            (Some(r), Some(s)) => Some(format!("{r}/{s}")),
            (r, _) => r,
        };
        ev.resources.push(Resource {
            uid: text(&v, &["objectRef", "uid"]),
            kind,
            name: text(&v, &["objectRef", "name"]),
            namespace: text(&v, &["objectRef", "namespace"]),
        });
    }
    ev.cloud.provider = Some("Kubernetes".into());
    Ok(ev)
}
