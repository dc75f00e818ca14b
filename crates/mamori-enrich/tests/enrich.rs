//! GeoIP against `.mmdb` files the test writes, corrupt databases, and
//! threat lists with junk lines that change under the reader.

use std::path::PathBuf;

use mamori_enrich::{EnrichError, GeoIp, IndicatorKind, IntelList, IntelSet, ListSpec};
use proptest::prelude::*;

fn dbs(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    mamori_testkit::geoip::write_geoip(dir.path())
}

#[test]
fn city_and_asn_databases_merge_into_one_answer() {
    let dir = tempfile::tempdir().expect("tmp");
    let (city, asn) = dbs(&dir);
    let geo = GeoIp::open(&[city, asn]).expect("open");
    assert!(geo.describe().contains("GeoLite2-City") && geo.describe().contains("GeoLite2-ASN"));

    let london = geo.lookup("81.2.69.142").expect("lookup").expect("found");
    assert_eq!(london.country.as_deref(), Some("GB"));
    assert_eq!(london.country_name.as_deref(), Some("United Kingdom"));
    assert_eq!(london.city.as_deref(), Some("London"));
    assert_eq!(london.position(), Some((51.5142, -0.0931)));
    assert_eq!(london.accuracy_km, Some(20));
    assert_eq!(london.asn, Some(20712));
    assert_eq!(london.as_org.as_deref(), Some("Andrews & Arnold Ltd"));

    let ipv6 = geo.lookup("2a02:c7f:1::9").expect("lookup").expect("found");
    assert_eq!(ipv6.city.as_deref(), Some("Manchester"));
    let mapped = geo
        .lookup("::ffff:175.16.199.3")
        .expect("lookup")
        .expect("found");
    assert_eq!(mapped.country.as_deref(), Some("CN"));
    assert_eq!(geo.country("216.160.83.60:443").as_deref(), Some("US"));

    // Not in the databases, not public, not an address: nothing, and no error.
    for v in [
        "8.8.8.8",
        "10.0.0.1",
        "AWS Internal",
        "",
        "ec2.amazonaws.com",
    ] {
        assert_eq!(geo.lookup(v).expect("lookup"), None, "{v}");
        assert_eq!(geo.country(v), None, "{v}");
    }
    assert_eq!(geo.failures().0, 0);
}

