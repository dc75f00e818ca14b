//! Golden tests over every log in `../shared/corpus`.
//!
//! Each corpus log file is parsed with a fixed ingest time and its
//! normalized events (without `raw`, which is the input) and rejects are
//! compared with `tests/golden/<file>.jsonl`. Rewrite the goldens with
//! `MAMORI_UPDATE_GOLDEN=1 cargo test -p mamori-parse --test corpus` and
//! review the diff: each mapping was checked by hand when first recorded.
//!
//! Event counts are those the corpus READMEs give.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

mod common;

use common::{check_golden, opts};
use mamori_parse::{parse_to_vec, scan, ParseOutput, SourceKind};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// How a corpus file holds its records.
#[derive(Clone, Copy)]
enum Mode {
    /// The file is a log as a source delivers it.
    AsIs,
    /// Panther test cases: one JSON object per line whose `event` member is the record.
    PantherEvents,
    /// AWS doc examples: one JSON object per line with the format's `fields` and the `record` line.
    VpcExamples,
}

/// Parses one corpus file the way its mode says.
fn parse(path: &Path, mode: Mode) -> ParseOutput {
    let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.display().to_string();
    match mode {
        Mode::AsIs => parse_to_vec(&name, &data, &opts()),
        Mode::PantherEvents | Mode::VpcExamples => {
            let mut all = ParseOutput::default();
            for line in data.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
                let (members, stopped) = scan::members(line, 0);
                assert!(stopped.is_none(), "{name}: wrapper line is not an object");
                let get = |k: &[u8]| {
                    members
                        .iter()
                        .find(|m| m.key == k)
                        .map(|m| &line[m.value.clone()])
                };
                let record: Vec<u8> = match mode {
                    Mode::PantherEvents => get(b"event").expect("event member").to_vec(),
                    _ => {
                        let fields: Vec<String> =
                            serde_json::from_slice(get(b"fields").expect("fields"))
                                .expect("fields list");
                        let rec: String = serde_json::from_slice(get(b"record").expect("record"))
                            .expect("record string");
                        format!("{}\n{rec}\n", fields.join(" ")).into_bytes()
                    }
                };
                let out = parse_to_vec(&name, &record, &opts());
                all.summary.seen += out.summary.seen;
                all.summary.normalized += out.summary.normalized;
                all.summary.rejected += out.summary.rejected;
                for (k, n) in out.summary.sources {
                    *all.summary.sources.entry(k).or_default() += n;
                }
                all.events.extend(out.events);
                all.rejected.extend(out.rejected);
            }
            all
        }
    }
}

/// One group of corpus files and what the READMEs say they hold.
struct Group {
    /// Directory (or file) under the corpus.
    path: &'static str,
    /// File name suffix to select.
    suffix: &'static str,
    mode: Mode,
    /// Events the README counts.
    events: u64,
    /// Events per detected source.
    sources: &'static [(SourceKind, u64)],
    /// Records expected to be rejected, with why.
    rejected: u64,
}

use SourceKind::*;

