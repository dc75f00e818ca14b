//! Threat-intelligence lists: IPs, CIDR networks and domains, from plain
//! lists (one per line, `#`/`;` comments, as Spamhaus DROP or Tor exit
//! lists are published) or CSV feeds, reloaded when their file changes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::geo::parse_ip;
use crate::EnrichError;

/// Junk lines kept for the report (all are counted).
const JUNK_KEPT: usize = 100;

/// Column names an indicator is looked for in, in order, when a CSV list names none.
const INDICATOR_COLUMNS: &[&str] = &[
    "indicator",
    "ioc",
    "ip",
    "ip_address",
    "ipaddress",
    "cidr",
    "network",
    "domain",
    "hostname",
    "value",
];

/// Column names a description is looked for in.
const DESCRIPTION_COLUMNS: &[&str] = &[
    "description",
    "comment",
    "threat",
    "malware",
    "type",
    "tags",
];

/// How a list file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListFormat {
    /// One indicator per line; the rest of the line, or a `#`/`;` comment, describes it.
    Plain,
    /// A CSV file with a header row.
    Csv,
}

/// A list as the configuration names it (`[[enrich.intel]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSpec {
    /// The name rules use (`%name%`) and findings show.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// `plain` or `csv` (default: `csv` for a `.csv` file, else `plain`).
    pub format: Option<ListFormat>,
    /// The CSV column holding the indicator (default: the first of `indicator`, `ioc`, `ip`, …, `value`).
    pub column: Option<String>,
    /// The CSV column describing it (default: the first of `description`, `comment`, `threat`, …).
    pub description_column: Option<String>,
}

impl ListSpec {
    fn format(&self) -> ListFormat {
        self.format.unwrap_or_else(|| {
            let csv = self
                .path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            if csv {
                ListFormat::Csv
            } else {
                ListFormat::Plain
            }
        })
    }
}

/// What an indicator is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorKind {
    /// One address.
    Ip,
    /// A CIDR network.
    Network,
    /// A domain and its subdomains.
    Domain,
}

/// A value found in a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntelHit {
    /// The list's name.
    pub list: String,
    /// The indicator that matched (the network or parent domain, as listed).
    pub indicator: String,
    /// What it is.
    pub kind: IndicatorKind,
    /// What the list says of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug)]
struct Entry {
    indicator: String,
    kind: IndicatorKind,
    description: Option<String>,
}

/// One loaded version of a list.
#[derive(Debug, Default)]
struct Indicators {
    ips: HashMap<IpAddr, usize>,
    nets: HashMap<(u8, IpAddr), usize>,
    // Prefix lengths present, longest first, so the narrowest network wins.
    prefixes: Vec<u8>,
    domains: HashMap<String, usize>,
    entries: Vec<Entry>,
}

impl Indicators {
    fn add(&mut self, token: &str, description: Option<String>) -> Result<(), String> {
        let (kind, key) = parse_indicator(token)?;
        let idx = self.entries.len();
        match key {
            Key::Ip(ip) => {
                self.ips.entry(ip).or_insert(idx);
            }
            Key::Net(net) => {
                let k = (net.prefix_len(), net.network());
                self.nets.entry(k).or_insert(idx);
                if !self.prefixes.contains(&net.prefix_len()) {
                    self.prefixes.push(net.prefix_len());
                    self.prefixes.sort_unstable_by(|a, b| b.cmp(a));
                }
            }
            Key::Domain(ref d) => {
                self.domains.entry(d.clone()).or_insert(idx);
            }
        }
        self.entries.push(Entry {
            indicator: match key {
                Key::Ip(ip) => ip.to_string(),
                Key::Net(n) => n.to_string(),
                Key::Domain(d) => d,
            },
            kind,
            description: description.filter(|d| !d.is_empty()),
        });
        Ok(())
    }

