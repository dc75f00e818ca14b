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

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

impl Templates {
    /// Reads every record under `dirs` with Mamori's own parser and keeps the
    /// originals of the kinds the generator replays. Only records in the
    /// provider's own shape are kept (Entra sign-ins must be diagnostic records).
    pub fn load(dirs: &[&Path]) -> Templates {
        let mut t = Templates::default();
        let mut files = Vec::new();
        for d in dirs {
            walk(d, &mut files);
        }
        for f in files {
            let Ok(bytes) = fs::read(&f) else { continue };
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
