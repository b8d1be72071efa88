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
