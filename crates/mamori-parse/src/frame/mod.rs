//! Finding records in a file: JSON documents, JSON lines, text lines and
//! CSV; removing delivery envelopes (`envelope.rs`); reading text lines
//! (`text.rs`); handing each record to its source's
//! parser; and accounting for every record seen.

mod envelope;
mod text;

use std::ops::Range;

use mamori_event::{Event, SourceKind, TimeFlag, Timestamp};
use sha2::{Digest, Sha256};

use crate::decode::decode;
use crate::detect::{detect, Keys};
use crate::scan::{self, Elements, ScanError};
use crate::sources::{self, RecordCtx};
use crate::{FileSummary, ParseOptions, RejectReason, Rejected, Sink};

/// How deep envelopes may nest (EventBridge in JSON lines in a CloudWatch
/// subscription…); deeper input is read as a record.
const MAX_ENVELOPE_DEPTH: u8 = 4;

#[derive(Clone, Copy)]
struct Loc {
    line: u64,
    offset: u64,
}

struct Framer<'a> {
    opts: &'a ParseOptions,
    sink: &'a mut dyn Sink,
    summary: FileSummary,
    delivery: Option<Timestamp>,
    vpc_header: Option<Vec<String>>,
    /// Newline counting for records inside a document: (offset, line) reached so far.
    line_cursor: (usize, u64),
}

pub(crate) fn parse_file(
    name: &str,
    data: &[u8],
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> FileSummary {
    let mut f = Framer {
        opts,
        sink,
        summary: FileSummary::default(),
        delivery: delivery_time_from_name(name),
        vpc_header: None,
        line_cursor: (0, 1),
    };
    let decoded = decode(data, opts.max_decompressed_bytes);
    f.summary.compression = decoded.compression;
    let b: &[u8] = &decoded.data;
    let b = b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b);
    f.frame(b);
    if let Some((offset, reason)) = decoded.error {
        f.summary.seen += 1;
        let tail = data.get(offset as usize..).unwrap_or_default().to_vec();
        f.reject(Loc { line: 0, offset }, None, reason, tail);
    }
    f.summary
}

/// The delivery time encoded in an object key or file name, if any:
/// AWS `…_20240102T0304Z_…` (CloudTrail, VPC Flow Logs, ALB), Azure
/// `y=2024/m=01/d=02/h=03/m=00/PT1H.json`, GCP `2024/01/02/03:00:00_03:59:59_S0.json`.
pub fn delivery_time_from_name(name: &str) -> Option<Timestamp> {
    let b = name.as_bytes();
    // AWS: 8 digits, 'T', 4 digits, 'Z', between underscores.
    for i in 0..b.len().saturating_sub(14) {
        let w = &b[i..i + 15];
        if w[0] == b'_'
            && w[9] == b'T'
            && w[14] == b'Z'
            && w[1..9].iter().chain(&w[10..14]).all(u8::is_ascii_digit)
        {
            let s = &name[i + 1..i + 15];
            let n = |r: Range<usize>| s[r].parse::<u32>().ok();
            return Timestamp::from_civil(
                i64::from(n(0..4)?),
                n(4..6)?,
                n(6..8)?,
                n(9..11)?,
                n(11..13)?,
                0,
                0,
            );
        }
    }
    let part = |key: &str| {
        name.split('/')
            .find_map(|p| p.strip_prefix(key))
            .and_then(|v| v.parse::<u32>().ok())
    };
    if let (Some(y), Some(mo), Some(d), Some(h)) = (part("y="), part("m="), part("d="), part("h="))
    {
        // The hour's blob is appended to until the hour ends.
        return Timestamp::from_civil(i64::from(y), mo, d, h, 59, 59, 0);
    }
    let segs: Vec<&str> = name.split('/').collect();
    for w in segs.windows(4) {
        if let (Ok(y), Ok(mo), Ok(d)) = (
            w[0].parse::<u32>(),
            w[1].parse::<u32>(),
            w[2].parse::<u32>(),
        ) {
            if w[0].len() == 4 && w[3].len() > 18 && w[3].as_bytes()[8] == b'_' {
                let h = w[3][..2].parse::<u32>().ok()?;
                return Timestamp::from_civil(i64::from(y), mo, d, h, 59, 59, 0);
            }
        }
    }
    None
}

