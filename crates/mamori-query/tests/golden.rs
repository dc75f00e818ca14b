//! Golden query tests, in the spirit of sqllogictest: each file under
//! `tests/queries/` holds cases
//!
//! ```text
//! query                      (or `sql`, or `error`)
//! <the query, one or more lines>
//! ----
//! <expected output: a header line and one line per row, cells joined by " | ">
//! ```
//!
//! separated by blank lines; `#` lines are comments. `error` cases expect
//! the error message to contain each expected line. The data set:
//! `tests/common/mod.rs`. `MAMORI_UPDATE_GOLDEN=1` rewrites the expected output.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{compacted_engine_for, engine_for};
use mamori_query::{CompileOptions, Engine};

/// Runs one case: the rendered rows, or the error message. `precount`: let
/// counts by dictionary columns count keys first; `counted` tells whether one did.
fn run(kind: &str, text: &str, precount: bool, counted: &mut bool) -> Result<String, String> {
    run_on(None, kind, text, precount, counted)
}

/// [`run`] on `engine`, or on the one `mamori query` would pick for the case.
fn run_on(
    engine: Option<&Engine>,
    kind: &str,
    text: &str,
    precount: bool,
    counted: &mut bool,
) -> Result<String, String> {
    let (engine, sql) = if kind == "sql" {
        (engine.unwrap_or(common::engine()), text.to_owned())
    } else {
        let q = mamori_query::parse(text).map_err(|e| e.to_string())?;
        let opts = CompileOptions {
            precount,
            ..CompileOptions::default()
        };
        let compiled = mamori_query::compile(&q, &opts).map_err(|e| e.to_string())?;
        *counted = compiled.precount.is_some();
        let engine = engine.unwrap_or_else(|| engine_for(&q));
        engine.prepare(&compiled).map_err(|e| e.to_string())?;
        (engine, compiled.sql)
    };
    let r = engine.run(&sql).map_err(|e| e.to_string())?;
    let mut out = String::new();
    let names: Vec<&str> = r
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    out.push_str(&names.join(" | "));
    for b in &r.batches {
        let cols: Vec<Vec<Option<String>>> = b
            .columns()
            .iter()
            .map(|c| mamori_query::output::strings(c).expect("text"))
            .collect();
        for row in 0..b.num_rows() {
            let cells: Vec<String> = cols
                .iter()
                .map(|c| {
                    c[row]
                        .as_deref()
                        .map_or("NULL".into(), |v| v.replace('\n', "\\n"))
                })
                .collect();
            let _ = write!(out, "\n{}", cells.join(" | "));
        }
    }
    Ok(out)
}

struct Case {
    kind: String,
    text: String,
    expected: String,
}

fn parse_file(content: &str) -> (Vec<String>, Vec<Case>) {
    // Keeps the comment blocks before each case so that an update rewrites the file faithfully.
    let mut preambles = Vec::new();
    let mut cases = Vec::new();
    let mut lines = content.lines().peekable();
    let mut pre = String::new();
    while let Some(line) = lines.next() {
        let kind = line.trim();
        if kind == "query" || kind == "sql" || kind == "error" {
            let mut text = Vec::new();
            for l in lines.by_ref() {
                if l == "----" {
                    break;
                }
                text.push(l);
            }
            let mut expected = Vec::new();
            while let Some(l) = lines.peek() {
                if l.is_empty() {
                    break;
                }
                expected.push(lines.next().unwrap_or_default());
            }
            preambles.push(std::mem::take(&mut pre));
            cases.push(Case {
                kind: kind.to_owned(),
                text: text.join("\n"),
                expected: expected.join("\n"),
            });
        } else {
            pre.push_str(line);
            pre.push('\n');
        }
    }
    preambles.push(pre);
    (preambles, cases)
}

#[test]
fn golden_queries() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/queries");
    let update = std::env::var_os("MAMORI_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/queries")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let (mut total, mut precounted, mut from_footers) = (0, 0, 0);
    for file in files {
        let content = std::fs::read_to_string(&file).expect("read");
        let (preambles, cases) = parse_file(&content);
        let mut rewritten = String::new();
        for (i, case) in cases.iter().enumerate() {
            total += 1;
            let mut counted = false;
            let got = run(&case.kind, &case.text, true, &mut counted);
            if counted {
                // Counting by dictionary keys first must not change a row.
                precounted += 1;
                let plain = run(&case.kind, &case.text, false, &mut counted);
                if plain != got {
                    failures.push(format!(
                        "{}: counting by dictionary keys changed the rows of\n{}\nfrom\n{plain:?}\nto\n{got:?}",
                        file.display(),
                        case.text
                    ));
                }
                // Nor on compacted files, whose footers hold value counts.
                let q = mamori_query::parse(&case.text).expect("parsed once already");
                let compacted = compacted_engine_for(&q);
                let there = run_on(Some(&compacted), &case.kind, &case.text, true, &mut counted);
                from_footers += usize::from(compacted.footer_counted() > 0);
                if there != got {
                    failures.push(format!(
                        "{}: on compacted files the rows of\n{}\nchanged from\n{got:?}\nto\n{there:?}",
                        file.display(),
                        case.text
                    ));
                }
            }
            let ok = match (&got, case.kind.as_str()) {
                (Err(msg), "error") => case.expected.lines().all(|l| msg.contains(l.trim())),
                (Ok(rows), "query" | "sql") => *rows == case.expected,
                _ => false,
            };
            let actual = match &got {
                Ok(rows) => rows.clone(),
                Err(msg) => msg.clone(),
            };
            if !ok && !update {
                failures.push(format!(
                    "{}: case {}\n{}\n---- expected\n{}\n---- got\n{}\n",
                    file.display(),
                    i + 1,
                    case.text,
                    case.expected,
                    actual
                ));
            }
            rewritten.push_str(&preambles[i]);
            let expected = if update && case.kind != "error" {
                actual
            } else if update && !ok {
                actual.lines().next().unwrap_or_default().to_owned()
            } else {
                case.expected.clone()
            };
            let _ = write!(
                rewritten,
                "{}\n{}\n----\n{}\n",
                case.kind, case.text, expected
            );
        }
        rewritten.push_str(preambles.last().map_or("", String::as_str));
        if update && rewritten != content {
            std::fs::write(&file, rewritten).expect("update");
        }
    }
    assert!(total > 0, "no cases found in {}", dir.display());
    assert!(
        precounted >= 5,
        "only {precounted} cases count by dictionary keys"
    );
    assert!(
        from_footers >= 3,
        "only {from_footers} cases counted files from their footers"
    );
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The golden stats queries above really run with `raw` as views (and the rest without).
#[test]
fn stats_queries_read_raw_as_views() {
    let type_of = |engine: &mamori_query::Engine| {
        let r = engine
            .run("SELECT arrow_typeof(raw) AS t FROM events LIMIT 1")
            .expect("run");
        mamori_query::output::strings(r.batches[0].column(0)).expect("text")[0].clone()
    };
    assert_eq!(type_of(common::view_engine()).as_deref(), Some("Utf8View"));
    assert_eq!(type_of(common::engine()).as_deref(), Some("Utf8"));
}
