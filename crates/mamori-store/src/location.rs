//! Where a store lives: a local directory or an object storage prefix.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// `s3://bucket/prefix` on S3 or an S3-compatible server, configured by
    /// the usual AWS environment variables (`AWS_ENDPOINT` for another server).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

impl Location {
    /// `s3://bucket/prefix` is object storage; anything else is a directory.
    pub fn parse(text: &str) -> Location {
        match mamori_source::parse_s3_uri(text) {
            Some((bucket, prefix)) => Location::S3 {
                bucket,
                prefix: prefix.trim_matches('/').to_owned(),
            },
            None => Location::Local(PathBuf::from(text)),
        }
    }

    /// Whether the store is on object storage.
    pub fn is_remote(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        match p.to_str() {
            Some(text) if text.starts_with("s3://") => Location::parse(text),
            _ => Location::Local(p.to_owned()),
        }
    }
}

impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Location {
        Location::from(p.as_path())
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::from(p.as_path())
    }
}

impl From<&str> for Location {
    fn from(text: &str) -> Location {
        Location::parse(text)
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn s3_uris_are_object_storage_and_the_rest_directories() {
        assert_eq!(
            Location::parse("s3://b/some/prefix/"),
            Location::S3 {
                bucket: "b".into(),
                prefix: "some/prefix".into()
            }
        );
        assert_eq!(Location::parse("s3://b").to_string(), "s3://b");
        assert_eq!(
            Location::from(std::path::Path::new("data")),
            Location::Local("data".into())
        );
    }
}
