//! The Arrow schema of stored events, and conversion both ways.
//!
//! Normalized fields are flat typed columns named after their JSON path with
//! `_` for `.` (`actor.user_name` → `actor_user_name`), so any engine can
//! filter on them without unnesting; `resources` and `finding_types` are
//! lists; `raw` keeps the original record. `origin` names the file or object
//! the event came from.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    StringDictionaryBuilder, StructBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use mamori_event::{
    Actor, Api, Cloud, Endpoint, Event, FindingInfo, Http, Network, Resource, SourceKind, TimeFlag,
    Timestamp,
};

/// Columns written as dictionaries: few distinct values per file.
pub const DICTIONARY_COLUMNS: &[&str] = &[
    "source",
    "product",
    "event_code",
    "status_code",
    "actor_user_type",
    "actor_account_uid",
    "api_service",
    "api_operation",
    "cloud_provider",
    "cloud_account_uid",
    "cloud_region",
    "http_method",
    "network_action",
    "network_direction",
    "origin",
    "time_flags",
];

/// String columns, in schema order after the fixed ones.
///
/// `api.request_uid` has no column: a random id per event (CloudTrail's
/// `requestID`) costs 18 bytes per event stored a second time beside the
/// original record, 13 % of the store, for a field rarely searched; queries
/// read it from `raw` (docs/store-layout.md, "What is not a column").
const STRINGS: &[&str] = &[
    "status_code",
    "status_detail",
    "product",
    "event_code",
    "actor_user_name",
    "actor_user_uid",
    "actor_user_type",
    "actor_account_uid",
    "actor_credential_uid",
    "actor_session_issuer",
    "actor_invoked_by",
    "src_ip",
    "src_hostname",
    "src_uid",
    "src_user_agent",
    "src_country",
    "dst_ip",
    "dst_hostname",
    "dst_uid",
    "api_service",
    "api_operation",
    "cloud_provider",
    "cloud_account_uid",
    "cloud_region",
    "http_method",
    "http_url",
    "network_action",
    "network_direction",
    "finding_uid",
    "finding_title",
    "finding_product",
    "finding_status",
    "message",
    "uid",
    "raw",
    "fields",
    "origin",
];

/// Integer columns (Int32 or Int64 by range).
const INTS: &[(&str, bool)] = &[
    ("class_uid", false),
    ("category_uid", false),
    ("activity_id", false),
    ("type_uid", true),
    ("severity_id", false),
    ("status_id", false),
    ("src_port", false),
    ("dst_port", false),
    ("http_status", false),
    ("http_bytes_in", true),
    ("http_bytes_out", true),
    ("network_protocol_num", false),
    ("network_bytes", true),
    ("network_packets", true),
];

/// Columns with a Parquet bloom filter: the ones a needle search looks up by value.
pub const BLOOM_COLUMNS: &[&str] = &[
    "uid",
    "src_ip",
    "dst_ip",
    "actor_user_name",
    "actor_user_uid",
    "actor_credential_uid",
];

fn dict_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn resource_fields() -> Fields {
    Fields::from(vec![
        Field::new("uid", DataType::Utf8, true),
        Field::new("type", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("namespace", DataType::Utf8, true),
    ])
}

/// The schema of every segment file.
pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("time", ts.clone(), false),
        Field::new("ingest_time", ts, false),
        Field::new("time_flags", dict_type(), true),
        Field::new("source", dict_type(), false),
    ];
    for (name, wide) in INTS {
        fields.push(Field::new(
            *name,
            if *wide {
                DataType::Int64
            } else {
                DataType::Int32
            },
            true,
        ));
    }
    fields.push(Field::new("actor_is_mfa", DataType::Boolean, true));
    for name in STRINGS {
        let t = if DICTIONARY_COLUMNS.contains(name) {
            dict_type()
        } else {
            DataType::Utf8
        };
        fields.push(Field::new(*name, t, true));
    }
    fields.push(Field::new(
        "resources",
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(resource_fields()),
            true,
        ))),
        true,
    ));
    fields.push(Field::new(
        "finding_types",
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        true,
    ));
    Arc::new(Schema::new(fields))
}

fn flag_name(f: TimeFlag) -> &'static str {
    match f {
        TimeFlag::Missing => "missing",
        TimeFlag::Future => "future",
        TimeFlag::Skewed => "skewed",
        TimeFlag::YearInferred => "year_inferred",
    }
}

