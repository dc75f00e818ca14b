//! Source health. Stopping the logs is often an attacker's first move
//! (ATT&CK T1562.008), so a source that goes quiet longer than expected, or
//! whose volume departs far from its usual rate, raises a finding.

use std::collections::{BTreeMap, HashMap, VecDeque};

use anyhow::{Context, Result};
use mamori_event::{SourceKind, Timestamp};
use mamori_sigma::Detection;
use serde::Serialize;

use super::ExpectConfig;

const MINUTE_US: i64 = 60_000_000;
/// Minutes of history the usual rate is taken from.
const HISTORY_MINUTES: usize = 60;
/// Minutes of history needed before the rate is judged at all.
const WARMUP_MINUTES: usize = 10;
/// A minute below usual / FACTOR, or above usual × FACTOR, departs.
const FACTOR: f64 = 10.0;
/// Sources slower than this per minute are too sparse to judge by rate.
const MIN_RATE_PER_MINUTE: f64 = 60.0;

/// One source's state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SourceHealth {
    /// Events stored since the service started.
    pub events: u64,
    /// When the last event was committed (µs).
    pub last_arrival_us: Option<i64>,
    /// The newest event time seen (µs).
    pub last_event_us: Option<i64>,
    /// Longest expected silence (µs), when configured.
    pub expected_interval_us: Option<i64>,
    /// Whether it is silent beyond that now.
    pub silent: bool,
    /// Events per minute, newest last (complete minutes only).
    #[serde(skip)]
    minutes: VecDeque<(i64, u64)>,
    /// Whether a volume alert is open for the current departure.
    #[serde(skip)]
    departed: bool,
}

impl SourceHealth {
    /// Usual events per minute: the mean of the complete minutes before the last.
    pub fn usual_rate(&self) -> Option<f64> {
        let n = self.minutes.len();
        (n > WARMUP_MINUTES).then(|| {
            self.minutes
                .iter()
                .take(n - 1)
                .map(|m| m.1 as f64)
                .sum::<f64>()
                / (n - 1) as f64
        })
    }
}

/// A health problem to record as a finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The source.
    pub source: String,
    /// `silent`, `volume_drop` or `volume_spike`.
    pub what: &'static str,
    /// In words.
    pub detail: String,
    /// When it was judged.
    pub at: Timestamp,
}

impl Alert {
    /// As a detection: one finding per source and kind of problem (dedup does the rest).
    pub fn detection(&self) -> Detection {
        let (id, title, level) = match self.what {
            "silent" => ("mamori-source-silent", "Log source went silent", "high"),
            "volume_drop" => (
                "mamori-source-volume-drop",
                "Log source volume dropped",
                "medium",
            ),
            _ => (
                "mamori-source-volume-spike",
                "Log source volume spiked",
                "low",
            ),
        };
        let mut group = BTreeMap::new();
        group.insert("source".to_owned(), self.source.clone());
        group.insert("detail".to_owned(), self.detail.clone());
        Detection {
            rule_id: id.to_owned(),
            title: format!("{title}: {}", self.source),
            level: Some(level.to_owned()),
            tags: vec!["attack.defense-evasion".into(), "attack.t1562.008".into()],
            kind: "source_health".to_owned(),
            source: self.source.clone(),
            event_uids: Vec::new(),
            group,
            count: 1,
            first_time: self.at,
            last_time: self.at,
            entities: Vec::new(),
        }
    }
}

/// Every source's health.
#[derive(Debug, Default)]
pub struct Sources {
    by_source: HashMap<String, SourceHealth>,
    started_us: Option<i64>,
}

