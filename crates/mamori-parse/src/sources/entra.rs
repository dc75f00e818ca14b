//! Microsoft Entra ID sign-in and audit logs in the three shapes they leave
//! Azure in: diagnostic-settings export (fields under `properties`),
//! Microsoft Graph (`signIns`, `directoryAudits`: fields at the top) and
//! Microsoft Sentinel / Log Analytics tables (PascalCase columns, nested
//! columns as JSON strings).

use mamori_event::{activity, class, severity, status, Event, Resource, SourceKind};
use serde_json::Value;

use super::{ip, new_event, time_value};
use crate::json::{at, parse_value, scalar_text};
use crate::RejectReason;

/// Finds a field wherever the shape puts it: `properties.<path>`, `<path>`,
/// the PascalCase column, or the all-lower-case spelling some pipelines write.
pub(crate) fn field<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let pascal: Vec<String> = path.iter().map(|s| pascal(s)).collect();
    let lower: Vec<String> = path.iter().map(|s| s.to_ascii_lowercase()).collect();
    let pascal: Vec<&str> = pascal.iter().map(String::as_str).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let props = at(v, &["properties"]);
    props
        .and_then(|p| at(p, path))
        .or_else(|| at(v, path))
        .or_else(|| at(v, &pascal))
        .or_else(|| at(v, &lower))
        .filter(|x| !x.is_null())
}

fn pascal(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_ascii_uppercase().to_string() + c.as_str()
    })
}

fn ftext(v: &Value, path: &[&str]) -> Option<String> {
    field(v, path).and_then(scalar_text)
}

