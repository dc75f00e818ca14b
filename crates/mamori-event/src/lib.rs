//! Mamori's normalized security event.
//!
//! Every record Mamori reads, whatever its source and container, becomes one
//! [`Event`]: a flat, OCSF-aligned set of typed fields that search and
//! detection rely on, plus the original record kept as exact text in
//! [`Event::raw`]. What a source carries that does not map stays in the
//! original and is reachable by path later.
//!
//! The principal types:
//! - [`Event`], with its parts [`Actor`], [`Endpoint`], [`Api`], [`Cloud`],
//!   [`Resource`], [`Http`], [`Network`], [`FindingInfo`];
//! - [`SourceKind`], the source a record was read as;
//! - [`Timestamp`], UTC microseconds, with the parsers for source time formats.
//!
//! ```
//! use mamori_event::{Event, SourceKind, Timestamp};
//! let mut ev = Event::new(SourceKind::Syslog, Timestamp(0), "<13>Jan  1 00:00:00 host app: hi".into());
//! ev.message = Some("hi".into());
//! assert_eq!(ev.source.as_str(), "syslog");
//! assert!(serde_json::to_string(&ev)?.contains(r#""message":"hi""#));
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! This crate does no I/O. The field list and each source's mapping are
//! documented in `docs/normalized-event.md`, which a test keeps in step with
//! the serialized form of [`Event`].

mod entity;
mod ocsf;
mod time;

pub use entity::{Entity, EntityKind};
pub use ocsf::{activity, class, severity, status};
pub use time::{Timestamp, MONTHS};

use serde::{Deserialize, Serialize};

/// The source a record was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// AWS CloudTrail management, data and Insights events.
    Cloudtrail,
    /// Amazon VPC Flow Logs (text, default or custom format).
    VpcFlow,
    /// Application Load Balancer access logs.
    Alb,
    /// Amazon GuardDuty findings.
    Guardduty,
    /// AWS Security Hub findings in the AWS Security Finding Format.
    SecurityHub,
    /// Microsoft Entra ID sign-in logs (interactive, non-interactive, service principal, managed identity).
    EntraSignin,
    /// Microsoft Entra ID audit logs.
    EntraAudit,
    /// Azure Activity log (control-plane operations on subscriptions).
    AzureActivity,
    /// Google Cloud audit logs and other Cloud Logging entries.
    GcpAudit,
    /// Kubernetes API-server audit events (self-managed, EKS, AKS).
    K8sAudit,
    /// Syslog lines (RFC 5424 and RFC 3164).
    Syslog,
    /// Any other JSON record, with its time field auto-detected.
    Generic,
}

impl SourceKind {
    /// Every kind, in a stable order.
    pub const ALL: [SourceKind; 12] = [
        SourceKind::Cloudtrail,
        SourceKind::VpcFlow,
        SourceKind::Alb,
        SourceKind::Guardduty,
        SourceKind::SecurityHub,
        SourceKind::EntraSignin,
        SourceKind::EntraAudit,
        SourceKind::AzureActivity,
        SourceKind::GcpAudit,
        SourceKind::K8sAudit,
        SourceKind::Syslog,
        SourceKind::Generic,
    ];

    /// The name used on the command line, in JSON and in partitions.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Cloudtrail => "cloudtrail",
            SourceKind::VpcFlow => "vpc_flow",
            SourceKind::Alb => "alb",
            SourceKind::Guardduty => "guardduty",
            SourceKind::SecurityHub => "security_hub",
            SourceKind::EntraSignin => "entra_signin",
            SourceKind::EntraAudit => "entra_audit",
            SourceKind::AzureActivity => "azure_activity",
            SourceKind::GcpAudit => "gcp_audit",
            SourceKind::K8sAudit => "k8s_audit",
            SourceKind::Syslog => "syslog",
            SourceKind::Generic => "generic",
        }
    }

    /// Parses [`SourceKind::as_str`] names (also accepting `-` for `_`).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.replace('-', "_").to_ascii_lowercase();
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event's time deserves a second look. Flagged events are kept, never dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFlag {
    /// The record has no time field; `time` is the delivery or ingest time.
    Missing,
    /// The time lies in the future of the ingest time beyond the tolerance.
    Future,
    /// The time is far from the delivery time (file name, envelope or receive time).
    Skewed,
    /// The format carries no year (RFC 3164 syslog); it was inferred.
    YearInferred,
}

/// Who acted: OCSF `actor` (user, session, credentials).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// User or principal name (`userIdentity.userName`, UPN, `user.username`, e-mail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Stable identifier: ARN, object id, Kubernetes uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_uid: Option<String>,
    /// Principal type as the source names it (`IAMUser`, `AssumedRole`, `Member`, `ServiceAccount`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// Account, subscription, tenant or project the actor belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_uid: Option<String>,
    /// Access key, credential or service-account key id used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_uid: Option<String>,
    /// Issuer of the session (role ARN behind an assumed-role session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_issuer: Option<String>,
    /// Whether multi-factor authentication was used, where the source says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_mfa: Option<bool>,
    /// Service acting on the principal's behalf (`invokedBy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

/// A network endpoint: OCSF `src_endpoint` / `dst_endpoint`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// IP address (v4 or v6), validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Host or service name where the source gives a name rather than an IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Identifier of the endpoint: interface, instance, VPC endpoint, load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// User agent (source endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Country (ISO code or name, as the source gives it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// The API called: OCSF `api`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Api {
    /// Service (`iam.amazonaws.com`, `compute.googleapis.com`, `Microsoft.Compute`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Operation (`CreateUser`, `v1.compute.instances.insert`, Kubernetes verb).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Request id (`requestID`, `auditID`, `serviceRequestId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_uid: Option<String>,
}

