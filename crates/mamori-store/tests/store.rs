//! The store, on local disk and on a real S3-compatible server (moto, on
//! loopback): ingest, exactly-once, verify, retention, compaction, snapshots.
//! Each behaviour is one function run against both places.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mamori_event::{Event, Timestamp};
use mamori_parse::ParseOptions;
use mamori_store::{Ingest, Location, Store};
use mamori_testkit::{Bucket, S3Server};

/// Where a test's stores live, with access to their files behind the store's back.
enum Place {
    Disk(tempfile::TempDir),
    S3(String, Bucket),
}

impl Place {
    fn disk() -> Place {
        Place::Disk(tempfile::tempdir().expect("tmp"))
    }

    fn s3() -> Place {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("store-test-{}", N.fetch_add(1, Ordering::Relaxed));
        let bucket = S3Server::shared().create_bucket(&name);
        Place::S3(name, bucket)
    }

    /// The store named `sub` in this place.
    fn at(&self, sub: &str) -> Location {
        match self {
            Place::Disk(d) => Location::Local(d.path().join(sub)),
            Place::S3(name, _) => Location::parse(&format!("s3://{name}/{sub}")),
        }
    }

    fn read(&self, rel: &str) -> Option<Vec<u8>> {
        match self {
            Place::Disk(d) => fs::read(d.path().join(rel)).ok(),
            Place::S3(_, b) => b.get(rel),
        }
    }

    fn write(&self, rel: &str, data: Vec<u8>) {
        match self {
            Place::Disk(d) => fs::write(d.path().join(rel), data).expect("write"),
            Place::S3(_, b) => b.put(rel, data),
        }
    }

    fn delete(&self, rel: &str) {
        match self {
            Place::Disk(d) => fs::remove_file(d.path().join(rel)).expect("remove"),
            Place::S3(_, b) => b.delete(rel),
        }
    }

    /// The manifest's first entry (the whole file on disk).
    fn first_entry(&self, sub: &str) -> String {
        match self {
            Place::Disk(_) => format!("{sub}/manifest.jsonl"),
            Place::S3(..) => format!("{sub}/manifest/00000000000000000001.json"),
        }
    }
}

/// Runs `check` on disk and on S3, as two tests.
macro_rules! on_disk_and_s3 {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[test]
            fn on_disk() {
                super::$check(&super::Place::disk());
            }
            #[test]
            fn on_s3() {
                super::$check(&super::Place::s3());
            }
        }
    )*};
}

on_disk_and_s3!(
    ingest_stores_every_event_once_and_reads_back_identical,
    the_same_events_under_another_name_are_not_stored_twice,
    rejects_are_kept_in_dead_letter_files_the_manifest_covers,
    verify_names_modified_missing_and_inserted_files_and_a_tampered_manifest,
    retention_drops_whole_old_partitions_and_compaction_merges_small_files,
    a_snapshot_restores_to_a_store_that_verifies_and_holds_the_same_events,
    a_serving_writer_compacts_in_tiers_and_keeps_replaced_files_for_its_readers,
    a_large_day_is_compacted_into_one_file_per_hour,
);

fn samples() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/samples");
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(&root).unwrap_or(&p).display().to_string(),
                fs::read(&p).unwrap_or_default(),
            )
        })
        .collect()
}

fn opts() -> ParseOptions {
    ParseOptions {
        ingest_time: Timestamp::parse_iso8601("2026-11-24T00:00:00Z").unwrap_or_default(),
        ..ParseOptions::default()
    }
}

fn ingest_all(store: &mut Store, batch: usize) -> mamori_store::IngestReport {
    let mut ing = Ingest::new(store, opts(), batch);
    for (name, data) in samples() {
        ing.add(&name, &data).expect("ingest");
    }
    ing.finish().expect("finish")
}

fn sorted(mut v: Vec<Event>) -> Vec<Event> {
    v.sort_by(|a, b| a.uid.cmp(&b.uid));
    v
}

