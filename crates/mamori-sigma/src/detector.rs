//! Running rules on events: single-event rules at once, correlations in
//! event-time order behind a lateness bound. The same detector serves the
//! stream (ingest, serve) and the hunt over the store, so both agree.

use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use mamori_event::{Entity, EntityKind, Event, Timestamp};
use serde::{Deserialize, Serialize};

use crate::correlation::{CorrelationKind, CorrelationRule};
use crate::rule::RuleMeta;
use crate::ruleset::RuleSet;
use crate::view::EventView;

/// Matching event uids kept in one correlation detection (the count is exact).
const MAX_UIDS: usize = 1000;

/// A rule that fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Rule id (or name, or title when it has neither).
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Rule level.
    pub level: Option<String>,
    /// Rule tags (ATT&CK and others).
    pub tags: Vec<String>,
    /// `rule` for a single-event rule, else the correlation type.
    pub kind: String,
    /// Source of the (last) matching event.
    pub source: String,
    /// The matching events' uids, in time order (at most 1000).
    pub event_uids: Vec<String>,
    /// A correlation's group key, field by field.
    pub group: BTreeMap<String, String>,
    /// Matching events.
    pub count: u64,
    /// Time of the first matching event.
    pub first_time: Timestamp,
    /// Time of the last matching event.
    pub last_time: Timestamp,
    /// Who and what it is about: the event's entities for a rule, the group
    /// key's recognisable values for a correlation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
}

impl Detection {
    fn from_meta(meta: &RuleMeta, kind: &str) -> Self {
        Detection {
            rule_id: meta.key().to_owned(),
            title: meta.title.clone(),
            level: meta.level.clone(),
            tags: meta.tags.clone(),
            kind: kind.to_owned(),
            source: String::new(),
            event_uids: Vec::new(),
            group: BTreeMap::new(),
            count: 0,
            first_time: Timestamp(0),
            last_time: Timestamp(0),
            entities: Vec::new(),
        }
    }
}

/// A match waiting for its turn in event-time order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Pending {
    time: i64,
    seq: u64,
    /// Key of the rule that matched.
    rule: String,
    source: String,
    uids: Vec<String>,
    count: u64,
    first: i64,
    /// Values of the fields its correlations read.
    fields: BTreeMap<String, String>,
}

impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Reversed: the heap pops the earliest first. Ties go by event uid, not
        // arrival, so that the stream and a hunt put equal times in one order.
        (o.time, &o.uids, &o.rule, o.seq).cmp(&(self.time, &self.uids, &self.rule, self.seq))
    }
}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    time: i64,
    first: i64,
    /// Position of the matching rule in the correlation's list.
    rule: usize,
    uids: Vec<String>,
    count: u64,
    value: Option<String>,
    source: String,
}

/// What a detector keeps between runs: matches not yet in order, open windows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DetectorState {
    seq: u64,
    max_time: i64,
    pending: Vec<Pending>,
    /// correlation key → group key → window.
    windows: BTreeMap<String, BTreeMap<String, VecDeque<Entry>>>,
}

/// Counters a detector keeps.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct DetectorStats {
    /// Events seen.
    pub events: u64,
    /// Rule evaluations (candidates tried).
    pub evaluations: u64,
    /// Detections raised.
    pub detections: u64,
    /// Matches that arrived after the lateness bound had passed them.
    pub late: u64,
}

/// Runs a rule set on events.
pub struct Detector {
    rules: Arc<RuleSet>,
    lateness_us: i64,
    pending: BinaryHeap<Pending>,
    state: DetectorState,
    /// Time up to which matches have been handed to correlations.
    done_until: i64,
    stats: DetectorStats,
    /// Scratch space reused from event to event.
    candidates: Vec<usize>,
    admitted: Vec<bool>,
}

impl Detector {
    /// A detector that holds correlation input back until events `lateness`
    /// older have been seen (`None`: until [`Detector::flush`], as a hunt does).
    pub fn new(rules: Arc<RuleSet>, lateness: Option<std::time::Duration>) -> Self {
        Detector {
            rules,
            lateness_us: lateness.map_or(i64::MAX, |d| {
                i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
            }),
            pending: BinaryHeap::new(),
            state: DetectorState::default(),
            done_until: i64::MIN,
            stats: DetectorStats::default(),
            candidates: Vec::new(),
            admitted: Vec::new(),
        }
    }

    /// Resumes from a saved state.
    pub fn with_state(mut self, state: DetectorState) -> Self {
        self.pending = state.pending.iter().cloned().collect();
        self.done_until = state.max_time.saturating_sub(self.lateness_us);
        self.state = DetectorState {
            pending: Vec::new(),
            ..state
        };
        self
    }

