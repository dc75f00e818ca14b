//! Recording one detection: replay check, suppression, dedup into an open
//! finding or a new one, history, entity and event references.

use std::collections::BTreeMap;

use mamori_event::{Entity, EntityKind, Event, Timestamp};
use mamori_sigma::Detection;
use sha2::{Digest, Sha256};

use crate::db::{Db, Val};
use crate::model::{Finding, Severity, Status, Suppression};
use crate::schema::COLUMNS;
use crate::store::{body_of, finding_from_row, Recorded, SYSTEM};
use crate::FindingsError;

pub(crate) fn hex_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let mut s = String::from(prefix);
    for b in &d[..8] {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The dedup key of a detection: a correlation's group; else who acted
/// and in which account (one finding per rule per principal per window).
fn group_key(d: &Detection) -> String {
    if !d.group.is_empty() {
        return d
            .group
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
    }
    d.entities
        .iter()
        .filter(|e| matches!(e.kind, EntityKind::User | EntityKind::Account))
        .map(Entity::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn append_history(
    db: &mut Db,
    id: &str,
    now: Timestamp,
    actor: &str,
    action: &str,
    from: Option<&str>,
    to: Option<&str>,
    detail: Option<&str>,
) -> Result<(), FindingsError> {
    let seq = db
        .query(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM finding_history WHERE finding_id = $1",
            &[id.into()],
        )?
        .first()
        .map_or(1, |r| r[0].int());
    db.exec(
        "INSERT INTO finding_history (finding_id, seq, at, actor, action, from_status, to_status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            id.into(),
            seq.into(),
            now.0.into(),
            actor.into(),
            action.into(),
            from.into(),
            to.into(),
            detail.into(),
        ],
    )?;
    Ok(())
}

fn is_product_kind(kind: &str) -> bool {
    matches!(kind, "guardduty" | "security_hub")
}

/// The detection a GuardDuty or Security Hub finding read as a log stands
/// for: its type, title and severity, grouped by the product's finding id.
/// `None` for an event that is not a product finding.
pub fn product_detection(e: &Event) -> Option<Detection> {
    let info = e.finding.as_ref()?;
    let uid = info.uid.clone().unwrap_or_else(|| e.uid.clone());
    // Security Hub names a GuardDuty finding by its ARN, GuardDuty by its id.
    let uid = match uid
        .split_once(":detector/")
        .and_then(|(_, r)| r.split_once("/finding/"))
    {
        Some((_, id)) if uid.starts_with("arn:aws:guardduty:") => id.to_owned(),
        _ => uid,
    };
    Some(Detection {
        rule_id: info
            .types
            .first()
            .cloned()
            .unwrap_or_else(|| e.source.as_str().to_owned()),
        title: info.title.clone().unwrap_or_else(|| uid.clone()),
        level: Some(Severity::from_id(e.severity_id).as_str().to_owned()),
        tags: info.types.clone(),
        kind: e.source.as_str().to_owned(),
        source: e.source.as_str().to_owned(),
        event_uids: vec![e.uid.clone()],
        group: BTreeMap::from([("finding_id".to_owned(), uid)]),
        count: 1,
        first_time: e.time,
        last_time: e.time,
        entities: e.entities(),
    })
}

pub(crate) fn record(
    db: &mut Db,
    d: &Detection,
    window_us: i64,
    suppressions: &[Suppression],
    now: Timestamp,
) -> Result<Recorded, FindingsError> {
    let key = group_key(d);
    // A product finding keeps its own id: its copies are one finding
    // however far apart they arrive.
    let window_us = if is_product_kind(&d.kind) {
        i64::MAX / 4
    } else {
        window_us
    };
    // Events already in a finding of this rule: a replay adds nothing.
    let mut known = 0u64;
    let mut known_in = None;
    for uid in &d.event_uids {
        if let Some(r) = db
            .query(
                "SELECT finding_id FROM finding_events WHERE rule_id = $1 AND event_uid = $2",
                &[d.rule_id.as_str().into(), uid.as_str().into()],
            )?
            .first()
        {
            known += 1;
            known_in.get_or_insert_with(|| r[0].string());
        }
    }
    if let Some(id) = known_in
        .as_ref()
        .filter(|_| known == d.event_uids.len() as u64)
    {
        return Ok(Recorded::Replayed(id.clone()));
    }
    let added = d.count.max(d.event_uids.len() as u64).saturating_sub(known);
    let suppression = suppressions
        .iter()
        .find(|s| s.applies(&d.rule_id, &d.entities, now));
    let statuses = if suppression.is_some() {
        "'SUPPRESSED'"
    } else {
        "'NEW', 'NOTIFIED'"
    };
    // A product finding is one finding whichever product delivered it
    // (GuardDuty directly, or through Security Hub with other type names).
    let same_rule = if is_product_kind(&d.kind) {
        "($1 = $1 AND kind IN ('guardduty', 'security_hub'))"
    } else {
        "rule_id = $1"
    };
    let open = db.query(
        &format!("SELECT {COLUMNS} FROM findings WHERE {same_rule} AND group_key = $2 AND status IN ({statuses}) AND last_seen >= $3 AND first_seen <= $4 ORDER BY last_seen DESC LIMIT 1"),
        &[
            d.rule_id.as_str().into(),
            key.as_str().into(),
            d.first_time.0.saturating_sub(window_us).into(),
            d.last_time.0.saturating_add(window_us).into(),
        ],
    )?;
    let (id, outcome) = if let Some(row) = open.first() {
        let mut f = finding_from_row(row)?;
        f.count += added;
        f.first_seen = f.first_seen.min(d.first_time);
        f.last_seen = f.last_seen.max(d.last_time);
        for e in &d.entities {
            if !f.entities.contains(e) {
                f.entities.push(e.clone());
            }
        }
        f.entities.sort();
        db.exec(
            "UPDATE findings SET count = $1, first_seen = $2, last_seen = $3, updated = $4, body = $5, source = $6 WHERE id = $7",
            &[
                (f.count as i64).into(),
                f.first_seen.0.into(),
                f.last_seen.0.into(),
                now.0.into(),
                body_of(&f).into(),
                d.source.as_str().into(),
                f.id.as_str().into(),
            ],
        )?;
        let outcome = if suppression.is_some() {
            Recorded::Suppressed(f.id.clone())
        } else {
            Recorded::Updated(f.id.clone())
        };
        (f.id, outcome)
    } else {
        let first_uid = d.event_uids.first().map_or("", String::as_str);
        let mut id = hex_id(
            "F",
            &[&d.rule_id, &key, &d.first_time.0.to_string(), first_uid],
        );
        // A later finding of the same rule, key, start and event (after the
        // first was resolved) needs another id.
        let mut n = 0;
        while !db
            .query(
                "SELECT id FROM findings WHERE id = $1",
                &[id.as_str().into()],
            )?
            .is_empty()
        {
            n += 1;
            id = hex_id(
                "F",
                &[
                    &d.rule_id,
                    &key,
                    &d.first_time.0.to_string(),
                    first_uid,
                    &n.to_string(),
                ],
            );
        }
        let status = if suppression.is_some() {
            Status::Suppressed
        } else {
            Status::New
        };
        let f = Finding {
            id: id.clone(),
            rule_id: d.rule_id.clone(),
            title: d.title.clone(),
            severity: d
                .level
                .as_deref()
                .and_then(Severity::parse)
                .unwrap_or(Severity::Medium),
            kind: d.kind.clone(),
            source: d.source.clone(),
            tags: d.tags.clone(),
            entities: d.entities.clone(),
            group_key: key.clone(),
            group: d.group.clone(),
            first_seen: d.first_time,
            last_seen: d.last_time,
            count: added.max(1),
            event_uids: Vec::new(),
            enrichment: Default::default(),
            status,
            assignee: None,
            created: now,
            updated: now,
        };
        db.exec(
            &format!("INSERT INTO findings ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"),
            &[
                f.id.as_str().into(),
                f.rule_id.as_str().into(),
                f.title.as_str().into(),
                i64::from(f.severity.id()).into(),
                f.kind.as_str().into(),
                f.source.as_str().into(),
                f.group_key.as_str().into(),
                f.status.as_str().into(),
                Val::Null,
                f.first_seen.0.into(),
                f.last_seen.0.into(),
                (f.count as i64).into(),
                now.0.into(),
                now.0.into(),
                body_of(&f).into(),
            ],
        )?;
        let why = format!("{} detection of {}", d.kind, d.rule_id);
        append_history(
            db,
            &id,
            now,
            SYSTEM,
            "created",
            None,
            Some(status.as_str()),
            Some(&why),
        )?;
        if let Some(s) = suppression {
            let why = format!("suppression {} by {}: {}", s.id, s.author, s.reason);
            append_history(
                db,
                &id,
                now,
                SYSTEM,
                "suppressed",
                None,
                Some("SUPPRESSED"),
                Some(&why),
            )?;
        }
        let outcome = if suppression.is_some() {
            Recorded::Suppressed(id.clone())
        } else {
            Recorded::Created(id.clone())
        };
        (id, outcome)
    };
    for e in &d.entities {
        db.exec(
            "INSERT INTO finding_entities (finding_id, kind, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[id.as_str().into(), e.kind.as_str().into(), e.value.as_str().into()],
        )?;
    }
    for uid in &d.event_uids {
        db.exec(
            "INSERT INTO finding_events (rule_id, event_uid, finding_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[d.rule_id.as_str().into(), uid.as_str().into(), id.as_str().into()],
        )?;
    }
    Ok(outcome)
}
