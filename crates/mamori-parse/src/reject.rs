//! Rejected records: where they were, why, and their bytes for the dead-letter file.

use base64::Engine;
use mamori_event::SourceKind;

/// Why a record (or the unreadable tail of a file) was not normalized.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The record is not valid JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The input ended inside a JSON value.
    #[error("truncated JSON: the input ends inside this record")]
    TruncatedJson,
    /// Brackets nest deeper than the parser accepts.
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),
    /// Bytes that are not UTF-8.
    #[error("invalid UTF-8 at byte {0} of the record")]
    InvalidUtf8(usize),
    /// The record is larger than the configured limit.
    #[error("record is {size} bytes, over the {limit}-byte limit (raise --max-record-bytes to accept it)")]
    TooLarge {
        /// Record size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The record was read as a source but lacks or mistypes what that source requires.
    #[error("not a valid {kind} record: {detail}")]
    WrongShape {
        /// The source the record was read as.
        kind: SourceKind,
        /// What is wrong.
        detail: String,
    },
    /// Not a format Mamori recognises.
    #[error("unrecognized format: {0}")]
    UnknownFormat(String),
    /// The compressed stream is damaged or truncated; the rest of the file could not be read.
    #[error("{codec} stream unreadable after {decoded} decompressed bytes: {detail}")]
    Decompress {
        /// `gzip` or `zstd`.
        codec: &'static str,
        /// Bytes decoded before the failure.
        decoded: u64,
        /// The decoder's message.
        detail: String,
    },
    /// Decompressed data exceeded the configured limit (a decompression bomb or a huge object).
    #[error("decompressed size exceeds the {0}-byte limit; the rest of the file was not read")]
    DecompressedTooLarge(u64),
}

impl RejectReason {
    /// A short stable code for counting and filtering.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::MalformedJson(_) => "malformed_json",
            RejectReason::TruncatedJson => "truncated_json",
            RejectReason::TooDeep(_) => "too_deep",
            RejectReason::InvalidUtf8(_) => "invalid_utf8",
            RejectReason::TooLarge { .. } => "too_large",
            RejectReason::WrongShape { .. } => "wrong_shape",
            RejectReason::UnknownFormat(_) => "unknown_format",
            RejectReason::Decompress { .. } => "decompress",
            RejectReason::DecompressedTooLarge(_) => "decompressed_too_large",
        }
    }

    pub(crate) fn shape(source: SourceKind, detail: impl Into<String>) -> Self {
        RejectReason::WrongShape {
            kind: source,
            detail: detail.into(),
        }
    }
}

/// A rejected record with its location and exact bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    /// 1-based line in the (decompressed) input where the record starts.
    pub line: u64,
    /// Byte offset in the (decompressed) input; for decompression errors, in the compressed file.
    pub byte_offset: u64,
    /// The source it was being read as, when known.
    pub source: Option<SourceKind>,
    /// Why.
    pub reason: RejectReason,
    /// The record's bytes, unchanged.
    pub record: Vec<u8>,
}

impl Rejected {
    /// One dead-letter line (JSON, no trailing newline) naming `file`. The
    /// record is kept whole: as text when it is UTF-8, else in base64.
    pub fn to_dead_letter_json(&self, file: &str) -> String {
        let mut obj = serde_json::Map::new();
        obj.insert("file".into(), file.into());
        obj.insert("line".into(), self.line.into());
        obj.insert("byte_offset".into(), self.byte_offset.into());
        if let Some(s) = self.source {
            obj.insert("source".into(), s.as_str().into());
        }
        obj.insert("reason_code".into(), self.reason.code().into());
        obj.insert("reason".into(), self.reason.to_string().into());
        match std::str::from_utf8(&self.record) {
            Ok(text) => obj.insert("record".into(), text.into()),
            Err(_) => obj.insert(
                "record_base64".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(&self.record)
                    .into(),
            ),
        };
        serde_json::Value::Object(obj).to_string()
    }
}