    /// The state to save so that a restart continues the correlations.
    pub fn state(&self) -> DetectorState {
        let mut s = self.state.clone();
        s.pending = self.pending.clone().into_sorted_vec();
        s
    }

    /// Counters so far.
    pub fn stats(&self) -> DetectorStats {
        self.stats
    }

    /// Runs every rule that can match the event; detections go to `out`.
    pub fn process(&mut self, e: &Event, out: &mut Vec<Detection>) {
        self.stats.events += 1;
        let rules = Arc::clone(&self.rules);
        if let Some(route) = rules.routes.get(&e.source) {
            let view = EventView::new(e);
            let mut candidates = std::mem::take(&mut self.candidates);
            route.candidates(e, &view, &mut self.admitted, &mut candidates);
            for &i in &candidates {
                self.stats.evaluations += 1;
                let r = &rules.rules[i];
                if !r.detection.matches(&view) || !r.filters.iter().all(|f| f.matches(&view)) {
                    continue;
                }
                if r.reports {
                    let mut d = Detection::from_meta(&r.meta, "rule");
                    d.source = e.source.as_str().to_owned();
                    d.event_uids.push(e.uid.clone());
                    d.count = 1;
                    d.first_time = e.time;
                    d.last_time = e.time;
                    d.entities = e.entities();
                    self.stats.detections += 1;
                    out.push(d);
                }
                if !rules.rule_feeds[i].is_empty() {
                    let fields = rules.corr_fields[i]
                        .iter()
                        .filter_map(|f| view.strings(f).into_iter().next().map(|v| (f.clone(), v)))
                        .collect();
                    self.state.seq += 1;
                    let p = Pending {
                        time: e.time.0,
                        seq: self.state.seq,
                        rule: r.meta.key().to_owned(),
                        source: e.source.as_str().to_owned(),
                        uids: vec![e.uid.clone()],
                        count: 1,
                        first: e.time.0,
                        fields,
                    };
                    if p.time <= self.done_until {
                        self.stats.late += 1;
                    }
                    self.pending.push(p);
                }
            }
            self.candidates = candidates;
        }
        self.state.max_time = self.state.max_time.max(e.time.0);
        let until = self.state.max_time.saturating_sub(self.lateness_us);
        self.drain(until, out);
    }

    /// Hands every held match to the correlations (end of a hunt or of a test).
    pub fn flush(&mut self, out: &mut Vec<Detection>) {
        self.drain(i64::MAX, out);
    }

    fn drain(&mut self, until: i64, out: &mut Vec<Detection>) {
        self.done_until = self.done_until.max(until);
        while self.pending.peek().is_some_and(|p| p.time <= until) {
            let Some(p) = self.pending.pop() else { break };
            self.correlate(p, out);
        }
    }

    fn correlate(&mut self, p: Pending, out: &mut Vec<Detection>) {
        let rules = Arc::clone(&self.rules);
        let consumers: Vec<usize> = match rules.rules.iter().position(|r| r.meta.key() == p.rule) {
            Some(i) => rules.rule_feeds[i].clone(),
            None => match rules
                .correlations
                .iter()
                .position(|c| c.meta.key() == p.rule)
            {
                Some(c) => rules.corr_feeds[c].clone(),
                None => return,
            },
        };
        for c in consumers {
            let corr = &rules.correlations[c];
            if let Some(mut d) = self.step(corr, &p) {
                let fired = Pending {
                    time: p.time,
                    seq: p.seq,
                    rule: corr.meta.key().to_owned(),
                    source: p.source.clone(),
                    uids: d.event_uids.clone(),
                    count: d.count,
                    first: d.first_time.0,
                    fields: p.fields.clone(),
                };
                if rules.corr_reports[c] {
                    d.source = p.source.clone();
                    self.stats.detections += 1;
                    out.push(d);
                }
                if !rules.corr_feeds[c].is_empty() {
                    self.correlate(fired, out);
                }
            }
        }
    }

