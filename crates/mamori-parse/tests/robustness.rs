//! Robustness: every parser is fed mutated and truncated versions of the
//! samples and of the corpus logs. Whatever the damage, nothing panics and
//! every record seen is either normalized or rejected.

mod common;

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use mamori_parse::{parse_to_vec, ParseOptions, ParseOutput, Timestamp};
use proptest::prelude::*;

/// The inputs: every sample file, and the corpus logs when `../shared` is there.
fn inputs() -> &'static [(String, Vec<u8>)] {
    static INPUTS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        files.extend(common::files_under(&root.join("testdata/samples")));
        let corpus = root.join("../shared/corpus");
        for d in [
            "stratus-red-team-detonations/aws",
            "falco-k8s-audit/events",
            "gcp-community-security-analytics/fixtures",
            "aws-docs-examples",
            "aws-cli-examples",
            "alertchain-findings",
            "otrf-security-datasets/azure-golden-saml",
        ] {
            files.extend(common::files_under(&corpus.join(d)));
        }
        files
            .push(corpus.join(
                "otrf-security-datasets/aws/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
            ));
        files.push(corpus.join("panther-analysis-tests/tests/Azure.MonitorActivity.jsonl"));
        files
            .into_iter()
            .filter(|p| {
                !p.to_string_lossy().ends_with(".md") && !p.to_string_lossy().contains("LICENSE")
            })
            .filter_map(|p| fs::read(&p).ok().map(|b| (p.display().to_string(), b)))
            .collect()
    })
}

fn opts() -> ParseOptions {
    ParseOptions {
        ingest_time: Timestamp(1_767_225_600_000_000),
        max_record_bytes: 64 << 10,
        ..ParseOptions::default()
    }
}

fn check(name: &str, out: &ParseOutput) -> Result<(), TestCaseError> {
    let s = &out.summary;
    prop_assert_eq!(
        s.seen,
        s.normalized + s.rejected,
        "{}: seen = normalized + rejected",
        name
    );
    prop_assert_eq!(out.events.len() as u64, s.normalized);
    prop_assert_eq!(out.rejected.len() as u64, s.rejected);
    for e in &out.events {
        prop_assert!(
            !e.uid.is_empty() && !e.raw.is_empty(),
            "{}: event without uid or raw",
            name
        );
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    let n = data.len().max(1);
    match m {
        Mutation::Truncate(p) => data.truncate(p % n),
        Mutation::Flip(p, b) => {
            if !data.is_empty() {
                let i = p % data.len();
                data[i] ^= b | 1;
            }
        }
        Mutation::Insert(p, bytes) => {
            let i = p % (data.len() + 1);
            data.splice(i..i, bytes.iter().copied());
        }
        Mutation::Delete(p, len) => {
            let i = p % n;
            let end = (i + len).min(data.len());
            if i < end {
                data.drain(i..end);
            }
        }
        Mutation::Duplicate(p, len) => {
            let i = p % n;
            let end = (i + len).min(data.len());
            if i < end {
                let chunk = data[i..end].to_vec();
                data.splice(end..end, chunk);
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![
        b'{', b'}', b'[', b']', b'"', b'\\', b',', b':', b'\n', b' ', 0xff, 0, b'-',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), prop::collection::vec(special, 1..4))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), 1usize..64).prop_map(|(p, l)| Mutation::Delete(p, l)),
        (any::<usize>(), 1usize..256).prop_map(|(p, l)| Mutation::Duplicate(p, l)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn mutated_inputs_never_panic_and_account_for_every_record(
        which in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..5),
    ) {
        let all = inputs();
        prop_assume!(!all.is_empty());
        let (name, data) = &all[which.index(all.len())];
        let mut data = data.clone();
        for m in &muts {
            apply(&mut data, m);
        }
        let out = parse_to_vec(name, &data, &opts());
        check(name, &out)?;
    }

    #[test]
    fn arbitrary_bytes_behind_any_container_prefix(
        prefix in prop::sample::select(vec![&b""[..], b"{", b"[", b"{\"Records\":[", b"<13>", b"<34>1 ", b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd", b"version srcaddr dstaddr action\n", b"a,b,c\n", b"{\"detail-type\":\"GuardDuty Finding\",\"detail\":"]),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut data = prefix.to_vec();
        data.extend_from_slice(&body);
        let out = parse_to_vec("fuzz", &data, &opts());
        check("fuzz", &out)?;
    }
}

#[test]
fn every_input_truncated_at_every_sixteenth() {
    assert!(
        inputs().len() >= 18,
        "the samples at least: {}",
        inputs().len()
    );
    for (name, data) in inputs() {
        for k in 0..16 {
            let cut = &data[..data.len() * k / 16];
            let out = parse_to_vec(name, cut, &opts());
            let s = &out.summary;
            assert_eq!(s.seen, s.normalized + s.rejected, "{name} cut at {k}/16");
        }
    }
}
