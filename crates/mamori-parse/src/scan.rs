//! A structural JSON scanner: finds where values, members and elements begin
//! and end without building them.
//!
//! Splitting a `{"Records":[…]}` object this way costs far less than parsing
//! it, keeps each record's exact text, and lets one malformed or truncated
//! record be rejected while the ones around it still come through. The
//! scanner checks brackets and strings only; each record is validated when
//! its parser reads it.

use std::ops::Range;

/// Why a value could not be delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// The input ended inside the value.
    Truncated,
    /// A byte that cannot stand there, at this offset.
    Invalid(usize),
    /// Brackets nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Deepest nesting accepted; deeper input is rejected rather than recursed into.
pub const MAX_DEPTH: usize = 256;

/// Skips JSON whitespace from `i`.
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Bytes that matter inside a string: the closing quote and the escape.
const IN_STRING: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Bytes that matter between strings in a container.
const IN_CONTAINER: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// The first quote or backslash in `b` from `i`, eight bytes at a time
/// (the classic "has zero byte" test), then byte by byte at the tail.
fn quote_or_escape(b: &[u8], mut i: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = LO * b'"' as u64;
    const ESC: u64 = LO * b'\\' as u64;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        let q = x ^ QUOTE;
        let e = x ^ ESC;
        let m = (q.wrapping_sub(LO) & !q | e.wrapping_sub(LO) & !e) & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    (i..b.len()).find(|&k| IN_STRING[b[k] as usize])
}

/// The end (exclusive) of the string whose opening quote is at `start`.
pub fn string_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut i = start + 1;
    loop {
        i = quote_or_escape(b, i).ok_or(ScanError::Truncated)?;
        if b[i] == b'"' {
            return Ok(i + 1);
        }
        i += 2;
        if i > b.len() {
            return Err(ScanError::Truncated);
        }
    }
}

/// The end (exclusive) of the value starting at `start` (no leading whitespace).
pub fn value_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    match b.get(start) {
        None => Err(ScanError::Truncated),
        Some(b'"') => string_end(b, start),
        Some(b'{' | b'[') => container_end(b, start),
        Some(c) if c.is_ascii_digit() || matches!(c, b'-' | b't' | b'f' | b'n') => {
            let mut i = start;
            while i < b.len() && !matches!(b[i], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            Ok(i)
        }
        Some(_) => Err(ScanError::Invalid(start)),
    }
}

fn container_end(b: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut stack: Vec<u8> = Vec::with_capacity(16);
    let mut i = start;
    while i < b.len() {
        if !IN_CONTAINER[b[i] as usize] {
            i += 1;
            continue;
        }
        match b[i] {
            b'"' => {
                i = string_end(b, i)?;
                continue;
            }
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            c @ (b'}' | b']') => {
                if stack.pop() != Some(c) {
                    return Err(ScanError::Invalid(i));
                }
                if stack.is_empty() {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        if stack.len() > MAX_DEPTH {
            return Err(ScanError::TooDeep);
        }
        i += 1;
    }
    Err(ScanError::Truncated)
}

/// One step of walking a container's members or elements.
pub type Step = Result<Range<usize>, (usize, ScanError)>;

/// Iterates the elements of the array whose `[` is at `start`, yielding each
/// element's byte range; on a structural error yields `Err((offset, error))`
/// once, the offset being where the bad element starts, and stops.
pub struct Elements<'a> {
    b: &'a [u8],
    i: usize,
    done: bool,
    first: bool,
}

impl<'a> Elements<'a> {
    /// Walks the array at `start`.
    pub fn new(b: &'a [u8], start: usize) -> Self {
        Elements {
            b,
            i: start + 1,
            done: false,
            first: true,
        }
    }

    /// The offset just after the closing `]`, once the walk has finished cleanly.
    pub fn position(&self) -> usize {
        self.i
    }
}

impl Iterator for Elements<'_> {
    type Item = Step;
    fn next(&mut self) -> Option<Step> {
        if self.done {
            return None;
        }
        let b = self.b;
        let mut i = skip_ws(b, self.i);
        if b.get(i) == Some(&b']') {
            self.done = true;
            self.i = i + 1;
            return None;
        }
        if !self.first {
            if b.get(i) != Some(&b',') {
                self.done = true;
                let err = if i >= b.len() {
                    ScanError::Truncated
                } else {
                    ScanError::Invalid(i)
                };
                return Some(Err((i, err)));
            }
            i = skip_ws(b, i + 1);
        }
        self.first = false;
        match value_end(b, i) {
            Ok(end) => {
                self.i = end;
                Some(Ok(i..end))
            }
            Err(e) => {
                self.done = true;
                Some(Err((i, e)))
            }
        }
    }
}

/// A member of an object: the key's raw bytes (between the quotes, escapes
/// not decoded) and the value's range.
pub struct Member<'a> {
    /// Raw key bytes.
    pub key: &'a [u8],
    /// Value range in the input.
    pub value: Range<usize>,
}

