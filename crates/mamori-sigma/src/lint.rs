//! Checks a loaded rule against what its sources' records can hold.

use mamori_event::SourceKind;

use crate::load::{DetectionRule, LoadReport, RuleIssue};
use crate::ruleset::sources_for;

/// Top-level keys a source's records have (its provider's documented record).
fn top_level_keys(source: SourceKind) -> Option<&'static [&'static str]> {
    Some(match source {
        SourceKind::Cloudtrail => &[
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "requestParameters",
            "responseElements",
            "additionalEventData",
            "requestID",
            "eventID",
            "readOnly",
            "resources",
            "eventType",
            "apiVersion",
            "managementEvent",
            "recipientAccountId",
            "serviceEventDetails",
            "sharedEventID",
            "vpcEndpointId",
            "vpcEndpointAccountId",
            "eventCategory",
            "tlsDetails",
            "sessionCredentialFromConsole",
            "errorCode",
            "errorMessage",
            "insightDetails",
            "edgeDeviceDetails",
            "addendum",
        ],
        SourceKind::K8sAudit => &[
            "kind",
            "apiVersion",
            "level",
            "auditID",
            "stage",
            "requestURI",
            "verb",
            "user",
            "impersonatedUser",
            "sourceIPs",
            "userAgent",
            "objectRef",
            "responseStatus",
            "requestObject",
            "responseObject",
            "requestReceivedTimestamp",
            "stageTimestamp",
            "annotations",
            "apiGroup",
        ],
        SourceKind::GcpAudit => &[
            "protoPayload",
            "insertId",
            "resource",
            "timestamp",
            "severity",
            "logName",
            "operation",
            "receiveTimestamp",
            "labels",
            "jsonPayload",
            "textPayload",
            "httpRequest",
            "sourceLocation",
            "spanId",
            "trace",
            "data",
            "gcp",
        ],
        _ => return None,
    })
}

/// Normalized names every source answers (see `view.rs`).
const NORMALIZED: &[&str] = &[
    "src_ip",
    "src_country",
    "src_hostname",
    "dst_ip",
    "dst_hostname",
    "user_agent",
    "actor_user_name",
    "actor_user_uid",
    "actor_user_type",
    "account_uid",
    "region",
    "api_operation",
    "api_service",
    "severity_id",
    "status_id",
    "class_uid",
    "message",
    "finding_title",
    "finding_types",
    "src",
    "dst",
    "actor",
    "api",
    "cloud",
    "finding",
];

/// Warns about each field a rule names that none of its sources' records can have.
pub(crate) fn check_fields(rule: &DetectionRule, report: &mut LoadReport) {
    let sources = sources_for(&rule.meta.logsource);
    let fields = rule
        .detection
        .fields()
        .chain(rule.filters.iter().flat_map(|f| f.fields()));
    let mut warned: Vec<&str> = Vec::new();
    for field in fields {
        let head = field.split('.').next().unwrap_or(field);
        let never = !sources.is_empty()
            && !NORMALIZED.contains(&head)
            && sources.iter().all(|s| {
                top_level_keys(*s)
                    .is_some_and(|keys| !keys.iter().any(|k| k.eq_ignore_ascii_case(head)))
            });
        if never && !warned.contains(&field) {
            warned.push(field);
            report.warnings.push(RuleIssue {
                file: rule.meta.file.clone(),
                line: rule.meta.line,
                rule: Some(rule.meta.title.clone()),
                reason: format!(
                    "field '{field}' is not in any {} record",
                    sources[0].as_str()
                ),
            });
        }
    }
}
