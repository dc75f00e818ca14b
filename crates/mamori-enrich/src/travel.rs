//! Travel between located sign-ins: the distance and speed check that
//! turns "two countries within two hours" into "impossible travel".

use serde::{Deserialize, Serialize};

/// Faster than an airliner (about 900 km/h) is not a journey.
pub const IMPOSSIBLE_KMH: f64 = 1000.0;

/// Positions this close may be one place seen through two databases or a
/// VPN exit in the same city: never impossible, whatever the time between.
pub const NEAR_KM: f64 = 100.0;

/// A located event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    /// Event time, µs since the epoch.
    pub time_us: i64,
    /// The same, as people read it (RFC 3339).
    pub time: String,
    /// Source address.
    pub ip: String,
    /// Country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Latitude, degrees.
    pub latitude: f64,
    /// Longitude, degrees.
    pub longitude: f64,
}

/// Two consecutive stops at different places.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    /// Where from.
    pub from: Stop,
    /// Where to.
    pub to: Stop,
    /// Great-circle distance, km.
    pub km: f64,
    /// Time between, hours.
    pub hours: f64,
    /// Speed needed, km/h (infinite for no time at all: `null` in JSON).
    pub kmh: f64,
    /// Faster than [`IMPOSSIBLE_KMH`] over more than [`NEAR_KM`].
    pub impossible: bool,
}

/// Great-circle distance between two positions, km (haversine, mean Earth radius).
pub fn distance_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    const R: f64 = 6371.0088;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().clamp(0.0, 1.0).asin()
}

/// The legs between consecutive stops (in time order) that change place:
/// a stop at the same position as the one before is not a journey.
pub fn legs(stops: &[Stop]) -> Vec<Leg> {
    let mut sorted: Vec<&Stop> = stops.iter().collect();
    sorted.sort_by_key(|s| s.time_us);
    let mut out = Vec::new();
    for w in sorted.windows(2) {
        let (a, b) = (w[0], w[1]);
        let km = distance_km((a.latitude, a.longitude), (b.latitude, b.longitude));
        if km < 1.0 {
            continue;
        }
        let hours = (b.time_us - a.time_us) as f64 / 3.6e9;
        let kmh = if hours > 0.0 {
            km / hours
        } else {
            f64::INFINITY
        };
        out.push(Leg {
            from: a.clone(),
            to: b.clone(),
            km: (km * 10.0).round() / 10.0,
            hours: (hours * 1000.0).round() / 1000.0,
            kmh: if kmh.is_finite() { kmh.round() } else { kmh },
            impossible: km > NEAR_KM && kmh > IMPOSSIBLE_KMH,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(t_min: i64, lat: f64, lon: f64) -> Stop {
        Stop {
            time_us: t_min * 60_000_000,
            time: String::new(),
            ip: String::new(),
            country: None,
            city: None,
            latitude: lat,
            longitude: lon,
        }
    }

    #[test]
    fn london_to_tokyo_in_an_hour_is_impossible_in_a_day_is_not() {
        let london = (51.5074, -0.1278);
        let tokyo = (35.6762, 139.6503);
        let d = distance_km(london, tokyo);
        assert!((9540.0..9600.0).contains(&d), "{d}");
        let fast = legs(&[stop(60, tokyo.0, tokyo.1), stop(0, london.0, london.1)]);
        assert_eq!(fast.len(), 1);
        assert!(fast[0].impossible && fast[0].from.latitude == london.0);
        let slow = legs(&[stop(0, london.0, london.1), stop(24 * 60, tokyo.0, tokyo.1)]);
        assert!(!slow[0].impossible, "{:?}", slow[0]);
        // Same place twice, and two near places at once, are no impossible journey.
        assert!(legs(&[stop(0, 1.0, 1.0), stop(1, 1.0, 1.0)]).is_empty());
        assert!(!legs(&[stop(0, 51.5, -0.1), stop(0, 51.6, -0.3)])[0].impossible);
    }
}
