//! Enrichment in the pipeline: GeoIP fills in event countries at ingest and
//! hunt (so country rules work on every source), threat lists back
//! `%name%` values in rules, and findings get where their addresses are,
//! threat-list hits, travel between their events and what their principal
//! and address did around them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mamori_enrich::travel::{legs, Stop};
use mamori_enrich::{GeoIp, IntelList, IntelSet};
use mamori_event::{EntityKind, Event, Timestamp};
use mamori_findings::{Finding, FindingStore};
use mamori_query::related::{activity, located_events, Subject};
use mamori_query::{Engine, EngineOptions};
use mamori_sigma::ValueList;
use serde_json::{json, Map, Value};

use crate::config::Config;

/// Users and addresses of one finding whose activity is summarized.
const SUBJECTS_PER_KIND: usize = 3;

/// New findings per run whose related activity is summarized (the most
/// severe first): each costs a few queries, and a first ingest of months
/// of logs can open thousands.
const RELATED_PER_RUN: usize = 100;

/// Junk lines of a threat list printed (all are counted).
const JUNK_SHOWN: usize = 10;

/// How often a long ingest looks for changed threat lists.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// A threat list as rules see it.
#[derive(Debug)]
struct RuleList(Arc<IntelList>);

impl ValueList for RuleList {
    fn contains(&self, value: &str) -> bool {
        self.0.lookup(value).is_some()
    }
}

/// GeoIP, threat lists and the related-events window, from `[enrich]`.
pub struct Enricher {
    geo: Option<GeoIp>,
    intel: IntelSet,
    related_window_us: i64,
    last_refresh: Mutex<Instant>,
}

fn print_report(r: &Result<mamori_enrich::LoadReport, mamori_enrich::EnrichError>) {
    match r {
        Ok(r) => {
            if r.junk_lines > 0 {
                eprintln!("mamori: threat list {r}:");
                for j in r.junk.iter().take(JUNK_SHOWN) {
                    eprintln!("  {j}");
                }
                if r.junk_lines > JUNK_SHOWN {
                    eprintln!("  … and {} more", r.junk_lines - JUNK_SHOWN);
                }
            }
        }
        Err(e) => eprintln!("mamori: threat list not loaded: {e}"),
    }
}

impl Enricher {
    /// Opens what `[enrich]` names. A database or list that cannot be read
    /// is reported and left out: the rest of the pipeline works without it.
    pub fn load(config: &Config) -> Result<Enricher> {
        let e = &config.enrich;
        let geo = if e.geoip.is_empty() {
            None
        } else {
            match GeoIp::open(&e.geoip) {
                Ok(g) => Some(g),
                Err(err) => {
                    eprintln!("mamori: GeoIP off: {err}");
                    None
                }
            }
        };
        let (intel, reports) = IntelSet::load(&e.intel);
        reports.iter().for_each(print_report);
        let related_window_us = match &e.related_window {
            Some(w) => mamori_sigma::parse_timespan(w)
                .map_err(anyhow::Error::msg)
                .context("[enrich] related_window")?
                .saturating_mul(1000),
            None => 86_400_000_000,
        };
        Ok(Enricher {
            geo,
            intel,
            related_window_us,
            last_refresh: Mutex::new(Instant::now()),
        })
    }

    /// The threat lists, by name, for rules' `%name%` values.
    pub fn rule_lists(&self) -> HashMap<String, Arc<dyn ValueList>> {
        self.intel
            .lists()
            .iter()
            .map(|l| {
                let v: Arc<dyn ValueList> = Arc::new(RuleList(Arc::clone(l)));
                (l.name().to_owned(), v)
            })
            .collect()
    }

    /// Fills in the source country from GeoIP where the log gave none.
    pub fn fill(&self, e: &mut Event) {
        if let (Some(geo), None, Some(ip)) = (&self.geo, &e.src.country, &e.src.ip) {
            e.src.country = geo.country(ip);
        }
    }

