//! Context for events and findings that the logs do not carry themselves.
//!
//! - [`GeoIp`]: country, city, position and autonomous system of an address,
//!   from MaxMind-format (`.mmdb`) databases the user supplies (GeoLite2 /
//!   GeoIP2 City, Country, ASN, or any database with the same fields).
//! - [`IntelList`] and [`IntelSet`]: threat-intelligence lists of IPs, CIDR
//!   networks and domains, plain or CSV, reloaded when their file changes.
//! - [`travel`]: distance and speed between located sign-ins, the check
//!   behind "impossible travel".
//!
//! Nothing here reads the store: the related-events summary needs the query
//! engine and lives with it.

mod geo;
mod intel;
pub mod travel;

pub use geo::{is_public, GeoInfo, GeoIp};
pub use intel::{IndicatorKind, IntelHit, IntelList, IntelSet, ListFormat, ListSpec, LoadReport};

use std::path::PathBuf;

/// What can go wrong reading enrichment data.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A `.mmdb` file is not a valid MaxMind database, or a record in it is corrupt.
    #[error("{path}: not a usable MaxMind database: {reason}")]
    BadDatabase {
        /// The file.
        path: PathBuf,
        /// What the reader found.
        reason: String,
    },
    /// A threat list could not be read as its format (no indicator column, say).
    #[error("{path}: {reason}")]
    BadList {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl EnrichError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> EnrichError {
        EnrichError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