fn ingest_stores_every_event_once_and_reads_back_identical(place: &Place) {
    let mut store = Store::open(place.at("data")).expect("open");
    let r = ingest_all(&mut store, 7);
    assert_eq!((r.events_written, r.rejected, r.duplicates), (42, 0, 0));
    assert!(r.commits >= 6, "small batches commit often: {}", r.commits);
    assert_eq!(store.event_count(), 42);
    assert!(store.verify().expect("verify").is_empty());

    // Event → Parquet → Event is the identity.
    let mut parsed = Vec::new();
    for (name, data) in samples() {
        parsed.extend(mamori_parse::parse_to_vec(&name, &data, &opts()).events);
    }
    let stored: Vec<Event> = store
        .read_all()
        .expect("read")
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(sorted(stored), sorted(parsed));

    // Again: every input is already committed, nothing is read or added.
    let r = ingest_all(&mut store, 7);
    assert_eq!(
        (r.inputs_read, r.inputs_skipped, r.events_written),
        (0, 18, 0)
    );
    drop(store);
    let reopened = Store::open(place.at("data")).expect("reopen");
    assert_eq!(reopened.event_count(), 42);
}

fn the_same_events_under_another_name_are_not_stored_twice(place: &Place) {
    let mut store = Store::open(place.at("data")).expect("open");
    let (name, data) = samples()
        .into_iter()
        .find(|(n, _)| n.contains("/CloudTrail/"))
        .expect("cloudtrail sample");
    let mut ing = Ingest::new(&mut store, opts(), 1000);
    ing.add(&name, &data).expect("first");
    ing.add("copy-of-the-same-object.json.gz", &data)
        .expect("second");
    let r = ing.finish().expect("finish");
    assert_eq!((r.events_written, r.duplicates), (6, 6));
    let mut ing = Ingest::new(&mut store, opts(), 1000);
    ing.add("a-third-copy.json.gz", &data).expect("third");
    assert_eq!(
        ing.finish().expect("finish").duplicates,
        6,
        "duplicates against what is on disk, across runs"
    );
}

fn rejects_are_kept_in_dead_letter_files_the_manifest_covers(place: &Place) {
    let mut store = Store::open(place.at("data")).expect("open");
    let mut ing = Ingest::new(&mut store, opts(), 1000);
    ing.add(
        "bad.jsonl",
        b"{\"eventName\":\"A\",\"eventTime\":\"2026-01-01T00:00:00Z\"}\n{broken\n",
    )
    .expect("ingest");
    let r = ing.finish().expect("finish");
    assert_eq!((r.events_written, r.rejected), (1, 1));
    let dl: Vec<_> = store
        .files()
        .filter(|f| f.source == "dead_letter")
        .collect();
    assert_eq!(dl.len(), 1);
    let text = String::from_utf8(
        place
            .read(&format!("data/{}", dl[0].path))
            .expect("dead letter"),
    )
    .expect("utf-8");
    assert!(
        text.contains("\"file\":\"bad.jsonl\"")
            && text.contains("\"line\":2")
            && text.contains("{broken"),
        "{text}"
    );
}

fn verify_names_modified_missing_and_inserted_files_and_a_tampered_manifest(place: &Place) {
    let mut store = Store::open(place.at("data")).expect("open");
    ingest_all(&mut store, 1000);
    let files: Vec<String> = store
        .files()
        .filter(|f| f.source != "dead_letter")
        .map(|f| f.path.clone())
        .collect();
    assert!(files.len() >= 3);
    let p = |i: usize| format!("data/{}", files[i]);
    let mut bytes = place.read(&p(0)).expect("read");
    bytes[100] ^= 1;
    place.write(&p(0), bytes);
    place.delete(&p(1));
    let planted = Path::new(&p(2)).with_file_name("planted.parquet");
    place.write(&planted.to_string_lossy(), place.read(&p(2)).expect("read"));
    let problems = Store::open_read_only(place.at("data"))
        .expect("open")
        .verify()
        .expect("verify");
    let text = format!("{problems:?}");
    assert_eq!(problems.len(), 3, "{text}");
    assert!(
        problems
            .iter()
            .any(|x| x.path == files[0] && x.reason.starts_with("modified")),
        "{text}"
    );
    assert!(
        problems
            .iter()
            .any(|x| x.path == files[1] && x.reason.starts_with("missing")),
        "{text}"
    );
    assert!(
        problems
            .iter()
            .any(|x| x.path.ends_with("planted.parquet") && x.reason.starts_with("inserted")),
        "{text}"
    );

    let manifest = place.first_entry("data");
    let text = String::from_utf8(place.read(&manifest).expect("manifest")).expect("utf-8");
    place.write(
        &manifest,
        text.replacen("\"rows\":", "\"rows\":1", 1).into_bytes(),
    );
    let problems = Store::open_read_only(place.at("data"))
        .expect("open")
        .verify()
        .expect("verify");
    assert!(
        problems.iter().any(|x| manifest.ends_with(&x.path)
            && (x.reason.contains("line 1") || x.reason.contains("entry 1"))),
        "{problems:?}"
    );
    assert!(
        Store::open(place.at("data")).is_err(),
        "a broken chain refuses writes"
    );
}