/// A nested column that Sentinel stores as a JSON string.
fn fobj(v: &Value, name: &str) -> Option<Value> {
    match field(v, &[name])? {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

fn time(
    kind: SourceKind,
    v: &Value,
    names: &[&str],
) -> Result<Option<mamori_event::Timestamp>, RejectReason> {
    for n in names {
        if let Some(t) = time_value(kind, n, field(v, &[n]))? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

fn common(ev: &mut Event, v: &Value) {
    ev.product = "Entra ID".into();
    ev.cloud.provider = Some("Azure".into());
    ev.cloud.account_uid = ftext(v, &["tenantId"])
        .or_else(|| ftext(v, &["resourceTenantId"]))
        .or_else(|| ftext(v, &["homeTenantId"]));
    ev.cloud.region = ftext(v, &["location"]).filter(|l| l.len() <= 3).or(None);
    ev.event_code = ftext(v, &["category"]).or_else(|| ftext(v, &["Type"]));
}

/// Normalizes one sign-in record.
pub(crate) fn normalize_signin(raw: &str) -> Result<Event, RejectReason> {
    const KIND: SourceKind = SourceKind::EntraSignin;
    let v = parse_value(raw)?;
    if !v.is_object() {
        return Err(RejectReason::shape(
            KIND,
            "a sign-in record must be a JSON object",
        ));
    }
    let t = time(KIND, &v, &["createdDateTime", "time", "TimeGenerated"])?;
    let mut ev = new_event(KIND, t, raw);
    common(&mut ev, &v);
    ev.cloud.region = None;
    ev.set_class(class::AUTHENTICATION, activity::LOGON);
    ev.uid = ftext(&v, &["id"]).unwrap_or_default();
    ev.api.operation =
        Some(ftext(&v, &["operationName"]).unwrap_or_else(|| "Sign-in activity".into()));
    ev.api.service = ftext(&v, &["appDisplayName"]);
    ev.api.request_uid =
        ftext(&v, &["originalRequestId"]).or_else(|| ftext(&v, &["correlationId"]));
    ev.actor.user_name =
        ftext(&v, &["userPrincipalName"]).or_else(|| ftext(&v, &["servicePrincipalName"]));
    ev.actor.user_uid = ftext(&v, &["userId"]).or_else(|| ftext(&v, &["servicePrincipalId"]));
    ev.actor.user_type = ftext(&v, &["userType"]).or_else(|| {
        ev.event_code
            .as_deref()
            .filter(|c| c.contains("ServicePrincipal"))
            .map(|_| "ServicePrincipal".to_owned())
    });
    ev.actor.account_uid = ftext(&v, &["homeTenantId"]).or_else(|| ev.cloud.account_uid.clone());
    ev.actor.credential_uid = ftext(&v, &["servicePrincipalCredentialKeyId"]);
    ev.src.ip = ip(ftext(&v, &["ipAddress"])
        .or_else(|| ftext(&v, &["callerIpAddress"]))
        .or_else(|| ftext(&v, &["IPAddress"])));
    ev.src.user_agent = ftext(&v, &["userAgent"]);
    let loc = fobj(&v, "location")
        .filter(Value::is_object)
        .or_else(|| fobj(&v, "LocationDetails"));
    ev.src.country = loc
        .as_ref()
        .and_then(|l| crate::json::text(l, &["countryOrRegion"]))
        .or_else(|| ftext(&v, &["location"]).filter(|l| l.len() == 2));
    ev.actor.is_mfa =
        ftext(&v, &["authenticationRequirement"]).map(|r| r == "multiFactorAuthentication");
    if let Some(app) = ftext(&v, &["resourceDisplayName"]) {
        ev.resources.push(Resource {
            uid: ftext(&v, &["resourceId"]).filter(|r| !r.starts_with("/tenants/")),
            kind: Some("Application".into()),
            name: Some(app),
            namespace: None,
        });
    }
    // Diagnostic exports give `resultType` ("0" = success); Graph gives `status.errorCode`.
    let st = fobj(&v, "status");
    let code = ftext(&v, &["resultType"]).or_else(|| {
        st.as_ref()
            .and_then(|s| crate::json::text(s, &["errorCode"]))
    });
    match code.as_deref() {
        Some("0") | Some("Success") | Some("success") => ev.status_id = status::SUCCESS,
        Some(c) => {
            ev.status_id = status::FAILURE;
            ev.status_code = Some(c.to_owned());
            ev.status_detail = st
                .as_ref()
                .and_then(|s| crate::json::text(s, &["failureReason"]))
                .or_else(|| ftext(&v, &["resultDescription"]))
                .or_else(|| ftext(&v, &["ResultDescription"]));
        }
        None => {}
    }
    ev.severity_id = match ftext(&v, &["riskLevelDuringSignIn"])
        .or_else(|| ftext(&v, &["riskLevelAggregated"]))
        .as_deref()
    {
        Some("low") => severity::LOW,
        Some("medium") => severity::MEDIUM,
        Some("high") => severity::HIGH,
        Some("hidden") => severity::UNKNOWN,
        _ => severity::INFORMATIONAL,
    };
    Ok(ev)
}

/// Normalizes one directory audit record.
pub(crate) fn normalize_audit(raw: &str) -> Result<Event, RejectReason> {
    const KIND: SourceKind = SourceKind::EntraAudit;
    let v = parse_value(raw)?;
    if !v.is_object() {
        return Err(RejectReason::shape(
            KIND,
            "an audit record must be a JSON object",
        ));
    }
    let t = time(KIND, &v, &["activityDateTime", "time", "TimeGenerated"])?;
    let mut ev = new_event(KIND, t, raw);
    common(&mut ev, &v);
    ev.uid = ftext(&v, &["id"]).unwrap_or_default();
    let op = ftext(&v, &["activityDisplayName"]).or_else(|| ftext(&v, &["operationName"]));
    let act = match op
        .as_deref()
        .and_then(|o| o.split_whitespace().next())
        .unwrap_or("")
    {
        "Add" | "Create" | "Register" | "Invite" => activity::CREATE,
        "Update" | "Set" | "Change" | "Reset" | "Enable" | "Disable" | "Assign" | "Consent" => {
            activity::UPDATE
        }
        "Delete" | "Remove" | "Hard" => activity::DELETE,
        "Get" | "List" | "Read" => activity::READ,
        _ => activity::OTHER,
    };
    ev.set_class(class::ENTITY_MANAGEMENT, act);
    ev.api.operation = op;
    ev.api.service = ftext(&v, &["loggedByService"]);
    ev.api.request_uid = ftext(&v, &["correlationId"]);
    let by = fobj(&v, "initiatedBy").unwrap_or(Value::Null);
    let user = at(&by, &["user"]).filter(|u| u.is_object());
    let app = at(&by, &["app"]).filter(|a| a.is_object());
    if let Some(u) = user {
        ev.actor.user_name = crate::json::text(u, &["userPrincipalName"])
            .or_else(|| crate::json::text(u, &["displayName"]));
        ev.actor.user_uid = crate::json::text(u, &["id"]);
        ev.actor.user_type = Some("User".into());
        ev.src.ip = ip(crate::json::text(u, &["ipAddress"]));
    } else if let Some(a) = app {
        ev.actor.user_name = crate::json::text(a, &["displayName"]);
        ev.actor.user_uid = crate::json::text(a, &["servicePrincipalId"])
            .or_else(|| crate::json::text(a, &["appId"]));
        ev.actor.user_type = Some("ServicePrincipal".into());
    }
    if ev.actor.user_name.is_none() {
        // The diagnostic export also names the caller in `identity`.
        ev.actor.user_name = ftext(&v, &["identity"]);
    }
    if ev.src.ip.is_none() {
        ev.src.ip = ip(ftext(&v, &["callerIpAddress"]));
    }
    ev.actor.account_uid = ev
        .cloud
        .account_uid
        .clone()
        .filter(|_| ev.actor.user_name.is_some());
    if let Some(Value::Array(targets)) = fobj(&v, "targetResources") {
        ev.resources = targets
            .iter()
            .map(|r| Resource {
                uid: crate::json::text(r, &["id"]),
                kind: crate::json::text(r, &["type"]),
                name: crate::json::text(r, &["displayName"])
                    .or_else(|| crate::json::text(r, &["userPrincipalName"])),
                namespace: None,
            })
            .collect();
    }
    match ftext(&v, &["result"])
        .map(|r| r.to_ascii_lowercase())
        .as_deref()
    {
        Some("success") => ev.status_id = status::SUCCESS,
        Some("failure") | Some("timeout") => {
            ev.status_id = status::FAILURE;
            ev.status_detail = ftext(&v, &["resultReason"]);
        }
        _ => {}
    }
    Ok(ev)
}
