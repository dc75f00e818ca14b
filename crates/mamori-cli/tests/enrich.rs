//! Enrichment end to end: GeoIP from `.mmdb` files the test writes fills in
//! countries at ingest, a threat list backs a rule, and findings carry
//! travel, GeoIP, threat-list hits and related activity to their channels.

mod common;

use std::path::Path;

use common::{mamori, ok, text};
use mamori_testkit::{HttpReceiver, Reply};
use serde_json::Value;

fn record(id: &str, time: &str, ip: &str, event: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"{}","eventName":"{event}","eventID":"{id}","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"}}{extra}}}"#,
        if event == "ConsoleLogin" {
            "signin.amazonaws.com"
        } else {
            "s3.amazonaws.com"
        }
    )
}

/// Alice signs in from London, works, and forty minutes later signs in
/// from Changchun (an address on the threat list) and reads secrets.
fn write_trail(dir: &Path) {
    let ok = r#","responseElements":{"ConsoleLogin":"Success"}"#;
    let lines = [
        record(
            "e1",
            "2026-11-20T09:00:00Z",
            "81.2.69.142",
            "ConsoleLogin",
            ok,
        ),
        record(
            "e2",
            "2026-11-20T09:05:00Z",
            "81.2.69.142",
            "ListBuckets",
            "",
        ),
        record("e3", "2026-11-20T09:06:00Z", "81.2.69.142", "GetObject", ""),
        record(
            "e4",
            "2026-11-20T09:40:00Z",
            "175.16.199.3",
            "ConsoleLogin",
            ok,
        ),
        record(
            "e5",
            "2026-11-20T09:41:00Z",
            "175.16.199.3",
            "GetSecretValue",
            "",
        ),
        record(
            "e6",
            "2026-11-20T09:42:00Z",
            "175.16.199.3",
            "GetSecretValue",
            "",
        ),
    ];
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    std::fs::write(dir.join("in/trail.jsonl"), lines.join("\n") + "\n").expect("write trail");
}

fn findings(dir: &Path) -> Vec<Value> {
    ok(&mamori(
        &["findings", "list", "--output", "json", "--data", "d"],
        dir,
    ))
    .lines()
    .map(|l| serde_json::from_str(l).expect("json"))
    .collect()
}

