//! A real PostgreSQL server for tests: a fresh cluster in a temporary
//! directory, on a loopback port, trusting local connections. Like the S3
//! server it is a child that stops (and deletes its cluster) when the test
//! process exits, killed or not.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{free_port, succeeds};

/// A PostgreSQL server on loopback.
pub struct PgServer {
    child: Child,
    port: u16,
    bin: PathBuf,
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Closing stdin makes the watchdog stop the server and remove its files.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Where `initdb` and `postgres` are: on PATH, or Debian's versioned directory.
fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
    });
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").is_file())
            .collect();
        dirs.sort();
        dirs.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Runs `script` with `sh -c`, as the `postgres` user when we are root
/// (PostgreSQL refuses to run as root).
fn shell(script: &str, args: &[&str]) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", script, "sh"]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", script, "sh"]);
        c
    };
    c.args(args);
    c
}

impl PgServer {
    /// Starts a server of its own. Panics, saying what to install, when
    /// PostgreSQL's server programs are missing (`.ci/run` installs them).
    pub fn start() -> PgServer {
        let bin = bin_dir().expect(
            "PostgreSQL's initdb and postgres were not found (apt-get install postgresql); the findings tests run against a real server",
        );
        let dir =
            std::env::temp_dir().join(format!("mamori-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        if is_root() {
            assert!(
                succeeds(Command::new("chown").args(["postgres:", &dir.to_string_lossy()])),
                "chown the cluster directory to postgres"
            );
        }
        let (d, initdb) = (
            dir.join("data").to_string_lossy().into_owned(),
            bin.join("initdb").to_string_lossy().into_owned(),
        );
        assert!(
            succeeds(&mut shell(
                "\"$1\" -D \"$2\" -A trust -U postgres --no-sync -E UTF8",
                &[&initdb, &d]
            )),
            "initdb failed in {}",
            dir.display()
        );
        let port = free_port();
        let postgres = bin.join("postgres").to_string_lossy().into_owned();
        let dir_s = dir.to_string_lossy().into_owned();
        // The watchdog: the server runs until stdin closes, then stops and its cluster goes.
        let child = shell(
            "\"$1\" -D \"$2/data\" -p \"$3\" -k \"$2\" -c listen_addresses=127.0.0.1 -c fsync=off >\"$2/log\" 2>&1 & pid=$!; cat >/dev/null; kill -INT $pid; wait $pid; rm -rf \"$2\"",
            &[&postgres, &dir_s, &port.to_string()],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres");
        let server = PgServer { child, port, bin };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "postgres did not start on port {port}; see {}/log",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// One server for the whole test process.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL to database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn fresh_database(&self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let psql = if self.bin.join("psql").is_file() {
            self.bin.join("psql")
        } else {
            "psql".into()
        };
        let mut last = String::new();
        // The server may still be finishing its start-up when the port opens.
        for _ in 0..50 {
            let out = Command::new(&psql)
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                ])
                .arg(format!("CREATE DATABASE {name}"))
                .output()
                .expect("run psql");
            if out.status.success() {
                return self.url(&name);
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("CREATE DATABASE {name} failed: {last}");
    }
}
