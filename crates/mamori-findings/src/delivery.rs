//! The notification outbox: per channel and finding, what was last delivered
//! (phase and count), whether a delivery is failing and when to try again.
//! Delivery is at-least-once: a finding is due until its channel confirms.

use mamori_event::Timestamp;

use crate::db::{Row, Val};
use crate::record::append_history;
use crate::schema::COLUMNS;
use crate::store::{finding_from_row, SYSTEM};
use crate::{Finding, FindingStore, FindingsError, Status};

/// Where a finding stands with one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// The channel confirmed the last delivery.
    Sent,
    /// The last delivery failed; it is tried again after `next_attempt`.
    Retrying,
    /// Given up (a refusal that retrying cannot fix, or too many failures):
    /// the dead letter, kept until `findings notify --retry-dead`.
    Dead,
    /// The channel's routing does not take this finding.
    Skipped,
}

impl DeliveryState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sent => "sent",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Dead => "dead",
            DeliveryState::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> DeliveryState {
        match s {
            "sent" => DeliveryState::Sent,
            "dead" => DeliveryState::Dead,
            "skipped" => DeliveryState::Skipped,
            _ => DeliveryState::Retrying,
        }
    }
}

/// Whether a finding is still to be acted on (`Open`) or done (`Closed`),
/// as a channel was last told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// NEW or NOTIFIED.
    Open,
    /// RESOLVED or SUPPRESSED.
    Closed,
}

impl Phase {
    /// The phase of a status.
    pub fn of(s: Status) -> Phase {
        match s {
            Status::New | Status::Notified => Phase::Open,
            Status::Resolved | Status::Suppressed => Phase::Closed,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Phase::Open => "open",
            Phase::Closed => "closed",
        }
    }
}

/// One finding's delivery record on one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The channel's name.
    pub channel: String,
    /// The finding.
    pub finding_id: String,
    /// Outcome of the last attempt.
    pub state: DeliveryState,
    /// What the channel was last told successfully (none yet: `None`).
    pub sent_phase: Option<Phase>,
    /// The finding's count the channel was last told.
    pub sent_count: u64,
    /// The channel's own handle (a GitHub issue number).
    pub external_ref: Option<String>,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// Not before this time (a failing delivery's backoff).
    pub next_attempt: Timestamp,
    /// The last failure.
    pub last_error: Option<String>,
    /// When this record last changed.
    pub updated: Timestamp,
}

impl Delivery {
    /// A finding's first record on a channel.
    pub fn new(channel: &str, finding_id: &str) -> Delivery {
        Delivery {
            channel: channel.to_owned(),
            finding_id: finding_id.to_owned(),
            state: DeliveryState::Retrying,
            sent_phase: None,
            sent_count: 0,
            external_ref: None,
            attempts: 0,
            next_attempt: Timestamp(0),
            last_error: None,
            updated: Timestamp(0),
        }
    }

    fn from_row(r: &[Val]) -> Delivery {
        Delivery {
            channel: r[0].string(),
            finding_id: r[1].string(),
            state: DeliveryState::parse(r[2].text().unwrap_or_default()),
            sent_phase: match r[3].text() {
                Some("open") => Some(Phase::Open),
                Some("closed") => Some(Phase::Closed),
                _ => None,
            },
            sent_count: r[4].int().max(0) as u64,
            external_ref: r[5].text().map(str::to_owned),
            attempts: r[6].int().clamp(0, i64::from(u32::MAX)) as u32,
            next_attempt: Timestamp(r[7].int()),
            last_error: r[8].text().map(str::to_owned),
            updated: Timestamp(r[9].int()),
        }
    }
}

const DELIVERY_COLUMNS: &str = "channel, finding_id, state, sent_phase, sent_count, external_ref, attempts, next_attempt, last_error, updated";

/// Findings processed per channel in one pass.
const DUE_BATCH: i64 = 500;

