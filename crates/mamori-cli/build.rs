//! Embeds `testdata/samples/` in the binary, so that `mamori inspect` with
//! no paths has realistic data to read on a fresh machine, and Mamori's rule
//! pack `rules/`, so that detection works with no configuration.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    // Read when the script runs, not when it was compiled: a build directory
    // shared by clones at different paths reuses the compiled script, and a
    // path baked in at compile time may point at a clone that is gone.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest_dir).join("../../testdata/samples");
    println!("cargo:rerun-if-changed={}", root.display());
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect();
    let mut code = String::from("/// Sample files built into the binary: (path under testdata/samples, bytes).\npub const SAMPLES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    // Mamori's own rule pack (`rules/`), loaded by `ingest` and `hunt` unless told otherwise.
    let rules_root = Path::new(&manifest_dir).join("../../rules");
    println!("cargo:rerun-if-changed={}", rules_root.display());
    code.push_str("/// Mamori's rule pack: (path under rules/, YAML).\npub const RULES: &[(&str, &str)] = &[\n");
    for e in walkdir::WalkDir::new(&rules_root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().is_file() || !name.ends_with(".yml") || name.contains(".tests.") {
            continue;
        }
        let f = e.path();
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f
            .strip_prefix(&rules_root)
            .unwrap_or(f)
            .display()
            .to_string();
        code.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("samples.rs");
    if let Err(e) = fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