    fn find(&self, value: &str) -> Option<&Entry> {
        if let Some(ip) = parse_ip(value) {
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            };
            if let Some(&i) = self.ips.get(&ip) {
                return self.entries.get(i);
            }
            return self.prefixes.iter().find_map(|&p| {
                let net = IpNet::new(ip, p).ok()?.trunc();
                self.nets
                    .get(&(p, net.network()))
                    .and_then(|&i| self.entries.get(i))
            });
        }
        let host = host_of(value)?;
        let mut d = host.as_str();
        loop {
            if let Some(&i) = self.domains.get(d) {
                return self.entries.get(i);
            }
            d = d.split_once('.')?.1;
        }
    }
}

enum Key {
    Ip(IpAddr),
    Net(IpNet),
    Domain(String),
}

/// Feeds often defang what they publish (`evil[.]com`, `hxxp://`).
fn refang(s: &str) -> String {
    s.trim()
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("hxxp", "http")
}

/// The host a value names: a domain, or a URL's or e-mail address's host.
fn host_of(value: &str) -> Option<String> {
    let v = refang(value).to_ascii_lowercase();
    let v = v.split_once("://").map_or(v.as_str(), |(_, rest)| rest);
    let v = v.rsplit_once('@').map_or(v, |(_, host)| host);
    let v = v.split(['/', '?', '#']).next().unwrap_or(v);
    let v = v.split(':').next().unwrap_or(v);
    let v = v.trim_start_matches("*.").trim_end_matches('.');
    is_domain(v).then(|| v.to_owned())
}

fn is_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_indicator(token: &str) -> Result<(IndicatorKind, Key), String> {
    let t = refang(token);
    if let Some(ip) = parse_ip(&t) {
        return Ok((IndicatorKind::Ip, Key::Ip(ip)));
    }
    if t.contains('/') && !t.contains("://") {
        return t
            .parse::<IpNet>()
            .map(|n| (IndicatorKind::Network, Key::Net(n.trunc())))
            .map_err(|_| format!("'{token}' is not a CIDR network"));
    }
    host_of(&t)
        .map(|d| (IndicatorKind::Domain, Key::Domain(d)))
        .ok_or_else(|| format!("'{token}' is not an IP address, CIDR network or domain"))
}

/// What loading a list did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    /// The list.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// Indicators loaded.
    pub indicators: usize,
    /// Lines that were not indicators, as `file:line: reason` (the first 100).
    pub junk: Vec<String>,
    /// How many lines were not indicators.
    pub junk_lines: usize,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} indicators from {}",
            self.name,
            self.indicators,
            self.path.display()
        )?;
        if self.junk_lines > 0 {
            write!(f, ", {} lines skipped", self.junk_lines)?;
        }
        Ok(())
    }
}

impl LoadReport {
    fn junk(&mut self, line: u64, reason: impl std::fmt::Display) {
        self.junk_lines += 1;
        if self.junk.len() < JUNK_KEPT {
            self.junk
                .push(format!("{}:{line}: {reason}", self.path.display()));
        }
    }
}

fn read_plain(text: &str, report: &mut LoadReport) -> Indicators {
    let mut set = Indicators::default();
    for (n, line) in text.lines().enumerate() {
        let (body, comment) = match line.find(['#', ';']) {
            Some(i) => (&line[..i], Some(line[i + 1..].trim())),
            None => (line, None),
        };
        let mut words = body.split_whitespace();
        let Some(token) = words.next() else {
            continue;
        };
        let rest = words.collect::<Vec<_>>().join(" ");
        let description = if rest.is_empty() {
            comment.map(str::to_owned)
        } else {
            Some(rest)
        };
        if let Err(e) = set.add(token, description) {
            report.junk(n as u64 + 1, e);
        }
    }
    set
}

fn column(headers: &csv::StringRecord, wanted: Option<&str>, defaults: &[&str]) -> Option<usize> {
    let find = |name: &str| {
        headers.iter().position(|h| {
            h.trim()
                .trim_start_matches('#')
                .trim()
                .eq_ignore_ascii_case(name)
        })
    };
    match wanted {
        Some(w) => find(w),
        None => defaults.iter().find_map(|d| find(d)),
    }
}

