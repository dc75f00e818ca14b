//! Where log bytes come from, beyond local files: S3 and S3-compatible
//! object storage, through the `object_store` crate.
//!
//! [`S3Reader`] lists a bucket prefix (keys sorted, so AWS's
//! `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/` layouts and
//! organization trails `AWSLogs/o-…/<account>/…` come out in date order) and
//! fetches objects. Credentials, region and endpoint come from the usual AWS
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT` for an S3-compatible server, `AWS_ALLOW_HTTP`
//! for a plain-HTTP one). The API is blocking: callers are plain threads.

use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

/// A failure reading object storage, naming the object or prefix.
#[derive(Debug, thiserror::Error)]
#[error("{uri}: {detail}")]
pub struct SourceError {
    /// `s3://bucket/key` or `s3://bucket/prefix`.
    pub uri: String,
    /// What went wrong.
    pub detail: String,
}

/// `s3://bucket/prefix` split in two; `None` for anything else.
pub fn parse_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), prefix.to_owned()))
}

/// A client for `bucket` configured from the AWS environment variables.
/// Each request gives up after `timeout` and is retried twice.
pub fn s3_client(bucket: &str, timeout: Duration) -> Result<AmazonS3, SourceError> {
    // Client options replace those `from_env` read, so AWS_ALLOW_HTTP is read again here.
    let allow_http = std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let options = ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout.min(Duration::from_secs(10)))
        .with_allow_http(allow_http);
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: timeout * 3,
        ..RetryConfig::default()
    };
    AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_client_options(options)
        .with_retry(retry)
        .build()
        .map_err(|e| SourceError {
            uri: format!("s3://{bucket}"),
            detail: e.to_string(),
        })
}

/// Reads one bucket.
pub struct S3Reader {
    bucket: String,
    store: AmazonS3,
    runtime: tokio::runtime::Runtime,
}

/// One object in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, when the server gives one.
    pub etag: Option<String>,
}

impl S3Reader {
    /// A reader for `bucket` configured from the environment. Each request
    /// gives up after `timeout`, and is retried a few times before failing.
    pub fn new(bucket: &str, timeout: Duration) -> Result<S3Reader, SourceError> {
        let err = |detail: String| SourceError {
            uri: format!("s3://{bucket}"),
            detail,
        };
        let store = s3_client(bucket, timeout)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| err(e.to_string()))?;
        Ok(S3Reader {
            bucket: bucket.to_owned(),
            store,
            runtime,
        })
    }

    /// The `s3://` URI of a key.
    pub fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Every object under `prefix`, sorted by key.
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, SourceError> {
        let p = ObjectPath::from(prefix.trim_end_matches('/'));
        let prefix_arg = (!prefix.is_empty()).then_some(&p);
        let mut out = self.runtime.block_on(async {
            use futures::StreamExt;
            let mut stream = self.store.list(prefix_arg);
            let mut v = Vec::new();
            while let Some(item) = stream.next().await {
                let meta = item.map_err(|e| SourceError {
                    uri: self.uri(prefix),
                    detail: e.to_string(),
                })?;
                v.push(ObjectInfo {
                    key: meta.location.to_string(),
                    size: meta.size,
                    etag: meta.e_tag,
                });
            }
            Ok::<_, SourceError>(v)
        })?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// An object's bytes.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, SourceError> {
        self.runtime
            .block_on(async {
                let r = self.store.get(&ObjectPath::from(key)).await?;
                r.bytes().await
            })
            .map(|b| b.to_vec())
            .map_err(|e| SourceError {
                uri: self.uri(key),
                detail: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_s3_uris() {
        assert_eq!(
            super::parse_s3_uri("s3://b/AWSLogs/1/"),
            Some(("b".into(), "AWSLogs/1/".into()))
        );
        assert_eq!(
            super::parse_s3_uri("s3://b"),
            Some(("b".into(), String::new()))
        );
        assert_eq!(super::parse_s3_uri("s3:///x"), None);
        assert_eq!(super::parse_s3_uri("/tmp/x"), None);
    }
}
