//! Reading a rule's field names from an event: the provider's JSON paths of
//! the original record, as SigmaHQ writes them, then Mamori's normalized fields.

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::doc::Doc;
use mamori_event::{Event, SourceKind};

/// One value a field has in an event.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    /// A string, number or boolean, as text.
    Text(Cow<'a, str>),
    /// JSON `null`.
    Null,
}

/// An event as rules see it; the original record is parsed once, on first use.
pub struct EventView<'a> {
    /// The event.
    pub event: &'a Event,
    doc: OnceCell<Option<Doc<'a>>>,
}

impl<'a> EventView<'a> {
    /// A view of one event.
    pub fn new(event: &'a Event) -> Self {
        EventView {
            event,
            doc: OnceCell::new(),
        }
    }

    /// The record as JSON: the original for JSON sources, the named fields of a text line otherwise.
    pub(crate) fn doc(&self) -> Option<&Doc<'a>> {
        self.doc
            .get_or_init(|| {
                let event: &'a Event = self.event;
                Doc::parse(event.fields.as_deref().unwrap_or(&event.raw))
            })
            .as_ref()
    }

    /// Every value of a field (several when the path crosses an array);
    /// `None` when the event does not have the field.
    pub fn get(&self, field: &str) -> Option<Vec<FieldValue<'_>>> {
        let mut out = Vec::new();
        if let Some(doc) = self.doc() {
            for path in mapped_paths(self.event.source, field) {
                lookup(doc, &path, &mut out);
                if !out.is_empty() {
                    return Some(out);
                }
            }
        }
        normalized(self.event, field)
            .flatten()
            .map(|v| vec![FieldValue::Text(Cow::Owned(v))])
    }

    /// The values of a field as strings (for `fieldref`, group keys and values).
    pub fn strings(&self, field: &str) -> Vec<String> {
        self.get(field)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| match v {
                FieldValue::Text(t) => Some(t.into_owned()),
                FieldValue::Null => None,
            })
            .collect()
    }

    /// Calls `f` on each piece of text a keyword may match: every string in a
    /// JSON record, or the whole line of a text record. Stops when `f` is true.
    pub fn any_text(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        if self.event.fields.is_none() {
            if let Some(doc) = self.doc() {
                return any_string(doc, f);
            }
        }
        f(&self.event.raw)
    }
}

fn any_string(v: &Doc<'_>, f: &mut dyn FnMut(&str) -> bool) -> bool {
    match v {
        Doc::Str(s) => f(s),
        Doc::Arr(a) => a.iter().any(|x| any_string(x, f)),
        Doc::Obj(o) => o.iter().any(|(_, x)| any_string(x, f)),
        Doc::Num(n) => f(&n.to_string()),
        _ => false,
    }
}

/// The paths to try for a field, in order: the name as written, then the
/// spellings other exports of the same source use.
fn mapped_paths(source: SourceKind, field: &str) -> Vec<Cow<'_, str>> {
    let mut v = vec![Cow::Borrowed(field)];
    match source {
        SourceKind::GcpAudit => {
            // SigmaHQ's GCP rules use Elastic's names and Pub/Sub's `data.` wrapper.
            if field == "gcp.audit.method_name" {
                v.push(Cow::Borrowed("protoPayload.methodName"));
            }
            if let Some(rest) = field.strip_prefix("data.") {
                v.push(Cow::Borrowed(rest));
            }
        }
        SourceKind::K8sAudit if field == "apiGroup" => {
            v.push(Cow::Borrowed("objectRef.apiGroup"));
        }
        // Log Analytics names (`ResultType`) and diagnostic exports (`properties.…`).
        SourceKind::EntraSignin | SourceKind::EntraAudit | SourceKind::AzureActivity
            if !field.starts_with("properties.") =>
        {
            v.push(Cow::Owned(format!("properties.{field}")));
        }
        _ => {}
    }
    v
}

fn push_value<'v>(v: &'v Doc<'_>, out: &mut Vec<FieldValue<'v>>) {
    match v {
        Doc::Str(s) => out.push(FieldValue::Text(Cow::Borrowed(s))),
        Doc::Num(n) => out.push(FieldValue::Text(Cow::Owned(n.to_string()))),
        Doc::Bool(b) => out.push(FieldValue::Text(Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        }))),
        Doc::Null => out.push(FieldValue::Null),
        Doc::Arr(a) => {
            for x in a {
                if !matches!(x, Doc::Arr(_)) {
                    push_value(x, out);
                }
            }
            if a.is_empty() {
                out.push(FieldValue::Null);
            }
        }
        // An object is present but has no scalar value: `exists` sees it, equality does not.
        Doc::Obj(_) => out.push(FieldValue::Text(Cow::Owned(v.to_string()))),
    }
}

