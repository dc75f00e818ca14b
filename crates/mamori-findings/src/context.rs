//! A finding's enrichment as lines a person reads (in `findings show`,
//! Slack messages and tickets), from the JSON the enrichment stored:
//! `geo`, `intel`, `travel` and `related`.

use serde_json::{Map, Value};

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn counts(v: &Value, k: &str, max: usize) -> String {
    let items: Vec<String> = v
        .get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .take(max)
                .map(|c| {
                    format!(
                        "{} ×{}",
                        s(c, "value"),
                        c.get("count").and_then(Value::as_u64).unwrap_or(0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    items.join(", ")
}

fn place(g: &Value) -> String {
    let mut p: Vec<&str> = Vec::new();
    for k in ["city", "country_name"] {
        if !s(g, k).is_empty() {
            p.push(s(g, k));
        }
    }
    if p.is_empty() && !s(g, "country").is_empty() {
        p.push(s(g, "country"));
    }
    let mut out = p.join(", ");
    if let Some(asn) = g.get("asn").and_then(Value::as_u64) {
        out.push_str(&format!(" (AS{asn} {})", s(g, "as_org")));
    }
    out
}

fn stop(v: &Value) -> String {
    let mut p = s(v, "city").to_owned();
    if !s(v, "country").is_empty() {
        p = format!("{p} {}", s(v, "country")).trim().to_owned();
    }
    format!("{} ({}) at {}", p, s(v, "ip"), s(v, "time"))
}

/// One line per fact, most telling first: impossible travel, threat-list
/// hits, where addresses are, then what the principal and address did.
pub fn context_lines(e: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = e.get("travel") {
        for leg in t
            .get("legs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let impossible = leg.get("impossible").and_then(Value::as_bool) == Some(true);
            let kmh = leg
                .get("kmh")
                .and_then(Value::as_f64)
                .map_or("no time at all".to_owned(), |k| format!("{k:.0} km/h"));
            out.push(format!(
                "{}: {} → {}: {:.0} km in {:.2} h ({kmh})",
                if impossible {
                    "Impossible travel"
                } else {
                    "Travel"
                },
                stop(&leg["from"]),
                stop(&leg["to"]),
                leg.get("km").and_then(Value::as_f64).unwrap_or(0.0),
                leg.get("hours").and_then(Value::as_f64).unwrap_or(0.0),
            ));
        }
    }
    for hit in e
        .get("intel")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut line = format!(
            "Threat intel: {} is in list '{}' ({})",
            s(hit, "value"),
            s(hit, "list"),
            s(hit, "indicator")
        );
        if !s(hit, "description").is_empty() {
            line.push_str(&format!(": {}", s(hit, "description")));
        }
        out.push(line);
    }
    if let Some(geo) = e.get("geo").and_then(Value::as_object) {
        for (ip, g) in geo {
            out.push(format!("GeoIP: {ip}: {}", place(g)));
        }
    }
    for a in e
        .get("related")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = |k: &str| a.get(k).and_then(Value::as_u64).unwrap_or(0);
        let mut line = format!(
            "Around it, {}: {} events ({} failed), {} … {}; operations: {}; sources: {}",
            s(a, "subject"),
            n("events"),
            n("failed"),
            s(a, "first_seen"),
            s(a, "last_seen"),
            counts(a, "operations", 8),
            counts(a, "sources", 5),
        );
        for (k, label) in [
            ("countries", "countries"),
            ("ips", "addresses"),
            ("principals", "principals"),
        ] {
            let c = counts(a, k, 5);
            if !c.is_empty() {
                line.push_str(&format!("; {label}: {c}"));
            }
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_kind_of_enrichment() {
        let e = json!({
            "travel": {"impossible": true, "legs": [{"from": {"ip": "81.2.69.142", "city": "London", "country": "GB", "time": "t1"},
                "to": {"ip": "175.16.199.3", "country": "CN", "time": "t2"}, "km": 8000.4, "hours": 0.5, "kmh": 16001.0, "impossible": true}]},
            "intel": [{"value": "175.16.199.3", "list": "c2", "indicator": "175.16.199.0/24", "kind": "network", "description": "Botnet"}],
            "geo": {"81.2.69.142": {"country": "GB", "country_name": "United Kingdom", "city": "London", "asn": 20712, "as_org": "A&A"}},
            "related": [{"subject": "user=alice", "events": 5, "failed": 1, "first_seen": "a", "last_seen": "b",
                "operations": [{"value": "ConsoleLogin", "count": 3}], "sources": [{"value": "cloudtrail", "count": 5}],
                "countries": [{"value": "GB", "count": 4}, {"value": "CN", "count": 1}], "ips": []}]
        });
        let lines = context_lines(e.as_object().expect("map"));
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert_eq!(lines[0], "Impossible travel: London GB (81.2.69.142) at t1 → CN (175.16.199.3) at t2: 8000 km in 0.50 h (16001 km/h)");
        assert_eq!(
            lines[1],
            "Threat intel: 175.16.199.3 is in list 'c2' (175.16.199.0/24): Botnet"
        );
        assert_eq!(
            lines[2],
            "GeoIP: 81.2.69.142: London, United Kingdom (AS20712 A&A)"
        );
        assert!(lines[3].starts_with("Around it, user=alice: 5 events (1 failed), a … b; operations: ConsoleLogin ×3; sources: cloudtrail ×5; countries: GB ×4, CN ×1"), "{}", lines[3]);
    }
}