fn read_csv(
    spec: &ListSpec,
    bytes: &[u8],
    report: &mut LoadReport,
) -> Result<Indicators, EnrichError> {
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(bytes);
    let bad = |reason: String| EnrichError::BadList {
        path: spec.path.clone(),
        reason,
    };
    let headers = rd
        .headers()
        .map_err(|e| bad(format!("cannot read the CSV header: {e}")))?
        .clone();
    let ind = column(&headers, spec.column.as_deref(), INDICATOR_COLUMNS).ok_or_else(|| {
        bad(match &spec.column {
            Some(c) => format!("no column '{c}' in the header"),
            None => format!(
                "no indicator column in the header (looked for {}); name it with `column`",
                INDICATOR_COLUMNS.join(", ")
            ),
        })
    })?;
    let desc = column(
        &headers,
        spec.description_column.as_deref(),
        DESCRIPTION_COLUMNS,
    );
    let mut set = Indicators::default();
    let mut rec = csv::StringRecord::new();
    loop {
        let line = rd.position().line();
        match rd.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map_or(line, |p| p.line());
                let Some(token) = rec.get(ind).map(str::trim).filter(|t| !t.is_empty()) else {
                    report.junk(line, "no indicator in this row");
                    continue;
                };
                let d = desc.and_then(|i| rec.get(i)).map(|s| s.trim().to_owned());
                if let Err(e) = set.add(token, d) {
                    report.junk(line, e);
                }
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                report.junk(line, format!("unreadable row: {e}"));
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                ) {
                    break;
                }
            }
        }
    }
    Ok(set)
}

/// File identity that changes when the file is rewritten.
fn stamp(path: &Path) -> Result<(SystemTime, u64), EnrichError> {
    let m = std::fs::metadata(path).map_err(|e| EnrichError::io(path, e))?;
    let t = m.modified().map_err(|e| EnrichError::io(path, e))?;
    Ok((t, m.len()))
}

/// A threat list, ready to look values up in; [`IntelList::refresh`]
/// rereads it when its file has changed.
#[derive(Debug)]
pub struct IntelList {
    spec: ListSpec,
    current: RwLock<Arc<Indicators>>,
    loaded: Mutex<Option<(SystemTime, u64)>>,
}

impl IntelList {
    /// Reads the list. An unreadable file, or a CSV without an indicator
    /// column, is an error; lines that are not indicators are skipped and
    /// named in the report.
    pub fn load(spec: ListSpec) -> Result<(IntelList, LoadReport), EnrichError> {
        let (set, report, st) = Self::read(&spec)?;
        let list = IntelList {
            spec,
            current: RwLock::new(Arc::new(set)),
            loaded: Mutex::new(Some(st)),
        };
        Ok((list, report))
    }

    fn read(spec: &ListSpec) -> Result<(Indicators, LoadReport, (SystemTime, u64)), EnrichError> {
        let st = stamp(&spec.path)?;
        let bytes = std::fs::read(&spec.path).map_err(|e| EnrichError::io(&spec.path, e))?;
        let mut report = LoadReport {
            name: spec.name.clone(),
            path: spec.path.clone(),
            ..LoadReport::default()
        };
        let set = match spec.format() {
            ListFormat::Csv => read_csv(spec, &bytes, &mut report)?,
            ListFormat::Plain => read_plain(&String::from_utf8_lossy(&bytes), &mut report),
        };
        report.indicators = set.entries.len();
        Ok((set, report, st))
    }

    /// Rereads the file if it changed since it was read: `Ok(None)` when it
    /// has not. A file that became unreadable is an error and the list
    /// keeps what it had, so matching goes on.
    pub fn refresh(&self) -> Result<Option<LoadReport>, EnrichError> {
        let now = stamp(&self.spec.path)?;
        let unchanged = self.loaded.lock().is_ok_and(|l| *l == Some(now));
        if unchanged {
            return Ok(None);
        }
        let (set, report, st) = Self::read(&self.spec)?;
        if let Ok(mut cur) = self.current.write() {
            *cur = Arc::new(set);
        }
        if let Ok(mut l) = self.loaded.lock() {
            *l = Some(st);
        }
        Ok(Some(report))
    }

