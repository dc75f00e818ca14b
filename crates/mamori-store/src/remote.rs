//! The store on S3-compatible object storage.
//!
//! Object storage has no rename, no append and no fsync, so the local
//! protocol is mapped onto what it does have, atomic whole-object writes
//! and conditional creates:
//!
//! - a segment is written to a local spool file, uploaded under `tmp/`, and
//!   copied to its place under `events/` only after the manifest entry that
//!   names it exists (readers such as DuckDB never see an uncommitted file);
//! - the manifest is one object per entry, `manifest/<seq, 20 digits>.json`,
//!   each created with `If-None-Match: *`, so the entry is the commit point
//!   and a second writer racing for the same sequence number fails instead
//!   of forking the chain (the scheme Delta Lake uses for its log).
//!
//! Reads (deduplication, compaction, verification) download a segment to
//! the spool and read it there: memory holds a chunk, not the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use crate::manifest::hex;
use crate::StoreError;

/// Objects larger than this are uploaded in parts.
const MULTIPART_BYTES: u64 = 16 << 20;

/// How long one request may take before it is retried (twice) and then fails.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Manifest entries fetched at once when a store is opened.
const MANIFEST_FETCH_CONCURRENCY: usize = 16;

/// A store's objects under `s3://bucket/prefix/`.
pub(crate) struct Remote {
    bucket: String,
    prefix: String,
    client: AmazonS3,
    runtime: tokio::runtime::Runtime,
    /// Local working space: staged segments and downloaded copies.
    spool: tempfile::TempDir,
    downloads: AtomicU64,
}

/// A local copy of a stored file, deleted when dropped (unless it is the
/// file itself, in a local store).
pub(crate) struct LocalCopy {
    path: PathBuf,
    temporary: bool,
}

