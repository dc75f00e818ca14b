//! The store on local disk: ingest, exactly-once, verify, retention, compaction.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use mamori_event::{Event, Timestamp};
use mamori_parse::ParseOptions;
use mamori_store::{Ingest, Store};

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

#[test]
fn ingest_stores_every_event_once_and_reads_back_identical() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(dir.path()).expect("open");
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
    let reopened = Store::open(dir.path()).expect("reopen");
    assert_eq!(reopened.event_count(), 42);
}

#[test]
fn the_same_events_under_another_name_are_not_stored_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(dir.path()).expect("open");
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

#[test]
fn rejects_are_kept_in_dead_letter_files_the_manifest_covers() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(dir.path()).expect("open");
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
    let text = fs::read_to_string(dir.path().join(&dl[0].path)).expect("dead letter");
    assert!(
        text.contains("\"file\":\"bad.jsonl\"")
            && text.contains("\"line\":2")
            && text.contains("{broken"),
        "{text}"
    );
}

#[test]
fn verify_names_modified_missing_and_inserted_files_and_a_tampered_manifest() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(dir.path()).expect("open");
    ingest_all(&mut store, 1000);
    let files: Vec<String> = store
        .files()
        .filter(|f| f.source != "dead_letter")
        .map(|f| f.path.clone())
        .collect();
    assert!(files.len() >= 3);
    let p = |i: usize| dir.path().join(&files[i]);
    let mut bytes = fs::read(p(0)).expect("read");
    bytes[100] ^= 1;
    fs::write(p(0), bytes).expect("modify");
    fs::remove_file(p(1)).expect("remove");
    fs::copy(p(2), p(2).with_file_name("planted.parquet")).expect("insert");
    let problems = Store::open_read_only(dir.path())
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

    let manifest = dir.path().join("manifest.jsonl");
    let text = fs::read_to_string(&manifest).expect("manifest");
    fs::write(&manifest, text.replacen("\"rows\":", "\"rows\":1", 1)).expect("tamper");
    let problems = Store::open_read_only(dir.path())
        .expect("open")
        .verify()
        .expect("verify");
    assert!(
        problems
            .iter()
            .any(|x| x.path == "manifest.jsonl" && x.reason.contains("line 1")),
        "{problems:?}"
    );
    assert!(
        Store::open(dir.path()).is_err(),
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
    let store = Store::open(dir.path()).expect("open drops the torn tail");
    assert_eq!(store.event_count(), 42);
    assert!(store.verify().expect("verify").is_empty());
}

#[test]
fn retention_drops_whole_old_partitions_and_compaction_merges_small_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(dir.path()).expect("open");
    ingest_all(&mut store, 3);
    let before = store.event_count();
    let events_before = sorted(
        store
            .read_all()
            .expect("read")
            .into_iter()
            .map(|(e, _)| e)
            .collect(),
    );
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
    assert!(
        !dir.path().join("events/source=syslog").exists(),
        "empty partitions are removed"
    );
}

#[test]
fn a_snapshot_restores_to_a_store_that_verifies_and_holds_the_same_events() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(&dir.path().join("data")).expect("open");
    ingest_all(&mut store, 10);
    let n = store.snapshot(&dir.path().join("snap")).expect("snapshot");
    assert_eq!(n, store.files().count());
    assert!(
        store.snapshot(&dir.path().join("snap")).is_err(),
        "never over an existing snapshot"
    );
    let snap = Store::open_read_only(&dir.path().join("snap")).expect("snap");
    snap.snapshot(&dir.path().join("restored"))
        .expect("restore");
    let restored = Store::open(&dir.path().join("restored")).expect("restored");
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