#[test]
fn a_torn_manifest_line_is_a_commit_that_never_happened() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(dir.path()).expect("open");
    ingest_all(&mut store, 1000);
    let manifest = dir.path().join("manifest.jsonl");
    let mut text = fs::read_to_string(&manifest).expect("manifest");
    text.push_str("{\"seq\":99,\"prev\":\"abc");
    fs::write(&manifest, text).expect("tear");
    drop(store);
    let store = Store::open(dir.path()).expect("open drops the torn tail");
    assert_eq!(store.event_count(), 42);
    assert!(store.verify().expect("verify").is_empty());
}

fn retention_drops_whole_old_partitions_and_compaction_merges_small_files(place: &Place) {
    let mut store = Store::open(place.at("data")).expect("open");
    ingest_all(&mut store, 3);
    let before = store.event_count();
    let events_before = all_events(&store);
    let segs = store.files().filter(|f| f.source != "dead_letter").count();
    let (merges, removed) = store.compact(Timestamp(0)).expect("compact");
    assert!(merges > 0 && removed > merges);
    assert_eq!(store.event_count(), before);
    let after = store.read_all().expect("read");
    assert!(
        after
            .windows(2)
            .all(|w| w[0].0.source != w[1].0.source || w[0].0.time <= w[1].0.time),
        "merged segments stay sorted by time"
    );
    assert_eq!(
        sorted(after.into_iter().map(|(e, _)| e).collect()),
        events_before,
        "compaction keeps every event as it was"
    );
    assert!(store.files().filter(|f| f.source != "dead_letter").count() < segs);
    assert!(store.verify().expect("verify").is_empty());

    let now = Timestamp::parse_iso8601("2026-12-01T00:00:00Z").unwrap_or_default();
    let days = BTreeMap::from([("syslog".to_owned(), 5u32)]);
    let removed = store.apply_retention(&days, None, now).expect("retention");
    assert!(!removed.is_empty() && removed.iter().all(|p| p.contains("source=syslog")));
    let (per, _) = store.stats();
    assert!(!per.contains_key("syslog"));
    assert!(per.contains_key("cloudtrail"));
    assert!(store.verify().expect("verify").is_empty());
    if let Place::Disk(dir) = place {
        assert!(
            !dir.path().join("data/events/source=syslog").exists(),
            "empty partitions are removed"
        );
    }
}

fn a_snapshot_restores_to_a_store_that_verifies_and_holds_the_same_events(place: &Place) {
    let mut store = Store::open(place.at("data")).expect("open");
    ingest_all(&mut store, 10);
    // Snapshots go to the other kind of place too: disk to S3 and S3 to disk.
    let other = match place {
        Place::Disk(_) => Place::s3(),
        Place::S3(..) => Place::disk(),
    };
    let n = store.snapshot(other.at("snap")).expect("snapshot");
    assert_eq!(n, store.files().count());
    assert!(
        store.snapshot(other.at("snap")).is_err(),
        "never over an existing snapshot"
    );
    let snap = Store::open_read_only(other.at("snap")).expect("snap");
    snap.snapshot(place.at("restored")).expect("restore");
    let restored = Store::open(place.at("restored")).expect("restored");
    assert!(restored.verify().expect("verify").is_empty());
    let ev = |s: &Store| {
        sorted(
            s.read_all()
                .expect("read")
                .into_iter()
                .map(|(e, _)| e)
                .collect(),
        )
    };
    assert_eq!(ev(&restored), ev(&store));
    // The restored store goes on where the original stopped: nothing is read twice.
    let mut restored = restored;
    let r = ingest_all(&mut restored, 10);
    assert_eq!((r.inputs_read, r.events_written), (0, 0));
}

