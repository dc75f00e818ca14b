//! From events back to findings: which findings an event is part of, for
//! timelines that show detections inline.

use std::collections::HashMap;

use crate::db::Val;
use crate::model::Finding;
use crate::schema::COLUMNS;
use crate::store::{finding_from_row, FindingStore};
use crate::FindingsError;

/// Bind parameters per statement: well under SQLite's and PostgreSQL's limits.
const CHUNK: usize = 500;

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl FindingStore {
    /// The findings each of `event_uids` belongs to, keyed by event uid
    /// (events in no finding are absent). Findings come without their own
    /// event references.
    pub fn findings_of_events(
        &mut self,
        event_uids: &[String],
    ) -> Result<HashMap<String, Vec<Finding>>, FindingsError> {
        let mut links: Vec<(String, String)> = Vec::new();
        for chunk in event_uids.chunks(CHUNK) {
            let params: Vec<Val> = chunk.iter().map(|u| u.as_str().into()).collect();
            let sql = format!(
                "SELECT event_uid, finding_id FROM finding_events WHERE event_uid IN ({})",
                placeholders(chunk.len())
            );
            for r in self.db.query(&sql, &params)? {
                links.push((r[0].string(), r[1].string()));
            }
        }
        let mut ids: Vec<String> = links.iter().map(|(_, f)| f.clone()).collect();
        ids.sort();
        ids.dedup();
        let mut findings: HashMap<String, Finding> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let params: Vec<Val> = chunk.iter().map(|u| u.as_str().into()).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM findings WHERE id IN ({})",
                placeholders(chunk.len())
            );
            for r in self.db.query(&sql, &params)? {
                let f = finding_from_row(&r)?;
                findings.insert(f.id.clone(), f);
            }
        }
        let mut out: HashMap<String, Vec<Finding>> = HashMap::new();
        for (uid, id) in links {
            if let Some(f) = findings.get(&id) {
                out.entry(uid).or_default().push(f.clone());
            }
        }
        Ok(out)
    }
}
