//! API tokens and roles. A token is 32 random bytes shown once; only its
//! SHA-256 is kept (a slow hash buys nothing against 256 random bits).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::RwLock;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ServeCmd;
use crate::config::Config;

/// What a token may do.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Send events to `/api/ingest`, nothing else (a log shipper).
    Ingest,
    /// Read: search, findings, rules, sources.
    Viewer,
    /// A viewer who also works findings (status, assignee, notes) and tests rules.
    Analyst,
    /// Everything, tokens included.
    Admin,
}

impl Role {
    /// As written in the config and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `need` asks.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Any => true,
            Need::Ingest => matches!(self, Role::Ingest | Role::Admin),
            Need::Read => self >= Role::Viewer,
            Need::Work => self >= Role::Analyst,
            Need::Admin => self == Role::Admin,
        }
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Any valid token.
    Any,
    /// Sending events.
    Ingest,
    /// Reading.
    Read,
    /// Changing findings, testing rules.
    Work,
    /// Managing tokens.
    Admin,
}

/// A stored token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenEntry {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// When it was made.
    pub created: String,
}

/// Who a request is from.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// The token file (`<data>/serve/tokens.json`).
pub struct Tokens {
    path: PathBuf,
    entries: RwLock<Vec<TokenEntry>>,
    /// The file's modification time when read: `serve token` run beside a
    /// running service takes effect on the next request.
    stamp: RwLock<Option<std::time::SystemTime>>,
}

fn stamp_of(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl Tokens {
    /// Reads the file (none yet: no tokens).
    pub fn open(path: &Path) -> Result<Tokens> {
        let entries = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("{}: not a token file", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Tokens {
            path: path.to_owned(),
            entries: RwLock::new(entries),
            stamp: RwLock::new(stamp_of(path)),
        })
    }

    /// Who holds `token`, if anyone.
    pub fn check(&self, token: &str) -> Option<Caller> {
        let now = stamp_of(&self.path);
        if self.stamp.read().is_ok_and(|s| *s != now) {
            match std::fs::read(&self.path).map(|b| serde_json::from_slice::<Vec<TokenEntry>>(&b)) {
                Ok(Ok(list)) => {
                    if let (Ok(mut e), Ok(mut s)) = (self.entries.write(), self.stamp.write()) {
                        *e = list;
                        *s = now;
                    }
                }
                // Half-written or broken: keep what was read before.
                _ => eprintln!(
                    "mamori: {}: not reread (unreadable); keeping the tokens read before",
                    self.path.display()
                ),
            }
        }
        let h = hash(token);
        let entries = self.entries.read().ok()?;
        entries.iter().find(|e| e.sha256 == h).map(|e| Caller {
            name: e.name.clone(),
            role: e.role,
        })
    }

    /// The tokens, without their hashes.
    pub fn list(&self) -> Vec<(String, Role, String)> {
        self.entries
            .read()
            .map(|e| {
                e.iter()
                    .map(|t| (t.name.clone(), t.role, t.created.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Makes a token; returns it (the only time it is seen).
    pub fn create(&self, name: &str, role: Role) -> Result<String> {
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            bail!("a token name is 1 to 100 printable characters");
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let token = format!(
            "mamori_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let mut entries = self
            .entries
            .write()
            .map_err(|_| anyhow::anyhow!("token lock poisoned"))?;
        if entries.iter().any(|e| e.name == name) {
            bail!("a token named {name:?} exists; revoke it first");
        }
        entries.push(TokenEntry {
            name: name.to_owned(),
            role,
            sha256: hash(&token),
            created: crate::inspect::now().to_string(),
        });
        self.save(&entries)?;
        Ok(token)
    }

    /// Revokes a token by name; false when there is none.
    pub fn revoke(&self, name: &str) -> Result<bool> {
        let mut entries = self
            .entries
            .write()
            .map_err(|_| anyhow::anyhow!("token lock poisoned"))?;
        let before = entries.len();
        entries.retain(|e| e.name != name);
        if entries.len() == before {
            return Ok(false);
        }
        self.save(&entries)?;
        Ok(true)
    }

    fn save(&self, entries: &[TokenEntry]) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(entries)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
        }
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        if let Ok(mut s) = self.stamp.write() {
            *s = stamp_of(&self.path);
        }
        Ok(())
    }
}

/// `mamori serve token|tokens|revoke`.
pub fn token_cmd(cmd: ServeCmd, config: &Config) -> Result<ExitCode> {
    let path = |data: &crate::store_cmd::DataArgs| {
        config
            .data_dir(data.data.as_deref())
            .join("serve")
            .join("tokens.json")
    };
    match cmd {
        ServeCmd::Token { name, role, data } => {
            let t = Tokens::open(&path(&data))?.create(&name, role)?;
            eprintln!(
                "token {name:?} ({}) created; it is shown once:",
                role.as_str()
            );
            println!("{t}");
        }
        ServeCmd::Tokens { data } => {
            for (name, role, created) in Tokens::open(&path(&data))?.list() {
                println!("{name}\t{}\t{created}", role.as_str());
            }
        }
        ServeCmd::Revoke { name, data } => {
            if !Tokens::open(&path(&data))?.revoke(&name)? {
                eprintln!("mamori: no token named {name:?}");
                return Ok(ExitCode::from(1));
            }
            eprintln!("token {name:?} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_hashed_and_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("tokens.json");
        let t = Tokens::open(&p).expect("open");
        let tok = t.create("ci", Role::Analyst).expect("create");
        assert!(t.create("ci", Role::Viewer).is_err(), "names are unique");
        let text = std::fs::read_to_string(&p).expect("file");
        assert!(!text.contains(&tok), "the token itself is never written");
        let again = Tokens::open(&p).expect("reopen");
        let c = again.check(&tok).expect("known");
        assert_eq!((c.name.as_str(), c.role), ("ci", Role::Analyst));
        assert!(again.check("mamori_guess").is_none());
        assert!(again.revoke("ci").expect("revoke"));
        assert!(again.check(&tok).is_none());
    }

    #[test]
    fn roles_allow_what_they_should() {
        use Need::*;
        let table = [
            (Role::Ingest, [true, false, false, false]),
            (Role::Viewer, [false, true, false, false]),
            (Role::Analyst, [false, true, true, false]),
            (Role::Admin, [true, true, true, true]),
        ];
        for (role, want) in table {
            let got = [Ingest, Read, Work, Admin].map(|n| role.allows(n));
            assert_eq!(got, want, "{role:?}");
        }
    }
}