/// Where walking an object's members stopped early.
#[derive(Debug)]
pub struct Stopped<'a> {
    /// Offset of the problem.
    pub at: usize,
    /// What went wrong.
    pub error: ScanError,
    /// The key of the member being read when it happened, if its key was complete.
    pub key: Option<&'a [u8]>,
    /// Where that member's value starts, if known.
    pub value_start: Option<usize>,
}

/// Walks the top-level members of the object whose `{` is at `start`.
/// On a structural error returns the members read so far and where it stopped.
pub fn members(b: &[u8], start: usize) -> (Vec<Member<'_>>, Option<Stopped<'_>>) {
    let mut out = Vec::new();
    let stop = |at: usize, key, value_start| {
        let error = if at >= b.len() {
            ScanError::Truncated
        } else {
            ScanError::Invalid(at)
        };
        Some(Stopped {
            at,
            error,
            key,
            value_start,
        })
    };
    let mut i = skip_ws(b, start + 1);
    if b.get(i) == Some(&b'}') {
        return (out, None);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return (out, stop(i, None, None));
        }
        let kend = match string_end(b, i) {
            Ok(e) => e,
            Err(error) => {
                return (
                    out,
                    Some(Stopped {
                        at: i,
                        error,
                        key: None,
                        value_start: None,
                    }),
                )
            }
        };
        let key = &b[i + 1..kend - 1];
        i = skip_ws(b, kend);
        if b.get(i) != Some(&b':') {
            return (out, stop(i, Some(key), None));
        }
        i = skip_ws(b, i + 1);
        let vend = match value_end(b, i) {
            Ok(e) => e,
            Err(error) => {
                return (
                    out,
                    Some(Stopped {
                        at: i,
                        error,
                        key: Some(key),
                        value_start: Some(i),
                    }),
                )
            }
        };
        out.push(Member {
            key,
            value: i..vend,
        });
        i = skip_ws(b, vend);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (out, None),
            _ => return (out, stop(i, None, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn string_end_agrees_with_serde(s in ".{0,64}", tail in "[a-z,\\]}\\\\\"]{0,8}") {
            let lit = serde_json::to_string(&s).unwrap_or_default();
            let text = format!("{lit}{tail}");
            prop_assert_eq!(string_end(text.as_bytes(), 0), Ok(lit.len()));
        }
    }

    #[test]
    fn delimits_values() {
        let b = br#"{"a":"x\"}","b":[1,{"c":2}]} tail"#;
        assert_eq!(value_end(b, 0), Ok(b.len() - 5));
        assert_eq!(value_end(b"[1,2", 0), Err(ScanError::Truncated));
        assert_eq!(value_end(b"[1,2}", 0), Err(ScanError::Invalid(4)));
        assert_eq!(value_end(b"\"abc\\", 0), Err(ScanError::Truncated));
    }

    #[test]
    fn walks_elements_and_stops_at_truncation() {
        let b = br#"[ {"a":1}, {"b":2} , {"c":"#;
        let got: Vec<_> = Elements::new(b, 0).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(&b[got[0].clone().unwrap_or(0..0)], br#"{"a":1}"#);
        assert_eq!(&b[got[1].clone().unwrap_or(0..0)], br#"{"b":2}"#);
        assert_eq!(got[2], Err((21, ScanError::Truncated)));
    }

    #[test]
    fn reports_where_a_truncated_object_stopped() {
        let b = br#"{"a": 1, "Records": [{"x": 1}, {"y"#;
        let (m, stopped) = members(b, 0);
        assert_eq!(m.len(), 1);
        let s = stopped.expect("truncated");
        assert_eq!(
            (s.key, s.value_start, s.error),
            (Some(&b"Records"[..]), Some(20), ScanError::Truncated)
        );
    }

    #[test]
    fn lists_members() {
        let b = br#"{"Records": [1, 2], "x" : "y"}"#;
        let (m, stopped) = members(b, 0);
        assert!(stopped.is_none());
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].key, b"Records");
        assert_eq!(&b[m[1].value.clone()], br#""y""#);
    }
}
