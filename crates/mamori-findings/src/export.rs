//! Findings as other tools read them: AWS Security Finding Format (what
//! Security Hub imports) and OCSF Detection Finding (class 2004).

use mamori_event::{EntityKind, Timestamp};
use serde_json::{json, Value};

use crate::model::{Finding, Severity, Status};

fn iso(t: Timestamp) -> String {
    t.to_string()
}

fn asff_label(s: Severity) -> &'static str {
    match s {
        Severity::Informational => "INFORMATIONAL",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

fn asff_normalized(s: Severity) -> u8 {
    // The middle of each label's range in ASFF's 0–100 scale.
    match s {
        Severity::Informational => 0,
        Severity::Low => 30,
        Severity::Medium => 50,
        Severity::High => 80,
        Severity::Critical => 95,
    }
}

fn account(f: &Finding) -> String {
    f.entities
        .iter()
        .find(|e| e.kind == EntityKind::Account)
        .map_or_else(|| "000000000000".to_owned(), |e| e.value.clone())
}

/// The finding in AWS Security Finding Format (`BatchImportFindings` shape).
/// `region` and the product ARN's account come from the caller's deployment.
pub fn to_asff(f: &Finding, region: &str) -> Value {
    let acct = account(f);
    let ttps: Vec<String> = f
        .tags
        .iter()
        .filter(|t| t.starts_with("attack."))
        .map(|t| format!("TTPs/{}", t.trim_start_matches("attack.")))
        .collect();
    let mut types = if ttps.is_empty() {
        vec!["Unusual Behaviors".to_owned()]
    } else {
        ttps
    };
    types.dedup();
    let mut resources: Vec<Value> = f
        .entities
        .iter()
        .filter(|e| e.kind == EntityKind::Resource)
        .map(|e| json!({"Type": "Other", "Id": e.value}))
        .collect();
    if resources.is_empty() {
        resources.push(json!({"Type": "AwsAccount", "Id": format!("AWS::::Account:{acct}")}));
    }
    let ip = f.entities.iter().find(|e| e.kind == EntityKind::Ip);
    let mut v = json!({
        "SchemaVersion": "2018-10-08",
        "Id": f.id,
        "ProductArn": format!("arn:aws:securityhub:{region}:{acct}:product/{acct}/default"),
        "GeneratorId": f.rule_id,
        "AwsAccountId": acct,
        "Types": types,
        "FirstObservedAt": iso(f.first_seen),
        "LastObservedAt": iso(f.last_seen),
        "CreatedAt": iso(f.created),
        "UpdatedAt": iso(f.updated),
        "Severity": {"Label": asff_label(f.severity), "Normalized": asff_normalized(f.severity)},
        "Title": f.title,
        "Description": format!("{} ({} matching events, rule {})", f.title, f.count, f.rule_id),
        "Resources": resources,
        "Workflow": {"Status": f.status.as_str()},
        "RecordState": if matches!(f.status, Status::Resolved) { "ARCHIVED" } else { "ACTIVE" },
        "ProductFields": {
            "mamori/kind": f.kind,
            "mamori/source": f.source,
            "mamori/count": f.count.to_string(),
            "mamori/group": f.group_key,
        },
    });
    if let Some(ip) = ip {
        v["Network"] = json!({"SourceIpV4": ip.value, "Direction": "IN"});
    }
    v
}

/// The finding as an OCSF Detection Finding (class 2004, category 2).
pub fn to_ocsf(f: &Finding) -> Value {
    let status_id = match f.status {
        Status::New => 1,
        Status::Notified => 2,
        Status::Suppressed => 3,
        Status::Resolved => 4,
    };
    let attacks: Vec<Value> = f
        .tags
        .iter()
        .filter_map(|t| t.strip_prefix("attack."))
        .filter(|t| {
            t.len() > 1
                && t.as_bytes()[0].eq_ignore_ascii_case(&b't')
                && t.as_bytes()[1].is_ascii_digit()
        })
        .map(|t| json!({"technique": {"uid": t.to_ascii_uppercase()}}))
        .collect();
    let observables: Vec<Value> = f
        .entities
        .iter()
        .map(|e| {
            let (type_id, name) = match e.kind {
                EntityKind::Ip => (2, "ip"),
                EntityKind::User => (4, "user"),
                EntityKind::Account => (35, "account"),
                EntityKind::AccessKey => (99, "access_key"),
                EntityKind::Resource => (99, "resource"),
            };
            json!({"type_id": type_id, "name": name, "value": e.value})
        })
        .collect();
    json!({
        "class_uid": 2004,
        "category_uid": 2,
        "activity_id": 1,
        "type_uid": 200401,
        "time": f.last_seen.0 / 1000,
        "severity_id": f.severity.id(),
        "severity": f.severity.as_str(),
        "status_id": status_id,
        "status": f.status.as_str(),
        "finding_info": {
            "uid": f.id,
            "title": f.title,
            "analytic": {"uid": f.rule_id, "name": f.title, "type_id": 1, "type": "Rule"},
            "attacks": attacks,
            "first_seen_time": f.first_seen.0 / 1000,
            "last_seen_time": f.last_seen.0 / 1000,
            "created_time": f.created.0 / 1000,
            "modified_time": f.updated.0 / 1000,
            "related_events_count": f.count,
            "related_events": f.event_uids.iter().map(|u| json!({"uid": u})).collect::<Vec<_>>(),
            "types": [if matches!(f.kind.as_str(), "guardduty" | "security_hub") { f.kind.as_str() } else { "sigma" }],
            "tags": f.tags,
        },
        "is_alert": true,
        "observables": observables,
        "metadata": {"product": {"name": "Mamori", "vendor_name": "Mamori"}, "version": "1.1.0"},
        "unmapped": {"assignee": f.assignee, "group_key": f.group_key, "kind": f.kind, "source": f.source, "enrichment": f.enrichment},
    })
}
