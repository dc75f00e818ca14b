//! The findings database: recording detections (dedup, suppression,
//! idempotence), the workflow, history and queries.

use mamori_event::{Entity, EntityKind, Event, Timestamp};
use mamori_sigma::Detection;
use serde_json::json;

use crate::db::{Db, Val};
use crate::model::{Finding, HistoryEntry, Severity, Status, Suppression};
use crate::record::{append_history, hex_id, product_detection, record};
use crate::schema::{COLUMNS, SCHEMA_COMMON, SCHEMA_POSTGRES, SCHEMA_SQLITE};
use crate::FindingsError;

/// Detections of one rule and group key this close (in event time) to an
/// open finding update it instead of opening another: one day.
pub const DEFAULT_DEDUP_WINDOW_SECS: i64 = 86_400;

/// Who the pipeline's own changes are recorded as.
pub(crate) const SYSTEM: &str = "mamori";

/// What recording a detection did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A new finding (NEW).
    Created(String),
    /// An open finding of the same rule and group absorbed it.
    Updated(String),
    /// A suppression applied: recorded in a SUPPRESSED finding.
    Suppressed(String),
    /// Every event of it was already in a finding of this rule: nothing changed.
    Replayed(String),
}

impl Recorded {
    /// The finding concerned.
    pub fn id(&self) -> &str {
        match self {
            Recorded::Created(s)
            | Recorded::Updated(s)
            | Recorded::Suppressed(s)
            | Recorded::Replayed(s) => s,
        }
    }
}

/// Which findings to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Any of these statuses (all if empty).
    pub status: Vec<Status>,
    /// Any of these severities (all if empty).
    pub severity: Vec<Severity>,
    /// Rule id or title.
    pub rule: Option<String>,
    /// An entity value, or `kind=value`.
    pub entity: Option<String>,
    /// Last seen at or after.
    pub since: Option<Timestamp>,
    /// First seen before.
    pub until: Option<Timestamp>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// Findings in SQLite or PostgreSQL.
pub struct FindingStore {
    pub(crate) db: Db,
    window_us: i64,
    suppressions: Option<Vec<Suppression>>,
}

fn status_of(v: &Val) -> Result<Status, FindingsError> {
    Status::parse(v.text().unwrap_or_default())
        .ok_or_else(|| FindingsError::Invalid(format!("unknown status {v:?} in the database")))
}

pub(crate) fn finding_from_row(r: &[Val]) -> Result<Finding, FindingsError> {
    let body: serde_json::Value = serde_json::from_str(r[14].text().unwrap_or("{}"))
        .map_err(|e| FindingsError::Invalid(format!("finding {}: body: {e}", r[0].string())))?;
    let field = |k: &str| body.get(k).cloned().unwrap_or(serde_json::Value::Null);
    Ok(Finding {
        id: r[0].string(),
        rule_id: r[1].string(),
        title: r[2].string(),
        severity: Severity::from_id(r[3].int().clamp(0, 255) as u8),
        kind: r[4].string(),
        source: r[5].string(),
        group_key: r[6].string(),
        status: status_of(&r[7])?,
        assignee: r[8].text().map(str::to_owned),
        first_seen: Timestamp(r[9].int()),
        last_seen: Timestamp(r[10].int()),
        count: r[11].int().max(0) as u64,
        created: Timestamp(r[12].int()),
        updated: Timestamp(r[13].int()),
        tags: serde_json::from_value(field("tags")).unwrap_or_default(),
        entities: serde_json::from_value(field("entities")).unwrap_or_default(),
        group: serde_json::from_value(field("group")).unwrap_or_default(),
        enrichment: serde_json::from_value(field("enrichment")).unwrap_or_default(),
        event_uids: Vec::new(),
    })
}

pub(crate) fn body_of(f: &Finding) -> String {
    json!({
        "tags": f.tags,
        "entities": f.entities,
        "group": f.group,
        "enrichment": f.enrichment,
    })
    .to_string()
}