impl Sources {
    /// Starts with the expected intervals of `[[serve.expect]]`.
    pub fn new(expect: &[ExpectConfig]) -> Result<Sources> {
        let mut s = Sources::default();
        for e in expect {
            if SourceKind::from_name(&e.source).is_none() {
                anyhow::bail!("[[serve.expect]] source {:?}: not a source kind", e.source);
            }
            let ms = mamori_sigma::parse_timespan(&e.interval)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("[[serve.expect]] interval {:?}", e.interval))?;
            s.by_source
                .entry(e.source.clone())
                .or_default()
                .expected_interval_us = Some(ms.saturating_mul(1000));
        }
        Ok(s)
    }

    /// Counts a commit: events per source (with the newest event time) and rejects.
    pub fn committed(
        &mut self,
        stored: &HashMap<SourceKind, (u64, i64)>,
        _rejected: u64,
        now: Timestamp,
    ) {
        self.started_us.get_or_insert(now.0);
        for (kind, (n, newest)) in stored {
            let h = self.by_source.entry(kind.as_str().to_owned()).or_default();
            h.events += n;
            h.last_arrival_us = Some(now.0);
            h.last_event_us = Some(h.last_event_us.map_or(*newest, |t| t.max(*newest)));
            let minute = now.0.div_euclid(MINUTE_US);
            match h.minutes.back_mut() {
                Some((m, c)) if *m == minute => *c += n,
                _ => h.minutes.push_back((minute, *n)),
            }
        }
    }

    /// Judges every source at `now`; returns the problems that are new.
    pub fn check(&mut self, now: Timestamp) -> Vec<Alert> {
        let started = *self.started_us.get_or_insert(now.0);
        let minute = now.0.div_euclid(MINUTE_US);
        let mut out = Vec::new();
        for (name, h) in &mut self.by_source {
            // Minutes with nothing count as zero; the current minute is not complete.
            if let Some(&(last, _)) = h.minutes.back() {
                for m in last + 1..minute {
                    h.minutes.push_back((m, 0));
                }
            }
            while h.minutes.len() > HISTORY_MINUTES + 1 {
                h.minutes.pop_front();
            }
            if let Some(limit) = h.expected_interval_us {
                let since = h.last_arrival_us.unwrap_or(started);
                let silent = now.0 - since > limit;
                if silent && !h.silent {
                    let detail = match h.last_arrival_us {
                        Some(t) => format!(
                            "no events since {} (expected at least every {}s)",
                            Timestamp(t),
                            limit / 1_000_000
                        ),
                        None => format!(
                            "no events since the service started (expected at least every {}s)",
                            limit / 1_000_000
                        ),
                    };
                    out.push(Alert {
                        source: name.clone(),
                        what: "silent",
                        detail,
                        at: now,
                    });
                }
                h.silent = silent;
            }
            // The last complete minute against the ones before it.
            let complete: Vec<&(i64, u64)> = h.minutes.iter().filter(|m| m.0 < minute).collect();
            if complete.len() > WARMUP_MINUTES {
                let (last, before) = complete
                    .split_last()
                    .map_or((0, &[][..]), |(l, b)| (l.1, b));
                let usual = before.iter().map(|m| m.1 as f64).sum::<f64>() / before.len() as f64;
                let departs = usual >= MIN_RATE_PER_MINUTE
                    && ((last as f64) < usual / FACTOR || (last as f64) > usual * FACTOR);
                if departs && !h.departed {
                    let what = if (last as f64) < usual {
                        "volume_drop"
                    } else {
                        "volume_spike"
                    };
                    out.push(Alert {
                        source: name.clone(),
                        what,
                        detail: format!("{last} events in the last minute; usually {usual:.0}"),
                        at: now,
                    });
                }
                h.departed = departs;
            }
        }
        out.sort_by(|a, b| a.source.cmp(&b.source));
        out
    }

    /// A copy of each source's state, by name.
    pub fn snapshot(&self) -> BTreeMap<String, SourceHealth> {
        self.by_source
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64, sec: i64) -> Timestamp {
        Timestamp(1_800_000_000_000_000 + min * MINUTE_US + sec * 1_000_000)
    }

    fn commit(s: &mut Sources, kind: SourceKind, n: u64, t: Timestamp) {
        let mut m = HashMap::new();
        m.insert(kind, (n, t.0));
        s.committed(&m, 0, t);
    }

    #[test]
    fn a_source_silent_beyond_its_interval_raises_one_alert() {
        let expect = vec![ExpectConfig {
            source: "cloudtrail".into(),
            interval: "5m".into(),
        }];
        let mut s = Sources::new(&expect).expect("config");
        commit(&mut s, SourceKind::Cloudtrail, 10, at(0, 0));
        assert!(s.check(at(4, 0)).is_empty());
        let a = s.check(at(6, 0));
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].what, "silent");
        assert_eq!(a[0].source, "cloudtrail");
        // Still silent: no second alert; back and silent again: a new one.
        assert!(s.check(at(7, 0)).is_empty());
        commit(&mut s, SourceKind::Cloudtrail, 1, at(8, 0));
        assert!(s.check(at(9, 0)).is_empty());
        assert_eq!(s.check(at(14, 0)).len(), 1);
        assert_eq!(a[0].detection().rule_id, "mamori-source-silent");
    }

    #[test]
    fn an_expected_source_that_never_arrives_is_silent() {
        let expect = vec![ExpectConfig {
            source: "k8s_audit".into(),
            interval: "1m".into(),
        }];
        let mut s = Sources::new(&expect).expect("config");
        assert!(s.check(at(0, 0)).is_empty());
        let a = s.check(at(2, 0));
        assert_eq!(a.len(), 1);
        assert!(
            a[0].detail.contains("since the service started"),
            "{}",
            a[0].detail
        );
        assert!(Sources::new(&[ExpectConfig {
            source: "nope".into(),
            interval: "1m".into()
        }])
        .is_err());
    }

    #[test]
    fn volume_far_below_or_above_the_usual_rate_departs() {
        let mut s = Sources::default();
        for m in 0..20 {
            commit(&mut s, SourceKind::VpcFlow, 1000, at(m, 30));
            assert!(s.check(at(m, 40)).is_empty(), "minute {m}");
        }
        // Minute 20 brings 5 events: judged once minute 20 is complete.
        commit(&mut s, SourceKind::VpcFlow, 5, at(20, 30));
        let a = s.check(at(21, 1));
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].what, "volume_drop");
        assert!(a[0].detail.contains("5 events"), "{}", a[0].detail);
        // A sparse source is never judged by rate.
        let mut s = Sources::default();
        for m in 0..20 {
            commit(&mut s, SourceKind::Syslog, 3, at(m, 30));
        }
        assert!(s.check(at(25, 0)).is_empty());
        // A spike.
        let mut s = Sources::default();
        for m in 0..20 {
            commit(&mut s, SourceKind::Cloudtrail, 100, at(m, 30));
            s.check(at(m, 40));
        }
        commit(&mut s, SourceKind::Cloudtrail, 5000, at(20, 30));
        let a = s.check(at(21, 1));
        assert_eq!(
            a.iter().map(|a| a.what).collect::<Vec<_>>(),
            vec!["volume_spike"]
        );
    }
}