/// Every string column's value for one event, in [`STRINGS`] order.
fn strings<'e>(e: &'e Event, origin: &'e str) -> [Option<&'e str>; 37] {
    let f = e.finding.as_ref();
    [
        e.status_code.as_deref(),
        e.status_detail.as_deref(),
        Some(e.product.as_str()).filter(|p| !p.is_empty()),
        e.event_code.as_deref(),
        e.actor.user_name.as_deref(),
        e.actor.user_uid.as_deref(),
        e.actor.user_type.as_deref(),
        e.actor.account_uid.as_deref(),
        e.actor.credential_uid.as_deref(),
        e.actor.session_issuer.as_deref(),
        e.actor.invoked_by.as_deref(),
        e.src.ip.as_deref(),
        e.src.hostname.as_deref(),
        e.src.uid.as_deref(),
        e.src.user_agent.as_deref(),
        e.src.country.as_deref(),
        e.dst.ip.as_deref(),
        e.dst.hostname.as_deref(),
        e.dst.uid.as_deref(),
        e.api.service.as_deref(),
        e.api.operation.as_deref(),
        e.cloud.provider.as_deref(),
        e.cloud.account_uid.as_deref(),
        e.cloud.region.as_deref(),
        e.http.method.as_deref(),
        e.http.url.as_deref(),
        e.network.action.as_deref(),
        e.network.direction.as_deref(),
        f.and_then(|f| f.uid.as_deref()),
        f.and_then(|f| f.title.as_deref()),
        f.and_then(|f| f.product.as_deref()),
        f.and_then(|f| f.status.as_deref()),
        e.message.as_deref(),
        Some(e.uid.as_str()),
        Some(e.raw.as_str()),
        e.fields.as_deref(),
        Some(origin).filter(|o| !o.is_empty()),
    ]
}

fn ints(e: &Event) -> [Option<i64>; 14] {
    [
        Some(i64::from(e.class_uid)),
        Some(i64::from(e.category_uid)),
        Some(i64::from(e.activity_id)),
        i64::try_from(e.type_uid).ok(),
        Some(i64::from(e.severity_id)),
        Some(i64::from(e.status_id)),
        e.src.port.map(i64::from),
        e.dst.port.map(i64::from),
        e.http.status.map(i64::from),
        e.http.bytes_in.and_then(|v| i64::try_from(v).ok()),
        e.http.bytes_out.and_then(|v| i64::try_from(v).ok()),
        e.network.protocol_num.map(i64::from),
        e.network.bytes.and_then(|v| i64::try_from(v).ok()),
        e.network.packets.and_then(|v| i64::try_from(v).ok()),
    ]
}

