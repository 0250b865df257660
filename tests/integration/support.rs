//! Helpers shared by the tests that read the crate's own source.

use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`, recursively.
pub fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