#[test]
fn on_s3_a_crash_between_upload_and_copy_is_finished_and_an_uncommitted_upload_dropped() {
    let place = Place::s3();
    let Place::S3(_, bucket) = &place else {
        panic!("an S3 place")
    };
    let mut store = Store::open(place.at("data")).expect("open");
    ingest_all(&mut store, 1000);
    assert!(!bucket.list("data/events/").is_empty());
    assert!(bucket.list("data/manifest/")[0].ends_with("/00000000000000000001.json"));
    assert!(bucket.list("data/tmp/").is_empty(), "nothing left staged");
    let seg = store
        .files()
        .find(|f| f.source == "cloudtrail")
        .expect("a cloudtrail segment")
        .path
        .clone();
    drop(store);

    // Committed, then the process died before the staged copy moved into place.
    let data = bucket.get(&format!("data/{seg}")).expect("segment");
    bucket.delete(&format!("data/{seg}"));
    bucket.put(&format!("data/tmp/{}", seg.replace('/', "__")), data);
    // Uploaded, then the process died before the manifest entry was written.
    let orphan = "data/tmp/events__source=cloudtrail__date=2020-01-01__seg-99999999-000.parquet";
    bucket.put(orphan, b"never committed".to_vec());

    let store = Store::open(place.at("data")).expect("reopen");
    assert!(
        bucket.get(&format!("data/{seg}")).is_some(),
        "moved into place"
    );
    assert!(bucket.list("data/tmp/").is_empty(), "staging cleared");
    assert!(store.verify().expect("verify").is_empty());
    assert_eq!(store.event_count(), 42);
}

#[test]
fn a_second_writer_is_refused_and_commits_nothing() {
    for place in [Place::disk(), Place::s3()] {
        let mut first = Store::open(place.at("data")).expect("open");
        let mut second_open = Store::open(place.at("data"));
        if let Place::Disk(_) = place {
            // On disk a lock file says so at once.
            let err = second_open.err().expect("a second writer is refused");
            assert!(err.to_string().contains("another"), "{err}");
            ingest_all(&mut first, 1000);
            continue;
        }
        // On object storage there is no lock: the race is lost at the commit.
        let second = second_open.as_mut().expect("open");
        ingest_all(&mut first, 1000);
        let mut ing = Ingest::new(second, opts(), 1000);
        let (name, data) = samples().swap_remove(0);
        let err = ing
            .add(&name, &data)
            .and_then(|_| ing.finish().map(|_| ()))
            .expect_err("the second writer's commit is refused");
        assert!(err.to_string().contains("another writer"), "{err}");
        let store = Store::open(place.at("data")).expect("reopen");
        assert_eq!(store.event_count(), 42);
        assert!(store.verify().expect("verify").is_empty());
    }
}

/// One CloudTrail event per input, all on one day.
fn one_event_inputs(n: usize, prefix: &str) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let line = format!(
                r#"{{"eventVersion":"1.08","eventTime":"2026-11-20T10:{:02}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"serve-{i}","sourceIPAddress":"198.51.100.{}"}}"#,
                i / 60,
                i % 60,
                i % 250
            );
            (format!("{prefix}-{i}.json"), line.into_bytes())
        })
        .collect()
}

