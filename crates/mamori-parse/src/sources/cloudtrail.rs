//! AWS CloudTrail records (S3 delivery, JSON lines, EventBridge `detail`,
//! LookupEvents `CloudTrailEvent`, Logstash-flattened exports, Insights).
//!
//! This is the hot path of the parse benchmark, so the record is read into
//! borrowed typed fields and the bulky members (`requestParameters`,
//! `responseElements`) are only parsed for the few events that need them.

use mamori_event::{activity, class, status, Event, Resource, SourceKind};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{api_activity, ip_or_host, new_event, time_field};
use crate::json::Text;
use crate::RejectReason;

const KIND: SourceKind = SourceKind::Cloudtrail;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow, default)]
    event_time: Text<'a>,
    #[serde(borrow, default, rename = "@timestamp")]
    at_timestamp: Text<'a>,
    #[serde(borrow, default)]
    event_source: Text<'a>,
    #[serde(borrow, default)]
    event_name: Text<'a>,
    #[serde(borrow, default)]
    event_type: Text<'a>,
    #[serde(borrow, default)]
    event_category: Text<'a>,
    #[serde(borrow, default, rename = "eventID")]
    event_id: Text<'a>,
    #[serde(borrow, default, rename = "requestID")]
    request_id: Text<'a>,
    #[serde(borrow, default)]
    aws_region: Text<'a>,
    #[serde(borrow, default, rename = "sourceIPAddress")]
    source_ip_address: Text<'a>,
    #[serde(borrow, default)]
    user_agent: Text<'a>,
    #[serde(borrow, default)]
    error_code: Text<'a>,
    #[serde(borrow, default)]
    error_message: Text<'a>,
    #[serde(borrow, default)]
    recipient_account_id: Text<'a>,
    #[serde(borrow, default)]
    vpc_endpoint_id: Text<'a>,
    #[serde(borrow, default)]
    read_only: Text<'a>,
    #[serde(borrow, default)]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, default)]
    resources: Option<Vec<ResourceRec<'a>>>,
    #[serde(borrow, default)]
    request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response_elements: Option<&'a RawValue>,
    #[serde(borrow, default)]
    additional_event_data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    insight_details: Option<InsightDetails<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default)]
    principal_id: Text<'a>,
    #[serde(borrow, default)]
    arn: Text<'a>,
    #[serde(borrow, default)]
    account_id: Text<'a>,
    #[serde(borrow, default)]
    access_key_id: Text<'a>,
    #[serde(borrow, default)]
    user_name: Text<'a>,
    #[serde(borrow, default)]
    invoked_by: Text<'a>,
    #[serde(borrow, default)]
    credential_id: Text<'a>,
    #[serde(borrow, default)]
    session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow, default)]
    session_issuer: Option<SessionIssuer<'a>>,
    #[serde(borrow, default)]
    attributes: Option<SessionAttributes<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(borrow, default)]
    arn: Text<'a>,
    #[serde(borrow, default)]
    user_name: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes<'a> {
    #[serde(borrow, default)]
    mfa_authenticated: Text<'a>,
}

#[derive(Deserialize)]
struct ResourceRec<'a> {
    #[serde(borrow, default, rename = "ARN")]
    arn: Text<'a>,
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsightDetails<'a> {
    #[serde(borrow, default)]
    state: Text<'a>,
    #[serde(borrow, default)]
    event_source: Text<'a>,
    #[serde(borrow, default)]
    event_name: Text<'a>,
    #[serde(borrow, default)]
    insight_type: Text<'a>,
}

fn is_authentication(name: &str) -> bool {
    matches!(
        name,
        "ConsoleLogin"
            | "ExternalIdPDirectoryLogin"
            | "CheckMfa"
            | "CredentialChallenge"
            | "CredentialVerification"
            | "UserAuthentication"
            | "AssumeRole"
            | "AssumeRoleWithSAML"
            | "AssumeRoleWithWebIdentity"
    )
}

