//! The finding, its status and severity, its history, and suppressions.

use std::collections::BTreeMap;

use mamori_event::{Entity, Timestamp};
use serde::{Deserialize, Serialize};

/// Workflow status, as AWS Security Finding Format names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Not looked at yet.
    New,
    /// Sent to people (a notification or ticket went out).
    Notified,
    /// Dealt with.
    Resolved,
    /// Judged not to need action (by hand or by a suppression).
    Suppressed,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 4] = [
        Status::New,
        Status::Notified,
        Status::Resolved,
        Status::Suppressed,
    ];

    /// `NEW`, `NOTIFIED`, `RESOLVED`, `SUPPRESSED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::Notified => "NOTIFIED",
            Status::Resolved => "RESOLVED",
            Status::Suppressed => "SUPPRESSED",
        }
    }

    /// The status named `s` (any case).
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether the finding still asks for attention (and absorbs new matches).
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Notified)
    }
}

/// Severity, with OCSF's ids (1 informational … 5 critical).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Informational = 1,
    /// Low.
    Low = 2,
    /// Medium.
    Medium = 3,
    /// High.
    High = 4,
    /// Critical.
    Critical = 5,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name (Sigma's `level`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// OCSF `severity_id`.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// From a Sigma level or a name in any case; `None` if unknown.
    pub fn parse(s: &str) -> Option<Severity> {
        let s = s.to_ascii_lowercase();
        Severity::ALL
            .into_iter()
            .find(|x| x.as_str() == s || (s == "info" && *x == Severity::Informational))
    }

    /// From an OCSF `severity_id` (0 and 99 count as informational, 6 as critical).
    pub fn from_id(id: u8) -> Severity {
        match id {
            2 => Severity::Low,
            3 => Severity::Medium,
            4 => Severity::High,
            5 | 6 => Severity::Critical,
            _ => Severity::Informational,
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id (`F` and 16 hex digits).
    pub id: String,
    /// The rule (Sigma id or name), or the product's finding type.
    pub rule_id: String,
    /// What happened, in a line.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// `rule`, a correlation type, or the product (`guardduty`, `security_hub`).
    pub kind: String,
    /// Source kind of the (last) matching event.
    pub source: String,
    /// Rule tags (ATT&CK techniques and tactics among them).
    pub tags: Vec<String>,
    /// Who and what it is about.
    pub entities: Vec<Entity>,
    /// The key findings of one rule are deduplicated by.
    pub group_key: String,
    /// A correlation's group-by values, field by field.
    pub group: BTreeMap<String, String>,
    /// Time of the first matching event.
    pub first_seen: Timestamp,
    /// Time of the last matching event.
    pub last_seen: Timestamp,
    /// Matching events.
    pub count: u64,
    /// Uids of matching stored events (the first 1,000; `mamori get` reads them).
    pub event_uids: Vec<String>,
    /// Context attached by enrichment (GeoIP, threat intelligence, related events).
    pub enrichment: serde_json::Map<String, serde_json::Value>,
    /// Workflow status.
    pub status: Status,
    /// Who is working it.
    pub assignee: Option<String>,
    /// When Mamori created it (wall clock).
    pub created: Timestamp,
    /// When it last changed (wall clock).
    pub updated: Timestamp,
}

/// One recorded change of a finding: append-only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Order within the finding's history, from 1.
    pub seq: u64,
    /// When (wall clock).
    pub at: Timestamp,
    /// Who (a user name, or `mamori` for what the pipeline did).
    pub actor: String,
    /// `created`, `status`, `assign`, `note`, `suppressed`.
    pub action: String,
    /// Status before, for a status change.
    pub from_status: Option<String>,
    /// Status after, for a status change; the assignee for an assignment.
    pub to_status: Option<String>,
    /// The why: the note given with the change.
    pub detail: Option<String>,
}

/// A standing decision that some detections need no action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    /// Stable id (`S` and 16 hex digits).
    pub id: String,
    /// Only this rule (id, name or title as recorded), or every rule.
    pub rule_id: Option<String>,
    /// Only detections about this entity, or any.
    pub entity: Option<Entity>,
    /// Who decided.
    pub author: String,
    /// Why.
    pub reason: String,
    /// When it was made.
    pub created: Timestamp,
    /// When it stops applying (wall clock); never if `None`.
    pub expires: Option<Timestamp>,
}

impl Suppression {
    /// Whether it applies to a detection of `rule_id` about `entities` at wall time `now`.
    pub fn applies(&self, rule_id: &str, entities: &[Entity], now: Timestamp) -> bool {
        self.expires.is_none_or(|t| now < t)
            && self.rule_id.as_deref().is_none_or(|r| r == rule_id)
            && self.entity.as_ref().is_none_or(|e| entities.contains(e))
    }
}
