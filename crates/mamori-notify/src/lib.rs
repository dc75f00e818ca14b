//! Notifications and tickets: findings delivered where people work.
//!
//! A [`ChannelConfig`] names a channel (Slack incoming webhook, PagerDuty
//! Events API v2, a generic webhook signed with HMAC-SHA256, or GitHub
//! issues) and which findings it takes ([`Route`]: minimum severity, rules,
//! tags). The [`Notifier`] compares each finding with what each channel was
//! last told (the outbox in the findings database) and sends what changed:
//! a new finding opens (Slack message, PagerDuty trigger, webhook
//! `finding.opened`, a GitHub issue), more events update (PagerDuty trigger
//! with the same dedup key, a GitHub comment), RESOLVED or SUPPRESSED
//! closes (PagerDuty resolve, the issue closed).
//!
//! Delivery is at least once and idempotent per finding: the finding id is
//! PagerDuty's dedup key and the webhook's delivery id, and a GitHub issue
//! is looked up by the id in its title before one is opened again. A
//! failing channel is retried with backoff (within a run, then across runs)
//! and gives up into a dead letter that `mamori findings channels` shows;
//! it never stops the other channels or the ingest.

mod channel;
mod deliver;
mod message;

pub use channel::{ChannelConfig, ChannelKind, Route};
pub use deliver::{ChannelReport, Notifier, NotifyOptions};
pub use message::{Action, HttpRequest};

/// What went wrong with a channel.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The configuration of a channel is unusable.
    #[error("notify channel {channel}: {reason}")]
    Config {
        /// The channel's name.
        channel: String,
        /// What is wrong.
        reason: String,
    },
    /// The findings database failed.
    #[error(transparent)]
    Findings(#[from] mamori_findings::FindingsError),
}