const GROUPS: &[Group] = &[
    Group {
        path: "stratus-red-team-detonations/aws",
        suffix: ".json",
        mode: Mode::AsIs,
        events: 202,
        sources: &[(Cloudtrail, 202)],
        rejected: 0,
    },
    Group {
        path: "otrf-security-datasets/aws/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
        suffix: "",
        mode: Mode::AsIs,
        events: 103,
        sources: &[(Cloudtrail, 103)],
        rejected: 0,
    },
    // The README's "302 rows" counts the header row.
    Group {
        path: "otrf-security-datasets/aws/AWS_S3_HoneyBucketLogs.csv",
        suffix: "",
        mode: Mode::AsIs,
        events: 301,
        sources: &[(Generic, 301)],
        rejected: 0,
    },
    Group {
        path: "otrf-security-datasets/azure-golden-saml/AADAuditEvents.json",
        suffix: "",
        mode: Mode::AsIs,
        events: 4,
        sources: &[(EntraAudit, 4)],
        rejected: 0,
    },
    Group {
        path: "otrf-security-datasets/azure-golden-saml/OfficeActivityEvents.json",
        suffix: "",
        mode: Mode::AsIs,
        events: 1,
        sources: &[(Generic, 1)],
        rejected: 0,
    },
    Group {
        path: "falco-k8s-audit/events",
        suffix: ".json",
        mode: Mode::AsIs,
        events: 32,
        sources: &[(K8sAudit, 31), (Generic, 1)],
        rejected: 0,
    },
    Group {
        path: "gcp-community-security-analytics/fixtures",
        suffix: ".json",
        mode: Mode::AsIs,
        events: 18,
        sources: &[(GcpAudit, 18)],
        rejected: 0,
    },
    Group {
        path: "aws-docs-examples/cloudtrail",
        suffix: ".json",
        mode: Mode::AsIs,
        events: 8,
        sources: &[(Cloudtrail, 8)],
        rejected: 0,
    },
    Group {
        path: "aws-docs-examples/securityhub-asff",
        suffix: ".json",
        mode: Mode::AsIs,
        events: 6,
        sources: &[(SecurityHub, 5), (Generic, 1)],
        rejected: 0,
    },
    Group {
        path: "aws-docs-examples/vpc-flow-logs/default-format-v2.log",
        suffix: "",
        mode: Mode::AsIs,
        events: 7,
        sources: &[(VpcFlow, 7)],
        rejected: 0,
    },
    Group {
        path: "aws-docs-examples/vpc-flow-logs/examples.jsonl",
        suffix: "",
        mode: Mode::VpcExamples,
        events: 27,
        sources: &[(VpcFlow, 27)],
        rejected: 0,
    },
    Group {
        path: "aws-docs-examples/alb-access-logs/examples.log",
        suffix: "",
        mode: Mode::AsIs,
        events: 7,
        sources: &[(Alb, 7)],
        rejected: 0,
    },
    Group {
        path: "aws-cli-examples/guardduty-get-findings-1.json",
        suffix: "",
        mode: Mode::AsIs,
        events: 1,
        sources: &[(Guardduty, 1)],
        rejected: 0,
    },
    Group {
        path: "aws-cli-examples/securityhub-get-findings-1.json",
        suffix: "",
        mode: Mode::AsIs,
        events: 1,
        sources: &[(SecurityHub, 1)],
        rejected: 0,
    },
    Group {
        path: "aws-cli-examples/cloudtrail-lookup-events-1.json",
        suffix: "",
        mode: Mode::AsIs,
        events: 1,
        sources: &[(Cloudtrail, 1)],
        rejected: 0,
    },
    Group {
        path: "alertchain-findings/guardduty",
        suffix: ".json",
        mode: Mode::AsIs,
        events: 2,
        sources: &[(Guardduty, 2)],
        rejected: 0,
    },
    Group {
        path: "alertchain-findings/gcp-scc",
        suffix: ".json",
        mode: Mode::AsIs,
        events: 1,
        sources: &[(Generic, 1)],
        rejected: 0,
    },
    Group {
        path: "panther-analysis-tests/scenarios/enrichment-example.jsonl",
        suffix: "",
        mode: Mode::AsIs,
        events: 11,
        sources: &[(Generic, 11)],
        rejected: 0,
    },
];

/// Panther test files: (file, tests, events per source, rejects). Events
/// whose keys Panther lower-cased (`eventname`, `insertid`) or that keep only
/// a field or two are not their source's shape and are read as generic JSON.
/// The one reject is a CloudTrail template whose `eventTime` is `"..."`.
/// (file, tests, events per source, rejects).
type PantherCase = (&'static str, u64, &'static [(SourceKind, u64)], u64);

