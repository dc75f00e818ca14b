//! Mamori's own audit log: every analyst action (a query run, a finding
//! changed, a token made or revoked, a request refused) is an event in the
//! store like any other, so `filter product = 'Mamori'` finds them.

use mamori_event::{Event, SourceKind};
use serde_json::json;

use super::auth::Caller;
use super::pipeline::Shared;

/// The product name audit events carry.
pub const PRODUCT: &str = "Mamori";

/// Sets the fields that make a generic JSON record an audit event.
pub fn mark(e: &mut Event) {
    e.product = PRODUCT.into();
    e.api.service = Some("mamori".into());
}

/// Records an action. An audit record that cannot be written is reported,
/// never silently dropped; the action itself has already happened.
pub fn record(
    shared: &Shared,
    caller: Option<&Caller>,
    remote: &str,
    action: &str,
    target: &str,
    outcome: &str,
    details: serde_json::Value,
) {
    let rec = json!({
        "eventTime": crate::inspect::now().to_string(),
        "product": PRODUCT,
        "userName": caller.map_or("anonymous", |c| c.name.as_str()),
        "role": caller.map(|c| c.role.as_str()),
        "eventName": action,
        "target": target,
        "outcome": outcome,
        "sourceIPAddress": remote,
        "details": details,
    });
    let line = rec.to_string();
    if let Err(e) = shared.accept(line.as_bytes(), Some(SourceKind::Generic), "audit") {
        eprintln!("mamori: audit record not written ({line}): {e:#}");
    }
}
