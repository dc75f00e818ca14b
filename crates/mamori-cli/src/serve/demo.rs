//! `serve --demo`: the built-in multi-cloud sample set (an attack told in
//! every source), sent through the same pipeline as live data.

use std::time::Instant;

use anyhow::Result;

use super::auth::Role;
use super::pipeline::{Arrival, Shared};

/// Ingests the samples (once: the store's checkpoint remembers them) and
/// makes a fresh admin token named `demo`.
pub fn prepare(shared: &Shared) -> Result<String> {
    for (path, bytes) in crate::samples::SAMPLES {
        let name = format!("demo/{path}");
        let parsed = shared.parse(&name, bytes, None, "demo");
        shared.submit(Arrival {
            parsed,
            spool: None,
            channel: "demo".into(),
            received: Instant::now(),
        })?;
    }
    shared.flush()?;
    shared.tokens.revoke("demo")?;
    shared.tokens.create("demo", Role::Admin)
}