    /// Rereads threat lists whose file changed, at most every few seconds.
    pub fn refresh(&self) {
        let due = self.last_refresh.lock().is_ok_and(|mut t| {
            let due = t.elapsed() >= REFRESH_EVERY;
            if due {
                *t = Instant::now();
            }
            due
        });
        if due {
            for r in self.intel.refresh() {
                if let Ok(r) = &r {
                    eprintln!("mamori: threat list reloaded: {r}");
                }
                print_report(&r);
            }
        }
    }

    /// Says how many GeoIP lookups failed on a corrupt record.
    pub fn report(&self) {
        if let Some((n, first)) = self.geo.as_ref().map(GeoIp::failures).filter(|f| f.0 > 0) {
            eprintln!(
                "mamori: {n} GeoIP lookups failed (left without a country); the first: {}",
                first.unwrap_or_default()
            );
        }
    }

    fn geo_of(&self, ips: &[&str]) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(geo) = &self.geo else { return out };
        for ip in ips {
            match geo.lookup(ip) {
                Ok(Some(g)) => {
                    out.insert((*ip).to_owned(), json!(g));
                }
                Ok(None) => {}
                Err(e) => eprintln!("mamori: GeoIP: {e}"),
            }
        }
        out
    }

    fn intel_of(&self, f: &Finding) -> Vec<Value> {
        let mut out = Vec::new();
        for e in &f.entities {
            for hit in self.intel.lookup(&e.value) {
                let mut v = json!(hit);
                v["value"] = json!(e.value);
                out.push(v);
            }
        }
        out
    }

    fn travel_of(&self, engine: &Engine, f: &Finding) -> Result<Option<Value>> {
        let Some(geo) = &self.geo else {
            return Ok(None);
        };
        let range = (f.first_seen.0, f.last_seen.0 + 1);
        let mut stops = Vec::new();
        for ev in located_events(engine, &f.event_uids, range)? {
            if let Ok(Some(g)) = geo.lookup(&ev.ip) {
                if let Some((latitude, longitude)) = g.position() {
                    stops.push(Stop {
                        time_us: ev.time_us,
                        time: Timestamp(ev.time_us).to_string(),
                        ip: ev.ip,
                        country: g.country.or(ev.country),
                        city: g.city,
                        latitude,
                        longitude,
                    });
                }
            }
        }
        let legs = legs(&stops);
        if legs.is_empty() {
            return Ok(None);
        }
        let impossible = legs.iter().any(|l| l.impossible);
        Ok(Some(json!({"impossible": impossible, "legs": legs})))
    }

    fn related_of(&self, engine: &Engine, f: &Finding) -> Result<Vec<Value>> {
        let w = self.related_window_us;
        let range = (
            f.first_seen.0.saturating_sub(w),
            f.last_seen.0.saturating_add(w).saturating_add(1),
        );
        let mut subjects: Vec<Subject> = Vec::new();
        for (kind, make) in [
            (
                EntityKind::User,
                Subject::Principal as fn(String) -> Subject,
            ),
            (EntityKind::Ip, Subject::Ip),
        ] {
            subjects.extend(
                f.entities
                    .iter()
                    .filter(|e| e.kind == kind)
                    .take(SUBJECTS_PER_KIND)
                    .map(|e| make(e.value.clone())),
            );
        }
        let locate = |ip: &str| self.geo.as_ref().and_then(|g| g.country(ip));
        let mut out = Vec::new();
        for s in subjects {
            if let Some(a) = activity(engine, &s, range, &locate)? {
                out.push(json!(a));
            }
        }
        Ok(out)
    }

    /// Enriches findings just recorded (`true`: new). GeoIP and threat
    /// lists for each; with a store, travel between its events and, for a
    /// new one, its principals' and addresses' activity around it. A query
    /// that fails is reported and the finding keeps what it has.
    pub fn enrich_findings(
        &self,
        st: &mut FindingStore,
        touched: &[(String, bool)],
        store: Option<&mamori_store::Store>,
    ) -> Result<usize> {
        self.enrich_findings_with(st, touched, true, |opts| {
            store.and_then(|s| match Engine::open(s, opts) {
                Ok(e) => Some(e),
                Err(e) => {
                    eprintln!("mamori: enrichment without the store: {e}");
                    None
                }
            })
        })
    }

    /// As [`Enricher::enrich_findings`], with the query engine over the
    /// findings' time range (`None`: no store) opened by `open`, so that a
    /// caller sharing the store holds its lock only while the engine opens;
    /// the related activity (the slow part) only if `related`.
    pub fn enrich_findings_with(
        &self,
        st: &mut FindingStore,
        touched: &[(String, bool)],
        related: bool,
        open: impl FnOnce(&EngineOptions) -> Option<Engine>,
    ) -> Result<usize> {
        let mut findings = Vec::new();
        for (id, new) in touched {
            findings.push((st.get(id)?, *new));
        }
        // The store is needed for travel (findings of several events) and related activity.
        let needs_store = findings
            .iter()
            .any(|(f, new)| f.count > 1 || (related && *new && self.related_window_us > 0));
        let engine = if !needs_store {
            None
        } else {
            let w = self.related_window_us.max(0);
            let start = findings
                .iter()
                .map(|(f, _)| f.first_seen.0)
                .min()
                .unwrap_or(0);
            let end = findings
                .iter()
                .map(|(f, _)| f.last_seen.0)
                .max()
                .unwrap_or(0);
            open(&EngineOptions {
                start: Some(start.saturating_sub(w)),
                end: Some(end.saturating_add(w).saturating_add(1)),
                ..EngineOptions::default()
            })
        };
        let mut by_severity: Vec<usize> = (0..findings.len()).filter(|&i| findings[i].1).collect();
        by_severity.sort_by_key(|&i| std::cmp::Reverse(findings[i].0.severity));
        if by_severity.len() > RELATED_PER_RUN {
            eprintln!(
                "mamori: related activity summarized for the {RELATED_PER_RUN} most severe of {} new findings",
                by_severity.len()
            );
        }
        by_severity.truncate(RELATED_PER_RUN);
        let mut enriched = 0;
        for (i, (f, _)) in findings.iter().enumerate() {
            let new = by_severity.contains(&i);
            let mut add: Vec<(&str, Value)> = Vec::new();
            let mut ips: Vec<&str> = f
                .entities
                .iter()
                .filter(|e| e.kind == EntityKind::Ip)
                .map(|e| e.value.as_str())
                .collect();
            // One located event is no journey: no query for it.
            let travel = match engine.as_ref().filter(|_| f.count > 1) {
                Some(eng) => self.travel_of(eng, f).unwrap_or_else(|e| {
                    eprintln!("mamori: finding {}: travel: {e}", f.id);
                    None
                }),
                None => None,
            };
            let travel_ips: Vec<String> = travel
                .as_ref()
                .and_then(|t| t["legs"].as_array())
                .into_iter()
                .flatten()
                .flat_map(|l| [l["from"]["ip"].as_str(), l["to"]["ip"].as_str()])
                .flatten()
                .map(str::to_owned)
                .collect();
            ips.extend(travel_ips.iter().map(String::as_str));
            ips.sort_unstable();
            ips.dedup();
            let geo = self.geo_of(&ips);
            if !geo.is_empty() {
                add.push(("geo", Value::Object(geo)));
            }
            let intel = self.intel_of(f);
            if !intel.is_empty() {
                add.push(("intel", Value::Array(intel)));
            }
            if let Some(t) = travel {
                add.push(("travel", t));
            }
            if let (Some(eng), true) = (&engine, related && new && self.related_window_us > 0) {
                match self.related_of(eng, f) {
                    Ok(r) if !r.is_empty() => add.push(("related", Value::Array(r))),
                    Ok(_) => {}
                    Err(e) => eprintln!("mamori: finding {}: related events: {e}", f.id),
                }
            }
            if !add.is_empty() {
                enriched += 1;
            }
            st.enrich(
                &f.id,
                add.into_iter().map(|(k, v)| (k.to_owned(), v)),
                crate::inspect::now(),
            )?;
        }
        Ok(enriched)
    }
}