fn is_account_change(name: &str) -> bool {
    matches!(
        name,
        "CreateUser"
            | "DeleteUser"
            | "UpdateUser"
            | "CreateRole"
            | "DeleteRole"
            | "UpdateRole"
            | "UpdateAssumeRolePolicy"
            | "AttachUserPolicy"
            | "DetachUserPolicy"
            | "PutUserPolicy"
            | "DeleteUserPolicy"
            | "AttachGroupPolicy"
            | "DetachGroupPolicy"
            | "PutGroupPolicy"
            | "DeleteGroupPolicy"
            | "AttachRolePolicy"
            | "DetachRolePolicy"
            | "PutRolePolicy"
            | "DeleteRolePolicy"
            | "CreateLoginProfile"
            | "UpdateLoginProfile"
            | "DeleteLoginProfile"
            | "CreateAccessKey"
            | "UpdateAccessKey"
            | "DeleteAccessKey"
            | "EnableMFADevice"
            | "DeactivateMFADevice"
            | "ResyncMFADevice"
            | "CreateVirtualMFADevice"
            | "DeleteVirtualMFADevice"
            | "ChangePassword"
            | "PasswordUpdated"
            | "AddUserToGroup"
            | "RemoveUserFromGroup"
            | "CreateGroup"
            | "DeleteGroup"
            | "UpdateGroup"
            | "CreateAccountAlias"
            | "DeleteAccountAlias"
    )
}

fn account_change_activity(name: &str) -> u32 {
    match name {
        "EnableMFADevice" => 10,
        "DeactivateMFADevice" => 11,
        "ChangePassword" | "PasswordUpdated" | "UpdateLoginProfile" => 3,
        "AddUserToGroup" => 7,
        "RemoveUserFromGroup" => 8,
        n if n.starts_with("Create") || n == "ResyncMFADevice" => activity::CREATE,
        n if n.starts_with("Attach") || n.starts_with("Put") => 7,
        n if n.starts_with("Detach") => 8,
        n if n.starts_with("Delete") => 6,
        _ => activity::OTHER,
    }
}

/// Reads a JSON object member as a string without parsing the rest.
fn member(raw: Option<&RawValue>, name: &str) -> Option<String> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw?.get()).ok()?;
    crate::json::scalar_text(v.get(name)?)
}

fn de_error(e: serde_json::Error) -> RejectReason {
    if e.is_data() {
        RejectReason::shape(KIND, e.to_string())
    } else {
        RejectReason::MalformedJson(e.to_string())
    }
}

/// Normalizes one CloudTrail record.
pub(crate) fn normalize(text: &str) -> Result<Event, RejectReason> {
    let r: Record = serde_json::from_str(text).map_err(de_error)?;
    build(r, text)
}

/// Normalizes the CloudTrail record at the start of `text` (an element of a
/// `Records` array) and says how many bytes it took, so that the array is
/// walked by the JSON parser alone instead of being scanned first.
pub(crate) fn normalize_prefix(text: &str) -> Result<(Event, usize), RejectReason> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Record>();
    let r = match stream.next() {
        Some(r) => r.map_err(de_error)?,
        None => return Err(RejectReason::TruncatedJson),
    };
    let n = stream.byte_offset();
    Ok((build(r, &text[..n])?, n))
}

