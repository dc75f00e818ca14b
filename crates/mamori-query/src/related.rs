//! What a finding's principal and source address did around it, read from
//! the store: the context an analyst would otherwise gather by hand with a
//! few queries, attached to the finding and its ticket.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use mamori_event::Timestamp;
use serde::Serialize;

use crate::{Engine, QueryError};

/// Values listed per dimension (the rest are counted in `events`).
const TOP: usize = 10;

/// Whose activity to summarize.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    /// A user, role or ARN: matched against the actor's uid and name.
    Principal(String),
    /// A source address.
    Ip(String),
}

impl Subject {
    fn filter(&self) -> String {
        match self {
            Subject::Principal(p) => {
                let p = quote(p);
                format!("(actor_user_uid = {p} OR actor_user_name = {p})")
            }
            Subject::Ip(ip) => format!("src_ip = {}", quote(ip)),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Principal(p) => write!(f, "user={p}"),
            Subject::Ip(ip) => write!(f, "ip={ip}"),
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A value and how many events had it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value.
    pub value: String,
    /// Events.
    pub count: u64,
}

/// A subject's activity in a time range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Activity {
    /// `user=…` or `ip=…`.
    pub subject: String,
    /// Events in the range.
    pub events: u64,
    /// Of which failed (OCSF status Failure).
    pub failed: u64,
    /// First event.
    pub first_seen: String,
    /// Last event.
    pub last_seen: String,
    /// Operations (API calls, sign-ins, verbs), most frequent first.
    pub operations: Vec<Count>,
    /// Source kinds (cloudtrail, entra_signin, …).
    pub sources: Vec<Count>,
    /// Countries the events came from.
    pub countries: Vec<Count>,
    /// Source addresses (for a principal).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<Count>,
    /// Principals (for an address).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<Count>,
}

fn ranked(m: BTreeMap<String, u64>, top: usize) -> Vec<Count> {
    let mut v: Vec<Count> = m
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(value, count)| Count { value, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    v.truncate(top);
    v
}

fn strings(b: &RecordBatch, i: usize) -> Result<Vec<String>, QueryError> {
    crate::output::strings(b.column(i))
        .map(|v| v.into_iter().map(Option::unwrap_or_default).collect())
        .map_err(|e| QueryError::Engine(e.to_string()))
}

fn ints(b: &RecordBatch, i: usize) -> Result<Vec<i64>, QueryError> {
    let c = datafusion::arrow::compute::cast(
        b.column(i),
        &datafusion::arrow::datatypes::DataType::Int64,
    )
    .map_err(|e| QueryError::Engine(e.to_string()))?;
    let a = c.as_primitive::<Int64Type>();
    Ok((0..a.len())
        .map(|r| if a.is_null(r) { 0 } else { a.value(r) })
        .collect())
}

fn range_sql(start_us: i64, end_us: i64) -> String {
    format!("time >= to_timestamp_micros({start_us}) AND time < to_timestamp_micros({end_us})")
}

/// What `subject` did in `[start_us, end_us)`; `None` when nothing. A
/// country the store lacks (events stored before GeoIP was configured) is
/// asked of `locate` by address.
pub fn activity(
    engine: &Engine,
    subject: &Subject,
    (start_us, end_us): (i64, i64),
    locate: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Activity>, QueryError> {
    let sql = format!(
        "SELECT coalesce(api_operation, event_code, '') AS op, CAST(source AS VARCHAR) AS src, \
         coalesce(src_country, '') AS country, coalesce(src_ip, '') AS ip, \
         coalesce(actor_user_uid, actor_user_name, '') AS who, count(*) AS n, \
         sum(CASE WHEN status_id = 2 THEN 1 ELSE 0 END) AS failed, \
         CAST(min(time) AS BIGINT) AS first, CAST(max(time) AS BIGINT) AS last \
         FROM events WHERE {} AND {} GROUP BY 1, 2, 3, 4, 5",
        range_sql(start_us, end_us),
        subject.filter()
    );
    let r = engine.run(&sql)?;
    let (mut ops, mut srcs, mut countries, mut ips, mut whos) = Default::default();
    let (mut events, mut failed, mut first, mut last) = (0u64, 0u64, i64::MAX, i64::MIN);
    let mut located: BTreeMap<String, Option<String>> = BTreeMap::new();
    for b in &r.batches {
        let (op, src, country, ip, who) = (
            strings(b, 0)?,
            strings(b, 1)?,
            strings(b, 2)?,
            strings(b, 3)?,
            strings(b, 4)?,
        );
        let (n, fail, f, l) = (ints(b, 5)?, ints(b, 6)?, ints(b, 7)?, ints(b, 8)?);
        for row in 0..b.num_rows() {
            let n_row = n[row].max(0) as u64;
            events += n_row;
            failed += fail[row].max(0) as u64;
            first = first.min(f[row]);
            last = last.max(l[row]);
            let add = |m: &mut BTreeMap<String, u64>, k: &str| {
                *m.entry(k.to_owned()).or_insert(0) += n_row
            };
            add(&mut ops, &op[row]);
            add(&mut srcs, &src[row]);
            add(&mut ips, &ip[row]);
            add(&mut whos, &who[row]);
            let c = if country[row].is_empty() && !ip[row].is_empty() {
                located
                    .entry(ip[row].clone())
                    .or_insert_with(|| locate(&ip[row]))
                    .clone()
                    .unwrap_or_default()
            } else {
                country[row].clone()
            };
            add(&mut countries, &c);
        }
    }
    if events == 0 {
        return Ok(None);
    }
    let is_ip = matches!(subject, Subject::Ip(_));
    Ok(Some(Activity {
        subject: subject.to_string(),
        events,
        failed,
        first_seen: Timestamp(first).to_string(),
        last_seen: Timestamp(last).to_string(),
        operations: ranked(ops, TOP),
        sources: ranked(srcs, TOP),
        countries: ranked(countries, TOP),
        ips: if is_ip { Vec::new() } else { ranked(ips, TOP) },
        principals: if is_ip { ranked(whos, TOP) } else { Vec::new() },
    }))
}

/// A stored event's time, source address and country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// Event time, µs.
    pub time_us: i64,
    /// Source address.
    pub ip: String,
    /// Stored country, if any.
    pub country: Option<String>,
}

/// The time and source address of the events with these uids (a finding's
/// matches), in time order; events without an address are left out.
pub fn located_events(
    engine: &Engine,
    uids: &[String],
    (start_us, end_us): (i64, i64),
) -> Result<Vec<Located>, QueryError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = uids.iter().map(|u| quote(u)).collect();
    let sql = format!(
        "SELECT CAST(time AS BIGINT) AS t, src_ip, src_country FROM events \
         WHERE {} AND src_ip IS NOT NULL AND uid IN ({}) ORDER BY t",
        range_sql(start_us, end_us),
        list.join(", ")
    );
    let r = engine.run(&sql)?;
    let mut out = Vec::new();
    for b in &r.batches {
        let t = ints(b, 0)?;
        let ip = strings(b, 1)?;
        let c =
            crate::output::strings(b.column(2)).map_err(|e| QueryError::Engine(e.to_string()))?;
        for row in 0..b.num_rows() {
            out.push(Located {
                time_us: t[row],
                ip: ip[row].clone(),
                country: c[row].clone().filter(|s| !s.is_empty()),
            });
        }
    }
    Ok(out)
}
