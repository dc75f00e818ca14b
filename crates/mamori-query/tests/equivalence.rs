//! A law: for random filter/stats pipelines, the Logs Insights path and an
//! equivalent SQL statement, written independently here, return the same rows.

mod common;

use mamori_query::CompileOptions;
use proptest::prelude::*;

/// Fields of CloudTrail records, as Insights names them and as JSON path segments.
const FIELDS: [&str; 6] = [
    "eventName",
    "eventSource",
    "awsRegion",
    "userIdentity.type",
    "errorCode",
    "sourceIPAddress",
];

const VALUES: [&str; 10] = [
    "GetSecretValue",
    "ec2.amazonaws.com",
    "us-east-1",
    "IAMUser",
    "AssumedRole",
    "AccessDenied",
    "Describe",
    "amazonaws",
    "1",
    "",
];

#[derive(Clone, Debug)]
struct Cond {
    field: usize,
    op: usize,
    value: usize,
}

fn json(field: &str) -> String {
    let segs: Vec<String> = field.split('.').map(|s| format!("'{s}'")).collect();
    format!("json_as_text(raw, {})", segs.join(", "))
}

fn insights_cond(c: &Cond) -> String {
    let (f, v) = (FIELDS[c.field], VALUES[c.value]);
    match c.op {
        0 => format!("{f} = \"{v}\""),
        1 => format!("{f} != \"{v}\""),
        2 => format!("{f} like \"{v}\""),
        _ => format!("{f} not like \"{v}\""),
    }
}

fn sql_cond(c: &Cond) -> String {
    let (f, v) = (json(FIELDS[c.field]), VALUES[c.value]);
    match c.op {
        0 => format!("{f} = '{v}'"),
        1 => format!("{f} <> '{v}'"),
        2 => format!("strpos({f}, '{v}') > 0"),
        _ => format!("NOT (strpos({f}, '{v}') > 0)"),
    }
}

fn rows(engine: &mamori_query::Engine, sql: &str) -> Vec<Vec<Option<String>>> {
    let r = engine.run(sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
    let mut out = Vec::new();
    for b in &r.batches {
        let cols: Vec<_> = b
            .columns()
            .iter()
            .map(|c| mamori_query::output::strings(c).expect("text"))
            .collect();
        for i in 0..b.num_rows() {
            out.push(cols.iter().map(|c| c[i].clone()).collect());
        }
    }
    out.sort();
    out
}

fn cond() -> impl Strategy<Value = Cond> {
    (0..FIELDS.len(), 0..4usize, 0..VALUES.len()).prop_map(|(field, op, value)| Cond {
        field,
        op,
        value,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn insights_and_sql_agree(a in cond(), b in proptest::option::of((cond(), any::<bool>())), key in 0..FIELDS.len()) {
        let mut filter = insights_cond(&a);
        let mut where_ = sql_cond(&a);
        if let Some((b, and)) = &b {
            let join = if *and { "and" } else { "or" };
            filter = format!("({filter}) {join} ({})", insights_cond(b));
            where_ = format!("({where_}) {} ({})", join.to_uppercase(), sql_cond(b));
        }
        let k = FIELDS[key];
        let insights = format!(
            "SOURCE logGroups(namePrefix: ['cloudtrail']) | filter {filter} | stats count(*) as n by {k}"
        );
        let q = mamori_query::parse(&insights).expect("parse");
        let compiled = mamori_query::compile(&q, &CompileOptions::default()).expect("compile");
        let sql = format!(
            "SELECT {key}, count(*) AS n FROM cloudtrail WHERE {where_} GROUP BY 1",
            key = json(k)
        );
        // The Insights query on the engine `mamori query` picks for it (`raw` as views,
        // counts by dictionary keys first where it can), the SQL on the plain one.
        prop_assert!(q.rows_end_in_stats());
        let engine = common::engine_for(&q);
        engine.prepare(&compiled).expect("prepare");
        prop_assert_eq!(
            rows(engine, &compiled.sql),
            rows(common::engine(), &sql),
            "{}\n{}", insights, sql
        );
    }
}
