//! Findings: what analysts work. Detections from the rules, and the findings
//! GuardDuty and Security Hub deliver as logs, become [`Finding`]s with a
//! workflow status (the ASFF values NEW → NOTIFIED → RESOLVED or SUPPRESSED),
//! an assignee and an append-only history of who changed what, when and why.
//!
//! - Dedup: a detection of the same rule and group key as an open finding
//!   within the dedup window updates it (count, last seen, event references)
//!   instead of opening another. Event references make recording idempotent:
//!   replaying the same detections changes nothing.
//! - Suppressions (a rule, an entity, or both; author, reason, expiry) turn
//!   matching detections into SUPPRESSED findings: kept, counted, not raised.
//! - Export as AWS Security Finding Format and as OCSF Detection Finding.
//!
//! The same code runs on an embedded SQLite file (the default) and on
//! PostgreSQL (`postgres://…`) for shared deployments.

mod context;
mod db;
mod delivery;
mod export;
mod lookup;
mod model;
mod record;
mod schema;
mod store;

pub use context::context_lines;
pub use delivery::{Delivery, DeliveryState, Phase};
pub use export::{to_asff, to_ocsf};
pub use model::{Finding, HistoryEntry, Severity, Status, Suppression};
pub use record::product_detection;
pub use store::{Filter, FindingStore, Recorded, DEFAULT_DEDUP_WINDOW_SECS};

/// What went wrong in the findings database.
#[derive(Debug, thiserror::Error)]
pub enum FindingsError {
    /// The database refused or could not be reached.
    #[error("findings database {target}: {reason}")]
    Db {
        /// The SQLite file or PostgreSQL URL (without password).
        target: String,
        /// The driver's message.
        reason: String,
    },
    /// No finding or suppression has this id.
    #[error("no finding or suppression {0}")]
    NotFound(String),
    /// A request the workflow does not allow, or a bad argument.
    #[error("{0}")]
    Invalid(String),
}

impl FindingsError {
    pub(crate) fn db(target: &str, e: impl std::fmt::Display) -> FindingsError {
        FindingsError::Db {
            target: target.to_owned(),
            reason: e.to_string(),
        }
    }
}