impl FindingStore {
    /// Opens (creating the schema if needed) the database at `target`: a
    /// SQLite file path or a `postgres://` URL.
    pub fn open(target: &str) -> Result<FindingStore, FindingsError> {
        let mut db = Db::open(target)?;
        db.batch(SCHEMA_COMMON)?;
        db.batch(if db.is_postgres() {
            SCHEMA_POSTGRES
        } else {
            SCHEMA_SQLITE
        })?;
        Ok(FindingStore {
            db,
            window_us: DEFAULT_DEDUP_WINDOW_SECS * 1_000_000,
            suppressions: None,
        })
    }

    /// Sets the dedup window, in seconds of event time.
    pub fn with_dedup_window(mut self, secs: i64) -> FindingStore {
        self.window_us = secs.max(0).saturating_mul(1_000_000);
        self
    }

    /// Where the database is (a PostgreSQL URL without its password).
    pub fn target(&self) -> &str {
        &self.db.name
    }

    /// Records detections in one transaction; returns what each did.
    pub fn record_all(
        &mut self,
        detections: &[Detection],
        now: Timestamp,
    ) -> Result<Vec<Recorded>, FindingsError> {
        let window = self.window_us;
        let sup = self.active_suppressions()?;
        self.db.transaction(|db| {
            detections
                .iter()
                .map(|d| record(db, d, window, &sup, now))
                .collect()
        })
    }

    /// Records one detection.
    pub fn record(&mut self, d: &Detection, now: Timestamp) -> Result<Recorded, FindingsError> {
        let mut r = self.record_all(std::slice::from_ref(d), now)?;
        r.pop()
            .ok_or_else(|| FindingsError::Invalid("nothing recorded".into()))
    }

    /// A GuardDuty or Security Hub finding read as a log becomes a finding
    /// as it is: its type, title and severity. Later copies of the same
    /// product finding (same id) update it, however far apart.
    pub fn record_product_finding(
        &mut self,
        e: &Event,
        now: Timestamp,
    ) -> Result<Option<Recorded>, FindingsError> {
        match product_detection(e) {
            Some(d) => self.record(&d, now).map(Some),
            None => Ok(None),
        }
    }

    fn active_suppressions(&mut self) -> Result<Vec<Suppression>, FindingsError> {
        if self.suppressions.is_none() {
            self.suppressions = Some(self.suppressions()?);
        }
        Ok(self.suppressions.clone().unwrap_or_default())
    }

    /// One finding, with its event references.
    pub fn get(&mut self, id: &str) -> Result<Finding, FindingsError> {
        let rows = self.db.query(
            &format!("SELECT {COLUMNS} FROM findings WHERE id = $1"),
            &[id.into()],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| FindingsError::NotFound(id.to_owned()))?;
        let mut f = finding_from_row(row)?;
        f.event_uids = self
            .db
            .query(
                "SELECT event_uid FROM finding_events WHERE finding_id = $1 ORDER BY event_uid LIMIT 1000",
                &[id.into()],
            )?
            .iter()
            .map(|r| r[0].string())
            .collect();
        Ok(f)
    }