fn scan_reason(e: ScanError, b: &[u8], r: Range<usize>) -> RejectReason {
    match e {
        ScanError::Truncated => RejectReason::TruncatedJson,
        ScanError::TooDeep => RejectReason::TooDeep(scan::MAX_DEPTH),
        ScanError::Invalid(_) => malformed(&b[r]),
    }
}

fn malformed(bytes: &[u8]) -> RejectReason {
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(e) if e.is_eof() => RejectReason::TruncatedJson,
        Err(e) => RejectReason::MalformedJson(e.to_string()),
        Ok(_) => RejectReason::MalformedJson("not a JSON record".into()),
    }
}

fn content_uid(raw: &str) -> String {
    let d = Sha256::digest(raw.as_bytes());
    let mut s = String::with_capacity(34);
    s.push_str("h:");
    for byte in &d[..16] {
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

impl Framer<'_> {
    fn frame(&mut self, b: &[u8]) {
        let i = scan::skip_ws(b, 0);
        if i == b.len() {
            self.summary.container = "empty";
            return;
        }
        if matches!(b[i], b'{' | b'[') {
            if first_line_is_a_record(b, i) {
                self.summary.container = "json-lines";
                self.lines(b);
            } else {
                self.summary.container = "json-document";
                self.sequence(b, i);
            }
        } else if text::csv_header(b, i) {
            self.summary.container = "csv";
            self.csv(b, i);
        } else {
            self.summary.container = "text-lines";
            self.lines(b);
        }
    }

    fn loc(&mut self, b: &[u8], offset: usize) -> Loc {
        let (pos, line) = self.line_cursor;
        let line = if offset >= pos {
            line + count_lines(&b[pos..offset])
        } else {
            1 + count_lines(&b[..offset])
        };
        self.line_cursor = (offset, line);
        Loc {
            line,
            offset: offset as u64,
        }
    }

    /// One JSON document, or several concatenated.
    fn sequence(&mut self, b: &[u8], mut i: usize) {
        while i < b.len() {
            let loc = self.loc(b, i);
            let end = match b[i] {
                b'{' => self.top_object(b, i, loc),
                b'[' => self.array(b, i, 1, None),
                _ => {
                    self.summary.seen += 1;
                    let reason = malformed(&b[i..]);
                    self.reject(loc, None, reason, b[i..].to_vec());
                    None
                }
            };
            match end {
                Some(e) => i = scan::skip_ws(b, e),
                None => return,
            }
        }
    }

    /// A top-level object. When its first member is a `Records`, `records`
    /// or `Findings` array (CloudTrail S3 objects, Event Hubs batches,
    /// findings responses), the records are read as the array is walked, so
    /// the bulk of the file is scanned once. Returns the end of the object,
    /// or `None` when the input ended inside it.
    fn top_object(&mut self, b: &[u8], start: usize, loc: Loc) -> Option<usize> {
        let key_at = scan::skip_ws(b, start + 1);
        if b.get(key_at) == Some(&b'"') {
            if let Ok(kend) = scan::string_end(b, key_at) {
                let key = &b[key_at + 1..kend - 1];
                let colon = scan::skip_ws(b, kend);
                let vs = scan::skip_ws(b, colon + 1);
                let hint = match key {
                    b"Records" => Some(Some(SourceKind::Cloudtrail)),
                    b"records" | b"Findings" => Some(None),
                    _ => None,
                };
                if let (Some(hint), Some(b':'), Some(b'[')) = (hint, b.get(colon), b.get(vs)) {
                    let after = self.array(b, vs, 1, hint)?;
                    return self.rest_of_object(b, after);
                }
            }
        }
        match scan::value_end(b, start) {
            Ok(end) => {
                self.object(b, start, Some(end), 0, None, loc);
                Some(end)
            }
            Err(_) => {
                self.object(b, start, None, 0, None, loc);
                None
            }
        }
    }

    fn lines(&mut self, b: &[u8]) {
        let mut pos = 0;
        let mut line_no = 0u64;
        while pos < b.len() {
            let nl = memchr::memchr(b'\n', &b[pos..]).map(|k| pos + k);
            let end = nl.unwrap_or(b.len());
            line_no += 1;
            let mut stop = end;
            if stop > pos && b[stop - 1] == b'\r' {
                stop -= 1;
            }
            let start = pos;
            pos = end + 1;
            let first = scan::skip_ws(&b[..stop], start);
            if first == stop {
                continue;
            }
            let loc = Loc {
                line: line_no,
                offset: start as u64,
            };
            if matches!(b[first], b'{' | b'[') {
                match scan::value_end(&b[..stop], first) {
                    Ok(e) if scan::skip_ws(&b[..stop], e) == stop => {
                        self.value(b, first..e, 0, None, loc)
                    }
                    Ok(_) => {
                        self.summary.seen += 1;
                        let reason = RejectReason::MalformedJson(
                            "unexpected text after the JSON value on this line".into(),
                        );
                        self.reject(loc, None, reason, b[start..stop].to_vec());
                    }
                    Err(e) => {
                        self.summary.seen += 1;
                        let mut reason = scan_reason(e, b, first..stop);
                        if reason == RejectReason::TruncatedJson && nl.is_some() {
                            reason = RejectReason::MalformedJson(
                                "the line ends inside a JSON value".into(),
                            );
                        }
                        self.reject(loc, None, reason, b[start..stop].to_vec());
                    }
                }
            } else {
                self.text_line(&b[start..stop], loc);
            }
        }
    }

    fn value(&mut self, b: &[u8], r: Range<usize>, depth: u8, hint: Option<SourceKind>, loc: Loc) {
        match b[r.start] {
            b'{' => self.object(b, r.start, Some(r.end), depth, hint, loc),
            b'[' if depth < MAX_ENVELOPE_DEPTH => {
                let _ = self.array(b, r.start, depth + 1, hint);
            }
            _ => {
                self.summary.seen += 1;
                let reason = RejectReason::shape(
                    hint.unwrap_or(SourceKind::Generic),
                    "a record must be a JSON object",
                );
                self.reject(loc, hint, reason, b[r].to_vec());
            }
        }
    }

    /// Skips the members after a streamed envelope array (a `NextToken`…:
    /// not records) to the object's end.
    fn rest_of_object(&mut self, b: &[u8], mut j: usize) -> Option<usize> {
        loop {
            j = scan::skip_ws(b, j);
            match b.get(j) {
                Some(b'}') => return Some(j + 1),
                Some(b',') => {
                    let k = scan::skip_ws(b, j + 1);
                    let member = scan::string_end(b, k)
                        .ok()
                        .map(|e| scan::skip_ws(b, e))
                        .filter(|&c| b.get(c) == Some(&b':'));
                    match member.and_then(|c| scan::value_end(b, scan::skip_ws(b, c + 1)).ok()) {
                        Some(end) => j = end,
                        None => break,
                    }
                }
                _ => break,
            }
        }
        let loc = self.loc(b, j);
        self.summary.seen += 1;
        self.reject(loc, None, malformed(&b[j..]), b[j..].to_vec());
        None
    }

    /// The hot path for CloudTrail `Records`: each element is parsed where it
    /// stands and the parser says where it ended, so the array is not scanned
    /// before it is parsed. An element the parser refuses is delimited by the
    /// scanner and read by [`Self::leaf`], which names the reason.
    fn cloudtrail_records(&mut self, b: &[u8], text: &str, start: usize) -> Option<usize> {
        let mut i = scan::skip_ws(b, start + 1);
        if b.get(i) == Some(&b']') {
            return Some(i + 1);
        }
        loop {
            let fast = match b.get(i) {
                Some(b'{') => sources::cloudtrail::normalize_prefix(&text[i - start..])
                    .ok()
                    .filter(|(_, n)| *n <= self.opts.max_record_bytes),
                _ => None,
            };
            let end = match fast {
                Some((ev, n)) => {
                    self.summary.seen += 1;
                    self.accept(ev, &RecordCtx::default());
                    i + n
                }
                None => match scan::value_end(b, i)
                    .map_err(|e| (e, self.loc(b, i)))
                    .map(|end| (end, self.loc(b, i)))
                {
                    Ok((end, loc)) if b[i] == b'{' => {
                        self.leaf(&b[i..end], Some(SourceKind::Cloudtrail), None, loc);
                        end
                    }
                    Ok((end, loc)) => {
                        self.summary.seen += 1;
                        let reason = RejectReason::shape(
                            SourceKind::Cloudtrail,
                            "an array element must be a JSON object",
                        );
                        self.reject(
                            loc,
                            Some(SourceKind::Cloudtrail),
                            reason,
                            b[i..end].to_vec(),
                        );
                        end
                    }
                    Err((e, loc)) => {
                        self.summary.seen += 1;
                        let reason = scan_reason(e, b, i..b.len());
                        self.reject(loc, Some(SourceKind::Cloudtrail), reason, b[i..].to_vec());
                        return None;
                    }
                },
            };
            i = scan::skip_ws(b, end);
            match b.get(i) {
                Some(b',') => i = scan::skip_ws(b, i + 1),
                Some(b']') => return Some(i + 1),
                _ => {
                    let loc = self.loc(b, i);
                    self.summary.seen += 1;
                    let reason = if i >= b.len() {
                        RejectReason::TruncatedJson
                    } else {
                        malformed(&b[i..])
                    };
                    self.reject(loc, Some(SourceKind::Cloudtrail), reason, b[i..].to_vec());
                    return None;
                }
            }
        }
    }

    /// Reads the records of the array at `start`; returns the offset after
    /// its `]`, or `None` when it could not be walked to its end.
    fn array(
        &mut self,
        b: &[u8],
        start: usize,
        depth: u8,
        hint: Option<SourceKind>,
    ) -> Option<usize> {
        if hint == Some(SourceKind::Cloudtrail) && self.opts.source.is_none() {
            // One UTF-8 check for the whole array, then no per-string checks.
            if let Ok(text) = std::str::from_utf8(&b[start..]) {
                return self.cloudtrail_records(b, text, start);
            }
        }
        let mut elements = Elements::new(b, start);
        for step in elements.by_ref() {
            match step {
                Ok(r) => {
                    let loc = self.loc(b, r.start);
                    if b[r.start] == b'{'
                        && hint.is_some_and(|h| h != SourceKind::Generic)
                        && self.opts.source.is_none()
                    {
                        // Inside `Records`, `items` or `findings` the source is
                        // known and no envelope nests: read the record directly.
                        self.leaf(&b[r], hint, None, loc);
                    } else if b[r.start] == b'{' {
                        self.object(b, r.start, Some(r.end), depth, hint, loc);
                    } else {
                        self.summary.seen += 1;
                        let reason = RejectReason::shape(
                            hint.unwrap_or(SourceKind::Generic),
                            "an array element must be a JSON object",
                        );
                        self.reject(loc, hint, reason, b[r].to_vec());
                    }
                }
                Err((at, e)) => {
                    let loc = self.loc(b, at);
                    self.summary.seen += 1;
                    let reason = scan_reason(e, b, at..b.len());
                    self.reject(loc, hint, reason, b[at..].to_vec());
                    return None;
                }
            }
        }
        Some(elements.position())
    }

    /// An object: an envelope to open, or a record. `end` is `None` when the
    /// document was cut short inside it.
    fn object(
        &mut self,
        b: &[u8],
        start: usize,
        end: Option<usize>,
        depth: u8,
        hint: Option<SourceKind>,
        loc: Loc,
    ) {
        let (members, stopped) = scan::members(b, start);
        if let Some(stop) = stopped {
            // Salvage the complete records of a truncated envelope array.
            let envelope = stop.key.and_then(|k| match k {
                b"Records" => Some(Some(SourceKind::Cloudtrail)),
                b"items" => Some(Some(SourceKind::K8sAudit)),
                b"records" | b"Findings" | b"findings" | b"value" | b"Events" => Some(hint),
                _ => None,
            });
            match (envelope, stop.value_start) {
                (Some(h), Some(vs))
                    if end.is_none() && b.get(vs) == Some(&b'[') && depth < MAX_ENVELOPE_DEPTH =>
                {
                    self.array(b, vs, depth + 1, h);
                }
                _ => {
                    self.summary.seen += 1;
                    let stop_at = end.unwrap_or(b.len());
                    let reason = scan_reason(stop.error, b, start..stop_at);
                    self.reject(loc, hint, reason, b[start..stop_at].to_vec());
                }
            }
            return;
        }
        let end = end.unwrap_or(b.len());
        let keys = Keys {
            b,
            members: &members,
        };
        if depth < MAX_ENVELOPE_DEPTH && self.envelope(b, &keys, depth, hint, loc) {
            return;
        }
        self.leaf(&b[start..end], hint, Some(&keys), loc);
    }

    /// One JSON record.
    fn leaf(&mut self, bytes: &[u8], hint: Option<SourceKind>, keys: Option<&Keys>, loc: Loc) {
        self.summary.seen += 1;
        if bytes.len() > self.opts.max_record_bytes {
            let reason = RejectReason::TooLarge {
                size: bytes.len(),
                limit: self.opts.max_record_bytes,
            };
            return self.reject(loc, hint, reason, bytes.to_vec());
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                return self.reject(
                    loc,
                    hint,
                    RejectReason::InvalidUtf8(e.valid_up_to()),
                    bytes.to_vec(),
                )
            }
        };
        let kind = self
            .opts
            .source
            .or(hint)
            .unwrap_or_else(|| keys.map_or(SourceKind::Generic, detect));
        let mut ctx = RecordCtx::default();
        match sources::normalize_json(kind, text, &mut ctx) {
            Ok(ev) => self.accept(ev, &ctx),
            Err(reason) => self.reject(loc, Some(kind), reason, bytes.to_vec()),
        }
    }

    fn accept(&mut self, mut ev: Event, ctx: &RecordCtx) {
        ev.ingest_time = self.opts.ingest_time;
        let delivery = ctx.record_delivery.or(self.delivery);
        if ev.time_flags.contains(&TimeFlag::Missing) {
            ev.time = delivery.unwrap_or(self.opts.ingest_time);
        }
        // With no ingest time (the library default, 0) there is no "now" to be in the future of.
        if ev.time.0
            > self
                .opts
                .ingest_time
                .0
                .saturating_add(self.opts.future_tolerance_us)
            && self.opts.ingest_time.0 != 0
        {
            ev.flag_time(TimeFlag::Future);
        }
        if let Some(d) = delivery {
            if (ev.time.0 - d.0).abs() > self.opts.skew_tolerance_us
                && !ev.time_flags.contains(&TimeFlag::Missing)
            {
                ev.flag_time(TimeFlag::Skewed);
            }
        }
        if ev.uid.is_empty() {
            ev.uid = content_uid(&ev.raw);
        }
        self.summary.normalized += 1;
        *self.summary.sources.entry(ev.source).or_default() += 1;
        self.sink.event(ev);
    }

    fn reject(
        &mut self,
        loc: Loc,
        source: Option<SourceKind>,
        reason: RejectReason,
        record: Vec<u8>,
    ) {
        self.summary.rejected += 1;
        *self
            .summary
            .reject_reasons
            .entry(reason.code())
            .or_default() += 1;
        self.sink.reject(Rejected {
            line: loc.line,
            byte_offset: loc.offset,
            source,
            reason,
            record,
        });
    }
}

fn count_lines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// JSON lines or one document? Decided from the first line alone, so that
/// a one-line `{"Records":[…]}` object is not scanned an extra time: a
/// JSON-lines file's first line is a whole record (it ends with `}` or `]`)
/// and more follows; a pretty-printed document's first line opens it.
fn first_line_is_a_record(b: &[u8], i: usize) -> bool {
    let Some(nl) = memchr::memchr(b'\n', &b[i..]).map(|k| i + k) else {
        return false;
    };
    if scan::skip_ws(b, nl) == b.len() {
        return false;
    }
    let first = std::str::from_utf8(&b[i..nl]).unwrap_or("").trim_end();
    first.len() > 1 && (first.ends_with('}') || first.ends_with(']'))
        || (first.len() > 1
            && !first.ends_with(['{', '[', ',', ':'])
            && b.get(nl + 1) == Some(&b'{'))
}