#[test]
fn a_database_that_is_not_one_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let (city, _) = dbs(&dir);
    let junk = dir.path().join("junk.mmdb");
    std::fs::write(&junk, b"this is not a MaxMind database\n").expect("write");
    let e = GeoIp::open(std::slice::from_ref(&junk)).expect_err("junk");
    assert!(matches!(e, EnrichError::BadDatabase { .. }), "{e}");
    assert!(e.to_string().contains("junk.mmdb"), "{e}");

    // Cut off before the metadata: the reader cannot find it.
    let bytes = std::fs::read(&city).expect("read");
    let cut = dir.path().join("cut.mmdb");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let e = GeoIp::open(&[cut]).expect_err("truncated");
    assert!(e.to_string().contains("cut.mmdb"), "{e}");

    let missing = dir.path().join("missing.mmdb");
    let e = GeoIp::open(&[missing]).expect_err("missing");
    assert!(
        matches!(e, EnrichError::Io { .. }) && e.to_string().contains("missing.mmdb"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Flipped bytes anywhere in a database: an error or an answer, never a panic.
    #[test]
    fn a_corrupt_database_never_panics(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in 0usize..64) {
        let dir = tempfile::tempdir().expect("tmp");
        let (city, _) = dbs(&dir);
        let mut bytes = std::fs::read(&city).expect("read");
        for (i, b) in &flips {
            let at = i.index(bytes.len());
            bytes[at] ^= b | 1;
        }
        bytes.truncate(bytes.len().saturating_sub(cut));
        let bad = dir.path().join("bad.mmdb");
        std::fs::write(&bad, &bytes).expect("write");
        if let Ok(geo) = GeoIp::open(&[bad]) {
            for ip in ["81.2.69.142", "175.16.199.3", "2a02:c7f::1", "8.8.8.8"] {
                let _ = geo.lookup(ip);
                let _ = geo.country(ip);
            }
        }
    }
}

fn spec(name: &str, path: PathBuf) -> ListSpec {
    ListSpec {
        name: name.into(),
        path,
        format: None,
        column: None,
        description_column: None,
    }
}

#[test]
fn csv_feeds_skip_junk_rows_and_name_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("feed.csv");
    std::fs::write(
        &path,
        "# exported 2026-11-01\nfirst_seen,ioc,malware\n2026-10-01,175.16.199.0/24,Botnet C2\n2026-10-02,evil.example,Phishing\n2026-10-03,,\n2026-10-04,999.1.1.1,Bad\n2026-10-05,89.160.20.5\n",
    )
    .expect("write");
    let (list, report) = IntelList::load(spec("feed", path)).expect("load");
    assert_eq!(report.indicators, 3, "{report:?}");
    assert_eq!(report.junk_lines, 2, "{:?}", report.junk);
    assert!(
        report.junk[0].ends_with("feed.csv:5: no indicator in this row"),
        "{:?}",
        report.junk
    );
    assert!(
        report.junk[1].contains("feed.csv:6: '999.1.1.1'"),
        "{:?}",
        report.junk
    );
    let hit = list.lookup("175.16.199.77").expect("in the network");
    assert_eq!(
        (hit.kind, hit.indicator.as_str()),
        (IndicatorKind::Network, "175.16.199.0/24")
    );
    assert_eq!(hit.description.as_deref(), Some("Botnet C2"));
    assert_eq!(
        list.lookup("sso.evil.example").map(|h| h.description),
        Some(Some("Phishing".into()))
    );
    assert!(list
        .lookup("89.160.20.5")
        .is_some_and(|h| h.description.is_none()));

    // A CSV without a column to read is an error, not an empty list.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "a,b\n1,2\n").expect("write");
    let e = IntelList::load(spec("other", other)).expect_err("no column");
    assert!(
        e.to_string().contains("other.csv") && e.to_string().contains("column"),
        "{e}"
    );
}

#[test]
fn lists_reload_when_the_file_changes_and_keep_their_entries_when_it_breaks() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("tor.txt");
    std::fs::write(&path, "81.2.69.142\n").expect("write");
    let (set, reports) = IntelSet::load(&[spec("tor", path.clone())]);
    assert_eq!(reports[0].as_ref().expect("loaded").indicators, 1);
    assert_eq!(set.lookup("81.2.69.142").len(), 1);
    assert!(set.refresh().is_empty(), "nothing changed");

    std::fs::write(&path, "# updated\n216.160.83.56\n216.160.83.57\nbogus!\n").expect("rewrite");
    let reloaded = set.refresh();
    assert_eq!(reloaded.len(), 1);
    let r = reloaded[0].as_ref().expect("reread");
    assert_eq!((r.indicators, r.junk_lines), (2, 1), "{r:?}");
    assert!(
        r.junk[0].ends_with("tor.txt:4: 'bogus!' is not an IP address, CIDR network or domain"),
        "{:?}",
        r.junk
    );
    assert!(set.lookup("81.2.69.142").is_empty());
    assert_eq!(set.lookup("216.160.83.57")[0].list, "tor");

    // The file goes away: an error naming it, and the list still answers.
    std::fs::remove_file(&path).expect("rm");
    let gone = set.refresh();
    assert!(gone[0]
        .as_ref()
        .is_err_and(|e| e.to_string().contains("tor.txt")));
    assert_eq!(set.lookup("216.160.83.57").len(), 1);

    // Two lists may not share a name (rules name them); a missing list is
    // an error of its own and the others load.
    for f in ["a", "b"] {
        std::fs::write(dir.path().join(f), "89.160.20.5\n").expect("write");
    }
    let (set, reports) = IntelSet::load(&[
        spec("x", dir.path().join("a")),
        spec("x", dir.path().join("b")),
        spec("y", dir.path().join("missing.txt")),
    ]);
    assert_eq!(set.lists().len(), 1);
    let errors: Vec<String> = reports
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("a second list named 'x'"), "{errors:?}");
    assert!(errors[1].contains("missing.txt"), "{errors:?}");
}