fn a_serving_writer_compacts_in_tiers_and_keeps_replaced_files_for_its_readers(place: &Place) {
    let mut store = Store::open(place.at("data")).expect("open");
    store.defer_removals();
    // 40 commits of one event each: 40 segments of one partition, all tier 0.
    let mut ing = Ingest::new(&mut store, opts(), 1);
    for (name, data) in one_event_inputs(40, "a") {
        ing.add(&name, &data).expect("ingest");
    }
    assert_eq!(ing.finish().expect("finish").events_written, 40);
    let before: Vec<String> = store.files().map(|f| f.path.clone()).collect();
    let events_before = all_events(&store);
    assert_eq!(before.len(), 40);

    let mut steps = Vec::new();
    loop {
        let merged = store.compact_step(Timestamp(0)).expect("compact step");
        if merged == 0 {
            break;
        }
        steps.push(merged);
    }
    // Two merges of 16 tier-0 segments; 8 small ones and 2 of 16 rows are left,
    // fewer than a merge takes in either tier.
    assert_eq!(steps, vec![16, 16]);
    assert_eq!(store.files().count(), 10);
    assert_eq!(store.event_count(), 40);
    assert_eq!(all_events(&store), events_before);

    // The replaced segments stay readable until purged, and verify expects them.
    let live: Vec<String> = store.files().map(|f| f.path.clone()).collect();
    let replaced: Vec<&String> = before.iter().filter(|p| !live.contains(p)).collect();
    assert_eq!(replaced.len(), 32);
    assert_eq!(store.removals_pending(), 32);
    assert!(place.read(&format!("data/{}", replaced[0])).is_some());
    assert_eq!(store.verify().expect("verify"), Vec::new());

    // The uid cache survived the merges: the same events again are all doubles.
    let mut ing = Ingest::new(&mut store, opts(), 100);
    for (name, data) in one_event_inputs(40, "again") {
        ing.add(&name, &data).expect("ingest");
    }
    let again = ing.finish().expect("finish");
    assert_eq!((again.events_written, again.duplicates), (0, 40));

    assert_eq!(
        store
            .purge_removed(Duration::from_secs(3600))
            .expect("purge"),
        0
    );
    assert_eq!(store.purge_removed(Duration::ZERO).expect("purge"), 32);
    assert!(replaced
        .iter()
        .all(|p| place.read(&format!("data/{p}")).is_none()));
    assert_eq!(store.removals_pending(), 0);
    assert_eq!(store.verify().expect("verify"), Vec::new());
    assert_eq!(store.event_count(), 40);
}

/// CloudTrail events on 2026-11-20 at `(hour, minute)`, one input each.
fn events_at(times: &[(u32, u32)], prefix: &str) -> Vec<(String, Vec<u8>)> {
    times
        .iter()
        .map(|(h, m)| {
            let line = format!(
                r#"{{"eventVersion":"1.08","eventTime":"2026-11-20T{h:02}:{m:02}:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"{prefix}-{h}-{m}"}}"#
            );
            (format!("{prefix}-{h}-{m}.json"), line.into_bytes())
        })
        .collect()
}

fn ingest_inputs(store: &mut Store, inputs: Vec<(String, Vec<u8>)>, batch: usize) {
    let mut ing = Ingest::new(store, opts(), batch);
    for (name, data) in inputs {
        ing.add(&name, &data).expect("ingest");
    }
    ing.finish().expect("finish");
}

fn all_events(store: &Store) -> Vec<Event> {
    sorted(
        store
            .read_all()
            .expect("read")
            .into_iter()
            .map(|(e, _)| e)
            .collect(),
    )
}

/// (hour of the day, rows) of every segment, by path.
fn hour_files(store: &Store) -> Vec<(String, i64, u64)> {
    const HOUR: i64 = 3_600_000_000;
    let mut v: Vec<(String, i64, u64)> = store
        .files()
        .map(|f| {
            let (from, to) = (f.min_time.div_euclid(HOUR), f.max_time.div_euclid(HOUR));
            assert_eq!(from, to, "{} holds one hour", f.path);
            (f.path.clone(), from.rem_euclid(24), f.rows)
        })
        .collect();
    v.sort_by_key(|(_, h, _)| *h);
    v
}