const PANTHER: &[PantherCase] = &[
    ("AWS.ALB.jsonl", 1, &[(Generic, 1)], 0),
    (
        "AWS.CloudTrail.jsonl",
        332,
        &[(Cloudtrail, 318), (Generic, 13)],
        1,
    ),
    ("AWS.GuardDuty.jsonl", 4, &[(Guardduty, 4)], 0),
    ("AWS.S3ServerAccess.jsonl", 9, &[(Generic, 9)], 0),
    (
        "AWS.SecurityFindingFormat.jsonl",
        10,
        &[(SecurityHub, 10)],
        0,
    ),
    ("AWS.VPCFlow.jsonl", 23, &[(VpcFlow, 19), (Generic, 4)], 0),
    ("AWS.WAFWebACL.jsonl", 44, &[(Generic, 44)], 0),
    ("Amazon.EKS.Audit.jsonl", 144, &[(K8sAudit, 144)], 0),
    (
        "Azure.Audit.jsonl",
        44,
        &[(EntraSignin, 25), (EntraAudit, 19)],
        0,
    ),
    // AKS `kube-audit` diagnostic records carry Kubernetes audit events.
    (
        "Azure.MonitorActivity.jsonl",
        200,
        &[(AzureActivity, 171), (K8sAudit, 28), (Generic, 1)],
        0,
    ),
    (
        "GCP.AuditLog.jsonl",
        144,
        &[(GcpAudit, 133), (Generic, 11)],
        0,
    ),
    (
        "GCP.HTTPLoadBalancer.jsonl",
        6,
        &[(GcpAudit, 2), (Generic, 4)],
        0,
    ),
    ("GitHub.Audit.jsonl", 56, &[(Generic, 56)], 0),
    ("GitHub.Webhook.jsonl", 29, &[(Generic, 29)], 0),
    (
        "Microsoft365.Audit.AzureActiveDirectory.jsonl",
        2,
        &[(Generic, 2)],
        0,
    ),
    ("Okta.SystemLog.jsonl", 68, &[(Generic, 68)], 0),
];

fn files(rel: &str, suffix: &str) -> Vec<(String, PathBuf)> {
    let p = corpus().join(rel);
    if p.is_file() {
        return vec![(rel.to_owned(), p)];
    }
    let mut v: Vec<(String, PathBuf)> = fs::read_dir(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .map(|p| {
            (
                format!(
                    "{rel}/{}",
                    p.file_name().unwrap_or_default().to_string_lossy()
                ),
                p,
            )
        })
        .collect();
    v.sort();
    v
}

fn run_group(
    rel: &str,
    suffix: &str,
    mode: Mode,
    failures: &mut Vec<String>,
) -> (u64, u64, u64, BTreeMap<SourceKind, u64>) {
    let (mut seen, mut events, mut rejected, mut sources) = (0, 0, 0, BTreeMap::new());
    for (name, path) in files(rel, suffix) {
        let out = parse(&path, mode);
        assert_eq!(
            out.summary.seen,
            out.summary.normalized + out.summary.rejected,
            "{name}: seen = normalized + rejected"
        );
        assert_eq!(out.summary.normalized as usize, out.events.len());
        check_golden(&name, &out, failures);
        seen += out.summary.seen;
        events += out.summary.normalized;
        rejected += out.summary.rejected;
        for (k, n) in out.summary.sources {
            *sources.entry(k).or_default() += n;
        }
    }
    (seen, events, rejected, sources)
}

#[test]
fn corpus_logs_match_their_goldens_and_counts() {
    let mut failures = Vec::new();
    for g in GROUPS {
        let (_, events, rejected, sources) = run_group(g.path, g.suffix, g.mode, &mut failures);
        let want: BTreeMap<SourceKind, u64> = g.sources.iter().copied().collect();
        if (events, rejected) != (g.events, g.rejected) || sources != want {
            failures.push(format!("{}: events {events} rejected {rejected} sources {sources:?}; README/expected: events {} rejected {} sources {want:?}", g.path, g.events, g.rejected));
        }
    }
    for (file, tests, want_sources, want_rejected) in PANTHER {
        let rel = format!("panther-analysis-tests/tests/{file}");
        let (seen, events, rejected, sources) =
            run_group(&rel, "", Mode::PantherEvents, &mut failures);
        let want: BTreeMap<SourceKind, u64> = want_sources.iter().copied().collect();
        if seen != *tests || rejected != *want_rejected || sources != want {
            failures.push(format!("{rel}: events {events} rejected {rejected} sources {sources:?}; README: {tests} tests, want {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
