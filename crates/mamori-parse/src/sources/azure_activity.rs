//! Azure Activity log records as diagnostic settings export them (storage
//! account `PT1H.json`, Event Hubs `records`), and the REST / Log Analytics
//! spellings of the same fields.

use mamori_event::{activity, class, severity, status, Event, Resource, SourceKind};
use serde_json::Value;

use super::entra::field;
use super::{ip, new_event, time_value};
use crate::json::{at, scalar_text};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::AzureActivity;

fn ftext(v: &Value, path: &[&str]) -> Option<String> {
    match field(v, path)? {
        // The REST shape writes localizable strings as {value, localizedValue}.
        Value::Object(m) => m.get("value").and_then(scalar_text),
        other => scalar_text(other),
    }
}

const UPN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
const NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
const OID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";

/// Normalizes one Activity log record.
pub(crate) fn normalize(raw: &str) -> Result<Event, RejectReason> {
    let v = crate::json::parse_value(raw)?;
    if !v.is_object() {
        return Err(RejectReason::shape(
            KIND,
            "an activity record must be a JSON object",
        ));
    }
    let mut t = None;
    for n in ["time", "eventTimestamp", "TimeGenerated"] {
        if let Some(x) = time_value(KIND, n, at(&v, &[n]).or_else(|| field(&v, &[n])))? {
            t = Some(x);
            break;
        }
    }
    let mut ev = new_event(KIND, t, raw);
    ev.product = "Azure Activity".into();
    ev.event_code = ftext(&v, &["category"]).or_else(|| ftext(&v, &["CategoryValue"]));
    ev.uid = ftext(&v, &["eventDataId"]).unwrap_or_default();
    let op = ftext(&v, &["operationName"]).or_else(|| ftext(&v, &["OperationNameValue"]));
    let lower = op.as_deref().unwrap_or("").to_ascii_lowercase();
    let created = ftext(&v, &["statusCode"]).as_deref() == Some("Created");
    let act = if lower.ends_with("/write") {
        if created {
            activity::CREATE
        } else {
            activity::UPDATE
        }
    } else if lower.ends_with("/delete") {
        activity::DELETE
    } else if lower.ends_with("/read") {
        activity::READ
    } else {
        activity::OTHER
    };
    ev.set_class(class::API_ACTIVITY, act);
    ev.api.service = ftext(&v, &["resourceProviderName"]).or_else(|| {
        op.as_deref()
            .and_then(|o| o.split('/').next())
            .map(str::to_owned)
    });
    ev.api.operation = op;
    ev.api.request_uid = ftext(&v, &["serviceRequestId"]).or_else(|| ftext(&v, &["correlationId"]));
    let claims = at(&v, &["identity", "claims"]).or_else(|| at(&v, &["claims"]));
    let claim = |k: &str| claims.and_then(|c| at(c, &[k])).and_then(scalar_text);
    ev.actor.user_name = claim(UPN)
        .or_else(|| claim("upn"))
        .or_else(|| claim(NAME))
        .or_else(|| claim("name"))
        .or_else(|| ftext(&v, &["caller"]));
    ev.actor.user_uid = claim(OID)
        .or_else(|| claim("oid"))
        .or_else(|| claim("appid"));
    ev.actor.user_type = claim("appid")
        .filter(|_| claim(UPN).is_none() && claim("upn").is_none())
        .map(|_| "ServicePrincipal".to_owned());
    ev.src.ip = ip(ftext(&v, &["callerIpAddress"]));
    let resource_id = ftext(&v, &["resourceId"]).or_else(|| ftext(&v, &["_ResourceId"]));
    let subscription = resource_id.as_deref().and_then(|r| {
        let l = r.to_ascii_lowercase();
        let i = l.find("/subscriptions/")? + "/subscriptions/".len();
        r[i..].split('/').next().map(str::to_owned)
    });
    ev.cloud.provider = Some("Azure".into());
    ev.cloud.account_uid = subscription.or_else(|| ftext(&v, &["subscriptionId"]));
    ev.actor.account_uid = ftext(&v, &["tenantId"]);
    ev.cloud.region = ftext(&v, &["location"]);
    if let Some(r) = resource_id {
        let name = r.rsplit('/').next().map(str::to_owned);
        let group = {
            let l = r.to_ascii_lowercase();
            l.find("/resourcegroups/")
                .and_then(|i| r[i + 16..].split('/').next())
                .map(str::to_owned)
        };
        ev.resources.push(Resource {
            uid: Some(r),
            kind: None,
            name,
            namespace: group,
        });
    }
    match ftext(&v, &["resultType"])
        .or_else(|| ftext(&v, &["ActivityStatusValue"]))
        .or_else(|| ftext(&v, &["status"]))
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("success") | Some("succeeded") => ev.status_id = status::SUCCESS,
        Some("failure") | Some("failed") => ev.status_id = status::FAILURE,
        Some(_) => ev.status_id = status::OTHER,
        None => {}
    }
    ev.status_code = ftext(&v, &["statusCode"]);
    ev.status_detail = ftext(&v, &["resultSignature"]).filter(|s| s != "None");
    ev.severity_id = match ftext(&v, &["level"])
        .map(|l| l.to_ascii_lowercase())
        .as_deref()
    {
        Some("warning") => severity::LOW,
        Some("error") => severity::HIGH,
        Some("critical") => severity::CRITICAL,
        _ => severity::INFORMATIONAL,
    };
    Ok(ev)
}