fn a_large_day_is_compacted_into_one_file_per_hour(place: &Place) {
    let mut store = Store::open(place.at("data")).expect("open");
    store.split_hours_from(30);
    // 60 events over 20 hours of one day, committed 7 at a time in an order
    // that spreads every commit over many hours.
    let times: Vec<(u32, u32)> = (0..60).map(|i| ((i * 7) % 20, i)).collect();
    ingest_inputs(&mut store, events_at(&times, "day"), 7);
    let before = all_events(&store);
    assert!(store.files().count() > 5);

    store.compact(Timestamp(0)).expect("compact");
    let split = hour_files(&store);
    assert_eq!(split.len(), 20, "one file per hour: {split:?}");
    assert!(split.iter().all(|(_, _, rows)| *rows == 3));
    assert!(split
        .iter()
        .all(|(p, h, _)| p.ends_with(&format!("-h{h:02}.parquet"))));
    assert_eq!(
        all_events(&store),
        before,
        "the split keeps every event once"
    );
    assert!(store.verify().expect("verify").is_empty());
    assert_eq!(store.compact(Timestamp(0)).expect("again"), (0, 0));

    // The hour files are done: a serving writer's tiers leave them alone,
    // though there are more than a merge's fan-in of one tier.
    assert_eq!(store.compact_step(Timestamp(0)).expect("step"), 0);

    // Late events in hours 3 and 5, in one file: that file's time range
    // covers hours 3 to 5, which are rewritten; the other hours are not.
    ingest_inputs(&mut store, events_at(&[(3, 59), (5, 58)], "late"), 10);
    let (merges, removed) = store.compact(Timestamp(0)).expect("compact late");
    assert_eq!((merges, removed), (1, 4));
    let after = hour_files(&store);
    assert_eq!(after.len(), 20);
    for ((p0, h0, n0), (p1, h1, n1)) in split.iter().zip(&after) {
        assert_eq!(h0, h1);
        if (3..=5).contains(h0) {
            assert_ne!(p0, p1);
            assert_eq!(*n1, if *h0 == 4 { 3 } else { 4 });
        } else {
            assert_eq!((p0, n0), (p1, n1), "hour {h0} untouched");
        }
    }
    assert_eq!(store.event_count(), 62);
    assert!(store.verify().expect("verify").is_empty());
}

