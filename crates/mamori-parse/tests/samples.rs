//! Golden tests over the project's own sample data (`testdata/samples`),
//! which runs without `../shared`.

mod common;

use std::fs;
use std::path::Path;

use common::{check_golden, opts};
use mamori_parse::{parse_to_vec, SourceKind};

#[test]
fn samples_match_their_goldens() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/samples");
    let mut files = Vec::new();
    files.extend(common::files_under(&root));
    let mut failures = Vec::new();
    let mut total = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .expect("under root")
            .display()
            .to_string();
        let out = parse_to_vec(&rel, &fs::read(&f).expect("read"), &opts());
        assert_eq!(out.summary.rejected, 0, "{rel}: {:?}", out.rejected);
        assert_eq!(out.summary.seen, out.summary.normalized);
        total += out.summary.normalized;
        kinds.extend(out.summary.sources.keys().copied());
        check_golden(&format!("samples/{rel}"), &out, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(total, 42);
    assert_eq!(
        kinds.len(),
        SourceKind::ALL.len(),
        "every source kind appears in the samples: {kinds:?}"
    );
}
