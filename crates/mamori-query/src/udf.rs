//! Functions Insights has and DataFusion lacks, registered as
//! `mamori_<name>`: the IP address tests (`isValidIp`, `isIpInSubnet`,
//! `isPrivateIP`, …, `ipv4ToNumber`), `hexToDec`, and the encodings
//! (`base64encode`, `base64decode`, `urlencode`, `urldecode`, `hexToAscii`).

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

#[derive(Clone, Copy)]
enum Family {
    Any,
    V4,
    V6,
}

fn family_ok(ip: &IpAddr, f: Family) -> bool {
    match f {
        Family::Any => true,
        Family::V4 => ip.is_ipv4(),
        Family::V6 => ip.is_ipv6(),
    }
}

/// Whether `ip` is inside `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or a bare address).
pub fn in_subnet(ip: &str, cidr: &str) -> Option<bool> {
    let ip: IpAddr = ip.trim().parse().ok()?;
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n.parse::<IpAddr>().ok()?, b.parse::<u32>().ok()?),
        None => {
            let n: IpAddr = cidr.trim().parse().ok()?;
            (n, if n.is_ipv4() { 32 } else { 128 })
        }
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            Some(u32::from(a) & mask == u32::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            Some(u128::from(a) & mask == u128::from(n) & mask)
        }
        _ => Some(false),
    }
}