/// Where in which cloud: OCSF `cloud`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cloud {
    /// `AWS`, `Azure`, `GCP`, or `Kubernetes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Account, subscription, tenant or project the event was recorded in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_uid: Option<String>,
    /// Region or location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A resource the event concerns: OCSF `resources[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Identifier (ARN, resource id, resource name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Type as the source names it.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Short name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace (Kubernetes) or resource group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// HTTP request and response: OCSF `http_request` / `http_response`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Http {
    /// Method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// URL or request URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Response status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Bytes received from the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// Bytes sent to the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
}

/// Network traffic: OCSF `connection_info`, `traffic` and the security-control `action`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// IANA protocol number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_num: Option<u8>,
    /// Bytes transferred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Packets transferred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    /// `allowed` or `denied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `inbound` or `outbound`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
}

/// What a provider's finding says: OCSF `finding_info` (GuardDuty, Security Hub).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingInfo {
    /// Finding id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Finding types (`Recon:IAMUser/UserPermissions`, ASFF `Types[]`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub types: Vec<String>,
    /// Product that produced it (GuardDuty, Security Hub, an ASFF product name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Provider workflow or compliance status (`NEW`, `FAILED`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One normalized event. See the crate docs and `docs/normalized-event.md`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When the event happened, UTC.
    pub time: Timestamp,
    /// When Mamori read it, UTC.
    pub ingest_time: Timestamp,
    /// Flags on `time` (missing, future, skewed, year inferred).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub time_flags: Vec<TimeFlag>,
    /// The source it was read as.
    pub source: SourceKind,
    /// OCSF `class_uid` (see [`class`]).
    pub class_uid: u32,
    /// OCSF `category_uid`, derived from the class.
    pub category_uid: u32,
    /// OCSF `activity_id` within the class (see [`activity`]).
    pub activity_id: u32,
    /// OCSF `type_uid` = `class_uid * 100 + activity_id`.
    pub type_uid: u64,
    /// OCSF `severity_id` (see [`severity`]).
    pub severity_id: u8,
    /// OCSF `status_id`: 0 unknown, 1 success, 2 failure, 99 other (see [`status`]).
    pub status_id: u8,
    /// Error or status code (`AccessDenied`, `50126`, `403`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    /// Error message or failure reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
    /// Product that logged it (`CloudTrail`, `Amazon VPC`, `Entra ID`…): OCSF `metadata.product.name`.
    pub product: String,
    /// Source-specific event code (`eventType`, `category`, log type): OCSF `metadata.event_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_code: Option<String>,
    /// Who acted.
    #[serde(skip_serializing_if = "is_default")]
    pub actor: Actor,
    /// Where the action came from.
    #[serde(skip_serializing_if = "is_default")]
    pub src: Endpoint,
    /// Where it went.
    #[serde(skip_serializing_if = "is_default")]
    pub dst: Endpoint,
    /// The API called.
    #[serde(skip_serializing_if = "is_default")]
    pub api: Api,
    /// The cloud, account and region.
    #[serde(skip_serializing_if = "is_default")]
    pub cloud: Cloud,
    /// Resources concerned.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub resources: Vec<Resource>,
    /// HTTP fields.
    #[serde(skip_serializing_if = "is_default")]
    pub http: Http,
    /// Network fields.
    #[serde(skip_serializing_if = "is_default")]
    pub network: Network,
    /// A provider's finding, for GuardDuty and Security Hub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<FindingInfo>,
    /// Human-readable message (syslog message, finding description).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Event uid: the provider's id where one exists, else `h:` and a content hash of `raw`.
    pub uid: String,
    /// The original record, exactly as read (JSON text, or the text line).
    pub raw: String,
    /// For text sources, the record's named fields as a JSON object, so that
    /// they are reachable by path like a JSON record's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl Event {
    /// A new event with only its time, source and original set; the class is
    /// Base Event (0) until a parser maps it.
    pub fn new(source: SourceKind, time: Timestamp, raw: String) -> Self {
        Event {
            time,
            ingest_time: time,
            time_flags: Vec::new(),
            source,
            class_uid: 0,
            category_uid: 0,
            activity_id: 0,
            type_uid: 0,
            severity_id: severity::INFORMATIONAL,
            status_id: status::UNKNOWN,
            status_code: None,
            status_detail: None,
            product: String::new(),
            event_code: None,
            actor: Actor::default(),
            src: Endpoint::default(),
            dst: Endpoint::default(),
            api: Api::default(),
            cloud: Cloud::default(),
            resources: Vec::new(),
            http: Http::default(),
            network: Network::default(),
            finding: None,
            message: None,
            uid: String::new(),
            raw,
            fields: None,
        }
    }

    /// Sets the OCSF class and activity, deriving `category_uid` and `type_uid`.
    pub fn set_class(&mut self, class_uid: u32, activity_id: u32) {
        self.class_uid = class_uid;
        self.category_uid = class_uid / 1000;
        self.activity_id = activity_id;
        self.type_uid = u64::from(class_uid) * 100 + u64::from(activity_id);
    }

    /// Adds a time flag once.
    pub fn flag_time(&mut self, flag: TimeFlag) {
        if !self.time_flags.contains(&flag) {
            self.time_flags.push(flag);
        }
    }
}
