//! The few file operations the store needs, on a local directory or on
//! object storage ([`crate::remote`]). Everything above this module is the
//! same for both.

use std::fs;
use std::path::{Path, PathBuf};

use crate::checkpoint::{Checkpoint, CHECKPOINT};
use crate::manifest::{self, ChainBreak, Entry, FileEntry, Link};
use crate::remote::LocalCopy;
use crate::{segment, Store, StoreError, MANIFEST};

impl Store {
    /// Where a break in the manifest chain is, and what it is: a line of
    /// `manifest.jsonl`, or an object under `manifest/`.
    pub(crate) fn describe_break(&self, b: &ChainBreak) -> (String, String) {
        match &self.remote {
            None => (MANIFEST.into(), format!("line {}: {}", b.line, b.reason)),
            Some(_) => (
                manifest::object_name(b.line as u64),
                format!("entry {}: {}", b.line, b.reason),
            ),
        }
    }

    pub(crate) fn read_manifest(
        &self,
    ) -> Result<(Vec<Entry>, Option<ChainBreak>, bool), StoreError> {
        let Some(remote) = &self.remote else {
            return manifest::read(&self.root.join(MANIFEST));
        };
        let names = remote.list("manifest/")?;
        let bodies = remote.get_many(&names)?;
        let (entries, mut chain_break, _) = manifest::check_chain(&bodies, None, false);
        if chain_break.is_none() {
            // The chain is checked on content; the names must agree with it too.
            if let Some((i, name)) = names
                .iter()
                .enumerate()
                .find(|(i, name)| **name != manifest::object_name(*i as u64 + 1))
            {
                chain_break = Some(ChainBreak {
                    line: i + 1,
                    reason: format!("{name} is not named for its position in the log"),
                });
            }
        }
        Ok((entries, chain_break, false))
    }

