//! How `mamori findings` prints: tables, JSON lines, CSV.

use std::io::Write;

use anyhow::Result;
use mamori_event::{Entity, Timestamp};
use mamori_findings::{Delivery, DeliveryState, Finding, FindingStore};

use crate::query_cmd::Output;

/// A time to the second, for tables.
fn short_time(t: Timestamp) -> String {
    let s = t.to_string();
    match s.split_once('.') {
        Some((secs, _)) => format!("{secs}Z"),
        None => s,
    }
}

fn entities(f: &Finding) -> String {
    f.entities
        .iter()
        .map(Entity::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn print_list(fs: &[Finding], output: Output) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match output {
        Output::Json => {
            for f in fs {
                serde_json::to_writer(&mut out, f)?;
                out.write_all(b"\n")?;
            }
        }
        Output::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record([
                "id",
                "status",
                "severity",
                "rule_id",
                "title",
                "count",
                "first_seen",
                "last_seen",
                "assignee",
                "entities",
            ])?;
            for f in fs {
                w.write_record([
                    f.id.as_str(),
                    f.status.as_str(),
                    f.severity.as_str(),
                    &f.rule_id,
                    &f.title,
                    &f.count.to_string(),
                    &f.first_seen.to_string(),
                    &f.last_seen.to_string(),
                    f.assignee.as_deref().unwrap_or(""),
                    &entities(f),
                ])?;
            }
            w.flush()?;
        }
        Output::Table => {
            writeln!(
                out,
                "{:<17}  {:<10}  {:<13}  {:>6}  {:<20}  TITLE / ENTITIES",
                "ID", "STATUS", "SEVERITY", "COUNT", "LAST SEEN"
            )?;
            for f in fs {
                writeln!(
                    out,
                    "{:<17}  {:<10}  {:<13}  {:>6}  {:<20}  {}\n{:>74}{}",
                    f.id,
                    f.status.as_str(),
                    f.severity.as_str(),
                    f.count,
                    short_time(f.last_seen),
                    f.title,
                    "",
                    entities(f)
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

pub fn show(st: &mut FindingStore, id: &str, output: Output) -> Result<()> {
    let f = st.get(id)?;
    let history = st.history(id)?;
    let mut out = std::io::stdout().lock();
    if matches!(output, Output::Json | Output::Csv) {
        let mut v = serde_json::to_value(&f)?;
        v["history"] = serde_json::to_value(&history)?;
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}  {}  [{}]  {}",
        f.id,
        f.status.as_str(),
        f.severity.as_str(),
        f.title
    )?;
    writeln!(out, "rule:      {} ({}, {})", f.rule_id, f.kind, f.source)?;
    writeln!(
        out,
        "seen:      {} … {}  ({} events)",
        f.first_seen, f.last_seen, f.count
    )?;
    writeln!(out, "assignee:  {}", f.assignee.as_deref().unwrap_or("-"))?;
    writeln!(out, "tags:      {}", f.tags.join(" "))?;
    writeln!(out, "entities:")?;
    for e in &f.entities {
        writeln!(out, "  {:<11} {}", e.kind.as_str(), e.value)?;
    }
    let context = mamori_findings::context_lines(&f.enrichment);
    if !context.is_empty() {
        writeln!(out, "context:")?;
        for line in context {
            writeln!(out, "  {line}")?;
        }
    }
    if !f.enrichment.is_empty() {
        writeln!(
            out,
            "enrichment: {}",
            serde_json::to_string_pretty(&f.enrichment)?
        )?;
    }
    writeln!(
        out,
        "events ({} shown; `mamori query 'filter uid = \"…\"'` finds one):",
        f.event_uids.len()
    )?;
    for u in f.event_uids.iter().take(20) {
        writeln!(out, "  {u}")?;
    }
    writeln!(out, "history:")?;
    for h in &history {
        let change = match (&h.from_status, &h.to_status) {
            (Some(a), Some(b)) => format!("{a} → {b}"),
            (None, Some(b)) => b.clone(),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {:>3}  {}  {:<10}  {:<9}  {:<22}  {}",
            h.seq,
            h.at,
            h.actor,
            h.action,
            change,
            h.detail.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

pub fn print_channels(ds: &[Delivery], detail: bool) {
    if detail {
        for d in ds {
            println!(
                "{}  {:<8}  attempts {}  {}  {}",
                d.finding_id,
                d.state.as_str(),
                d.attempts,
                d.external_ref
                    .as_deref()
                    .map_or(String::new(), |r| format!("ref {r}")),
                d.last_error.as_deref().unwrap_or("")
            );
        }
        return;
    }
    let mut by: std::collections::BTreeMap<&str, [usize; 4]> = Default::default();
    let mut last: std::collections::BTreeMap<&str, &str> = Default::default();
    for d in ds {
        let c = by.entry(&d.channel).or_default();
        let i = match d.state {
            DeliveryState::Sent => 0,
            DeliveryState::Retrying => 1,
            DeliveryState::Dead => 2,
            DeliveryState::Skipped => 3,
        };
        c[i] += 1;
        if let Some(e) = d.last_error.as_deref() {
            last.entry(&d.channel).or_insert(e);
        }
    }
    println!(
        "{:<20}  {:>6}  {:>8}  {:>5}  {:>10}  LAST ERROR",
        "CHANNEL", "SENT", "FAILING", "DEAD", "NOT ROUTED"
    );
    for (ch, c) in by {
        println!(
            "{ch:<20}  {:>6}  {:>8}  {:>5}  {:>10}  {}",
            c[0],
            c[1],
            c[2],
            c[3],
            last.get(ch).unwrap_or(&"")
        );
    }
}
