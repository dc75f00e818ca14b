//! Amazon GuardDuty findings: `GetFindings` (PascalCase), EventBridge
//! `GuardDuty Finding` detail and S3 export lines (camelCase).

use mamori_event::{activity, class, severity, Event, FindingInfo, Resource, SourceKind};
use serde_json::Value;

use super::{ip, new_event, time_value};
use crate::json::{at_ci, parse_value, text_ci};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::Guardduty;

/// GuardDuty's numeric severity (0–10) as an OCSF `severity_id`.
pub(crate) fn severity_of(score: f64) -> u8 {
    match score {
        s if s >= 9.0 => severity::CRITICAL,
        s if s >= 7.0 => severity::HIGH,
        s if s >= 4.0 => severity::MEDIUM,
        s if s >= 1.0 => severity::LOW,
        _ => severity::INFORMATIONAL,
    }
}

/// Normalizes one finding.
pub(crate) fn normalize(raw: &str) -> Result<Event, RejectReason> {
    let v = parse_value(raw)?;
    if !v.is_object() {
        return Err(RejectReason::shape(KIND, "a finding must be a JSON object"));
    }
    let id =
        text_ci(&v, &["id"]).ok_or_else(|| RejectReason::shape(KIND, "a finding needs an `id`"))?;
    let updated = time_value(KIND, "updatedAt", at_ci(&v, &["updatedAt"]))?;
    let created = time_value(KIND, "createdAt", at_ci(&v, &["createdAt"]))
        .ok()
        .flatten();
    let mut ev = new_event(KIND, updated.or(created), raw);
    ev.product = "GuardDuty".into();
    ev.event_code = text_ci(&v, &["type"]);
    ev.set_class(
        class::DETECTION_FINDING,
        if updated.is_some() && updated != created {
            activity::UPDATE
        } else {
            activity::CREATE
        },
    );
    ev.uid = match text_ci(&v, &["updatedAt"]) {
        Some(u) => format!("{id}@{u}"),
        None => id.clone(),
    };
    ev.severity_id = match at_ci(&v, &["severity"]) {
        Some(Value::Number(n)) => severity_of(n.as_f64().unwrap_or(0.0)),
        Some(Value::String(s)) => s.parse().map(severity_of).unwrap_or(severity::UNKNOWN),
        _ => severity::UNKNOWN,
    };
    ev.finding = Some(FindingInfo {
        uid: Some(id),
        title: text_ci(&v, &["title"]),
        types: text_ci(&v, &["type"]).into_iter().collect(),
        product: Some("GuardDuty".into()),
        status: match at_ci(&v, &["service", "archived"]) {
            Some(Value::Bool(true)) => Some("ARCHIVED".into()),
            _ => None,
        },
    });
    ev.message = text_ci(&v, &["description"]);
    ev.cloud.provider = Some("AWS".into());
    ev.cloud.account_uid = text_ci(&v, &["accountId"]);
    ev.cloud.region = text_ci(&v, &["region"]);

    let key = |p: &[&str]| text_ci(&v, &[&["resource", "accessKeyDetails"][..], p].concat());
    ev.actor.user_name = key(&["userName"]);
    ev.actor.credential_uid = key(&["accessKeyId"]);
    ev.actor.user_type = key(&["userType"]);
    ev.actor.user_uid = key(&["principalId"]);
    if ev.actor.user_name.is_some() {
        ev.actor.account_uid = ev.cloud.account_uid.clone();
    }

    let action = at_ci(&v, &["service", "action"]);
    let remote = action.and_then(|a| {
        [
            "awsApiCallAction",
            "networkConnectionAction",
            "kubernetesApiCallAction",
            "rdsLoginAttemptAction",
        ]
        .iter()
        .find_map(|k| at_ci(a, &[k, "remoteIpDetails"]))
        .or_else(|| {
            at_ci(
                a,
                &[
                    "portProbeAction",
                    "portProbeDetails",
                    "0",
                    "remoteIpDetails",
                ],
            )
        })
    });
    if let Some(r) = remote {
        ev.src.ip = ip(text_ci(r, &["ipAddressV4"]).or_else(|| text_ci(r, &["ipAddressV6"])));
        ev.src.country = text_ci(r, &["country", "countryName"]);
    }
    if let Some(call) = action.and_then(|a| at_ci(a, &["awsApiCallAction"])) {
        ev.api.operation = text_ci(call, &["api"]);
        ev.api.service = text_ci(call, &["serviceName"]);
    }
    if let Some(res) = at_ci(&v, &["resource"]) {
        let kind = text_ci(res, &["resourceType"]);
        let uid = text_ci(res, &["instanceDetails", "instanceId"])
            .or_else(|| text_ci(res, &["s3BucketDetails", "0", "arn"]))
            .or_else(|| text_ci(res, &["eksClusterDetails", "arn"]))
            .or_else(|| text_ci(res, &["accessKeyDetails", "accessKeyId"]));
        if kind.is_some() || uid.is_some() {
            ev.resources.push(Resource {
                uid,
                kind,
                ..Resource::default()
            });
        }
    }
    Ok(ev)
}
