//! The records the generator replays.

use std::fs;
use std::path::Path;

use mamori_event::SourceKind;
use mamori_parse::{parse_to_vec, ParseOptions};
use serde_json::Value;

/// Template records per source, as JSON values.
#[derive(Default)]
pub struct Templates {
    /// CloudTrail records.
    pub cloudtrail: Vec<Value>,
    /// Kubernetes audit events.
    pub k8s: Vec<Value>,
    /// Entra ID sign-ins (diagnostic-settings shape).
    pub entra: Vec<Value>,
}

impl Templates {
    /// Reads every record under `dirs` with Mamori's own parser and keeps the
    /// originals of the kinds the generator replays. Only records in the
    /// provider's own shape are kept (Entra sign-ins must be diagnostic records).
    pub fn load(dirs: &[&Path]) -> Templates {
        let mut t = Templates::default();
        let files = dirs
            .iter()
            .flat_map(|d| walkdir::WalkDir::new(d).sort_by_file_name())
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file());
        for entry in files {
            let f = entry.path();
            let Ok(bytes) = fs::read(f) else { continue };
            let out = parse_to_vec(&f.display().to_string(), &bytes, &ParseOptions::default());
            for ev in out.events {
                let Ok(v) = serde_json::from_str::<Value>(&ev.raw) else {
                    continue;
                };
                match ev.source {
                    SourceKind::Cloudtrail
                        if v.get("eventTime").is_some() && v.get("userIdentity").is_some() =>
                    {
                        t.cloudtrail.push(v)
                    }
                    SourceKind::K8sAudit if v.get("auditID").is_some() => t.k8s.push(v),
                    SourceKind::EntraSignin if v.get("properties").is_some() => t.entra.push(v),
                    _ => {}
                }
            }
        }
        t
    }

    /// Whether every kind has at least one template.
    pub fn complete(&self) -> bool {
        !self.cloudtrail.is_empty() && !self.k8s.is_empty() && !self.entra.is_empty()
    }
}
