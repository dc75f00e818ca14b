//! Text records: VPC Flow Logs, ALB and syslog lines, and CSV with a header.

use mamori_event::SourceKind;

use super::{count_lines, Framer, Loc};
use crate::sources::{self, alb, syslog, vpc_flow, RecordCtx};
use crate::RejectReason;

impl Framer<'_> {
    /// One text line (VPC Flow Logs, ALB, syslog).
    pub(super) fn text_line(&mut self, bytes: &[u8], loc: Loc) {
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                self.summary.seen += 1;
                return self.reject(
                    loc,
                    None,
                    RejectReason::InvalidUtf8(e.valid_up_to()),
                    bytes.to_vec(),
                );
            }
        };
        if self.opts.source.is_none_or(|s| s == SourceKind::VpcFlow) {
            if let Some(h) = vpc_flow::header(text) {
                self.vpc_header = Some(h);
                return;
            }
        }
        self.summary.seen += 1;
        if bytes.len() > self.opts.max_record_bytes {
            let reason = RejectReason::TooLarge {
                size: bytes.len(),
                limit: self.opts.max_record_bytes,
            };
            return self.reject(loc, None, reason, bytes.to_vec());
        }
        let reference = self.delivery.unwrap_or(self.opts.ingest_time);
        let header_fits = self
            .vpc_header
            .as_ref()
            .is_some_and(|h| text.split_ascii_whitespace().count() == h.len());
        let kind = match self.opts.source {
            Some(k) => k,
            None if header_fits => SourceKind::VpcFlow,
            None if syslog::looks_like(text, reference) => SourceKind::Syslog,
            None if alb::looks_like(text) => SourceKind::Alb,
            None if vpc_flow::looks_default(text) => SourceKind::VpcFlow,
            None => {
                let reason = RejectReason::UnknownFormat(
                    "the line is not JSON, VPC Flow Logs, ALB or syslog".into(),
                );
                return self.reject(loc, None, reason, bytes.to_vec());
            }
        };
        let result = match kind {
            SourceKind::VpcFlow => {
                let default: Vec<String> = vpc_flow::DEFAULT_FIELDS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                vpc_flow::normalize_text(text, self.vpc_header.as_deref().unwrap_or(&default))
            }
            SourceKind::Alb => alb::normalize(text),
            SourceKind::Syslog => syslog::normalize(text, reference),
            other => Err(RejectReason::shape(
                other,
                "a text line cannot be read as this JSON source",
            )),
        };
        let ctx = RecordCtx::default();
        match result {
            Ok(ev) => self.accept(ev, &ctx),
            Err(reason) => self.reject(loc, Some(kind), reason, bytes.to_vec()),
        }
    }

    /// CSV with a header row: each row becomes a generic JSON record.
    pub(super) fn csv(&mut self, b: &[u8], start: usize) {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&b[start..]);
        let mut headers = csv::ByteRecord::new();
        if rdr.read_byte_record(&mut headers).is_err() {
            return;
        }
        let headers: Vec<String> = headers
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_owned())
            .collect();
        let mut rec = csv::ByteRecord::new();
        loop {
            let pos = rdr.position().clone();
            let begin = start + pos.byte() as usize;
            let loc = Loc {
                line: pos.line() + count_lines(&b[..start]),
                offset: begin as u64,
            };
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    self.summary.seen += 1;
                    let stop = start + rdr.position().byte() as usize;
                    self.reject(
                        loc,
                        None,
                        RejectReason::shape(SourceKind::Generic, format!("CSV: {e}")),
                        b[begin..stop.max(begin)].to_vec(),
                    );
                    continue;
                }
            }
            let stop = start + rdr.position().byte() as usize;
            let raw = &b[begin..stop];
            let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            self.summary.seen += 1;
            let text = match std::str::from_utf8(raw) {
                Ok(t) => t,
                Err(e) => {
                    self.reject(
                        loc,
                        None,
                        RejectReason::InvalidUtf8(e.valid_up_to()),
                        raw.to_vec(),
                    );
                    continue;
                }
            };
            let mut obj = serde_json::Map::new();
            for (i, field) in rec.iter().enumerate() {
                let key = headers
                    .get(i)
                    .filter(|h| !h.is_empty())
                    .cloned()
                    .unwrap_or_else(|| format!("column_{}", i + 1));
                obj.insert(
                    key,
                    serde_json::Value::String(String::from_utf8_lossy(field).into_owned()),
                );
            }
            let mut ev = sources::generic::from_object(&obj, text);
            ev.product = "CSV".into();
            ev.fields = Some(serde_json::Value::Object(obj).to_string());
            let ctx = RecordCtx::default();
            self.accept(ev, &ctx);
        }
    }
}

/// A first line that looks like a CSV header: at least two comma-separated
/// names made of letters, digits, spaces and `_-@.()/`.
pub(super) fn csv_header(b: &[u8], i: usize) -> bool {
    let end = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |k| i + k);
    let Ok(line) = std::str::from_utf8(&b[i..end]) else {
        return false;
    };
    let line = line.trim_end_matches('\r');
    let names: Vec<&str> = line
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .collect();
    let ok = names.len() >= 3
        && names.iter().all(|n| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_alphanumeric() || " _-@.()/".contains(c))
        })
        && names.iter().any(|n| n.chars().any(char::is_alphabetic))
        && !names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_digit() || c == '.'));
    ok
}