    /// Findings matching `filter`, last seen first (without event references).
    pub fn list(&mut self, filter: &Filter) -> Result<Vec<Finding>, FindingsError> {
        let mut sql = format!("SELECT {COLUMNS} FROM findings WHERE 1 = 1");
        let mut params: Vec<Val> = Vec::new();
        let bind = |params: &mut Vec<Val>, v: Val| {
            params.push(v);
            format!("${}", params.len())
        };
        if !filter.status.is_empty() {
            let list: Vec<String> = filter
                .status
                .iter()
                .map(|s| bind(&mut params, s.as_str().into()))
                .collect();
            sql += &format!(" AND status IN ({})", list.join(", "));
        }
        if !filter.severity.is_empty() {
            let list: Vec<String> = filter
                .severity
                .iter()
                .map(|s| bind(&mut params, i64::from(s.id()).into()))
                .collect();
            sql += &format!(" AND severity IN ({})", list.join(", "));
        }
        if let Some(r) = &filter.rule {
            let p = bind(&mut params, r.as_str().into());
            sql += &format!(" AND (rule_id = {p} OR title = {p})");
        }
        if let Some(e) = &filter.entity {
            match e
                .split_once('=')
                .and_then(|(k, v)| Some((EntityKind::parse(k)?, v)))
            {
                Some((k, v)) => {
                    let (pk, pv) = (
                        bind(&mut params, k.as_str().into()),
                        bind(&mut params, v.into()),
                    );
                    sql += &format!(" AND id IN (SELECT finding_id FROM finding_entities WHERE kind = {pk} AND value = {pv})");
                }
                None => {
                    let p = bind(&mut params, e.as_str().into());
                    sql += &format!(
                        " AND id IN (SELECT finding_id FROM finding_entities WHERE value = {p})"
                    );
                }
            }
        }
        if let Some(t) = filter.since {
            sql += &format!(" AND last_seen >= {}", bind(&mut params, t.0.into()));
        }
        if let Some(t) = filter.until {
            sql += &format!(" AND first_seen < {}", bind(&mut params, t.0.into()));
        }
        sql += " ORDER BY last_seen DESC, id";
        if let Some(n) = filter.limit {
            sql += &format!(" LIMIT {}", bind(&mut params, (n as i64).into()));
        }
        self.db
            .query(&sql, &params)?
            .iter()
            .map(|r| finding_from_row(r))
            .collect()
    }

    /// A finding's history, oldest first.
    pub fn history(&mut self, id: &str) -> Result<Vec<HistoryEntry>, FindingsError> {
        Ok(self
            .db
            .query(
                "SELECT seq, at, actor, action, from_status, to_status, detail FROM finding_history WHERE finding_id = $1 ORDER BY seq",
                &[id.into()],
            )?
            .iter()
            .map(|r| HistoryEntry {
                seq: r[0].int().max(0) as u64,
                at: Timestamp(r[1].int()),
                actor: r[2].string(),
                action: r[3].string(),
                from_status: r[4].text().map(str::to_owned),
                to_status: r[5].text().map(str::to_owned),
                detail: r[6].text().map(str::to_owned),
            })
            .collect())
    }

