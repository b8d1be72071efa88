//! File-tree helpers: listing, copying and comparing exercise folders, and
//! naming backups.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::time::Utc;

/// Build output never counts as part of an exercise.
fn skipped(name: &std::ffi::OsStr) -> bool {
    name == "target"
}

/// Every file under `dir`, as sorted paths relative to `dir`.
pub fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect(dir, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

fn collect(base: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(base.join(rel))? {
        let entry = entry?;
        if skipped(&entry.file_name()) {
            continue;
        }
        let path = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            collect(base, &path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Copies the files of `from` into `to` (created if needed).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    for rel in files(from)? {
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from.join(&rel), dest)?;
    }
    Ok(())
}

/// Relative paths that differ between two trees: missing on one side or with
/// different bytes. Paths for which `ignore` is true are not compared.
pub fn differing_files(
    a: &Path,
    b: &Path,
    ignore: impl Fn(&Path) -> bool,
) -> std::io::Result<Vec<PathBuf>> {
    let list = |dir: &Path| {
        if dir.is_dir() {
            files(dir)
        } else {
            Ok(Vec::new())
        }
    };
    let (left, right) = (list(a)?, list(b)?);
    let mut all: Vec<PathBuf> = left
        .iter()
        .chain(&right)
        .filter(|p| !ignore(p))
        .cloned()
        .collect();
    all.sort();
    all.dedup();
    let mut differ = Vec::new();
    for rel in all {
        if std::fs::read(a.join(&rel)).ok() != std::fs::read(b.join(&rel)).ok() {
            differ.push(rel);
        }
    }
    Ok(differ)
}

/// Where backups go, at the course root (ignored by git).
pub const BACKUPS: &str = ".backups";

/// A new, empty `.backups/<time>-<label>` folder.
pub fn fresh_backup_dir(root: &Path, label: &str) -> Result<PathBuf> {
    let dir = fresh_backup_path(root, label)?;
    std::fs::create_dir(&dir).context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A name for a new backup, `.backups/<time>-<label>` (with `-2`, `-3`… when two
/// backups land in the same second), not yet taken; `.backups/` is created.
pub fn fresh_backup_path(root: &Path, label: &str) -> Result<PathBuf> {
    let base = root.join(BACKUPS);
    std::fs::create_dir_all(&base).context(|| format!("creating {}", base.display()))?;
    let stamp = Utc::now().compact();
    for n in 1.. {
        let name = if n == 1 {
            format!("{stamp}-{label}")
        } else {
            format!("{stamp}-{label}-{n}")
        };
        let dir = base.join(name);
        if !dir.exists() {
            return Ok(dir);
        }
    }
    unreachable!("the loop above returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn copies_compares_and_backs_up_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        write(&a.join("src/lib.rs"), "fn a() {}");
        write(&a.join("tests/t.rs"), "#[test] fn t() {}");
        write(&a.join("target/junk"), "ignored");
        copy_dir(&a, &b).unwrap();
        assert!(!b.join("target").exists());
        assert!(differing_files(&a, &b, |_| false).unwrap().is_empty());

        write(&b.join("src/lib.rs"), "fn b() {}");
        write(&b.join("src/extra.rs"), "");
        let differ = differing_files(&a, &b, |_| false).unwrap();
        assert_eq!(
            differ,
            vec![PathBuf::from("src/extra.rs"), PathBuf::from("src/lib.rs")]
        );
        assert!(
            differing_files(&a, &b, |p| p.starts_with("src"))
                .unwrap()
                .is_empty()
        );

        let first = fresh_backup_dir(tmp.path(), "01-x").unwrap();
        let second = fresh_backup_path(tmp.path(), "01-x").unwrap();
        assert_ne!(first, second);
        assert!(first.is_dir() && !second.exists());
    }
}
