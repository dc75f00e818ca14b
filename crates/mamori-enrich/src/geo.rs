//! GeoIP and ASN lookups in MaxMind-format databases.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use maxminddb::{PathElement, Reader};
use serde::{Deserialize, Serialize};

use crate::EnrichError;

/// Where an address is and who routes it, merged from every database given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code (the country of the address's
    /// location, else the country it is registered in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The country's English name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    /// The city's English name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Latitude, degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude, degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// How far off the position may be, km.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u32>,
    /// Autonomous system number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// Autonomous system organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
}

impl GeoInfo {
    /// Latitude and longitude, when both are known.
    pub fn position(&self) -> Option<(f64, f64)> {
        Some((self.latitude?, self.longitude?))
    }

    fn merge(&mut self, r: Record) {
        let place = r.country.or(r.registered_country);
        if let Some(p) = place {
            self.country = self.country.take().or(p.iso_code);
            self.country_name = self.country_name.take().or(p.names.and_then(|n| n.en));
        }
        if let Some(c) = r.city {
            self.city = self.city.take().or(c.names.and_then(|n| n.en));
        }
        if let Some(l) = r.location {
            if self.latitude.is_none() && self.longitude.is_none() {
                self.latitude = l.latitude.filter(|v| v.is_finite());
                self.longitude = l.longitude.filter(|v| v.is_finite());
                self.accuracy_km = l.accuracy_radius.and_then(Uint::u32);
            }
        }
        self.asn = self.asn.or(r.autonomous_system_number.and_then(Uint::u32));
        self.as_org = self.as_org.take().or(r.autonomous_system_organization);
    }
}

// The fields of GeoIP2/GeoLite2 City, Country and ASN records Mamori uses;
// any other field is skipped, so other databases with these names work too.
#[derive(Deserialize)]
struct Record {
    country: Option<Place>,
    registered_country: Option<Place>,
    city: Option<Place>,
    location: Option<Location>,
    autonomous_system_number: Option<Uint>,
    autonomous_system_organization: Option<String>,
}

/// An unsigned integer of whichever width the database stored it in (the
/// reader is strict: a `u32` field refuses a `uint64` record).
struct Uint(u64);

impl<'de> Deserialize<'de> for Uint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Uint, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Uint;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an unsigned integer")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Uint, E> {
                Ok(Uint(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Uint, E> {
                u64::try_from(v).map(Uint).map_err(E::custom)
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Uint, E> {
                u64::try_from(v).map(Uint).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Uint {
    fn u32(self) -> Option<u32> {
        u32::try_from(self.0).ok()
    }
}

#[derive(Deserialize)]
struct Place {
    iso_code: Option<String>,
    names: Option<Names>,
}

#[derive(Deserialize)]
struct Names {
    en: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_radius: Option<Uint>,
}

struct Database {
    path: PathBuf,
    kind: String,
    reader: Reader<Vec<u8>>,
}

/// One or more MaxMind databases, looked up together.
pub struct GeoIp {
    dbs: Vec<Database>,
    failures: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Whether an address can be located: not private, loopback, link-local,
/// carrier-grade NAT, multicast or unspecified (a database would not know
/// them, or would say something misleading).
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Reads an address from an event field: `203.0.113.7`, `[2001:db8::1]`,
/// `203.0.113.7:443`; anything else (`AWS Internal`, a host name) is none.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

impl GeoIp {
    /// Opens each database; a file that is missing, unreadable or not a
    /// MaxMind database is an error naming it.
    pub fn open(paths: &[PathBuf]) -> Result<GeoIp, EnrichError> {
        let mut dbs = Vec::new();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|e| EnrichError::io(path, e))?;
            dbs.push(Self::database(path, bytes)?);
        }
        Ok(GeoIp {
            dbs,
            failures: AtomicU64::new(0),
            first_failure: Mutex::new(None),
        })
    }

    fn database(path: &Path, bytes: Vec<u8>) -> Result<Database, EnrichError> {
        let bad = |e: maxminddb::MaxMindDbError| EnrichError::BadDatabase {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let reader = Reader::from_source(bytes).map_err(bad)?;
        Ok(Database {
            path: path.to_owned(),
            kind: reader.metadata().database_type.clone(),
            reader,
        })
    }

    /// The databases, as `type (path)`.
    pub fn describe(&self) -> String {
        self.dbs
            .iter()
            .map(|d| format!("{} ({})", d.kind, d.path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Everything the databases know of an address; `None` for a value that
    /// is not a public address or that no database holds. A corrupt record
    /// is an error naming the database.
    pub fn lookup(&self, addr: &str) -> Result<Option<GeoInfo>, EnrichError> {
        let Some(ip) = parse_ip(addr).filter(is_public) else {
            return Ok(None);
        };
        let mut info = GeoInfo::default();
        let mut found = false;
        for db in &self.dbs {
            let bad = |e: maxminddb::MaxMindDbError| EnrichError::BadDatabase {
                path: db.path.clone(),
                reason: format!("looking up {ip}: {e}"),
            };
            let hit = db.reader.lookup(ip).map_err(bad)?;
            if let Some(r) = hit.decode::<Record>().map_err(bad)? {
                info.merge(r);
                found = true;
            }
        }
        Ok(found.then_some(info))
    }

    /// The country code of an address, for filling in events at ingest. A
    /// lookup that fails is counted (see [`GeoIp::failures`]), not fatal:
    /// one corrupt record must not stop an ingest.
    pub fn country(&self, addr: &str) -> Option<String> {
        let ip = parse_ip(addr).filter(is_public)?;
        for db in &self.dbs {
            let r = db.reader.lookup(ip).and_then(|hit| {
                let c: Option<String> =
                    hit.decode_path(&[PathElement::Key("country"), PathElement::Key("iso_code")])?;
                match c {
                    Some(c) => Ok(Some(c)),
                    None => hit.decode_path(&[
                        PathElement::Key("registered_country"),
                        PathElement::Key("iso_code"),
                    ]),
                }
            });
            match r {
                Ok(Some(c)) => return Some(c),
                Ok(None) => {}
                Err(e) => self.failed(&db.path, ip, e),
            }
        }
        None
    }

    fn failed(&self, path: &Path, ip: IpAddr, e: maxminddb::MaxMindDbError) {
        if self.failures.fetch_add(1, Ordering::Relaxed) == 0 {
            if let Ok(mut first) = self.first_failure.lock() {
                *first = Some(format!("{}: looking up {ip}: {e}", path.display()));
            }
        }
    }

    /// How many lookups failed on a corrupt record, and the first failure.
    pub fn failures(&self) -> (u64, Option<String>) {
        let first = self.first_failure.lock().ok().and_then(|f| f.clone());
        (self.failures.load(Ordering::Relaxed), first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_ip(" 203.0.113.7 "), "203.0.113.7".parse().ok());
        assert_eq!(parse_ip("203.0.113.7:443"), "203.0.113.7".parse().ok());
        assert_eq!(parse_ip("[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip("AWS Internal"), None);
        assert_eq!(parse_ip("ec2.amazonaws.com"), None);
        for private in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(&parse_ip(private).expect("ip")), "{private}");
        }
        for public in ["8.8.8.8", "81.2.69.142", "2a02:c7e::1", "::ffff:8.8.8.8"] {
            assert!(is_public(&parse_ip(public).expect("ip")), "{public}");
        }
    }
}
