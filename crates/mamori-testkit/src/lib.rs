//! Test support shared by Mamori's crates: a real PostgreSQL server
//! ([`PgServer`]), small GeoIP databases ([`geoip`]), and a real S3-compatible server (moto's server mode, from
//! PyPI), each started on a loopback port, and a
//! [`Bucket`] handle that reads and writes its objects behind the code
//! under test (to plant, tamper with or delete files).
//!
//! The server runs as a child process that exits when the test process
//! does, even when it is killed: it watches its standard input, which
//! closes with the parent.

pub mod geoip;
mod http;
mod postgres;

pub use http::{HttpReceiver, Received, Reply};
pub use postgres::PgServer;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// Starts moto on the port given as argv[1] and stops when stdin closes.
const MOTO_WATCHDOG: &str = "import sys\n\
from moto.server import ThreadedMotoServer\n\
s = ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), verbose=False)\n\
s.start()\n\
sys.stdin.read()\n\
s.stop()\n";

/// A moto S3 server on loopback.
pub struct S3Server {
    child: Child,
    port: u16,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn succeeds(c: &mut Command) -> bool {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl S3Server {
    /// Starts a server of its own, installing moto from PyPI if needed.
    pub fn start() -> S3Server {
        if !succeeds(Command::new("python3").args(["-c", "import moto.server"])) {
            assert!(
                succeeds(Command::new("python3").args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "moto[server]"
                ])),
                "python3 -m pip install 'moto[server]' failed"
            );
        }
        let port = free_port();
        let child = Command::new("python3")
            .args(["-c", MOTO_WATCHDOG, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto server");
        let server = S3Server { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// One server for the whole test process, whose address is also set in
    /// this process's AWS environment variables (for code that reads them).
    pub fn shared() -> &'static S3Server {
        static SHARED: OnceLock<S3Server> = OnceLock::new();
        SHARED.get_or_init(|| {
            let server = S3Server::start();
            for (k, v) in server.env() {
                // Set once, before any client exists, to the same values for every test.
                std::env::set_var(k, v);
            }
            server
        })
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The AWS environment that points a client at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Creates a bucket (moto takes an unsigned request) and returns a handle to it.
    pub fn create_bucket(&self, name: &str) -> Bucket {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            conn,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut reply = String::new();
        conn.read_to_string(&mut reply).expect("reply");
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "create bucket {name}: {reply}"
        );
        self.bucket(name)
    }

    /// A handle to an existing bucket.
    pub fn bucket(&self, name: &str) -> Bucket {
        for (k, v) in self.env() {
            if std::env::var(k).ok().as_deref() != Some(v.as_str()) {
                std::env::set_var(k, v);
            }
        }
        let client = mamori_source::s3_client(name, Duration::from_secs(30)).expect("s3 client");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Bucket { client, runtime }
    }
}

/// Direct access to a bucket's objects.
pub struct Bucket {
    client: object_store::aws::AmazonS3,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    /// An object's bytes, or `None` when it does not exist.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.runtime.block_on(async {
            match self.client.get(&ObjectPath::from(key)).await {
                Ok(r) => Some(r.bytes().await.expect("body").to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("get {key}: {e}"),
            }
        })
    }

    /// Writes an object.
    pub fn put(&self, key: &str, data: Vec<u8>) {
        self.runtime
            .block_on(
                self.client
                    .put(&ObjectPath::from(key), PutPayload::from(data)),
            )
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }

    /// Deletes an object.
    pub fn delete(&self, key: &str) {
        self.runtime
            .block_on(self.client.delete(&ObjectPath::from(key)))
            .unwrap_or_else(|e| panic!("delete {key}: {e}"));
    }

    /// Every key under `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let p = ObjectPath::from(prefix);
        let mut keys: Vec<String> = self
            .runtime
            .block_on(self.client.list(Some(&p)).try_collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("list {prefix}: {e}"))
            .into_iter()
            .map(|m| m.location.to_string())
            .collect();
        keys.sort();
        keys
    }
}