    /// Moves a finding to `status`, recording who and why.
    pub fn set_status(
        &mut self,
        id: &str,
        status: Status,
        actor: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Finding, FindingsError> {
        self.db.transaction(|db| {
            let current = current_status(db, id)?;
            if current == status {
                return Err(FindingsError::Invalid(format!(
                    "finding {id} is already {}",
                    status.as_str()
                )));
            }
            db.exec(
                "UPDATE findings SET status = $1, updated = $2 WHERE id = $3",
                &[status.as_str().into(), now.0.into(), id.into()],
            )?;
            append_history(
                db,
                id,
                now,
                actor,
                "status",
                Some(current.as_str()),
                Some(status.as_str()),
                note,
            )
        })?;
        self.get(id)
    }

    /// Assigns a finding (an empty `assignee` unassigns it).
    pub fn assign(
        &mut self,
        id: &str,
        assignee: &str,
        actor: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Finding, FindingsError> {
        self.db.transaction(|db| {
            current_status(db, id)?;
            let who: Val = Some(assignee).filter(|a| !a.is_empty()).into();
            db.exec(
                "UPDATE findings SET assignee = $1, updated = $2 WHERE id = $3",
                &[who, now.0.into(), id.into()],
            )?;
            append_history(db, id, now, actor, "assign", None, Some(assignee), note)
        })?;
        self.get(id)
    }

    /// Adds a note.
    pub fn note(
        &mut self,
        id: &str,
        actor: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<(), FindingsError> {
        if text.trim().is_empty() {
            return Err(FindingsError::Invalid("a note needs text".into()));
        }
        self.db.transaction(|db| {
            current_status(db, id)?;
            db.exec(
                "UPDATE findings SET updated = $1 WHERE id = $2",
                &[now.0.into(), id.into()],
            )?;
            append_history(db, id, now, actor, "note", None, None, Some(text))
        })
    }

    /// Adds enrichment entries, each replacing what its key held, in one
    /// transaction.
    pub fn enrich(
        &mut self,
        id: &str,
        entries: impl IntoIterator<Item = (String, serde_json::Value)>,
        now: Timestamp,
    ) -> Result<(), FindingsError> {
        let entries: Vec<(String, serde_json::Value)> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(());
        }
        self.db.transaction(|db| {
            let rows = db.query(
                &format!("SELECT {COLUMNS} FROM findings WHERE id = $1"),
                &[id.into()],
            )?;
            let mut f = finding_from_row(
                rows.first()
                    .ok_or_else(|| FindingsError::NotFound(id.to_owned()))?,
            )?;
            f.enrichment.extend(entries);
            db.exec(
                "UPDATE findings SET body = $1, updated = $2 WHERE id = $3",
                &[body_of(&f).into(), now.0.into(), id.into()],
            )?;
            Ok(())
        })
    }

    /// Adds a suppression; applies to detections recorded from now on.
    pub fn add_suppression(
        &mut self,
        rule_id: Option<&str>,
        entity: Option<Entity>,
        author: &str,
        reason: &str,
        expires: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Suppression, FindingsError> {
        if rule_id.is_none() && entity.is_none() {
            return Err(FindingsError::Invalid(
                "a suppression needs a rule, an entity or both (it would hide everything)".into(),
            ));
        }
        if reason.trim().is_empty() {
            return Err(FindingsError::Invalid(
                "a suppression needs a reason".into(),
            ));
        }
        let id = hex_id(
            "S",
            &[
                rule_id.unwrap_or_default(),
                &entity.as_ref().map(Entity::to_string).unwrap_or_default(),
                author,
                &now.0.to_string(),
            ],
        );
        let s = Suppression {
            id,
            rule_id: rule_id.map(str::to_owned),
            entity,
            author: author.to_owned(),
            reason: reason.to_owned(),
            created: now,
            expires,
        };
        self.db.exec(
            "INSERT INTO suppressions (id, rule_id, entity_kind, entity_value, author, reason, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                s.id.clone().into(),
                s.rule_id.clone().into(),
                s.entity.as_ref().map(|e| e.kind.as_str()).into(),
                s.entity.as_ref().map(|e| e.value.clone()).into(),
                s.author.clone().into(),
                s.reason.clone().into(),
                now.0.into(),
                expires.map(|t| t.0).into(),
            ],
        )?;
        self.suppressions = None;
        Ok(s)
    }

    /// Ends a suppression now (it stays listed, with its expiry).
    pub fn expire_suppression(&mut self, id: &str, now: Timestamp) -> Result<(), FindingsError> {
        let n = self.db.exec(
            "UPDATE suppressions SET expires = $1 WHERE id = $2",
            &[now.0.into(), id.into()],
        )?;
        self.suppressions = None;
        if n == 0 {
            return Err(FindingsError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    /// Every suppression, expired ones included.
    pub fn suppressions(&mut self) -> Result<Vec<Suppression>, FindingsError> {
        Ok(self
            .db
            .query(
                "SELECT id, rule_id, entity_kind, entity_value, author, reason, created, expires FROM suppressions ORDER BY created, id",
                &[],
            )?
            .iter()
            .map(|r| Suppression {
                id: r[0].string(),
                rule_id: r[1].text().map(str::to_owned),
                entity: r[2]
                    .text()
                    .and_then(EntityKind::parse)
                    .map(|k| Entity::new(k, r[3].string())),
                author: r[4].string(),
                reason: r[5].string(),
                created: Timestamp(r[6].int()),
                expires: match r[7] {
                    Val::Int(t) => Some(Timestamp(t)),
                    _ => None,
                },
            })
            .collect())
    }

    /// Tries to change a finding's history (it must fail: history is append-only).
    #[doc(hidden)]
    pub fn tamper_with_history(&mut self, id: &str) -> Result<u64, FindingsError> {
        self.db.exec(
            "UPDATE finding_history SET actor = 'someone else' WHERE finding_id = $1",
            &[id.into()],
        )
    }
}

fn current_status(db: &mut Db, id: &str) -> Result<Status, FindingsError> {
    let rows = db.query("SELECT status FROM findings WHERE id = $1", &[id.into()])?;
    status_of(
        &rows
            .first()
            .ok_or_else(|| FindingsError::NotFound(id.to_owned()))?[0],
    )
}
