//! Which source a JSON record comes from, decided from its top-level keys
//! (and a few of their values) without parsing the record.

use std::borrow::Cow;

use mamori_event::SourceKind;

use crate::scan::Member;

/// Top-level keys of one object, with access to string values.
pub(crate) struct Keys<'a> {
    pub b: &'a [u8],
    pub members: &'a [Member<'a>],
}

impl<'a> Keys<'a> {
    pub fn has(&self, k: &str) -> bool {
        self.members.iter().any(|m| m.key == k.as_bytes())
    }
    pub fn member(&self, k: &str) -> Option<&Member<'a>> {
        self.members.iter().find(|m| m.key == k.as_bytes())
    }
    /// The value of `k` when it is a JSON string.
    pub fn str(&self, k: &str) -> Option<Cow<'a, str>> {
        let m = self.member(k)?;
        let raw = &self.b[m.value.clone()];
        if raw.first() != Some(&b'"') {
            return None;
        }
        serde_json::from_slice::<Cow<'a, str>>(raw).ok()
    }
}

const SIGNIN_CATEGORIES: &[&str] = &[
    "SignInLogs",
    "NonInteractiveUserSignInLogs",
    "ServicePrincipalSignInLogs",
    "ManagedIdentitySignInLogs",
    "ADFSSignInLogs",
    "SigninLogs",
    "AADNonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs",
];

/// Detects the source of a record from its top-level keys.
pub(crate) fn detect(k: &Keys) -> SourceKind {
    use SourceKind::*;
    if k.has("eventVersion")
        || (k.has("eventSource") && k.has("eventName"))
        || k.has("insightDetails")
    {
        return Cloudtrail;
    }
    if k.has("auditID")
        || (k.has("verb") && (k.has("objectRef") || k.has("requestURI")))
        || k.str("apiVersion")
            .is_some_and(|v| v.starts_with("audit.k8s.io"))
        || (k.str("kind").as_deref() == Some("Event")
            && (k.has("verb") || k.has("user") || k.has("sourceIPs") || k.has("objectRef")))
    {
        return K8sAudit;
    }
    if k.has("protoPayload")
        || (k.has("logName") && (k.has("insertId") || k.has("resource") || k.has("timestamp")))
    {
        return GcpAudit;
    }
    if k.has("ProductArn") || (k.has("SchemaVersion") && k.has("GeneratorId")) {
        return SecurityHub;
    }
    let gd_camel =
        k.has("schemaVersion") && k.has("type") && (k.has("service") || k.has("severity"));
    let gd_pascal =
        k.has("SchemaVersion") && k.has("Type") && (k.has("Service") || k.has("Severity"));
    let gd_arn = k
        .str("arn")
        .or_else(|| k.str("Arn"))
        .is_some_and(|a| a.contains(":guardduty:") && a.contains("/finding/"));
    if gd_camel || gd_pascal || gd_arn {
        return Guardduty;
    }
    let category = k
        .str("category")
        .or_else(|| k.str("Category"))
        .or_else(|| k.str("Type"));
    let category = category.as_deref().unwrap_or("");
    if SIGNIN_CATEGORIES.contains(&category)
        || k.str("operationName").as_deref() == Some("Sign-in activity")
    {
        return EntraSignin;
    }
    if category == "AuditLogs"
        || (k.has("activityDateTime") && k.has("activityDisplayName"))
        || (k.has("OperationName") && k.has("InitiatedBy") && k.has("TargetResources"))
    {
        return EntraAudit;
    }
    if k.has("createdDateTime")
        && k.has("userPrincipalName")
        && (k.has("appDisplayName") || k.has("status") || k.has("ipAddress"))
    {
        return EntraSignin;
    }
    if k.has("UserPrincipalName") && k.has("ResultType") && k.has("AppDisplayName") {
        return EntraSignin;
    }
    let resource_id = k.str("resourceId").or_else(|| k.str("ResourceId"));
    if resource_id
        .as_deref()
        .is_some_and(|r| r.to_ascii_lowercase().starts_with("/tenants/"))
        && k.has("operationName")
    {
        return EntraAudit;
    }
    if (k.has("operationName") || k.has("OperationNameValue"))
        && (resource_id.is_some()
            || k.has("callerIpAddress")
            || k.has("caller")
            || k.has("_ResourceId"))
    {
        return AzureActivity;
    }
    if (k.has("srcAddr") && k.has("dstAddr"))
        || (k.has("srcaddr") && k.has("dstaddr") && k.has("action"))
    {
        return VpcFlow;
    }
    Generic
}