    /// Adds a match to its window; returns a detection when the window meets the condition.
    fn step(&mut self, corr: &CorrelationRule, p: &Pending) -> Option<Detection> {
        let pos = corr.rules.iter().position(|r| *r == p.rule).or_else(|| {
            let names = self.rule_names(&p.rule);
            corr.rules.iter().position(|r| names.contains(r))
        })?;
        let refs = self.rule_names(&p.rule);
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        let mut group = BTreeMap::new();
        for g in &corr.group_by {
            let f = corr.field_for(g, &refs);
            group.insert(g.clone(), p.fields.get(f).cloned().unwrap_or_default());
        }
        let value = if corr.threshold.fields.is_empty() {
            None
        } else {
            let vals: Option<Vec<&String>> = corr
                .threshold
                .fields
                .iter()
                .map(|f| p.fields.get(f))
                .collect();
            match vals {
                Some(v) => Some(
                    v.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("\u{1f}"),
                ),
                // A value-based correlation ignores a match that lacks the field.
                None => return None,
            }
        };
        let gkey = group.values().cloned().collect::<Vec<_>>().join("\u{1f}");
        let win = self
            .state
            .windows
            .entry(corr.meta.key().to_owned())
            .or_default()
            .entry(gkey.clone())
            .or_default();
        let at = win.partition_point(|e| e.time <= p.time);
        win.insert(
            at,
            Entry {
                time: p.time,
                first: p.first,
                rule: pos,
                uids: p.uids.clone(),
                count: p.count,
                value,
                source: p.source.clone(),
            },
        );
        let newest = win.back().map_or(p.time, |e| e.time);
        while win
            .front()
            .is_some_and(|e| e.time < newest - corr.timespan_ms * 1000)
        {
            win.pop_front();
        }
        let measure = measure(corr, win)?;
        if !corr.threshold.holds(measure) {
            return None;
        }
        let mut d = Detection::from_meta(&corr.meta, corr.kind.as_str());
        d.entities = group
            .iter()
            .filter_map(|(f, v)| EntityKind::guess(f, v).map(|k| Entity::new(k, v.clone())))
            .collect();
        d.entities.sort();
        d.entities.dedup();
        d.group = group;
        d.count = win.iter().map(|e| e.count).sum();
        d.first_time = Timestamp(win.iter().map(|e| e.first).min().unwrap_or(p.time));
        d.last_time = Timestamp(newest);
        d.event_uids = win
            .iter()
            .flat_map(|e| e.uids.iter().cloned())
            .take(MAX_UIDS)
            .collect();
        // One detection per window: the next needs fresh matches.
        win.clear();
        if let Some(g) = self.state.windows.get_mut(corr.meta.key()) {
            g.remove(&gkey);
        }
        Some(d)
    }

    fn rule_names(&self, key: &str) -> Vec<String> {
        let meta = self
            .rules
            .rules
            .iter()
            .map(|r| &r.meta)
            .chain(self.rules.correlations.iter().map(|c| &c.meta))
            .find(|m| m.key() == key);
        meta.map_or_else(
            || vec![key.to_owned()],
            |m| m.id.iter().chain(m.name.iter()).cloned().collect(),
        )
    }
}

/// The number a correlation's condition compares, over its current window.
fn measure(corr: &CorrelationRule, win: &VecDeque<Entry>) -> Option<f64> {
    let numbers = || {
        win.iter()
            .filter_map(|e| e.value.as_deref()?.trim().parse::<f64>().ok())
    };
    Some(match corr.kind {
        CorrelationKind::EventCount => win.iter().map(|e| e.count).sum::<u64>() as f64,
        CorrelationKind::ValueCount => {
            let distinct: std::collections::HashSet<&str> =
                win.iter().filter_map(|e| e.value.as_deref()).collect();
            distinct.len() as f64
        }
        CorrelationKind::Temporal => {
            let distinct: std::collections::HashSet<usize> = win.iter().map(|e| e.rule).collect();
            distinct.len() as f64
        }
        CorrelationKind::TemporalOrdered => {
            // How many of the rules occur in the listed order (greedy: earliest first).
            let mut next = 0;
            for e in win {
                if e.rule == next {
                    next += 1;
                }
            }
            next as f64
        }
        CorrelationKind::ValueSum => numbers().sum(),
        CorrelationKind::ValueAvg => {
            let v: Vec<f64> = numbers().collect();
            if v.is_empty() {
                return None;
            }
            v.iter().sum::<f64>() / v.len() as f64
        }
        CorrelationKind::ValuePercentile => {
            let mut v: Vec<f64> = numbers().collect();
            if v.is_empty() {
                return None;
            }
            v.sort_by(f64::total_cmp);
            let p = corr.threshold.percentile.unwrap_or(50.0).clamp(0.0, 100.0);
            let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
            v[rank.min(v.len() - 1)]
        }
    })
}

/// Runs a detector over events in any order and returns every detection
/// after a flush; a helper for hunts and tests.
pub fn run_all<'e>(
    rules: Arc<RuleSet>,
    events: impl IntoIterator<Item = &'e Event>,
) -> Vec<Detection> {
    let mut d = Detector::new(rules, None);
    let mut out = Vec::new();
    for e in events {
        d.process(e, &mut out);
    }
    d.flush(&mut out);
    out
}

/// Detections per rule key, for reports.
pub fn count_by_rule(ds: &[Detection]) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for d in ds {
        *m.entry(d.rule_id.clone()).or_default() += 1;
    }
    m
}
