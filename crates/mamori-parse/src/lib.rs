//! Bytes in, normalized events and named rejects out.
//!
//! `mamori-parse` reads every container and source Mamori supports (see
//! [`SourceKind`]): it undoes compression by magic bytes ([`decode`]), finds
//! the records in JSON documents, JSON lines and text lines, removes delivery
//! envelopes (S3 `Records`, EventBridge, LookupEvents, Pub/Sub push,
//! CloudWatch Logs subscriptions, diagnostic-settings `records`, Graph
//! `value`, `EventList`), detects each record's source, and maps it to an
//! [`Event`].
//!
//! Parsing never fails a file: a record that cannot be read becomes a
//! [`Rejected`] with its line, byte offset, reason and exact bytes, and every
//! other record still comes through. For each file, `seen = normalized +
//! rejected` holds ([`FileSummary`]).
//!
//! ```
//! use mamori_parse::{parse_to_vec, ParseOptions};
//! let data = br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z",
//!   "eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"e1",
//!   "awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","userName":"alice"}}, {"broken": }]}"#;
//! let out = parse_to_vec("trail.json", data, &ParseOptions::default());
//! assert_eq!(out.events.len(), 1);
//! assert_eq!(out.events[0].api.operation.as_deref(), Some("CreateUser"));
//! assert_eq!(out.rejected.len(), 1);
//! assert_eq!(out.summary.seen, 2);
//! ```
//!
//! This crate does no I/O: callers hand it bytes and receive values.

mod decode;
mod detect;
mod frame;
mod json;
mod reject;
pub mod scan;
mod sources;

pub use decode::{decode, Compression, Decoded};
pub use frame::delivery_time_from_name;
pub use reject::{RejectReason, Rejected};

use std::collections::BTreeMap;

pub use mamori_event::{Event, SourceKind, Timestamp};

/// How to parse.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Read every record as this source instead of detecting it (`--source`).
    pub source: Option<SourceKind>,
    /// The ingest time stamped on events (fixed in tests; now in the CLI).
    pub ingest_time: Timestamp,
    /// Records larger than this are rejected whole (default 4 MiB).
    pub max_record_bytes: usize,
    /// Decompression stops, and the rest of the file is rejected, past this many bytes (default 4 GiB).
    pub max_decompressed_bytes: u64,
    /// An event more than this far (µs) after the ingest time is flagged `future` (default 15 min).
    pub future_tolerance_us: i64,
    /// An event more than this far (µs) from its delivery time is flagged `skewed` (default 48 h).
    pub skew_tolerance_us: i64,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            source: None,
            ingest_time: Timestamp(0),
            max_record_bytes: 4 << 20,
            max_decompressed_bytes: 4 << 30,
            future_tolerance_us: 15 * 60 * 1_000_000,
            skew_tolerance_us: 48 * 3600 * 1_000_000,
        }
    }
}

/// Receives what a parse produces, record by record.
pub trait Sink {
    /// A normalized event.
    fn event(&mut self, event: Event);
    /// A rejected record.
    fn reject(&mut self, rejected: Rejected);
}

/// What one file held.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileSummary {
    /// The compression found by magic bytes.
    pub compression: Compression,
    /// How records were framed: `json-document`, `json-lines`, `text-lines`, `csv`, or `empty`.
    pub container: &'static str,
    /// Records found (after removing envelopes), counted as they are framed.
    pub seen: u64,
    /// Records normalized into events.
    pub normalized: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Events per detected source.
    pub sources: BTreeMap<SourceKind, u64>,
    /// Rejects per reason code.
    pub reject_reasons: BTreeMap<&'static str, u64>,
    /// Things recognised and deliberately not read as events (CloudTrail digest files, control messages).
    pub set_aside: Vec<String>,
}

impl FileSummary {
    /// The source most events came from, or `None` for a file with no events.
    pub fn main_source(&self) -> Option<SourceKind> {
        self.sources
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, _)| *k)
    }
}

/// The request id (`api.request_uid`) of one record of `kind`, as the
/// parser finds it. The store keeps request ids only inside the original
/// record (random, seldom searched, 13 % of the store as a column of their
/// own), so a query that asks for them finds them again here.
pub fn request_uid(kind: SourceKind, raw: &str) -> Option<String> {
    sources::request_uid(kind, raw)
}

/// Parses one file's bytes (compressed or not), sending events and rejects to
/// `sink`. `name` is the file or object name; it is used only to read a
/// delivery time from AWS, Azure and GCP naming layouts.
pub fn parse(name: &str, data: &[u8], opts: &ParseOptions, sink: &mut dyn Sink) -> FileSummary {
    frame::parse_file(name, data, opts, sink)
}

/// Everything a parse produced, collected.
#[derive(Debug, Default)]
pub struct ParseOutput {
    /// Normalized events, in input order.
    pub events: Vec<Event>,
    /// Rejected records, in input order.
    pub rejected: Vec<Rejected>,
    /// Counts.
    pub summary: FileSummary,
}

#[derive(Default)]
struct Collect {
    events: Vec<Event>,
    rejected: Vec<Rejected>,
}

impl Sink for Collect {
    fn event(&mut self, event: Event) {
        self.events.push(event);
    }
    fn reject(&mut self, rejected: Rejected) {
        self.rejected.push(rejected);
    }
}

/// [`parse`] into vectors.
pub fn parse_to_vec(name: &str, data: &[u8], opts: &ParseOptions) -> ParseOutput {
    let mut c = Collect::default();
    let summary = parse(name, data, opts, &mut c);
    ParseOutput {
        events: c.events,
        rejected: c.rejected,
        summary,
    }
}