/// Looks a dotted path up: a key holding dots is tried whole first; keys
/// compare exactly, then ignoring ASCII case; arrays are crossed (any element)
/// unless the segment is an index.
fn lookup<'v>(v: &'v Doc<'_>, path: &str, out: &mut Vec<FieldValue<'v>>) {
    match v {
        Doc::Obj(_) => {
            if let Some(x) = v.get(path) {
                push_value(x, out);
                return;
            }
            let (head, rest) = match path.split_once('.') {
                Some((h, r)) => (h, Some(r)),
                None => (path, None),
            };
            let child = v.get(head).or_else(|| v.get_ignore_case(head));
            match (child, rest) {
                (Some(x), None) => push_value(x, out),
                (Some(x), Some(r)) => lookup(x, r, out),
                (None, _) => {}
            }
        }
        Doc::Arr(a) => {
            let (head, rest) = match path.split_once('.') {
                Some((h, r)) => (h, Some(r)),
                None => (path, None),
            };
            if let Ok(i) = head.parse::<usize>() {
                match (a.get(i), rest) {
                    (Some(x), None) => push_value(x, out),
                    (Some(x), Some(r)) => lookup(x, r, out),
                    (None, _) => {}
                }
            } else {
                for x in a {
                    lookup(x, path, out);
                }
            }
        }
        _ => {}
    }
}

/// Whether a rule's field name can be read from the normalized event
/// (whose values need not appear in the record's text).
pub(crate) fn is_normalized(field: &str) -> bool {
    thread_local! {
        static EMPTY: Event = Event::new(SourceKind::Syslog, mamori_event::Timestamp(0), String::new());
    }
    EMPTY.with(|e| normalized(e, field).is_some())
}

/// Mamori's normalized fields, by the names `docs/normalized-event.md` and the
/// query language give them, for records that lack the path: `None` for a
/// name that is not one, `Some(None)` when the event lacks it.
fn normalized(e: &Event, field: &str) -> Option<Option<String>> {
    let s = |o: &Option<String>| o.clone();
    Some(match field {
        "src_ip" | "src.ip" | "src_endpoint.ip" => s(&e.src.ip),
        "src_country" | "src.country" | "src_endpoint.location.country" => s(&e.src.country),
        "src_hostname" | "src.hostname" => s(&e.src.hostname),
        "dst_ip" | "dst.ip" | "dst_endpoint.ip" => s(&e.dst.ip),
        "dst_hostname" | "dst.hostname" => s(&e.dst.hostname),
        "user_agent" | "src.user_agent" => s(&e.src.user_agent),
        "actor.user.name" | "actor_user_name" => s(&e.actor.user_name),
        "actor.user.uid" | "actor_user_uid" => s(&e.actor.user_uid),
        "actor.user.type" | "actor_user_type" => s(&e.actor.user_type),
        "account_uid" | "cloud.account.uid" => s(&e.cloud.account_uid),
        "region" | "cloud.region" => s(&e.cloud.region),
        "api.operation" | "api_operation" => s(&e.api.operation),
        "api.service.name" | "api_service" => s(&e.api.service),
        "severity_id" => Some(e.severity_id.to_string()),
        "status_id" => Some(e.status_id.to_string()),
        "class_uid" => Some(e.class_uid.to_string()),
        "message" => s(&e.message),
        "finding.title" | "finding_title" => e.finding.as_ref().and_then(|f| f.title.clone()),
        "finding.types" | "finding_types" => e.finding.as_ref().map(|f| f.types.join(",")),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_event::Timestamp;

    fn ev(source: SourceKind, raw: &str) -> Event {
        Event::new(source, Timestamp(0), raw.to_owned())
    }

    #[test]
    fn paths_arrays_case_and_mappings() {
        let e = ev(
            SourceKind::Cloudtrail,
            r#"{"userIdentity":{"type":"Root"},"resources":[{"ARN":"a"},{"ARN":"b"}],"n":5,"x":null,"a.b":1}"#,
        );
        let v = EventView::new(&e);
        assert_eq!(v.strings("userIdentity.type"), ["Root"]);
        assert_eq!(v.strings("useridentity.TYPE"), ["Root"]);
        assert_eq!(v.strings("resources.ARN"), ["a", "b"]);
        assert_eq!(v.strings("resources.1.ARN"), ["b"]);
        assert_eq!(v.strings("n"), ["5"]);
        assert_eq!(v.strings("a.b"), ["1"]);
        assert_eq!(v.get("x"), Some(vec![FieldValue::Null]));
        assert_eq!(v.get("missing"), None);
        let g = ev(
            SourceKind::GcpAudit,
            r#"{"protoPayload":{"methodName":"m"}}"#,
        );
        let v = EventView::new(&g);
        assert_eq!(v.strings("gcp.audit.method_name"), ["m"]);
        assert_eq!(v.strings("data.protoPayload.methodName"), ["m"]);
    }
}
