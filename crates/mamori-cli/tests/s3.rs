//! `mamori ingest s3://…` against a real S3-compatible server (moto's server
//! mode, from PyPI) on loopback, started by the test.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{samples, text};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
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

/// Starts moto's S3 server on a loopback port, installing it from PyPI if needed.
fn moto() -> Server {
    let ok = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(Command::new("python3").args(["-c", "import moto.server, boto3"])) {
        assert!(
            ok(Command::new("python3").args(["-m", "pip", "install", "--quiet", "moto[server]"])),
            "python3 -m pip install 'moto[server]' failed"
        );
    }
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto server");
    let server = Server { child, port };
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// Creates `bucket` and uploads the samples under `prefix`, with boto3.
fn upload_samples(port: u16, bucket: &str, prefix: &str) {
    let script = format!(
        "import boto3, os\n\
         s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:{port}', aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\n\
         s3.create_bucket(Bucket='{bucket}')\n\
         root = {root:?}\n\
         for d, _, fs in os.walk(root):\n\
         \x20   for f in fs:\n\
         \x20       p = os.path.join(d, f)\n\
         \x20       s3.upload_file(p, '{bucket}', '{prefix}' + os.path.relpath(p, root))\n",
        root = samples()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn mamori_s3(args: &[&str], dir: &Path, port: u16) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(args)
        .current_dir(dir)
        .env_remove("MAMORI_DATA")
        .env("AWS_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run mamori")
}

#[test]
fn ingest_from_an_s3_prefix_in_the_aws_layout() {
    let server = moto();
    upload_samples(server.port, "org-logs", "trail/");
    let dir = tempfile::tempdir().expect("tmp");
    let port = server.port;

    let out = mamori_s3(
        &[
            "ingest",
            "s3://org-logs/trail/AWSLogs/",
            "--until",
            "2026-11-19",
        ],
        dir.path(),
        port,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 read"),
        "every AWS key is dated 2026-11-20: {}",
        text(&out.stdout)
    );

    let out = mamori_s3(
        &[
            "ingest",
            "s3://org-logs/trail/AWSLogs/",
            "--since",
            "2026-11-20",
        ],
        dir.path(),
        port,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("4 read") && text(&out.stdout).contains("11 written"),
        "{}",
        text(&out.stdout)
    );

    let out = mamori_s3(&["ingest", "s3://org-logs/trail/"], dir.path(), port);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("14 read, 4 already stored")
            && text(&out.stdout).contains("31 written"),
        "{}",
        text(&out.stdout)
    );
    let out = mamori_s3(&["ingest", "s3://org-logs/trail/"], dir.path(), port);
    assert!(
        text(&out.stdout).contains("0 read, 18 already stored"),
        "{}",
        text(&out.stdout)
    );
    let out = mamori_s3(&["store", "verify"], dir.path(), port);
    assert!(out.status.success(), "{}", text(&out.stdout));

    let out = mamori_s3(&["ingest", "s3://no-such-bucket/"], dir.path(), port);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("s3://no-such-bucket/"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_endpoint_that_never_answers_fails_naming_the_uri_and_commits_nothing() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().expect("tmp");
    let start = Instant::now();
    let out = mamori_s3(
        &[
            "ingest",
            "s3://logs/AWSLogs/",
            "--s3-timeout",
            "1",
            "--data",
            "d",
        ],
        dir.path(),
        port,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("s3://logs/AWSLogs/"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "bounded by the timeout and retries"
    );
    assert!(
        !dir.path().join("d/manifest.jsonl").exists(),
        "nothing committed"
    );
}
