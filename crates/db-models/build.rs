//! Re-embed the migrations whenever anything under `migrations/` changes, and
//! publish a digest of their contents (test fixtures key their migrated
//! template databases on it).
//!
//! Without the `rerun-if-changed` line, `embed_migrations!` does not notice a
//! new migration folder and silently embeds the old list.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    println!("cargo:rerun-if-changed=../../migrations");

    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in &files {
        file.strip_prefix(&dir).unwrap_or(file).hash(&mut hasher);
        std::fs::read(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()))
            .hash(&mut hasher);
    }
    println!(
        "cargo:rustc-env=PROMPTYARD_MIGRATIONS_DIGEST={:016x}",
        hasher.finish()
    );
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