fn build(r: Record<'_>, text: &str) -> Result<Event, RejectReason> {
    let name = r
        .event_name
        .get()
        .or(r.insight_details.as_ref().and_then(|d| d.event_name.get()));
    if name.is_none() {
        return Err(RejectReason::shape(KIND, "eventName is required"));
    }
    let time = match time_field(KIND, "eventTime", r.event_time.get())? {
        Some(t) => Some(t),
        None => time_field(KIND, "@timestamp", r.at_timestamp.get())?,
    };
    let mut ev = new_event(KIND, time, text);
    let name = name.unwrap_or_default();
    ev.product = "CloudTrail".into();
    ev.event_code = r.event_type.owned();
    ev.uid = r.event_id.owned().unwrap_or_default();
    ev.api.operation = Some(name.to_owned());
    ev.api.service = r.event_source.owned().or_else(|| {
        r.insight_details
            .as_ref()
            .and_then(|d| d.event_source.owned())
    });
    ev.api.request_uid = r.request_id.owned();
    ev.cloud.provider = Some("AWS".into());
    ev.cloud.region = r.aws_region.owned();
    (ev.src.ip, ev.src.hostname) = ip_or_host(r.source_ip_address.owned());
    ev.src.user_agent = r.user_agent.owned();
    ev.src.uid = r.vpc_endpoint_id.owned();

    if let Some(u) = &r.user_identity {
        ev.actor.user_type = u.kind.owned();
        ev.actor.user_uid = u.arn.owned().or_else(|| u.principal_id.owned());
        ev.actor.account_uid = u.account_id.owned();
        ev.actor.credential_uid = u.access_key_id.owned().or_else(|| u.credential_id.owned());
        ev.actor.invoked_by = u.invoked_by.owned();
        let ctx = u.session_context.as_ref();
        let issuer = ctx.and_then(|c| c.session_issuer.as_ref());
        ev.actor.session_issuer = issuer.and_then(|i| i.arn.owned());
        // For assumed roles the session name is the last part of the ARN; the
        // role name is the issuer's userName.
        ev.actor.user_name = u.user_name.owned().or_else(|| {
            if u.kind.get() == Some("AssumedRole") {
                u.arn
                    .get()
                    .and_then(|a| a.rsplit('/').next())
                    .map(str::to_owned)
            } else {
                issuer.and_then(|i| i.user_name.owned())
            }
        });
        ev.actor.is_mfa = ctx
            .and_then(|c| c.attributes.as_ref())
            .and_then(|a| a.mfa_authenticated.get())
            .and_then(|m| match m {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            });
    }
    ev.cloud.account_uid = r
        .recipient_account_id
        .owned()
        .or_else(|| ev.actor.account_uid.clone());

    if let Some(res) = &r.resources {
        ev.resources = res
            .iter()
            .filter(|x| x.arn.get().is_some())
            .map(|x| Resource {
                uid: x.arn.owned(),
                kind: x.kind.owned(),
                ..Resource::default()
            })
            .collect();
    }

    match (r.error_code.owned(), r.error_message.owned()) {
        (None, None) => ev.status_id = status::SUCCESS,
        (code, msg) => {
            ev.status_id = status::FAILURE;
            ev.status_code = code;
            ev.status_detail = msg;
        }
    }

    if let Some(d) = &r.insight_details {
        ev.set_class(class::API_ACTIVITY, activity::OTHER);
        ev.message = Some(format!(
            "CloudTrail Insight {} {}: {} {}",
            d.insight_type.get().unwrap_or("activity"),
            d.state.get().unwrap_or(""),
            d.event_source.get().unwrap_or(""),
            d.event_name.get().unwrap_or("")
        ));
        ev.status_id = status::OTHER;
    } else if is_authentication(name) {
        let logon = name == "ConsoleLogin"
            || name == "ExternalIdPDirectoryLogin"
            || name == "UserAuthentication"
            || name.starts_with("AssumeRole");
        ev.set_class(
            class::AUTHENTICATION,
            if logon {
                activity::LOGON
            } else {
                activity::OTHER
            },
        );
        if name == "ConsoleLogin" {
            match member(r.response_elements, "ConsoleLogin").as_deref() {
                Some("Success") => ev.status_id = status::SUCCESS,
                Some("Failure") => ev.status_id = status::FAILURE,
                _ => {}
            }
            match member(r.additional_event_data, "MFAUsed").as_deref() {
                Some("Yes") => ev.actor.is_mfa = Some(true),
                Some("No") => ev.actor.is_mfa = Some(false),
                _ => {}
            }
            ev.dst.hostname = member(r.additional_event_data, "LoginTo");
        }
        if name.starts_with("AssumeRole") && ev.resources.is_empty() {
            if let Some(role) = member(r.request_parameters, "roleArn") {
                ev.resources.push(Resource {
                    uid: Some(role),
                    kind: Some("AWS::IAM::Role".into()),
                    ..Resource::default()
                });
            }
        }
    } else if is_account_change(name) {
        ev.set_class(class::ACCOUNT_CHANGE, account_change_activity(name));
        if let Some(target) = member(r.request_parameters, "userName")
            .or_else(|| member(r.request_parameters, "roleName"))
        {
            if ev.resources.is_empty() {
                ev.resources.push(Resource {
                    name: Some(target),
                    ..Resource::default()
                });
            }
        }
    } else {
        let act = if r.read_only.get() == Some("true") {
            activity::READ
        } else {
            api_activity(name)
        };
        ev.set_class(class::API_ACTIVITY, act);
    }
    if r.event_category.get() == Some("Insight") && ev.event_code.is_none() {
        ev.event_code = Some("AwsCloudTrailInsight".into());
    }
    Ok(ev)
}