#[test]
fn findings_arrive_with_geoip_threat_intel_travel_and_related_activity() {
    let hook = HttpReceiver::start(|_, _| Reply::Status(204, String::new()));
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (city, asn) = mamori_testkit::geoip::write_geoip(dir);
    std::fs::write(
        dir.join("bad.txt"),
        "# botnet ranges\n175.16.199.0/24 botnet C2\n!!junk!!\n",
    )
    .expect("list");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules");
    std::fs::write(
        dir.join("mamori.toml"),
        format!(
            "[detect]\nrules = [\"{}\"]\n\n[enrich]\ngeoip = [\"{}\", \"{}\"]\n\n\
             [[enrich.intel]]\nname = \"bad_ips\"\npath = \"bad.txt\"\n\n\
             [[notify]]\nname = \"soar\"\ntype = \"webhook\"\nurl = \"{}/in\"\n",
            rules.display(),
            city.display(),
            asn.display(),
            hook.url()
        ),
    )
    .expect("config");
    write_trail(dir);

    let out = mamori(&["ingest", "in", "--data", "d"], dir);
    let stdout = ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.txt:3: '!!junk!!' is not an IP address, CIDR network or domain"),
        "{err}"
    );
    assert!(stdout.contains("findings enriched: "), "{stdout}");

    // GeoIP's countries are stored with the events: queries see them.
    let cn = ok(&mamori(
        &[
            "query",
            "filter src_country = 'CN' | stats count(*) as n",
            "--data",
            "d",
            "--output",
            "json",
        ],
        dir,
    ));
    assert!(cn.contains("\"n\":3"), "{cn}");

    let all = findings(dir);
    let travel = all
        .iter()
        .find(|f| f["rule_id"] == "4f0c6b7e-2a51-4c3e-9d0a-6b1f3a9e7c10")
        .unwrap_or_else(|| panic!("the several-countries finding: {all:#?}"));
    let e = &travel["enrichment"];
    assert_eq!(e["travel"]["impossible"], true, "{e:#}");
    let leg = &e["travel"]["legs"][0];
    assert_eq!(
        (leg["from"]["city"].as_str(), leg["to"]["city"].as_str()),
        (Some("London"), Some("Changchun"))
    );
    assert!(
        leg["km"]
            .as_f64()
            .is_some_and(|k| (8000.0..8300.0).contains(&k)),
        "{leg}"
    );
    assert_eq!(e["geo"]["81.2.69.142"]["as_org"], "Andrews & Arnold Ltd");
    assert_eq!(
        e["intel"][0]["indicator"].as_str(),
        None,
        "the user is not listed: {e:#}"
    );
    let related = e["related"].as_array().expect("related activity");
    let alice = related
        .iter()
        .find(|a| a["subject"] == "user=arn:aws:iam::111122223333:user/alice")
        .unwrap_or_else(|| panic!("{related:#?}"));
    assert_eq!(alice["events"], 6);
    let ops: Vec<(&str, u64)> = alice["operations"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|c| {
            (
                c["value"].as_str().unwrap_or(""),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        ops[..2],
        [("ConsoleLogin", 2), ("GetSecretValue", 2)],
        "{ops:?}"
    );
    let countries: Vec<&str> = alice["countries"]
        .as_array()
        .expect("countries")
        .iter()
        .filter_map(|c| c["value"].as_str())
        .collect();
    assert_eq!(countries, ["CN", "GB"]);

    let listed = all
        .iter()
        .find(|f| f["rule_id"] == "0b7f1c2e-5d4a-4e8b-9c6f-3a2d1e0f9b71")
        .unwrap_or_else(|| panic!("the threat-list finding: {all:#?}"));
    assert_eq!(
        listed["count"], 3,
        "the three calls from the listed network"
    );
    let hit = &listed["enrichment"]["intel"][0];
    assert_eq!(
        (
            hit["list"].as_str(),
            hit["indicator"].as_str(),
            hit["description"].as_str()
        ),
        (Some("bad_ips"), Some("175.16.199.0/24"), Some("botnet C2"))
    );
    assert_eq!(
        listed["enrichment"]["related"][1]["subject"],
        "ip=175.16.199.3"
    );

    // What the channel got is what the finding holds: the context travels with it.
    let sent: Vec<Value> = hook.requests().iter().map(|r| r.json()).collect();
    let sent_travel = sent
        .iter()
        .find(|s| s["finding"]["id"] == travel["id"])
        .expect("delivered");
    assert_eq!(
        sent_travel["finding"]["enrichment"]["travel"]["impossible"],
        true
    );

    // And `findings show` reads it as sentences.
    let id = travel["id"].as_str().expect("id");
    let shown = ok(&mamori(&["findings", "show", id, "--data", "d"], dir));
    assert!(
        shown.contains("Impossible travel: London GB (81.2.69.142)"),
        "{shown}"
    );
    assert!(
        shown.contains("Around it, user=arn:aws:iam::111122223333:user/alice: 6 events"),
        "{shown}"
    );
}

#[test]
fn a_corrupt_geoip_database_is_named_ingest_goes_on_and_findings_are_enriched_later() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("broken.mmdb"), b"\xab\xcd\xefMaxMind.comgarbage").expect("mmdb");
    std::fs::write(dir.join("bad.txt"), "175.16.199.0/24\n").expect("list");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules");
    let config = |geoip: &str| {
        format!(
            "[detect]\nrules = [\"{}\"]\n\n[enrich]\ngeoip = [\"{geoip}\"]\n\n\
             [[enrich.intel]]\nname = \"bad_ips\"\npath = \"bad.txt\"\n\n\
             [[enrich.intel]]\nname = \"gone\"\npath = \"missing.txt\"\n",
            rules.display()
        )
    };
    std::fs::write(dir.join("mamori.toml"), config("broken.mmdb")).expect("config");
    write_trail(dir);
    let out = mamori(&["ingest", "in", "--data", "d"], dir);
    let stdout = ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("GeoIP off: broken.mmdb: not a usable MaxMind database"),
        "{err}"
    );
    assert!(err.contains("threat list not loaded: missing.txt"), "{err}");
    assert!(stdout.contains("events: 6 written"), "{stdout}");
    // No GeoIP, no countries: the several-countries rule has nothing to count, and says nothing false.
    let all = findings(dir);
    assert!(all
        .iter()
        .all(|f| f["rule_id"] != "4f0c6b7e-2a51-4c3e-9d0a-6b1f3a9e7c10"));
    let listed = all
        .iter()
        .find(|f| f["rule_id"] == "0b7f1c2e-5d4a-4e8b-9c6f-3a2d1e0f9b71")
        .expect("the other list still works");
    assert!(listed["enrichment"].get("geo").is_none());

    // With a working database, `findings enrich` adds what was missing.
    let (city, _) = mamori_testkit::geoip::write_geoip(dir);
    std::fs::write(dir.join("mamori.toml"), config(&city.display().to_string())).expect("config");
    let id = listed["id"].as_str().expect("id");
    let out = ok(&mamori(&["findings", "enrich", id, "--data", "d"], dir));
    assert!(out.contains("findings enriched: 1 of 1"), "{out}");
    let shown = ok(&mamori(&["findings", "show", id, "--data", "d"], dir));
    assert!(
        shown.contains("GeoIP: 175.16.199.3: Changchun, China"),
        "{shown}"
    );
}