    /// The checkpoint's bytes, or `None` when there is none.
    pub(crate) fn checkpoint_bytes(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.remote {
            None => match fs::read(self.root.join(CHECKPOINT)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StoreError::io(&self.root.join(CHECKPOINT), e)),
            },
            Some(remote) => remote.get(CHECKPOINT),
        }
    }

    /// Writes the checkpoint; on disk, atomically.
    pub(crate) fn put_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        match &self.remote {
            None => segment::write_durably(&self.root.join(CHECKPOINT), &cp.encode()),
            Some(remote) => remote.put(CHECKPOINT, cp.encode()),
        }
    }

    /// The length of `manifest.jsonl` (0 on object storage).
    pub(crate) fn manifest_len(&self) -> Result<u64, StoreError> {
        let path = self.root.join(MANIFEST);
        match &self.remote {
            None => fs::metadata(&path)
                .map(|m| m.len())
                .map_err(|e| StoreError::io(&path, e)),
            Some(_) => Ok(0),
        }
    }

    /// The text of the entry `cp` names, then of every entry after it, or
    /// `None` when the manifest has no entry where `cp` says.
    pub(crate) fn read_manifest_from(
        &self,
        cp: &Checkpoint,
    ) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let items = match &self.remote {
            None => {
                use std::io::{Read, Seek, SeekFrom};
                let path = self.root.join(MANIFEST);
                let mut f = match fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(StoreError::io(&path, e)),
                };
                let len = f.metadata().map_err(|e| StoreError::io(&path, e))?.len();
                if cp.at >= len {
                    return Ok(None);
                }
                let mut text = Vec::new();
                f.seek(SeekFrom::Start(cp.at))
                    .and_then(|_| f.read_to_end(&mut text))
                    .map_err(|e| StoreError::io(&path, e))?;
                if text.last() == Some(&b'\n') {
                    text.pop();
                }
                text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
            }
            Some(remote) => {
                let from = manifest::object_name(cp.seq);
                let names = remote.list_from("manifest/", &from)?;
                let in_place = names
                    .iter()
                    .enumerate()
                    .all(|(i, n)| *n == manifest::object_name(cp.seq + i as u64));
                if names.first() != Some(&from) || !in_place {
                    return Ok(None);
                }
                remote.get_many(&names)?
            }
        };
        Ok((!items.is_empty()).then_some(items))
    }

    /// The last entry of the log, read or summarized by a checkpoint.
    pub(crate) fn last_link(&self) -> Option<Link> {
        self.entries
            .last()
            .map(Link::to)
            .or_else(|| self.base.clone())
    }

    /// Seals `entry` after the last one and commits it: once this returns,
    /// the entry is durable and its files are in place.
    pub(crate) fn append_entry(&mut self, entry: Entry) -> Result<(), StoreError> {
        let last = self.last_link();
        let entry = match &self.remote {
            None => manifest::append(&self.root.join(MANIFEST), last.as_ref(), entry)?,
            Some(remote) => {
                let entry = manifest::seal(last.as_ref(), entry);
                let mut body = serde_json::to_vec(&entry).map_err(|e| {
                    StoreError::Corrupt(format!("cannot encode manifest entry: {e}"))
                })?;
                body.push(b'\n');
                let name = manifest::object_name(entry.seq);
                if !remote.create(&name, body)? {
                    return Err(StoreError::Corrupt(format!(
                        "{}: another writer committed entry {} first; nothing of this commit is live, open the store again",
                        remote.uri(&name),
                        entry.seq
                    )));
                }
                entry
            }
        };
        self.apply(&entry);
        self.entries.push(entry);
        self.refresh_checkpoint(false);
        self.roll_forward(false)
    }

    /// Where a file is written before it is committed.
    pub(crate) fn tmp_path(&self, rel: &str) -> PathBuf {
        self.root.join("tmp").join(tmp_name(rel))
    }

    /// Makes files written to [`Store::tmp_path`] durable ahead of the entry
    /// that commits them: fsync'd locally, uploaded under `tmp/` remotely.
    pub(crate) fn stage(&self, add: &[FileEntry]) -> Result<(), StoreError> {
        match &self.remote {
            None => segment::sync_dir(&self.root.join("tmp")),
            Some(remote) => {
                for f in add {
                    remote.upload(
                        &self.tmp_path(&f.path),
                        &format!("tmp/{}", tmp_name(&f.path)),
                    )?;
                }
                Ok(())
            }
        }
    }

    /// A local copy of a live file to read: the file itself in a local store
    /// (in place, or still in `tmp/` when a crash came between commit and
    /// move), a download from object storage.
    pub(crate) fn fetch(&self, f: &FileEntry) -> Result<LocalCopy, StoreError> {
        match &self.remote {
            Some(remote) => remote.download(&f.path),
            None => {
                let p = self.root.join(&f.path);
                let tmp = self.tmp_path(&f.path);
                Ok(LocalCopy::in_place(if !p.exists() && tmp.exists() {
                    tmp
                } else {
                    p
                }))
            }
        }
    }

    /// SHA-256 and size of a live file, `None` when it is missing.
    pub(crate) fn hash_stored(&self, f: &FileEntry) -> Result<Option<(String, u64)>, StoreError> {
        match &self.remote {
            Some(remote) => remote.hash(&f.path),
            None => {
                let p = self.fetch(f)?;
                if p.path().exists() {
                    segment::hash_file(p.path()).map(Some)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Every file under `events/` and `dead-letter/`, as paths relative to the store.
    pub(crate) fn list_stored(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for dir in ["events/", "dead-letter/"] {
            match &self.remote {
                Some(remote) => out.extend(remote.list(dir)?),
                None => {
                    for p in walk(&self.root.join(dir)) {
                        let rel = p.strip_prefix(&self.root).unwrap_or(&p);
                        out.push(rel.to_string_lossy().replace('\\', "/"));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether the store holds nothing at all (a snapshot's destination must not).
    pub(crate) fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.last_link().is_none() && self.list_stored()?.is_empty())
    }

    /// Writes `local` as the store's file `rel`, durably (snapshots, which
    /// write their manifest last, so need no staging).
    pub(crate) fn put_file(&self, local: &Path, rel: &str) -> Result<(), StoreError> {
        match &self.remote {
            Some(remote) => remote.upload(local, rel),
            None => {
                let to = self.root.join(rel);
                if let Some(dir) = to.parent() {
                    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                }
                let tmp = to.with_extension("tmp-write");
                fs::copy(local, &tmp).map_err(|e| StoreError::io(&tmp, e))?;
                fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| StoreError::io(&tmp, e))?;
                fs::rename(&tmp, &to).map_err(|e| StoreError::io(&to, e))?;
                segment::sync_dir(to.parent().unwrap_or(&self.root))
            }
        }
    }

    /// Finishes committed work: files of live entries still in `tmp/` move
    /// into place, uncommitted ones are deleted, removed files are deleted.
    /// `opening` looks at every entry's removals, else only the last's (the
    /// only one that can be unfinished once the store is open).
    pub(crate) fn roll_forward(&mut self, opening: bool) -> Result<(), StoreError> {
        let first = if opening {
            0
        } else {
            self.entries.len().saturating_sub(1)
        };
        let mut removed: Vec<String> = self.entries[first..]
            .iter()
            .flat_map(|e| e.remove.iter())
            .filter(|r| !self.live.contains_key(*r))
            .cloned()
            .collect();
        if let (Some(later), false) = (&mut self.deferred, opening) {
            let at = std::time::Instant::now();
            later.extend(removed.drain(..).map(|r| (at, r)));
        }
        match &self.remote {
            None => self.roll_forward_local(&removed)?,
            Some(remote) => {
                let by_tmp: std::collections::HashMap<String, &str> = self
                    .live
                    .keys()
                    .map(|rel| (format!("tmp/{}", tmp_name(rel)), rel.as_str()))
                    .collect();
                for staged in remote.list("tmp/")? {
                    if let Some(rel) = by_tmp.get(&staged) {
                        if !remote.exists(rel)? {
                            remote.copy(&staged, rel)?;
                        }
                    }
                    remote.delete(&staged)?;
                }
                for r in &removed {
                    remote.delete(r)?;
                }
            }
        }
        // The local spool of a remote store, or the local tmp/: nothing in it is needed now.
        let tmp_dir = self.root.join("tmp");
        for entry in fs::read_dir(&tmp_dir)
            .map_err(|e| StoreError::io(&tmp_dir, e))?
            .flatten()
        {
            let _ = fs::remove_file(entry.path());
        }
        Ok(())
    }

    fn roll_forward_local(&self, removed: &[String]) -> Result<(), StoreError> {
        for f in self.live.values() {
            let final_path = self.root.join(&f.path);
            let tmp = self.tmp_path(&f.path);
            if !final_path.exists() && tmp.exists() {
                if let Some(dir) = final_path.parent() {
                    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                }
                fs::rename(&tmp, &final_path).map_err(|e| StoreError::io(&final_path, e))?;
                segment::sync_dir(final_path.parent().unwrap_or(&self.root))?;
            }
        }
        for r in removed {
            let p = self.root.join(r);
            if p.exists() {
                fs::remove_file(&p).map_err(|err| StoreError::io(&p, err))?;
            }
        }
        if !removed.is_empty() {
            prune_empty_dirs(&self.root.join("events"));
        }
        Ok(())
    }
}

/// A file's name in `tmp/`: its path, flattened.
fn tmp_name(rel: &str) -> String {
    rel.replace('/', "__")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect()
}

pub(crate) fn prune_empty_dirs(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            prune_empty_dirs(&p);
            let _ = fs::remove_dir(&p);
        }
    }
}
