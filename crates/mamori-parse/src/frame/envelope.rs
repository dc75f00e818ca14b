//! Delivery envelopes: the wrappers records travel in, opened so that each
//! event keeps the provider's record itself.

use base64::Engine;
use mamori_event::{SourceKind, Timestamp};

use super::{malformed, Framer, Loc};
use crate::detect::Keys;
use crate::scan::{self, Elements};
use crate::RejectReason;

impl Framer<'_> {
    /// Opens a delivery envelope; returns false when `keys` is a record.
    pub(super) fn envelope(
        &mut self,
        b: &[u8],
        k: &Keys,
        depth: u8,
        hint: Option<SourceKind>,
        loc: Loc,
    ) -> bool {
        let array = |name: &str| {
            k.member(name)
                .filter(|m| b[m.value.start] == b'[')
                .map(|m| m.value.start)
        };
        if k.has("digestStartTime") && k.has("digestEndTime") {
            self.summary
                .set_aside
                .push("CloudTrail digest file (integrity record, not events)".into());
            return true;
        }
        let sub = depth + 1;
        if let Some(a) = array("Records") {
            let _ = self.array(b, a, sub, Some(SourceKind::Cloudtrail));
            return true;
        }
        if let Some(a) = array("records").or_else(|| array("Findings")) {
            let _ = self.array(b, a, sub, hint);
            return true;
        }
        if let Some(a) = array("Events").filter(|_| k.members.len() <= 2) {
            let _ = self.array(b, a, sub, hint);
            return true;
        }
        if let Some(a) = array("items").filter(|_| k.str("kind").as_deref() == Some("EventList")) {
            let _ = self.array(b, a, sub, Some(SourceKind::K8sAudit));
            return true;
        }
        if let Some(a) = array("value").filter(|_| {
            k.members
                .iter()
                .all(|m| m.key == b"value" || m.key.starts_with(b"@odata"))
        }) {
            let _ = self.array(b, a, sub, hint);
            return true;
        }
        if let Some(a) = array("logEvents").filter(|_| k.has("messageType")) {
            if k.str("messageType").as_deref() == Some("CONTROL_MESSAGE") {
                self.summary
                    .set_aside
                    .push("CloudWatch Logs control message".into());
            } else {
                self.cloudwatch(b, a, sub, loc);
            }
            return true;
        }
        if let (Some(dt), Some(detail)) = (k.str("detail-type"), k.member("detail")) {
            let dt = dt.into_owned();
            let kind = if dt.ends_with("via CloudTrail") {
                Some(SourceKind::Cloudtrail)
            } else if dt == "GuardDuty Finding" {
                Some(SourceKind::Guardduty)
            } else {
                None
            };
            let saved = self.delivery;
            if let Some(t) = k.str("time").and_then(|t| Timestamp::parse_iso8601(&t)) {
                self.delivery = Some(t);
            }
            let handled = if dt.starts_with("Security Hub Findings") {
                let inner = scan::members(b, detail.value.start).0;
                let ik = Keys { b, members: &inner };
                match ik.member("findings").filter(|m| b[m.value.start] == b'[') {
                    Some(m) => {
                        let _ = self.array(b, m.value.start, sub, Some(SourceKind::SecurityHub));
                        true
                    }
                    None => false,
                }
            } else if let Some(kind) = kind.filter(|_| b[detail.value.start] == b'{') {
                self.object(
                    b,
                    detail.value.start,
                    Some(detail.value.end),
                    sub,
                    Some(kind),
                    loc,
                );
                true
            } else {
                false
            };
            self.delivery = saved;
            return handled;
        }
        if let Some(s) = k.str("CloudTrailEvent") {
            self.decoded(
                s.into_owned().into_bytes(),
                sub,
                Some(SourceKind::Cloudtrail),
                loc,
            );
            return true;
        }
        if let (Some(cat), Some(props)) = (k.str("category"), k.member("properties")) {
            if cat.starts_with("kube-audit") && b[props.value.start] == b'{' {
                let inner = scan::members(b, props.value.start).0;
                if let Some(log) = (Keys { b, members: &inner }).str("log") {
                    self.decoded(
                        log.into_owned().into_bytes(),
                        sub,
                        Some(SourceKind::K8sAudit),
                        loc,
                    );
                    return true;
                }
            }
        }
        if let (Some(msg), true) = (k.member("message"), k.has("subscription")) {
            if b[msg.value.start] == b'{' {
                let inner = scan::members(b, msg.value.start).0;
                if let Some(data) = (Keys { b, members: &inner }).str("data") {
                    match base64::engine::general_purpose::STANDARD.decode(data.as_bytes()) {
                        Ok(bytes) => self.decoded(bytes, sub, hint, loc),
                        Err(e) => {
                            self.summary.seen += 1;
                            let reason = RejectReason::shape(
                                SourceKind::GcpAudit,
                                format!("Pub/Sub message data is not base64: {e}"),
                            );
                            self.reject(loc, hint, reason, b[msg.value.clone()].to_vec());
                        }
                    }
                    return true;
                }
            }
        }
        false
    }

    /// A record carried as a string inside another (LookupEvents, AKS, Pub/Sub).
    pub(super) fn decoded(
        &mut self,
        bytes: Vec<u8>,
        depth: u8,
        hint: Option<SourceKind>,
        loc: Loc,
    ) {
        let i = scan::skip_ws(&bytes, 0);
        match scan::value_end(&bytes, i) {
            Ok(end) if i < bytes.len() && scan::skip_ws(&bytes, end) == bytes.len() => {
                self.value(&bytes, i..end, depth, hint, loc)
            }
            _ => {
                self.summary.seen += 1;
                let reason = malformed(&bytes);
                self.reject(loc, hint, reason, bytes);
            }
        }
    }

    /// CloudWatch Logs subscription `logEvents[]`: each `message` is a record.
    pub(super) fn cloudwatch(&mut self, b: &[u8], start: usize, depth: u8, loc: Loc) {
        let saved = self.delivery;
        for step in Elements::new(b, start) {
            let Ok(r) = step else {
                self.summary.seen += 1;
                self.reject(loc, None, RejectReason::TruncatedJson, b[start..].to_vec());
                break;
            };
            let members = scan::members(b, r.start).0;
            let k = Keys {
                b,
                members: &members,
            };
            if let Some(ts) = k.member("timestamp").and_then(|m| {
                std::str::from_utf8(&b[m.value.clone()])
                    .ok()?
                    .parse::<i64>()
                    .ok()
            }) {
                self.delivery = Timestamp::from_millis(ts);
            }
            match k.str("message") {
                Some(m) if m.trim_start().starts_with(['{', '[']) => {
                    self.decoded(m.into_owned().into_bytes(), depth, None, loc)
                }
                Some(m) => self.text_line(m.as_bytes(), loc),
                None => {
                    self.summary.seen += 1;
                    let reason = RejectReason::shape(
                        SourceKind::Generic,
                        "a CloudWatch Logs event needs a `message` string",
                    );
                    self.reject(loc, None, reason, b[r].to_vec());
                }
            }
        }
        self.delivery = saved;
    }
}
