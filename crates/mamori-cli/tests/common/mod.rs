//! Helpers shared by the end-to-end tests (each test file uses some of them).
#![allow(dead_code)]

pub mod server;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the built `mamori` in `dir` with `args`, feeding `stdin`.
pub fn mamori_with_stdin(args: &[&str], dir: &Path, stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(args)
        .current_dir(dir)
        .env_remove("MAMORI_DATA")
        .env_remove("MAMORI_DB")
        .env_remove("MAMORI_USER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mamori");
    if let Some(input) = stdin {
        // A command that fails before reading stdin (a usage error) closes it: not an error here.
        match child.stdin.take().expect("stdin").write_all(input) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
            _ => {}
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

/// Runs the built `mamori` in `dir` with `args`.
pub fn mamori(args: &[&str], dir: &Path) -> Output {
    mamori_with_stdin(args, dir, None)
}

/// The stdout of a run that must succeed; its output in the failure otherwise.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The sample data directory.
pub fn samples() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/samples")
        .display()
        .to_string()
}