/// The value counts a compacted file keeps in its footer are the counts of
/// its events; files written at ingest keep none.
#[test]
fn compacted_files_keep_the_value_counts_of_their_events() {
    use mamori_store::counts::{FileCounts, COUNTS_KEY};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let footer = |path: &Path| -> Option<FileCounts> {
        let file = fs::File::open(path).expect("open");
        let reader = SerializedFileReader::new(file).expect("parquet");
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()?
            .clone();
        let text = kv.into_iter().find(|kv| kv.key == COUNTS_KEY)?.value?;
        Some(serde_json::from_str(&text).expect("counts"))
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(dir.path()).expect("open");
    ingest_all(&mut store, 3);
    let events = |s: &Store| {
        s.files()
            .filter(|f| f.source != "dead_letter")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(events(&store)
        .iter()
        .all(|f| footer(&dir.path().join(&f.path)).is_none()));
    store.compact(Timestamp(0)).expect("compact");
    let mut checked = 0;
    for f in events(&store) {
        let path = dir.path().join(&f.path);
        let Some(counts) = footer(&path) else {
            continue;
        };
        let mut want: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
        for (e, _) in mamori_store::read_segment(&path).expect("read") {
            *want
                .entry((e.event_code.clone(), e.api.operation.clone()))
                .or_default() += 1;
        }
        let got: BTreeMap<(Option<String>, Option<String>), u64> = counts.groups
            ["event_code,api_operation"]
            .iter()
            .map(|(v, n)| ((v[0].clone(), v[1].clone()), *n))
            .collect();
        assert_eq!(got, want, "{}", f.path);
        assert_eq!(counts.rows, f.rows);
        checked += 1;
    }
    assert!(checked > 0, "no compacted file");
}

on_disk_and_s3!(a_checkpoint_spares_readers_the_log_and_is_trusted_only_where_it_holds);

/// Every file of the store, by path.
fn file_list(store: &Store) -> Vec<mamori_store::FileEntry> {
    let mut files: Vec<_> = store.files().cloned().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Past `CHECKPOINT_EVERY` entries a writer leaves a checkpoint, and a
/// reader opened for queries sees exactly the files and events of one that
/// replays the whole manifest, before and after later commits. A checkpoint
/// changed behind the store's back, or naming an entry the log does not
/// have where and as it says, is not used; `verify` names it, and the next writer replaces
/// it. One rewritten with a matching digest is used (it is a cache, not a
/// record), and `verify` names the files it gets wrong.
fn a_checkpoint_spares_readers_the_log_and_is_trusted_only_where_it_holds(place: &Place) {
    use mamori_store::checkpoint::{Checkpoint, CHECKPOINT, CHECKPOINT_EVERY};
    let cp_path = format!("data/{CHECKPOINT}");
    let mut store = Store::open(place.at("data")).expect("open");
    ingest_inputs(&mut store, one_event_inputs(150, "cp"), 1);
    let entries = store.manifest_entries() as u64;
    assert!(entries > 2 * CHECKPOINT_EVERY, "{entries} entries");
    let cp = Checkpoint::decode(&place.read(&cp_path).expect("a checkpoint")).expect("reads");
    assert!(
        cp.seq > entries - CHECKPOINT_EVERY && cp.seq < entries,
        "{}",
        cp.seq
    );
    let same_as_whole = |why: &str| {
        let whole = Store::open_read_only(place.at("data")).expect("open");
        let fast = Store::open_for_queries(place.at("data")).expect("open");
        assert_eq!(file_list(&fast), file_list(&whole), "{why}");
        assert_eq!(fast.manifest_entries(), whole.manifest_entries(), "{why}");
        assert_eq!(all_events(&fast), all_events(&whole), "{why}");
        whole
    };
    assert!(same_as_whole("a fresh checkpoint")
        .verify()
        .expect("verify")
        .is_empty());
    ingest_inputs(
        &mut store,
        events_at(&[(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)], "after"),
        1,
    );
    assert_eq!(all_events(&same_as_whole("entries after it")).len(), 155);
    drop(store);

    let good = place.read(&cp_path).expect("checkpoint");
    let text = String::from_utf8(good.clone()).expect("utf-8");
    let first = cp.files[0].path.clone();
    let other_chain = Checkpoint::new(
        &mamori_store::manifest::Link {
            seq: cp.seq,
            hash: "0".repeat(64),
        },
        cp.at,
        cp.files.clone(),
    );
    let mut cases = vec![
        (
            text.replacen(&first, "events/elsewhere.parquet", 1)
                .into_bytes(),
            "digest",
        ),
        (other_chain.encode(), "names entry"),
        (b"{\"seq\":".to_vec(), "not a checkpoint"),
    ];
    if matches!(place, Place::Disk(_)) {
        // The right entry, but not where it says (on S3 entries are found by name).
        let elsewhere = Checkpoint::new(&cp.link(), 0, cp.files.clone());
        cases.push((elsewhere.encode(), "names entry"));
    }
    for (bad, problem) in cases {
        place.write(&cp_path, bad);
        let whole = same_as_whole(problem);
        let problems = whole.verify().expect("verify");
        assert!(
            problems.len() == 1
                && problems[0].path == CHECKPOINT
                && problems[0].reason.contains(problem),
            "{problems:?}"
        );
    }
    // A writer puts a valid one back.
    drop(Store::open(place.at("data")).expect("open"));
    assert!(Checkpoint::decode(&place.read(&cp_path).expect("checkpoint")).is_some());
    assert!(same_as_whole("rewritten")
        .verify()
        .expect("verify")
        .is_empty());

    let mut files = cp.files.clone();
    let dropped = files.remove(0);
    let forged = Checkpoint::new(&cp.link(), cp.at, files);
    place.write(&cp_path, forged.encode());
    let fast = Store::open_for_queries(place.at("data")).expect("open");
    assert!(
        !file_list(&fast).contains(&dropped),
        "a checkpoint that holds is used"
    );
    let problems = Store::open_read_only(place.at("data"))
        .expect("open")
        .verify()
        .expect("verify");
    assert!(
        problems
            .iter()
            .any(|p| p.path == CHECKPOINT && p.reason.contains(&dropped.path)),
        "{problems:?}"
    );
}