impl LocalCopy {
    pub(crate) fn in_place(path: PathBuf) -> Self {
        LocalCopy {
            path,
            temporary: false,
        }
    }
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Remote {
    /// Connects to `s3://bucket/prefix` with the AWS environment variables.
    pub(crate) fn connect(
        bucket: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Remote, StoreError> {
        let uri = format!("s3://{bucket}/{prefix}");
        let client = mamori_source::s3_client(bucket, timeout)
            .map_err(|e| StoreError::object(&uri, e.detail))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| StoreError::object(&uri, e))?;
        let spool = tempfile::Builder::new()
            .prefix("mamori-spool-")
            .tempdir()
            .map_err(|e| StoreError::io(&std::env::temp_dir(), e))?;
        let prefix = prefix.trim_matches('/');
        Ok(Remote {
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            client,
            runtime,
            spool,
            downloads: AtomicU64::new(0),
        })
    }

    /// The local working directory (it stands in for the data directory).
    pub(crate) fn spool(&self) -> &Path {
        self.spool.path()
    }

    /// `s3://bucket/prefix/rel`.
    pub(crate) fn uri(&self, rel: &str) -> String {
        format!("s3://{}/{}{rel}", self.bucket, self.prefix)
    }

    fn key(&self, rel: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{rel}", self.prefix))
    }

    fn err(&self, rel: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::object(&self.uri(rel), e)
    }

    /// Uploads a local file to `rel`.
    pub(crate) fn upload(&self, local: &Path, rel: &str) -> Result<(), StoreError> {
        let size = std::fs::metadata(local)
            .map_err(|e| StoreError::io(local, e))?
            .len();
        let key = self.key(rel);
        if size <= MULTIPART_BYTES {
            let data = std::fs::read(local).map_err(|e| StoreError::io(local, e))?;
            self.runtime
                .block_on(self.client.put(&key, PutPayload::from(data)))
                .map_err(|e| self.err(rel, e))?;
            return Ok(());
        }
        self.runtime.block_on(async {
            use std::io::Read;
            let upload = self
                .client
                .put_multipart(&key)
                .await
                .map_err(|e| self.err(rel, e))?;
            let mut writer = object_store::WriteMultipart::new(upload);
            let mut file = std::fs::File::open(local).map_err(|e| StoreError::io(local, e))?;
            let mut buf = vec![0u8; 4 << 20];
            loop {
                let n = file.read(&mut buf).map_err(|e| StoreError::io(local, e))?;
                if n == 0 {
                    break;
                }
                writer
                    .wait_for_capacity(4)
                    .await
                    .map_err(|e| self.err(rel, e))?;
                writer.write(&buf[..n]);
            }
            writer.finish().await.map_err(|e| self.err(rel, e))?;
            Ok(())
        })
    }

    /// Streams `rel` through SHA-256, into `to` when given. `None` when the
    /// object does not exist.
    fn stream(
        &self,
        rel: &str,
        mut to: Option<&mut std::fs::File>,
    ) -> Result<Option<(String, u64)>, StoreError> {
        self.runtime.block_on(async {
            let got = match self.client.get(&self.key(rel)).await {
                Ok(g) => g,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.err(rel, e)),
            };
            let mut stream = got.into_stream();
            let mut hash = Sha256::new();
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.err(rel, e))?;
                hash.update(&chunk);
                n += chunk.len() as u64;
                if let Some(f) = to.as_deref_mut() {
                    f.write_all(&chunk)
                        .map_err(|e| StoreError::io(self.spool.path(), e))?;
                }
            }
            Ok(Some((hex(&hash.finalize()), n)))
        })
    }

    /// SHA-256 and size of `rel`, or `None` when it does not exist.
    pub(crate) fn hash(&self, rel: &str) -> Result<Option<(String, u64)>, StoreError> {
        self.stream(rel, None)
    }

    /// Downloads `rel` to a spool file deleted when the copy is dropped.
    pub(crate) fn download(&self, rel: &str) -> Result<LocalCopy, StoreError> {
        let n = self.downloads.fetch_add(1, Ordering::Relaxed);
        let path = self.spool.path().join(format!("download-{n}.parquet"));
        let copy = LocalCopy {
            path: path.clone(),
            temporary: true,
        };
        let mut file = std::fs::File::create(&path).map_err(|e| StoreError::io(&path, e))?;
        match self.stream(rel, Some(&mut file))? {
            Some(_) => Ok(copy),
            None => Err(self.err(rel, "not found: the manifest lists it but it is not there")),
        }
    }

    /// Whether `rel` exists.
    pub(crate) fn exists(&self, rel: &str) -> Result<bool, StoreError> {
        match self.runtime.block_on(self.client.head(&self.key(rel))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    /// Server-side copy.
    pub(crate) fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.client.copy(&self.key(from), &self.key(to)))
            .map_err(|e| self.err(to, e))
    }

    /// Deletes `rel`; one that is already gone is not an error.
    pub(crate) fn delete(&self, rel: &str) -> Result<(), StoreError> {
        match self.runtime.block_on(self.client.delete(&self.key(rel))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    /// Every object under `dir` (relative paths, sorted).
    pub(crate) fn list(&self, dir: &str) -> Result<Vec<String>, StoreError> {
        self.list_after(dir, None)
    }

    /// The objects under `dir` from `first` on (relative paths, sorted):
    /// the server skips the others, so a long manifest is not listed whole.
    pub(crate) fn list_from(&self, dir: &str, first: &str) -> Result<Vec<String>, StoreError> {
        // Listing starts after a key: the one just before `first` (its last byte less one).
        let mut before = self.key(first).to_string().into_bytes();
        match before.last_mut() {
            Some(b) if *b > 0 => *b -= 1,
            _ => return self.list(dir),
        }
        let before = String::from_utf8(before).map_err(|e| self.err(first, e))?;
        let out = self.list_after(dir, Some(&ObjectPath::from(before)))?;
        Ok(out.into_iter().filter(|n| n.as_str() >= first).collect())
    }

    fn list_after(&self, dir: &str, after: Option<&ObjectPath>) -> Result<Vec<String>, StoreError> {
        let key = self.key(dir);
        let listing = match after {
            Some(a) => self.client.list_with_offset(Some(&key), a),
            None => self.client.list(Some(&key)),
        };
        let mut out: Vec<String> = self
            .runtime
            .block_on(listing.try_collect::<Vec<_>>())
            .map_err(|e| self.err(dir, e))?
            .into_iter()
            .map(|m| {
                let k = m.location.to_string();
                k.strip_prefix(&self.prefix).unwrap_or(&k).to_owned()
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The bodies of many small objects, in the order given.
    pub(crate) fn get_many(&self, rels: &[String]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.runtime.block_on(
            futures::stream::iter(rels.iter().map(|rel| async move {
                let got = self.client.get(&self.key(rel)).await;
                match got {
                    Ok(g) => g
                        .bytes()
                        .await
                        .map(|b| b.to_vec())
                        .map_err(|e| self.err(rel, e)),
                    Err(e) => Err(self.err(rel, e)),
                }
            }))
            .buffered(MANIFEST_FETCH_CONCURRENCY)
            .try_collect(),
        )
    }

    /// The body of `rel`, or `None` when it does not exist.
    pub(crate) fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let got = self.runtime.block_on(async {
            match self.client.get(&self.key(rel)).await {
                Ok(g) => g.bytes().await.map(|b| Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map_err(|e| self.err(rel, e))
    }

    /// Writes `data` to `rel`, replacing what was there.
    pub(crate) fn put(&self, rel: &str, data: Vec<u8>) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.client.put(&self.key(rel), PutPayload::from(data)))
            .map(|_| ())
            .map_err(|e| self.err(rel, e))
    }

    /// Creates `rel` holding `data` unless it exists: `Ok(false)` when it did.
    pub(crate) fn create(&self, rel: &str, data: Vec<u8>) -> Result<bool, StoreError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.runtime.block_on(self.client.put_opts(
            &self.key(rel),
            PutPayload::from(data),
            opts,
        )) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.err(rel, e)),
        }
    }
}
