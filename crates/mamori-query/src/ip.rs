//! IP address functions Insights has and DataFusion lacks:
//! `isValidIp`, `isValidIpV4`, `isValidIpV6`, `isIpInSubnet`,
//! `isIpv4InSubnet`, `isIpv6InSubnet` (registered as `mamori_<name>`).

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
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
    out
}

#[cfg(test)]
mod tests {
    use super::in_subnet;

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
