//! Google Cloud Logging `LogEntry` records: Cloud Audit Logs (`protoPayload`
//! AuditLog: admin activity, data access, system event, policy denied), and
//! the load-balancer and VPC flow entries that travel with them.

use mamori_event::{activity, class, status, Event, Resource, SourceKind};

use super::{ip, new_event, severity_word, time_value, verb_activity, RecordCtx};
use crate::json::{at, first_text, parse_value, text, uint};
use crate::RejectReason;

const KIND: SourceKind = SourceKind::GcpAudit;

/// Normalizes one log entry.
pub(crate) fn normalize(raw: &str, ctx: &mut RecordCtx) -> Result<Event, RejectReason> {
    let v = parse_value(raw)?;
    if !v.is_object() {
        return Err(RejectReason::shape(
            KIND,
            "a log entry must be a JSON object",
        ));
    }
    let time = time_value(KIND, "timestamp", at(&v, &["timestamp"]))?;
    // The receive time only serves the skew check: an unreadable one is ignored.
    ctx.record_delivery = time_value(KIND, "receiveTimestamp", at(&v, &["receiveTimestamp"]))
        .ok()
        .flatten();
    let time = time.or(ctx.record_delivery);
    let mut ev = new_event(KIND, time, raw);
    ev.product = "Cloud Logging".into();
    ev.uid = text(&v, &["insertId"]).unwrap_or_default();
    let log_name = text(&v, &["logName"]);
    ev.event_code = log_name.as_deref().map(|l| {
        let id = l.rsplit("/logs/").next().unwrap_or(l);
        id.replace("%2F", "/").replace("%2f", "/")
    });
    ev.severity_id = text(&v, &["severity"])
        .map_or(mamori_event::severity::INFORMATIONAL, |s| severity_word(&s));
    ev.cloud.provider = Some("GCP".into());
    ev.cloud.account_uid = text(&v, &["resource", "labels", "project_id"]).or_else(|| {
        log_name
            .as_deref()
            .and_then(|l| l.strip_prefix("projects/"))
            .and_then(|l| l.split('/').next())
            .map(str::to_owned)
    });
    ev.cloud.region = first_text(
        &v,
        &[
            &["resource", "labels", "location"],
            &["resource", "labels", "zone"],
            &["resource", "labels", "region"],
            &["protoPayload", "resourceLocation", "currentLocations", "0"],
        ],
    );

    let p = at(&v, &["protoPayload"]);
    if let Some(p) = p {
        ev.product = "Cloud Audit Logs".into();
        let method = text(p, &["methodName"]);
        ev.api.operation = method.clone();
        ev.api.service = text(p, &["serviceName"]);
        ev.actor.user_name = text(p, &["authenticationInfo", "principalEmail"]);
        ev.actor.user_uid = text(p, &["authenticationInfo", "principalSubject"])
            .or_else(|| ev.actor.user_name.clone());
        ev.actor.credential_uid = text(p, &["authenticationInfo", "serviceAccountKeyName"]);
        ev.actor.invoked_by = text(
            p,
            &[
                "authenticationInfo",
                "serviceAccountDelegationInfo",
                "0",
                "firstPartyPrincipal",
                "principalEmail",
            ],
        );
        ev.actor.user_type = ev.actor.user_name.as_deref().map(|u| {
            if u.ends_with(".gserviceaccount.com") {
                "ServiceAccount"
            } else {
                "User"
            }
            .to_owned()
        });
        ev.actor.account_uid = ev.cloud.account_uid.clone();
        ev.src.ip = ip(text(p, &["requestMetadata", "callerIp"]));
        if ev.src.ip.is_none() {
            ev.src.hostname = text(p, &["requestMetadata", "callerIp"]);
        }
        ev.src.user_agent = text(p, &["requestMetadata", "callerSuppliedUserAgent"]);
        if let Some(name) = text(p, &["resourceName"]) {
            ev.resources.push(Resource {
                uid: Some(name.clone()),
                kind: text(&v, &["resource", "type"]),
                name: name.rsplit('/').next().map(str::to_owned),
                namespace: None,
            });
        }
        let code = uint(p, &["status", "code"]).unwrap_or(0);
        let denied = ev
            .event_code
            .as_deref()
            .is_some_and(|c| c.ends_with("/policy"));
        if code != 0 || denied {
            ev.status_id = status::FAILURE;
            ev.status_code = Some(code.to_string()).filter(|c| c != "0");
            ev.status_detail = text(p, &["status", "message"]);
        } else {
            ev.status_id = status::SUCCESS;
        }
        let m = method.unwrap_or_default();
        if m.contains("LoginService.login") {
            ev.set_class(
                class::AUTHENTICATION,
                if m.ends_with("logout") {
                    activity::LOGOFF
                } else {
                    activity::LOGON
                },
            );
            if m.ends_with("loginFailure") {
                ev.status_id = status::FAILURE;
            }
        } else {
            let verb = m.rsplit('.').next().unwrap_or("");
            ev.set_class(class::API_ACTIVITY, verb_activity(verb));
        }
    } else if let Some(h) = at(&v, &["httpRequest"]) {
        ev.set_class(class::HTTP_ACTIVITY, 0);
        ev.http.method = text(h, &["requestMethod"]);
        ev.http.url = text(h, &["requestUrl"]);
        ev.http.status = uint(h, &["status"]).and_then(|c| u16::try_from(c).ok());
        ev.http.bytes_in = uint(h, &["requestSize"]);
        ev.http.bytes_out = uint(h, &["responseSize"]);
        ev.src.ip = ip(text(h, &["remoteIp"]));
        ev.src.user_agent = text(h, &["userAgent"]);
        ev.dst.ip = ip(text(h, &["serverIp"]));
        ev.status_id = match ev.http.status {
            Some(c) if c < 400 => status::SUCCESS,
            Some(_) => status::FAILURE,
            None => status::UNKNOWN,
        };
        ev.status_detail = text(&v, &["jsonPayload", "statusDetails"]);
    } else if let Some(c) = at(&v, &["jsonPayload", "connection"]) {
        ev.set_class(class::NETWORK_ACTIVITY, activity::TRAFFIC);
        ev.src.ip = ip(text(c, &["src_ip"]));
        ev.dst.ip = ip(text(c, &["dest_ip"]));
        ev.src.port = uint(c, &["src_port"]).and_then(|p| u16::try_from(p).ok());
        ev.dst.port = uint(c, &["dest_port"]).and_then(|p| u16::try_from(p).ok());
        ev.network.protocol_num = uint(c, &["protocol"]).and_then(|p| u8::try_from(p).ok());
        ev.network.bytes = uint(&v, &["jsonPayload", "bytes_sent"]);
        ev.network.packets = uint(&v, &["jsonPayload", "packets_sent"]);
        ev.network.direction = text(&v, &["jsonPayload", "reporter"])
            .map(|r| if r == "DEST" { "inbound" } else { "outbound" }.to_owned());
    }
    if let Some(msg) = text(&v, &["textPayload"]) {
        ev.message = Some(msg);
    }
    Ok(ev)
}