    /// The list's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// How many indicators it holds.
    pub fn len(&self) -> usize {
        self.snapshot().entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> Arc<Indicators> {
        self.current
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_default()
    }

    /// The entry a value matches: an address (in a listed network), or a
    /// domain, URL or e-mail address whose host is (under) a listed domain.
    pub fn lookup(&self, value: &str) -> Option<IntelHit> {
        let set = self.snapshot();
        set.find(value).map(|e| IntelHit {
            list: self.spec.name.clone(),
            indicator: e.indicator.clone(),
            kind: e.kind,
            description: e.description.clone(),
        })
    }
}

/// Every configured list.
#[derive(Debug, Default)]
pub struct IntelSet {
    lists: Vec<Arc<IntelList>>,
}

impl IntelSet {
    /// Loads every list it can: one report or error per list, in order. A
    /// list that cannot be read is left out (rules naming it do not load,
    /// and say so); the others work.
    pub fn load(specs: &[ListSpec]) -> (IntelSet, Vec<Result<LoadReport, EnrichError>>) {
        let mut lists: Vec<Arc<IntelList>> = Vec::new();
        let mut reports = Vec::new();
        for s in specs {
            if lists.iter().any(|l| l.name() == s.name) {
                reports.push(Err(EnrichError::BadList {
                    path: s.path.clone(),
                    reason: format!("a second list named '{}'", s.name),
                }));
                continue;
            }
            match IntelList::load(s.clone()) {
                Ok((l, r)) => {
                    lists.push(Arc::new(l));
                    reports.push(Ok(r));
                }
                Err(e) => reports.push(Err(e)),
            }
        }
        (IntelSet { lists }, reports)
    }

    /// The lists.
    pub fn lists(&self) -> &[Arc<IntelList>] {
        &self.lists
    }

    /// Every list's entry for a value.
    pub fn lookup(&self, value: &str) -> Vec<IntelHit> {
        self.lists.iter().filter_map(|l| l.lookup(value)).collect()
    }

    /// Rereads the lists whose file changed: a report for each reread, an
    /// error for each that could not be (it keeps its previous entries).
    pub fn refresh(&self) -> Vec<Result<LoadReport, EnrichError>> {
        self.lists
            .iter()
            .filter_map(|l| l.refresh().transpose())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicators_and_lookups() {
        let mut r = LoadReport::default();
        let set = read_plain(
            "# Tor exits\n198.51.100.7 exit relay\n203.0.113.0/24 ; SBL1\nevil[.]example\n\n2001:db8::/32\nnot an ip!\n10.0.0.0/33\n",
            &mut r,
        );
        assert_eq!(set.entries.len(), 4);
        assert_eq!(r.junk_lines, 2, "{:?}", r.junk);
        let kind = |v: &str| {
            set.find(v)
                .map(|e| (e.kind, e.indicator.as_str(), e.description.as_deref()))
        };
        assert_eq!(
            kind("198.51.100.7"),
            Some((IndicatorKind::Ip, "198.51.100.7", Some("exit relay")))
        );
        assert_eq!(
            kind("203.0.113.99:443"),
            Some((IndicatorKind::Network, "203.0.113.0/24", Some("SBL1")))
        );
        assert_eq!(
            kind("::ffff:203.0.113.5").map(|k| k.1),
            Some("203.0.113.0/24")
        );
        assert_eq!(kind("2001:db8:1::5").map(|k| k.1), Some("2001:db8::/32"));
        assert_eq!(
            kind("login.EVIL.example.").map(|k| k.1),
            Some("evil.example")
        );
        assert_eq!(
            kind("https://cdn.evil.example/x?y").map(|k| k.1),
            Some("evil.example")
        );
        assert_eq!(
            kind("mallory@evil.example").map(|k| k.1),
            Some("evil.example")
        );
        assert_eq!(kind("notevil.example"), None);
        assert_eq!(kind("198.51.100.8"), None);
        assert_eq!(kind("example"), None);
    }
}
