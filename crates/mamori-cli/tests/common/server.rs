//! A `mamori serve` process on a loopback port, for the service tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running service.
pub struct Server {
    /// Its process.
    pub child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory.
    pub data: PathBuf,
    /// An admin token.
    pub admin: String,
    /// Where its output goes.
    pub log: PathBuf,
    client: reqwest::blocking::Client,
}

/// Makes a token with the CLI.
pub fn make_token(data: &Path, name: &str, role: &str) -> String {
    let out = super::mamori(
        &[
            "serve",
            "token",
            name,
            "--role",
            role,
            "--data",
            &data.display().to_string(),
        ],
        data.parent().expect("parent"),
    );
    super::ok(&out).trim().to_owned()
}

impl Server {
    /// Starts `mamori serve` on `data` with `config` (TOML) and waits until it answers.
    pub fn start(data: &Path, config: &str, extra: &[&str]) -> Server {
        std::fs::create_dir_all(data).expect("data dir");
        let dir = data.parent().expect("parent").to_owned();
        let admin = match std::fs::read_to_string(dir.join("admin.token")) {
            Ok(t) => t,
            Err(_) => {
                let t = make_token(data, "admin", "admin");
                std::fs::write(dir.join("admin.token"), &t).expect("keep token");
                t
            }
        };
        let cfg = dir.join("mamori.toml");
        std::fs::write(&cfg, config).expect("config");
        let port = free_port();
        let log = dir.join(format!("serve-{port}.log"));
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_mamori"))
            .args([
                "serve",
                "--data",
                &data.display().to_string(),
                "--config",
                &cfg.display().to_string(),
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .current_dir(&dir)
            .env_remove("MAMORI_DATA")
            .env_remove("MAMORI_DB")
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("spawn mamori serve");
        let mut s = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            data: data.to_owned(),
            admin,
            log,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        };
        let t0 = Instant::now();
        loop {
            if let Some(st) = s.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("serve exited ({st}) before answering:\n{}", s.output());
            }
            if s.client
                .get(format!("{}/healthz", s.base))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "serve did not start:\n{}",
                s.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A request with `token` (none: anonymous); returns status and JSON body (Null if not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rq = self.client.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        if let Some(b) = body {
            rq = rq.body(b);
        }
        let r = rq.send().expect("request");
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A JSON request that must answer 2xx.
    pub fn ok(&self, method: &str, path: &str, token: &str, body: Value) -> Value {
        let b = if body.is_null() {
            None
        } else {
            Some(body.to_string().into_bytes())
        };
        let (st, v) = self.call(method, path, Some(token), b);
        assert!(
            (200..300).contains(&st),
            "{method} {path}: {st} {v}\n{}",
            self.output()
        );
        v
    }

    /// Rows of an Insights query (admin).
    pub fn query(&self, q: &str) -> Vec<Value> {
        let v = self.ok(
            "POST",
            "/api/query",
            &self.admin,
            serde_json::json!({ "query": q }),
        );
        v["rows"].as_array().cloned().unwrap_or_default()
    }

    /// The number SQL `SELECT count(*) … AS n` gives (admin).
    pub fn count(&self, sql: &str) -> u64 {
        let v = self.ok(
            "POST",
            "/api/query",
            &self.admin,
            serde_json::json!({ "sql": sql }),
        );
        v["rows"][0]["n"].as_u64().unwrap_or(0)
    }

    /// Polls `f` until it gives `Some`, for up to `secs`.
    pub fn wait_for<T>(&self, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let t0 = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends SIGTERM and waits: the graceful path. Returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().ok().and_then(|s| s.code())
    }

    /// SIGKILL: a crash.
    pub fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.crash();
    }
}
