//! Compression recognised by magic bytes, never by file name.

use std::borrow::Cow;
use std::io::Read;

use crate::RejectReason;

/// The compression a file was found to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    #[default]
    None,
    /// gzip (one or more members).
    Gzip,
    /// Zstandard (one or more frames).
    Zstd,
}

impl Compression {
    /// `none`, `gzip` or `zstd`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// A decompressed file, with the failure that ended decompression, if any.
pub struct Decoded<'a> {
    /// The bytes that could be decompressed (all of them when `error` is `None`).
    pub data: Cow<'a, [u8]>,
    /// What the file was compressed with.
    pub compression: Compression,
    /// Where in the compressed input decoding failed, and why. Everything
    /// decoded before the failure is in `data`.
    pub error: Option<(u64, RejectReason)>,
}

struct Counting<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Decompresses `data` if it starts with gzip or zstd magic bytes, stopping
/// at `max_bytes` of output.
pub fn decode(data: &[u8], max_bytes: u64) -> Decoded<'_> {
    let compression = match data {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => {
            return Decoded {
                data: Cow::Borrowed(data),
                compression: Compression::None,
                error: None,
            }
        }
    };
    let mut out = Vec::with_capacity(data.len().saturating_mul(8).min(1 << 30));
    let mut counting = Counting { data, pos: 0 };
    let result = match compression {
        Compression::Gzip => flate2::read::MultiGzDecoder::new(&mut counting)
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut out),
        _ => match zstd::stream::read::Decoder::with_buffer(std::io::BufReader::new(&mut counting))
        {
            Ok(d) => d.take(max_bytes.saturating_add(1)).read_to_end(&mut out),
            Err(e) => Err(e),
        },
    };
    let consumed = counting.pos as u64;
    let codec = compression.as_str();
    let error = match result {
        Ok(_) if out.len() as u64 > max_bytes => {
            out.truncate(max_bytes as usize);
            Some((consumed, RejectReason::DecompressedTooLarge(max_bytes)))
        }
        Ok(_) => None,
        Err(e) => Some((
            consumed,
            RejectReason::Decompress {
                codec,
                decoded: out.len() as u64,
                detail: e.to_string(),
            },
        )),
    };
    Decoded {
        data: Cow::Owned(out),
        compression,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(b);
        e.finish().unwrap_or_default()
    }

    #[test]
    fn recognises_gzip_and_zstd_by_magic() {
        let g = gz(b"hello");
        let d = decode(&g, 1 << 20);
        assert_eq!(d.compression, Compression::Gzip);
        assert_eq!(&*d.data, b"hello");
        assert!(d.error.is_none());
        let z = zstd::encode_all(&b"world"[..], 3).unwrap_or_default();
        let d = decode(&z, 1 << 20);
        assert_eq!(d.compression, Compression::Zstd);
        assert_eq!(&*d.data, b"world");
        assert_eq!(decode(b"plain", 10).compression, Compression::None);
    }

    #[test]
    fn truncated_gzip_keeps_the_prefix_and_names_the_failure() {
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = gz(&big);
        let d = decode(&z[..z.len() / 2], u64::MAX / 2);
        assert!(!d.data.is_empty() && big.starts_with(&d.data));
        assert!(matches!(
            d.error,
            Some((_, RejectReason::Decompress { codec: "gzip", .. }))
        ));
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let g = gz(&[b'a'; 10_000]);
        let d = decode(&g, 100);
        assert_eq!(d.data.len(), 100);
        assert!(matches!(
            d.error,
            Some((_, RejectReason::DecompressedTooLarge(100)))
        ));
    }
}
