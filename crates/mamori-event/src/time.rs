//! UTC timestamps with microsecond precision, and the fast parsers for the
//! time formats the cloud sources write.
//!
//! Hand-written because parsing `eventTime` is on the hot path of every
//! CloudTrail event; `chrono` is used in the tests as the reference.

use std::fmt;

/// Microseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Month abbreviations as syslog (RFC 3164) writes them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Timestamp {
    /// Builds a timestamp from whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Option<Self> {
        secs.checked_mul(MICROS_PER_SEC).map(Timestamp)
    }

    /// Builds a timestamp from milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Option<Self> {
        ms.checked_mul(1000).map(Timestamp)
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (OCSF's `timestamp_t`), rounded down.
    pub fn millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Builds a timestamp from a civil UTC date and time; `None` when a
    /// component is out of range.
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        micros: u32,
    ) -> Option<Self> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
            || micros >= 1_000_000
        {
            return None;
        }
        // A leap second is folded into the next second, as most systems do.
        let days = days_from_civil(year, month, day);
        let secs = days * SECS_PER_DAY
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second);
        secs.checked_mul(MICROS_PER_SEC)?
            .checked_add(i64::from(micros))
            .map(Timestamp)
    }

    /// The civil UTC date of this timestamp: (year, month, day).
    pub fn date(self) -> (i64, u32, u32) {
        civil_from_days(self.0.div_euclid(MICROS_PER_SEC * SECS_PER_DAY))
    }

    /// Parses an ISO-8601 / RFC 3339 timestamp as the sources write them:
    /// `2024-01-02T03:04:05Z`, with or without a fraction (any number of
    /// digits, truncated to microseconds), with `Z`, `±hh:mm`, `±hhmm`, `±hh`
    /// or no offset (taken as UTC), and with `T` or a space between date and
    /// time. A date alone (`2024-01-02`) is midnight UTC.
    pub fn parse_iso8601(s: &str) -> Option<Self> {
        let b = s.trim().as_bytes();
        let year = digits(b, 0, 4)? as i64;
        if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        if b.len() == 10 {
            return Self::from_civil(year, month, day, 0, 0, 0, 0);
        }
        if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
            return None;
        }
        let hour = digits(b, 11, 2)?;
        if b.get(13) != Some(&b':') {
            return None;
        }
        let minute = digits(b, 14, 2)?;
        let (second, mut i) = if b.get(16) == Some(&b':') {
            (digits(b, 17, 2)?, 19)
        } else {
            (0, 16)
        };
        let mut micros = 0u32;
        if matches!(b.get(i), Some(b'.' | b',')) {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 6 {
                    micros = micros * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            let n = i - start;
            if n == 0 {
                return None;
            }
            for _ in n..6 {
                micros *= 10;
            }
        }
        let offset_secs: i64 = match b.get(i) {
            None => 0,
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) => {
                let rest = &b[i + 1..];
                let (h, m) = match rest.len() {
                    2 => (digits(rest, 0, 2)?, 0),
                    4 => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                    5 if rest[2] == b':' => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                    _ => return None,
                };
                if h > 23 || m > 59 {
                    return None;
                }
                let off = i64::from(h) * 3600 + i64::from(m) * 60;
                if sign == b'+' {
                    off
                } else {
                    -off
                }
            }
            _ => return None,
        };
        let local = Self::from_civil(year, month, day, hour, minute, second, micros)?;
        local
            .0
            .checked_sub(offset_secs * MICROS_PER_SEC)
            .map(Timestamp)
    }

    /// Parses a number of seconds, milliseconds, microseconds or nanoseconds
    /// since the epoch, choosing the unit by magnitude (values that would lie
    /// between 1973 and 5138 in that unit). Fractions are accepted on seconds
    /// (`1600000000.123`).
    pub fn parse_epoch(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some((int, frac)) = s.split_once('.') {
            let secs: i64 = int.parse().ok()?;
            if !(1e8 as i64..1e11 as i64).contains(&secs)
                || frac.is_empty()
                || !frac.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let mut micros: i64 = 0;
            for (n, c) in frac.bytes().take(6).enumerate() {
                micros += i64::from(c - b'0') * 10i64.pow(5 - n as u32);
            }
            return Some(Timestamp(secs * MICROS_PER_SEC + micros));
        }
        let n: i64 = s.parse().ok()?;
        Self::from_epoch_number(n)
    }

    /// Interprets an integer as an epoch time in s, ms, µs or ns by magnitude.
    pub fn from_epoch_number(n: i64) -> Option<Self> {
        let a = n.unsigned_abs();
        if a < 100_000_000 {
            None
        } else if a < 100_000_000_000 {
            Self::from_secs(n)
        } else if a < 100_000_000_000_000 {
            Self::from_millis(n)
        } else if a < 100_000_000_000_000_000 {
            Some(Timestamp(n))
        } else {
            Some(Timestamp(n / 1000))
        }
    }

    /// Parses any of the textual forms above: ISO-8601 first, then epoch.
    pub fn parse_any(s: &str) -> Option<Self> {
        Self::parse_iso8601(s).or_else(|| Self::parse_epoch(s))
    }

    /// Parses the RFC 3164 syslog form `Mmm dd hh:mm:ss` (day space- or
    /// zero-padded), which carries no year and no zone. The year is chosen so
    /// that the result is not more than 31 days after `reference` (the
    /// delivery or ingest time), which places December lines read in January
    /// in the year before. Returns the timestamp and the length consumed.
    pub fn parse_bsd_syslog(s: &str, reference: Timestamp) -> Option<(Self, usize)> {
        let b = s.as_bytes();
        if b.len() < 15 {
            return None;
        }
        let month = MONTHS.iter().position(|m| m.as_bytes() == &b[0..3])? as u32 + 1;
        if b[3] != b' ' {
            return None;
        }
        let day = if b[4] == b' ' {
            digits(b, 5, 1)?
        } else {
            digits(b, 4, 2)?
        };
        if b[6] != b' ' || b[9] != b':' || b[12] != b':' {
            return None;
        }
        let (hour, minute, second) = (digits(b, 7, 2)?, digits(b, 10, 2)?, digits(b, 13, 2)?);
        let (ref_year, _, _) = reference.date();
        let limit = reference.0 + 31 * SECS_PER_DAY * MICROS_PER_SEC;
        for year in [ref_year, ref_year - 1] {
            if let Some(t) = Self::from_civil(year, month, day, hour, minute, second, 0) {
                if t.0 <= limit {
                    return Some((t, 15));
                }
            }
        }
        // 29 February in a year that has none: try the last leap year.
        (2..=8)
            .filter_map(|back| {
                Self::from_civil(ref_year - back, month, day, hour, minute, second, 0)
            })
            .next()
            .map(|t| (t, 15))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with `Z`: no fraction for whole seconds, milliseconds
    /// when exact, microseconds otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(MICROS_PER_SEC);
        let micros = self.0.rem_euclid(MICROS_PER_SEC);
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )?;
        if micros == 0 {
            f.write_str("Z")
        } else if micros % 1000 == 0 {
            write!(f, ".{:03}Z", micros / 1000)
        } else {
            write!(f, ".{micros:06}Z")
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_iso8601(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {s}")))
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in slice {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> i64 {
        Timestamp::parse_iso8601(s).map(|t| t.0).unwrap_or(i64::MIN)
    }

    #[test]
    fn parses_the_forms_sources_write() {
        assert_eq!(t("1970-01-01T00:00:00Z"), 0);
        assert_eq!(t("2014-03-06T21:22:54Z"), 1_394_140_974_000_000);
        assert_eq!(t("2018-11-30T22:23:00.186641Z"), 1_543_616_580_186_641);
        assert_eq!(t("2024-12-17T10:30:00.0000000Z"), 1_734_431_400_000_000);
        assert_eq!(t("2022-11-29 00:09:04.38"), 1_669_680_544_380_000);
        assert_eq!(t("2020-01-01T01:00:00+01:00"), 1_577_836_800_000_000);
        assert_eq!(t("2020-01-01T00:00:00-0130"), 1_577_842_200_000_000);
        assert_eq!(t("2024-07-22 14:20:56.237323088"), 1_721_658_056_237_323);
        assert_eq!(t("2020-02-29"), 1_582_934_400_000_000);
        for bad in [
            "",
            "2020-13-01T00:00:00Z",
            "2021-02-29T00:00:00Z",
            "2020-01-01T24:00:00Z",
            "2020-01-01T00:00:00ZZ",
            "2020-01-01T00:00:00.Z",
            "yesterday",
            "2020-01-01T00:00:00+25:00",
        ] {
            assert_eq!(Timestamp::parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_epochs_by_magnitude() {
        let want = Some(Timestamp(1_600_000_000_000_000));
        assert_eq!(Timestamp::parse_epoch("1600000000"), want);
        assert_eq!(Timestamp::parse_epoch("1600000000000"), want);
        assert_eq!(Timestamp::parse_epoch("1600000000000000"), want);
        assert_eq!(Timestamp::parse_epoch("1600000000000000000"), want);
        assert_eq!(
            Timestamp::parse_epoch("1600000000.5"),
            Some(Timestamp(1_600_000_000_500_000))
        );
        assert_eq!(Timestamp::parse_epoch("42"), None);
    }

    #[test]
    fn bsd_syslog_year_is_inferred_from_the_reference() {
        let jan = Timestamp::parse_iso8601("2025-01-02T00:00:00Z").unwrap_or_default();
        let (dec, _) =
            Timestamp::parse_bsd_syslog("Dec 31 23:59:59 host x", jan).unwrap_or_default();
        assert_eq!(dec.to_string(), "2024-12-31T23:59:59Z");
        let (jan1, _) =
            Timestamp::parse_bsd_syslog("Jan  1 00:00:01 host x", jan).unwrap_or_default();
        assert_eq!(jan1.to_string(), "2025-01-01T00:00:01Z");
        assert_eq!(
            Timestamp::parse_bsd_syslog("Foo  1 00:00:01 host", jan),
            None
        );
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(micros in -62_135_596_800_000_000i64..253_402_300_799_999_999) {
            let ts = Timestamp(micros);
            prop_assert_eq!(Timestamp::parse_iso8601(&ts.to_string()), Some(ts));
        }

        #[test]
        fn agrees_with_chrono(secs in 0i64..4_102_444_800, nanos in 0u32..1_000_000_000, off_min in -900i32..900) {
            let off = chrono::FixedOffset::east_opt(off_min * 60).unwrap_or_else(|| chrono::FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()));
            let Some(dt) = chrono::DateTime::from_timestamp(secs, nanos) else { return Ok(()) };
            let text = dt.with_timezone(&off).to_rfc3339_opts(chrono::SecondsFormat::Nanos, false);
            let want = dt.timestamp() * 1_000_000 + i64::from(dt.timestamp_subsec_micros());
            prop_assert_eq!(Timestamp::parse_iso8601(&text), Some(Timestamp(want)), "{}", text);
        }

        #[test]
        fn never_panics_on_arbitrary_text(s in ".{0,40}") {
            let _ = Timestamp::parse_any(&s);
            let _ = Timestamp::parse_bsd_syslog(&s, Timestamp(0));
        }
    }
}
