//! The spool: what HTTP and syslog delivered, fsync'd before it is
//! acknowledged, kept until the store has committed it. A restart commits
//! what is left (the store's event uids keep that from doubling anything).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use mamori_event::SourceKind;

/// One spooled delivery.
#[derive(Clone, Debug)]
pub struct SpoolFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its checkpoint name in the store (`spool/<file>`).
    pub name: String,
    /// The source kind it was sent as, when the sender said.
    pub kind: Option<SourceKind>,
    /// The receiver: `http`, `syslog`, `audit`, `demo`.
    pub channel: String,
}

/// The spool directory.
pub struct Spool {
    dir: PathBuf,
    seq: AtomicU64,
}

impl Spool {
    /// Opens (creating) `dir`; numbering goes on after what is there.
    pub fn open(dir: &Path) -> Result<Spool> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let last = Self::list_in(dir, true)?
            .iter()
            .filter_map(|f| seq_of(&f.path))
            .max()
            .unwrap_or(0);
        Ok(Spool {
            dir: dir.to_owned(),
            seq: AtomicU64::new(last + 1),
        })
    }

    /// Writes `data` durably (written, synced, renamed into place, directory synced).
    pub fn write(&self, kind: Option<SourceKind>, channel: &str, data: &[u8]) -> Result<SpoolFile> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let kind_name = kind.map_or("auto", SourceKind::as_str);
        let file = format!("{seq:012}.{kind_name}.{channel}");
        let path = self.dir.join(&file);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().with_context(|| format!("cannot spool to {}", path.display()))?;
        Ok(SpoolFile {
            name: format!("spool/{file}"),
            path,
            kind,
            channel: channel.to_owned(),
        })
    }

    /// What is waiting, oldest first.
    pub fn pending(&self) -> Result<Vec<SpoolFile>> {
        Self::list_in(&self.dir, false)
    }

    /// The spooled deliveries in `dir`; with `remove_partial` (at open, before
    /// any delivery is taken), writes a crash cut short are deleted. Later a
    /// dot file is a delivery being written now, and is only skipped.
    fn list_in(dir: &Path, remove_partial: bool) -> Result<Vec<SpoolFile>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
            let file = e.file_name().to_string_lossy().into_owned();
            if file.starts_with('.') {
                // A write that never finished was never acknowledged.
                if remove_partial {
                    let _ = std::fs::remove_file(e.path());
                }
                continue;
            }
            let mut parts = file.splitn(3, '.');
            let (Some(_), Some(kind), Some(channel)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            out.push(SpoolFile {
                path: e.path(),
                name: format!("spool/{file}"),
                kind: SourceKind::from_name(kind),
                channel: channel.to_owned(),
            });
        }
        out.sort_by_key(|f| seq_of(&f.path));
        Ok(out)
    }
}

fn seq_of(p: &Path) -> Option<u64> {
    p.file_name()?.to_str()?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_resumes_and_half_written_files_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Spool::open(dir.path()).expect("open");
        let a = s
            .write(Some(SourceKind::Cloudtrail), "http", b"{}")
            .expect("write");
        std::fs::write(dir.path().join(".000000000009.auto.http.tmp"), b"x").expect("tmp");
        let s = Spool::open(dir.path()).expect("reopen");
        let b = s.write(None, "syslog", b"<13>x").expect("write");
        let p = s.pending().expect("pending");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, a.name);
        assert_eq!(p[0].kind, Some(SourceKind::Cloudtrail));
        assert_eq!(p[1].name, b.name);
        assert_eq!(p[1].kind, None);
        assert_eq!(p[1].channel, "syslog");
        assert!(!dir.path().join(".000000000009.auto.http.tmp").exists());
    }

    /// A delivery being written while the pipeline looks for spooled files
    /// is neither listed nor deleted (it was, and its writer failed).
    #[test]
    fn a_write_in_progress_survives_a_look_at_the_spool() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Spool::open(dir.path()).expect("open");
        let partial = dir.path().join(".000000000001.auto.http.tmp");
        std::fs::write(&partial, b"x").expect("tmp");
        assert!(s.pending().expect("pending").is_empty());
        assert!(partial.exists());
    }
}
