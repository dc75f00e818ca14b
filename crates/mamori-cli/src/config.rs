//! The configuration file (`mamori.toml`), and where the data directory is.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// `mamori.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[store]`.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[retention]`: days to keep, per source kind, and `default`.
    #[serde(default)]
    pub retention: BTreeMap<String, u32>,
    /// `[detect]`.
    #[serde(default)]
    pub detect: DetectConfig,
    /// `[findings]`.
    #[serde(default)]
    pub findings: FindingsConfig,
    /// `[[notify]]`: the channels findings are delivered to.
    #[serde(default)]
    pub notify: Vec<mamori_notify::ChannelConfig>,
    /// `[enrich]`: GeoIP databases, threat lists, related events.
    #[serde(default)]
    pub enrich: EnrichConfig,
    /// `[serve]`: the service `mamori serve` runs.
    #[serde(default)]
    pub serve: crate::serve::ServeConfig,
}

/// `[enrich]`: the context added to events and findings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// MaxMind-format databases (GeoLite2/GeoIP2 City or Country, ASN), looked up together.
    #[serde(default)]
    pub geoip: Vec<PathBuf>,
    /// `[[enrich.intel]]`: threat-intelligence lists.
    #[serde(default)]
    pub intel: Vec<mamori_enrich::ListSpec>,
    /// How far before and after a new finding its principal's and address's
    /// activity is summarized: `24h` by default; `0s` turns it off.
    pub related_window: Option<String>,
}

/// `[findings]`: where findings are kept and how they are deduplicated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsConfig {
    /// A SQLite file or a `postgres://` URL (default: `findings.db` in the data directory).
    pub db: Option<String>,
    /// Detections of one rule and group this close update one finding: `24h` by default.
    pub dedup_window: Option<String>,
    /// A link to a finding in notifications, `{id}` replaced (e.g. `https://mamori.example/findings/{id}`).
    pub link: Option<String>,
}

/// `[detect]`: the rules `ingest` and `hunt` run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Rule files or directories, besides the built-in pack.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// Values for `%placeholders%`, by name.
    #[serde(default)]
    pub placeholders: HashMap<String, Vec<String>>,
    /// A YAML file of more placeholder values.
    pub placeholders_file: Option<PathBuf>,
    /// How late (event time) a match may arrive and still be put in order for correlations: `15m` by default.
    pub lateness: Option<String>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The data directory.
    pub data: Option<PathBuf>,
}

impl Config {
    /// Reads `path`, or `./mamori.toml` when it exists, or the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let path = match path {
            Some(p) => p.to_owned(),
            None if Path::new("mamori.toml").exists() => PathBuf::from("mamori.toml"),
            None => return Ok(Config::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))
    }

    /// The data directory: `--data` or `MAMORI_DATA` (given as `flag`), then the config, then `./mamori-data`.
    pub fn data_dir(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_owned)
            .or_else(|| self.store.data.clone())
            .unwrap_or_else(|| PathBuf::from("mamori-data"))
    }
}