impl FindingStore {
    /// Findings a channel has not been told about as they are now: new
    /// open findings, count or phase changes since the last delivery, and
    /// failing deliveries whose backoff has passed; oldest first.
    pub fn due_deliveries(
        &mut self,
        channel: &str,
        now: Timestamp,
    ) -> Result<Vec<(Finding, Option<Delivery>)>, FindingsError> {
        let f_cols = COLUMNS
            .split(", ")
            .map(|c| format!("f.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let d_cols = DELIVERY_COLUMNS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = self.db.query(
            &format!(
                "SELECT {f_cols}, {d_cols} FROM findings f LEFT JOIN deliveries d ON d.finding_id = f.id AND d.channel = $1 \
                 WHERE (d.finding_id IS NULL AND f.status IN ('NEW', 'NOTIFIED')) \
                 OR (d.state = 'retrying' AND d.next_attempt <= $2) \
                 OR (d.state = 'sent' AND (d.sent_count <> f.count OR d.sent_phase IS NULL OR d.sent_phase <> \
                     CASE WHEN f.status IN ('NEW', 'NOTIFIED') THEN 'open' ELSE 'closed' END)) \
                 ORDER BY f.created, f.id LIMIT $3"
            ),
            &[channel.into(), now.0.into(), DUE_BATCH.into()],
        )?;
        let n = COLUMNS.split(", ").count();
        rows.iter()
            .map(|r: &Row| {
                let f = finding_from_row(&r[..n])?;
                let d = (r[n + 1] != Val::Null).then(|| Delivery::from_row(&r[n..]));
                Ok((f, d))
            })
            .collect()
    }

    /// Saves a delivery record.
    pub fn save_delivery(&mut self, d: &Delivery) -> Result<(), FindingsError> {
        self.db.exec(
            &format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (channel, finding_id) DO UPDATE SET state = $3, sent_phase = $4, sent_count = $5, \
                 external_ref = $6, attempts = $7, next_attempt = $8, last_error = $9, updated = $10"
            ),
            &[
                d.channel.as_str().into(),
                d.finding_id.as_str().into(),
                d.state.as_str().into(),
                d.sent_phase.map(Phase::as_str).into(),
                (d.sent_count as i64).into(),
                d.external_ref.clone().into(),
                i64::from(d.attempts).into(),
                d.next_attempt.0.into(),
                d.last_error.clone().into(),
                d.updated.0.into(),
            ],
        )?;
        Ok(())
    }

    /// Delivery records, of one channel or all, failing ones first.
    pub fn deliveries(&mut self, channel: Option<&str>) -> Result<Vec<Delivery>, FindingsError> {
        let rows = self.db.query(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE ($1 = '' OR channel = $1) \
                 ORDER BY channel, CASE state WHEN 'dead' THEN 0 WHEN 'retrying' THEN 1 ELSE 2 END, updated DESC"
            ),
            &[channel.unwrap_or("").into()],
        )?;
        Ok(rows.iter().map(|r| Delivery::from_row(r)).collect())
    }

    /// Puts dead deliveries (of one channel or all) back in the queue.
    pub fn retry_dead(&mut self, channel: Option<&str>) -> Result<u64, FindingsError> {
        self.db.exec(
            "UPDATE deliveries SET state = 'retrying', attempts = 0, next_attempt = 0 \
             WHERE state = 'dead' AND ($1 = '' OR channel = $1)",
            &[channel.unwrap_or("").into()],
        )
    }

    /// A channel delivered a NEW finding: it becomes NOTIFIED, in its history.
    pub fn mark_notified(
        &mut self,
        id: &str,
        channel: &str,
        now: Timestamp,
    ) -> Result<(), FindingsError> {
        self.db.transaction(|db| {
            let changed = db.exec(
                "UPDATE findings SET status = 'NOTIFIED', updated = $1 WHERE id = $2 AND status = 'NEW'",
                &[now.0.into(), id.into()],
            )?;
            if changed > 0 {
                let why = format!("delivered to {channel}");
                append_history(
                    db,
                    id,
                    now,
                    SYSTEM,
                    "notified",
                    Some("NEW"),
                    Some("NOTIFIED"),
                    Some(&why),
                )?;
            }
            Ok(())
        })
    }
}
