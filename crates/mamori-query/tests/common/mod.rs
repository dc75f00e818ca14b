//! The data set the query tests run on, built once per test process: the
//! repository's samples, the Stratus Red Team CloudTrail detonations and the
//! Falco Kubernetes audit events of the shared corpus, ingested with a fixed
//! ingest time.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mamori_query::{Engine, EngineOptions};
use mamori_store::{Ingest, Store};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The store every case queries, built once.
pub fn store_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| build(100_000, false)).path()
}

/// The same events committed 40 at a time, then compacted: days of several
/// segments become files with value counts in their footer, the others stay
/// as ingest wrote them.
pub fn compacted_store_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| build(40, true)).path()
}

fn build(batch_events: usize, compact: bool) -> tempfile::TempDir {
    {
        let dir = tempfile::tempdir().expect("tmp");
        let mut store = Store::open(dir.path()).expect("store");
        let ingest_time =
            mamori_event::Timestamp::parse_iso8601("2026-11-24T00:00:00Z").unwrap_or_default();
        let opts = mamori_parse::ParseOptions {
            ingest_time,
            ..Default::default()
        };
        let mut ing = Ingest::new(&mut store, opts, batch_events);
        for sub in [
            "testdata/samples",
            "../shared/corpus/stratus-red-team-detonations/aws",
            "../shared/corpus/falco-k8s-audit/events",
        ] {
            let base = root().join(sub);
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&base)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .collect();
            files.sort();
            for f in files {
                let name = format!("{sub}/{}", f.strip_prefix(&base).unwrap_or(&f).display());
                let data = std::fs::read(&f).expect("read");
                ing.add(&name, &data).expect("ingest");
            }
        }
        ing.finish().expect("finish");
        if compact {
            store.compact(ingest_time).expect("compact");
        }
        dir
    }
}

fn open_engine(raw_as_view: bool) -> Engine {
    open_engine_on(store_dir(), raw_as_view)
}

/// An engine over the compacted copy, as [`engine_for`] picks.
pub fn compacted_engine_for(q: &mamori_query::ast::Query) -> Engine {
    open_engine_on(compacted_store_dir(), q.rows_end_in_stats())
}

fn open_engine_on(dir: &Path, raw_as_view: bool) -> Engine {
    let store = Store::open_read_only(dir).expect("store");
    let opts = EngineOptions {
        threads: 2,
        raw_as_view,
        ..EngineOptions::default()
    };
    Engine::open(&store, &opts).expect("engine")
}

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| open_engine(false))
}

/// The engine `mamori query` uses for a query whose rows end in `stats`: `raw` read as views.
pub fn view_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| open_engine(true))
}

/// The engine `mamori query` picks for `q`.
pub fn engine_for(q: &mamori_query::ast::Query) -> &'static Engine {
    if q.rows_end_in_stats() {
        view_engine()
    } else {
        engine()
    }
}
