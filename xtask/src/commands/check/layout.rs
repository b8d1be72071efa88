//! The layout: one shop, small exercises. Each exercise crate holds only its
//! lesson, so it stays small, and code shared by exercises lives once in the
//! shop instead of being copied from one exercise into the next.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::course::{Course, Tree};
use crate::fsutil;

/// Lines of Rust (with tests) an exercise crate may hold.
pub const MAX_LINES: usize = 1_200;
/// The median over every exercise crate may be at most this.
pub const MAX_MEDIAN_LINES: usize = 700;

/// Every copy of every built exercise within the budget, and a median within
/// its budget too.
pub fn crate_sizes(course: &Course) -> Result<String, String> {
    let mut sizes = Vec::new();
    let mut over = Vec::new();
    for ex in course.built() {
        for copy in Tree::ALL {
            let dir = course.dir(ex, copy);
            let lines = rust_lines(&dir);
            if lines > MAX_LINES {
                over.push(format!(
                    "{}: {lines} lines of Rust (at most {MAX_LINES}): move what is not the lesson into the shop",
                    course.rel(&dir).display()
                ));
            }
            sizes.push(lines);
        }
    }
    if sizes.is_empty() {
        return Ok("no exercises yet".to_string());
    }
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    if median > MAX_MEDIAN_LINES {
        over.push(format!(
            "the median exercise crate has {median} lines of Rust (at most {MAX_MEDIAN_LINES})"
        ));
    }
    if over.is_empty() {
        Ok(format!(
            "{} crates, median {median} lines of Rust, largest {}",
            sizes.len(),
            sizes[sizes.len() - 1]
        ))
    } else {
        Err(over.join("\n"))
    }
}

/// No `.rs` file is the same, byte for byte, in two exercises' solutions:
/// code that two exercises need belongs in the shop.
pub fn no_copies_between_solutions(course: &Course) -> Result<String, String> {
    let mut seen: BTreeMap<Vec<u8>, PathBuf> = BTreeMap::new();
    let mut copies = Vec::new();
    for ex in course.built() {
        let dir = course.dir(ex, Tree::Solution);
        let mut mine: BTreeMap<Vec<u8>, PathBuf> = BTreeMap::new();
        for rel in rust_files(&dir) {
            if let Ok(bytes) = std::fs::read(dir.join(&rel)) {
                mine.entry(bytes).or_insert_with(|| dir.join(&rel));
            }
        }
        for (bytes, path) in mine {
            match seen.get(&bytes) {
                Some(first) => copies.push(format!(
                    "{} is a copy of {}",
                    course.rel(&path).display(),
                    course.rel(first).display()
                )),
                None => {
                    seen.insert(bytes, path);
                }
            }
        }
    }
    if copies.is_empty() {
        Ok(format!("{} distinct .rs files", seen.len()))
    } else {
        copies.push("write shared code once, in the shop crate".to_string());
        Err(copies.join("\n"))
    }
}

/// No exercise crate has a binary. cargo builds a package's binaries with
/// its integration tests, so a `src/main.rs` would be linked again on every
/// save the attendee makes (0.4 s of a warm `verify` at 06); a program that
/// runs the exercise (demo, serve, explore) is an example, built only when
/// asked for: `cargo run -p exNN-slug --example demo`.
pub fn no_binaries(course: &Course) -> Result<String, String> {
    let mut found = Vec::new();
    for ex in course.built() {
        for copy in Tree::ALL {
            let dir = course.dir(ex, copy);
            found.extend(binaries(&dir).into_iter().map(|what| {
                format!(
                    "{}: {what}: make it examples/<command>.rs and run it with `cargo run -p {} --example <command>`",
                    course.rel(&dir).display(),
                    ex.package(Tree::Exercise)
                )
            }));
        }
    }
    if found.is_empty() {
        Ok("demos are examples, not built by verify".to_string())
    } else {
        Err(found.join("\n"))
    }
}

/// The binary targets of the crate in `dir`, as a reader would name them.
fn binaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if dir.join("src/main.rs").is_file() {
        found.push("src/main.rs is a binary".to_string());
    }
    if dir.join("src/bin").is_dir() {
        found.push("src/bin/ holds binaries".to_string());
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    if manifest.lines().any(|line| line.trim() == "[[bin]]") {
        found.push("Cargo.toml declares a [[bin]]".to_string());
    }
    found
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    fsutil::files(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect()
}

fn rust_lines(dir: &Path) -> usize {
    rust_files(dir)
        .iter()
        .filter_map(|rel| std::fs::read_to_string(dir.join(rel)).ok())
        .map(|text| text.lines().count())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_main_a_bin_folder_or_a_bin_table_is_a_binary() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("examples")).unwrap();
        std::fs::write(root.join("examples/demo.rs"), "fn main() {}\n").unwrap();
        std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        assert!(binaries(root).is_empty(), "an example is not a binary");
        std::fs::create_dir_all(root.join("src/bin")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[package]\nname = \"x\"\n\n[[bin]]\nname = \"y\"\n",
        )
        .unwrap();
        assert_eq!(binaries(root).len(), 3, "{:?}", binaries(root));
    }
}
