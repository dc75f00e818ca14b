//! AWS Security Hub findings in the AWS Security Finding Format (ASFF):
//! `BatchImportFindings` / `GetFindings` bodies and EventBridge
//! `Security Hub Findings - Imported` events.

use mamori_event::{activity, class, Event, FindingInfo, Resource, SourceKind};
use serde_json::Value;

use super::{ip, new_event, severity_word, time_value};
use crate::json::{at, first_text, parse_value, scalar_text, text};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::SecurityHub;

/// Normalizes one ASFF finding.
pub(crate) fn normalize(raw: &str) -> Result<Event, RejectReason> {
    let v = parse_value(raw)?;
    if !v.is_object() {
        return Err(RejectReason::shape(KIND, "a finding must be a JSON object"));
    }
    let id = text(&v, &["Id"])
        .ok_or_else(|| RejectReason::shape(KIND, "an ASFF finding needs an `Id`"))?;
    let updated = time_value(KIND, "UpdatedAt", at(&v, &["UpdatedAt"]))?;
    let created = time_value(KIND, "CreatedAt", at(&v, &["CreatedAt"]))
        .ok()
        .flatten();
    let mut ev = new_event(KIND, updated.or(created), raw);
    ev.product = "Security Hub".into();
    let compliance = at(&v, &["Compliance"]).is_some();
    ev.set_class(
        if compliance {
            class::COMPLIANCE_FINDING
        } else {
            class::DETECTION_FINDING
        },
        if updated.is_some() && updated != created {
            activity::UPDATE
        } else {
            activity::CREATE
        },
    );
    ev.uid = match text(&v, &["UpdatedAt"]) {
        Some(u) => format!("{id}@{u}"),
        None => id.clone(),
    };
    ev.severity_id = first_text(
        &v,
        &[
            &["Severity", "Label"],
            &["FindingProviderFields", "Severity", "Label"],
        ],
    )
    .map_or(mamori_event::severity::UNKNOWN, |l| severity_word(&l));
    let types: Vec<String> = match at(&v, &["Types"]) {
        Some(Value::Array(a)) => a.iter().filter_map(scalar_text).collect(),
        _ => Vec::new(),
    };
    ev.event_code = types.first().cloned();
    ev.finding = Some(FindingInfo {
        uid: Some(id),
        title: text(&v, &["Title"]),
        types,
        product: first_text(
            &v,
            &[
                &["ProductName"],
                &["ProductFields", "aws/securityhub/ProductName"],
                &["CompanyName"],
            ],
        ),
        status: first_text(
            &v,
            &[
                &["Compliance", "Status"],
                &["Workflow", "Status"],
                &["WorkflowState"],
            ],
        ),
    });
    ev.message = text(&v, &["Description"]);
    ev.cloud.provider = Some("AWS".into());
    ev.cloud.account_uid = text(&v, &["AwsAccountId"]);
    ev.cloud.region = text(&v, &["Region"]);
    if let Some(Value::Array(res)) = at(&v, &["Resources"]) {
        ev.resources = res
            .iter()
            .map(|r| Resource {
                uid: text(r, &["Id"]),
                kind: text(r, &["Type"]),
                ..Resource::default()
            })
            .collect();
    }
    if let Some(a) = at(&v, &["Action"]) {
        let remote = ["AwsApiCallAction", "NetworkConnectionAction"]
            .iter()
            .find_map(|k| at(a, &[k, "RemoteIpDetails"]));
        if let Some(r) = remote {
            ev.src.ip = ip(text(r, &["IpAddressV4"]));
            ev.src.country = text(r, &["Country", "CountryName"]);
        }
        ev.api.operation = text(a, &["AwsApiCallAction", "Api"]);
        ev.api.service = text(a, &["AwsApiCallAction", "ServiceName"]);
    }
    Ok(ev)
}