/// Builds one record batch from events (in the order given) read from `origin`s.
pub fn to_batch(events: &[(&Event, &str)]) -> Result<RecordBatch, ArrowError> {
    let n = events.len();
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut ingest = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut flags = StringDictionaryBuilder::<Int32Type>::new();
    let mut source = StringDictionaryBuilder::<Int32Type>::new();
    let mut int32: Vec<Int32Builder> = INTS
        .iter()
        .filter(|(_, w)| !w)
        .map(|_| Int32Builder::with_capacity(n))
        .collect();
    let mut int64: Vec<Int64Builder> = INTS
        .iter()
        .filter(|(_, w)| *w)
        .map(|_| Int64Builder::with_capacity(n))
        .collect();
    let mut mfa = BooleanBuilder::with_capacity(n);
    enum Col {
        Plain(StringBuilder),
        Dict(StringDictionaryBuilder<Int32Type>),
    }
    let mut cols: Vec<Col> = STRINGS
        .iter()
        .map(|s| {
            if DICTIONARY_COLUMNS.contains(s) {
                Col::Dict(StringDictionaryBuilder::new())
            } else {
                Col::Plain(StringBuilder::new())
            }
        })
        .collect();
    let mut resources = ListBuilder::new(StructBuilder::from_fields(resource_fields(), n));
    let mut types = ListBuilder::new(StringBuilder::new());
    for (e, origin) in events {
        time.append_value(e.time.0);
        ingest.append_value(e.ingest_time.0);
        if e.time_flags.is_empty() {
            flags.append_null();
        } else {
            flags.append_value(
                e.time_flags
                    .iter()
                    .map(|f| flag_name(*f))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        source.append_value(e.source.as_str());
        let (mut i32s, mut i64s) = (int32.iter_mut(), int64.iter_mut());
        for ((_, wide), v) in INTS.iter().zip(ints(e)) {
            if *wide {
                if let Some(b) = i64s.next() {
                    b.append_option(v);
                }
            } else if let Some(b) = i32s.next() {
                b.append_option(v.and_then(|v| i32::try_from(v).ok()));
            }
        }
        mfa.append_option(e.actor.is_mfa);
        for (c, v) in cols.iter_mut().zip(strings(e, origin)) {
            match c {
                Col::Plain(b) => b.append_option(v),
                Col::Dict(b) => match v {
                    Some(v) => {
                        b.append_value(v);
                    }
                    None => b.append_null(),
                },
            }
        }
        if e.resources.is_empty() {
            resources.append_null();
        } else {
            for r in &e.resources {
                let s = resources.values();
                for (i, v) in [&r.uid, &r.kind, &r.name, &r.namespace]
                    .into_iter()
                    .enumerate()
                {
                    if let Some(b) = s.field_builder::<StringBuilder>(i) {
                        b.append_option(v.as_deref());
                    }
                }
                s.append(true);
            }
            resources.append(true);
        }
        match e
            .finding
            .as_ref()
            .map(|f| &f.types)
            .filter(|t| !t.is_empty())
        {
            Some(t) => {
                for x in t {
                    types.values().append_value(x);
                }
                types.append(true);
            }
            None => types.append_null(),
        }
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(ingest.finish()),
        Arc::new(flags.finish()),
        Arc::new(source.finish()),
    ];
    let (mut i32s, mut i64s) = (int32.into_iter(), int64.into_iter());
    for (_, wide) in INTS {
        if *wide {
            if let Some(mut b) = i64s.next() {
                arrays.push(Arc::new(b.finish()));
            }
        } else if let Some(mut b) = i32s.next() {
            arrays.push(Arc::new(b.finish()));
        }
    }
    arrays.push(Arc::new(mfa.finish()));
    for c in cols {
        arrays.push(match c {
            Col::Plain(mut b) => Arc::new(b.finish()),
            Col::Dict(mut b) => Arc::new(b.finish()),
        });
    }
    arrays.push(Arc::new(resources.finish()));
    arrays.push(Arc::new(types.finish()));
    RecordBatch::try_new(schema(), arrays)
}

/// Reads a string column (plain or dictionary) as optional strings.
fn string_column(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, ArrowError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))?;
    if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
        return Ok((0..a.len())
            .map(|i| a.is_valid(i).then(|| a.value(i).to_owned()))
            .collect());
    }
    if let Some(d) = col.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
        let values = d
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ArrowError::SchemaError(format!("{name}: dictionary of non-strings")))?;
        return Ok(d
            .keys()
            .iter()
            .map(|k| {
                k.and_then(|k| usize::try_from(k).ok())
                    .map(|k| values.value(k).to_owned())
            })
            .collect());
    }
    Err(ArrowError::SchemaError(format!(
        "{name}: not a string column"
    )))
}

fn int_column(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>, ArrowError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))?;
    if let Some(a) = col.as_any().downcast_ref::<Int32Array>() {
        return Ok(a.iter().map(|v| v.map(i64::from)).collect());
    }
    if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
        return Ok(a.iter().collect());
    }
    Err(ArrowError::SchemaError(format!(
        "{name}: not an integer column"
    )))
}

fn time_column(batch: &RecordBatch, name: &str) -> Result<Vec<i64>, ArrowError> {
    let a = batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
        .ok_or_else(|| ArrowError::SchemaError(format!("{name}: not a timestamp column")))?;
    Ok(a.values().to_vec())
}