/// RFC 1918 for IPv4, unique local (fc00::/7) for IPv6.
fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private(),
        IpAddr::V6(a) => (a.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Not routable on the internet: loopback, link-local, multicast,
/// unspecified, broadcast, documentation, shared (100.64/10), benchmarking
/// (198.18/15), the IETF block (192.0.0/24), 0/8 and 240/4.
fn is_reserved(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

fn strings(v: &ArrayRef) -> Result<StringArray, DataFusionError> {
    let c = cast(v, &DataType::Utf8)?;
    c.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("not a string column".into()))
}

fn valid(f: Family) -> impl Fn(&[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    move |args| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let s = strings(&arrays[0])?;
        let out: BooleanArray = s
            .iter()
            .map(|v| v.map(|v| v.trim().parse::<IpAddr>().is_ok_and(|ip| family_ok(&ip, f))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn subnet(f: Family) -> impl Fn(&[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    move |args| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let (ips, nets) = (strings(&arrays[0])?, strings(&arrays[1])?);
        let out: BooleanArray = (0..ips.len())
            .map(|i| {
                if ips.is_null(i) || nets.is_null(i) {
                    return None;
                }
                let ip = ips.value(i);
                let fam = ip.trim().parse::<IpAddr>().is_ok_and(|a| family_ok(&a, f));
                Some(fam && in_subnet(ip, nets.value(i)).unwrap_or(false))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn class(
    test: fn(&IpAddr) -> bool,
) -> impl Fn(&[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    move |args| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let s = strings(&arrays[0])?;
        let out: BooleanArray = s
            .iter()
            .map(|v| v.map(|v| v.trim().parse::<IpAddr>().is_ok_and(|ip| test(&ip))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn public(ip: &IpAddr) -> bool {
    !is_private(ip) && !is_reserved(ip)
}

fn to_number(
    parse: fn(&str) -> Option<i64>,
) -> impl Fn(&[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    move |args| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let s = strings(&arrays[0])?;
        let out: Int64Array = s.iter().map(|v| v.and_then(parse)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn ipv4_number(s: &str) -> Option<i64> {
    s.trim()
        .parse::<std::net::Ipv4Addr>()
        .ok()
        .map(|a| i64::from(u32::from(a)))
}

fn hex_number(s: &str) -> Option<i64> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    i64::from_str_radix(t, 16).ok()
}

fn text_fn(
    f: fn(&str) -> Option<String>,
) -> impl Fn(&[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    move |args| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let s = strings(&arrays[0])?;
        let out: StringArray = s.iter().map(|v| v.and_then(f)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn base64_encode(s: &str) -> Option<String> {
    use base64::Engine;
    Some(base64::engine::general_purpose::STANDARD.encode(s))
}

/// Null when the text is not base64 or does not decode to UTF-8.
fn base64_decode(s: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn url_encode(s: &str) -> Option<String> {
    Some(percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string())
}

fn url_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Null when the text is not an even number of hex digits or not UTF-8.
fn hex_to_ascii(s: &str) -> Option<String> {
    let t = s.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    if !t.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Whether `array` (JSON text) is an array with an element equal to `value`
/// (a string element by its text, a number or boolean by its JSON text).
fn json_array_contains(array: &str, value: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(array) {
        Ok(serde_json::Value::Array(items)) => items.iter().any(|e| match e {
            serde_json::Value::String(s) => s == value,
            // A number or boolean by its JSON text (Value == str would compare strings only).
            #[allow(clippy::cmp_owned)]
            other => other.to_string() == value,
        }),
        _ => false,
    }
}

fn array_contains(args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    pairwise::<BooleanArray, _>(args, |arr, v| Some(json_array_contains(arr, v)))
}

/// Epoch milliseconds of `s` read with the strftime pattern `fmt`; a zone
/// written `Z` is UTC; without a zone the time is UTC. Null when it does not parse.
fn parse_date(s: &str, fmt: &str) -> Option<i64> {
    let s = s.trim();
    let zoned = fmt.contains("%z") || fmt.contains("%:z");
    if zoned {
        let s = match s.strip_suffix('Z') {
            Some(head) if fmt.contains("%:z") => format!("{head}+00:00"),
            Some(head) => format!("{head}+0000"),
            None => s.to_owned(),
        };
        return chrono::DateTime::parse_from_str(&s, fmt)
            .ok()
            .map(|t| t.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(s, fmt)
        .map(|t| t.and_utc().timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, fmt).map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .map_or(0, |t| t.and_utc().timestamp_millis())
            })
        })
        .ok()
}

/// Applies `f` to each row of two string arguments; a null in either gives null.
fn pairwise<A, T>(
    args: &[ColumnarValue],
    f: impl Fn(&str, &str) -> Option<T>,
) -> Result<ColumnarValue, DataFusionError>
where
    A: Array + FromIterator<Option<T>> + 'static,
{
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let (a, b) = (strings(&arrays[0])?, strings(&arrays[1])?);
    let out: A = (0..a.len())
        .map(|i| {
            if a.is_null(i) || b.is_null(i) {
                return None;
            }
            f(a.value(i), b.value(i))
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

fn parse_dates(args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    pairwise::<Int64Array, _>(args, parse_date)
}

/// `mamori_request_uid(source, raw)`: the request id the parser of `source`
/// finds in `raw` (the store has no column for it).
fn request_uids(args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    pairwise::<StringArray, _>(args, |source, raw| {
        mamori_parse::request_uid(mamori_event::SourceKind::from_name(source)?, raw)
    })
}

/// The functions, to register in a session.
pub fn udfs() -> Vec<ScalarUDF> {
    let one = || vec![DataType::Utf8];
    let two = || vec![DataType::Utf8, DataType::Utf8];
    let mut out = Vec::new();
    for (name, f) in [
        ("mamori_isvalidip", Family::Any),
        ("mamori_isvalidipv4", Family::V4),
        ("mamori_isvalidipv6", Family::V6),
    ] {
        out.push(create_udf(
            name,
            one(),
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(valid(f)),
        ));
    }
    for (name, f) in [
        ("mamori_isipinsubnet", Family::Any),
        ("mamori_isipv4insubnet", Family::V4),
        ("mamori_isipv6insubnet", Family::V6),
    ] {
        out.push(create_udf(
            name,
            two(),
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(subnet(f)),
        ));
    }
    for (name, test) in [
        ("mamori_isprivateip", is_private as fn(&IpAddr) -> bool),
        ("mamori_isreservedip", is_reserved),
        ("mamori_ispublicip", public),
    ] {
        out.push(create_udf(
            name,
            one(),
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(class(test)),
        ));
    }
    for (name, parse) in [
        (
            "mamori_ipv4tonumber",
            ipv4_number as fn(&str) -> Option<i64>,
        ),
        ("mamori_hextodec", hex_number),
    ] {
        out.push(create_udf(
            name,
            one(),
            DataType::Int64,
            Volatility::Immutable,
            Arc::new(to_number(parse)),
        ));
    }
    out.push(create_udf(
        "mamori_parsedate",
        two(),
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(parse_dates),
    ));
    out.push(create_udf(
        "mamori_request_uid",
        two(),
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(request_uids),
    ));
    out.push(create_udf(
        "mamori_jsonarraycontains",
        two(),
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(array_contains),
    ));
    for (name, f) in [
        (
            "mamori_base64encode",
            base64_encode as fn(&str) -> Option<String>,
        ),
        ("mamori_base64decode", base64_decode),
        ("mamori_urlencode", url_encode),
        ("mamori_urldecode", url_decode),
        ("mamori_hextoascii", hex_to_ascii),
        ("mamori_jsonparse", json_parse),
    ] {
        out.push(create_udf(
            name,
            one(),
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(text_fn(f)),
        ));
    }
    out
}

/// `jsonParse`: a JSON object or array, as compact JSON text; anything else is empty.
fn json_parse(s: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => Some(v.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{hex_number, in_subnet, ipv4_number, is_private, is_reserved};

    #[test]
    fn classes_and_numbers() {
        let ip = |s: &str| s.parse().expect("ip");
        assert!(is_private(&ip("172.16.0.1")) && !is_private(&ip("172.32.0.1")));
        assert!(is_private(&ip("fd00::1")));
        assert!(is_reserved(&ip("100.64.1.1")) && is_reserved(&ip("127.0.0.1")));
        assert!(is_reserved(&ip("2001:db8::1")) && !is_reserved(&ip("8.8.8.8")));
        assert_eq!(ipv4_number("10.0.0.1"), Some(167_772_161));
        assert_eq!(hex_number("0xff"), Some(255));
        assert_eq!(hex_number("zz"), None);
        assert_eq!(super::hex_to_ascii("68656c6c6f").as_deref(), Some("hello"));
        assert_eq!(super::hex_to_ascii("6"), None);
        assert_eq!(super::base64_decode("aGk=").as_deref(), Some("hi"));
        assert_eq!(super::url_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(super::url_encode("a b/c").as_deref(), Some("a%20b%2Fc"));
        assert!(super::json_array_contains(r#"["a", 2, true]"#, "a"));
        assert!(super::json_array_contains(r#"["a", 2, true]"#, "2"));
        assert!(!super::json_array_contains(r#"{"a": 1}"#, "a"));
        assert!(!super::json_array_contains("not json", "a"));
        assert_eq!(
            super::parse_date("2026-11-20T10:05:00.250Z", "%Y-%m-%dT%H:%M:%S%.3f%:z"),
            Some(1_795_169_100_250)
        );
        assert_eq!(
            super::parse_date("2026-11-20", "%Y-%m-%d"),
            Some(1_795_132_800_000)
        );
        assert_eq!(super::parse_date("garbage", "%Y-%m-%d"), None);
    }

    #[test]
    fn subnets() {
        assert_eq!(in_subnet("192.0.2.77", "192.0.2.0/24"), Some(true));
        assert_eq!(in_subnet("192.0.3.1", "192.0.2.0/24"), Some(false));
        assert_eq!(in_subnet("10.1.2.3", "0.0.0.0/0"), Some(true));
        assert_eq!(in_subnet("2001:db8::1", "2001:db8::/32"), Some(true));
        assert_eq!(in_subnet("2001:db8::1", "10.0.0.0/8"), Some(false));
        assert_eq!(in_subnet("nope", "10.0.0.0/8"), None);
    }
}
