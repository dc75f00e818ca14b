//! Small MaxMind-format databases the tests write themselves: a City
//! database and an ASN database over a handful of public networks (the ones
//! MaxMind's own test databases use), so GeoIP enrichment is tested against
//! real `.mmdb` files without shipping GeoLite2.

use std::path::{Path, PathBuf};

use mmdb_writer::ipnet::IpNet;
use serde_json::json;

/// A network and where it is.
pub struct Place {
    /// The network.
    pub net: &'static str,
    /// ISO country code.
    pub country: &'static str,
    /// Country name.
    pub country_name: &'static str,
    /// City.
    pub city: &'static str,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Autonomous system number and organization.
    pub asn: (u32, &'static str),
}

/// The places the test databases hold.
pub const PLACES: &[Place] = &[
    Place {
        net: "81.2.69.0/24",
        country: "GB",
        country_name: "United Kingdom",
        city: "London",
        lat: 51.5142,
        lon: -0.0931,
        asn: (20712, "Andrews & Arnold Ltd"),
    },
    Place {
        net: "175.16.199.0/24",
        country: "CN",
        country_name: "China",
        city: "Changchun",
        lat: 43.88,
        lon: 125.3228,
        asn: (4837, "China Unicom"),
    },
    Place {
        net: "216.160.83.0/24",
        country: "US",
        country_name: "United States",
        city: "Milton",
        lat: 47.2513,
        lon: -122.3149,
        asn: (209, "CenturyLink"),
    },
    Place {
        net: "89.160.20.0/24",
        country: "SE",
        country_name: "Sweden",
        city: "Linköping",
        lat: 58.4167,
        lon: 15.6167,
        asn: (29518, "Bredband2 AB"),
    },
    Place {
        net: "2a02:c7f::/32",
        country: "GB",
        country_name: "United Kingdom",
        city: "Manchester",
        lat: 53.4809,
        lon: -2.2374,
        asn: (5089, "Virgin Media"),
    },
];

#[derive(serde::Serialize)]
struct Asn {
    autonomous_system_number: u32,
    autonomous_system_organization: &'static str,
}

fn net(p: &Place) -> IpNet {
    p.net.parse().expect("a network")
}

/// Writes `GeoLite2-City`-shaped and `GeoLite2-ASN`-shaped databases into
/// `dir` and returns their paths (city, asn).
pub fn write_geoip(dir: &Path) -> (PathBuf, PathBuf) {
    let mut city = mmdb_writer::Writer::new("GeoLite2-City");
    let mut asn = mmdb_writer::Writer::new("GeoLite2-ASN");
    for p in PLACES {
        let record = json!({
            "continent": {"code": "XX"},
            "country": {"iso_code": p.country, "names": {"en": p.country_name, "de": p.country_name}},
            "registered_country": {"iso_code": p.country},
            "city": {"names": {"en": p.city}},
            "location": {"latitude": p.lat, "longitude": p.lon, "accuracy_radius": 20},
        });
        // As GeoLite2 stores them: ASN as uint32 (the City record's integers are uint64 here,
        // which the reader must take too).
        city.insert(net(p), &record).expect("insert a city record");
        let a = Asn {
            autonomous_system_number: p.asn.0,
            autonomous_system_organization: p.asn.1,
        };
        asn.insert(net(p), &a).expect("insert an ASN record");
    }
    let (c, a) = (
        dir.join("GeoLite2-City.mmdb"),
        dir.join("GeoLite2-ASN.mmdb"),
    );
    std::fs::write(&c, city.to_bytes().expect("city bytes")).expect("write city db");
    std::fs::write(&a, asn.to_bytes().expect("asn bytes")).expect("write asn db");
    (c, a)
}