/// Rebuilds events (and their origins) from a batch written by [`to_batch`],
/// without the fields that are not columns (`segment::restore` adds them).
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<(Event, String)>, ArrowError> {
    let n = batch.num_rows();
    let times = time_column(batch, "time")?;
    let ingest = time_column(batch, "ingest_time")?;
    let flags = string_column(batch, "time_flags")?;
    let source = string_column(batch, "source")?;
    let s: Vec<Vec<Option<String>>> = STRINGS
        .iter()
        .map(|c| string_column(batch, c))
        .collect::<Result<_, _>>()?;
    let ints: Vec<Vec<Option<i64>>> = INTS
        .iter()
        .map(|(c, _)| int_column(batch, c))
        .collect::<Result<_, _>>()?;
    let mfa = batch
        .column_by_name("actor_is_mfa")
        .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
        .ok_or_else(|| ArrowError::SchemaError("actor_is_mfa".into()))?;
    let resources = batch
        .column_by_name("resources")
        .and_then(|c| c.as_any().downcast_ref::<ListArray>())
        .ok_or_else(|| ArrowError::SchemaError("resources".into()))?;
    let types = batch
        .column_by_name("finding_types")
        .and_then(|c| c.as_any().downcast_ref::<ListArray>())
        .ok_or_else(|| ArrowError::SchemaError("finding_types".into()))?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let st = |k: usize| s[k][i].clone();
        let int = |k: usize| ints[k][i];
        let kind = source[i]
            .as_deref()
            .and_then(SourceKind::from_name)
            .ok_or_else(|| ArrowError::SchemaError(format!("row {i}: unknown source")))?;
        let mut e = Event::new(kind, Timestamp(times[i]), st(34).unwrap_or_default());
        e.ingest_time = Timestamp(ingest[i]);
        e.time_flags = flags[i].as_deref().map_or_else(Vec::new, |f| {
            f.split(',')
                .filter_map(|x| {
                    serde_json::from_value(serde_json::Value::String(x.to_owned())).ok()
                })
                .collect()
        });
        let u32_of = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        e.class_uid = u32_of(int(0));
        e.category_uid = u32_of(int(1));
        e.activity_id = u32_of(int(2));
        e.type_uid = int(3).and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        e.severity_id = int(4).and_then(|v| u8::try_from(v).ok()).unwrap_or(0);
        e.status_id = int(5).and_then(|v| u8::try_from(v).ok()).unwrap_or(0);
        e.status_code = st(0);
        e.status_detail = st(1);
        e.product = st(2).unwrap_or_default();
        e.event_code = st(3);
        e.actor = Actor {
            user_name: st(4),
            user_uid: st(5),
            user_type: st(6),
            account_uid: st(7),
            credential_uid: st(8),
            session_issuer: st(9),
            is_mfa: mfa.is_valid(i).then(|| mfa.value(i)),
            invoked_by: st(10),
        };
        e.src = Endpoint {
            ip: st(11),
            port: int(6).and_then(|v| u16::try_from(v).ok()),
            hostname: st(12),
            uid: st(13),
            user_agent: st(14),
            country: st(15),
        };
        e.dst = Endpoint {
            ip: st(16),
            port: int(7).and_then(|v| u16::try_from(v).ok()),
            hostname: st(17),
            uid: st(18),
            ..Endpoint::default()
        };
        e.api = Api {
            service: st(19),
            operation: st(20),
            // Not a column (see STRINGS): `segment::restore` finds it again.
            request_uid: None,
        };
        e.cloud = Cloud {
            provider: st(21),
            account_uid: st(22),
            region: st(23),
        };
        e.http = Http {
            method: st(24),
            url: st(25),
            status: int(8).and_then(|v| u16::try_from(v).ok()),
            bytes_in: int(9).and_then(|v| u64::try_from(v).ok()),
            bytes_out: int(10).and_then(|v| u64::try_from(v).ok()),
        };
        e.network = Network {
            protocol_num: int(11).and_then(|v| u8::try_from(v).ok()),
            bytes: int(12).and_then(|v| u64::try_from(v).ok()),
            packets: int(13).and_then(|v| u64::try_from(v).ok()),
            action: st(26),
            direction: st(27),
        };
        let finding_types: Vec<String> = if types.is_valid(i) {
            let v = types.value(i);
            let v = v
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| ArrowError::SchemaError("finding_types items".into()))?;
            (0..v.len()).map(|k| v.value(k).to_owned()).collect()
        } else {
            Vec::new()
        };
        let finding = FindingInfo {
            uid: st(28),
            title: st(29),
            types: finding_types,
            product: st(30),
            status: st(31),
        };
        e.finding = (finding != FindingInfo::default()).then_some(finding);
        e.message = st(32);
        e.uid = st(33).unwrap_or_default();
        e.fields = st(35);
        if resources.is_valid(i) {
            let v = resources.value(i);
            let v = v
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(|| ArrowError::SchemaError("resources items".into()))?;
            let col = |k: usize| v.column(k).as_any().downcast_ref::<StringArray>().cloned();
            let (a, b, c, d) = (col(0), col(1), col(2), col(3));
            let get = |x: &Option<StringArray>, r: usize| {
                x.as_ref()
                    .and_then(|x| x.is_valid(r).then(|| x.value(r).to_owned()))
            };
            e.resources = (0..v.len())
                .map(|r| Resource {
                    uid: get(&a, r),
                    kind: get(&b, r),
                    name: get(&c, r),
                    namespace: get(&d, r),
                })
                .collect();
        }
        out.push((e, st(36).unwrap_or_default()));
    }
    Ok(out)
}
