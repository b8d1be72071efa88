//! Where a failure's diagrams go: `<target>/harness-traces/<package>/<test>.{mmd,html}`,
//! where `<target>` is `CARGO_TARGET_DIR`, else the `target/` next to the
//! workspace's `Cargo.lock`, else the system's temporary directory.

use std::io;
use std::path::{Path, PathBuf};

/// The folder that receives the diagrams of `package`.
pub(crate) fn traces_dir(package: Option<&str>) -> PathBuf {
    let start = std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir());
    let target = target_dir(
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        &start,
    );
    target
        .join("harness-traces")
        .join(file_stem(package.unwrap_or("unknown-package")))
}

/// The target directory: `configured` (relative to the workspace root if it
/// is relative), else `target/` beside the nearest `Cargo.lock` above
/// `start`, else the temporary directory.
pub(crate) fn target_dir(configured: Option<PathBuf>, start: &Path) -> PathBuf {
    let workspace = start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(Path::to_path_buf);
    match (configured, workspace) {
        (Some(dir), _) if dir.is_absolute() => dir,
        (Some(dir), Some(root)) => root.join(dir),
        (Some(dir), None) => start.join(dir),
        (None, Some(root)) => root.join("target"),
        (None, None) => std::env::temp_dir(),
    }
}

/// A file name from a test name: `tests::two_orders` → `tests.two_orders`
/// (`:` is not allowed in Windows file names).
pub(crate) fn file_stem(name: &str) -> String {
    let stem = name.replace("::", ".");
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `contents` to `dir/name`, creating `dir`.
pub(crate) fn write(dir: &Path, name: &str, contents: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    std::fs::write(&path, contents)?;
    Ok(path)
}

/// A `file://` link to an absolute path, for terminals that make links clickable.
pub(crate) fn file_url(path: &Path) -> String {
    let text = path.display().to_string().replace('\\', "/");
    let text = text.replace(' ', "%20");
    if text.starts_with('/') {
        format!("file://{text}")
    } else {
        format!("file:///{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_become_portable_file_names() {
        assert_eq!(file_stem("tests::two_orders"), "tests.two_orders");
        assert_eq!(file_stem("a b/c:d"), "a_b_c_d");
    }

    #[test]
    fn the_target_dir_is_found_beside_the_lock_file() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let found = target_dir(None, manifest);
        assert!(manifest.parent().unwrap().join("Cargo.lock").is_file());
        assert_eq!(found, manifest.parent().unwrap().join("target"));
    }

    #[test]
    fn an_absolute_configured_target_dir_wins() {
        let configured = std::env::temp_dir().join("somewhere");
        assert_eq!(
            target_dir(Some(configured.clone()), Path::new(".")),
            configured
        );
    }

    #[test]
    fn a_relative_configured_target_dir_is_relative_to_the_workspace() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let found = target_dir(Some(PathBuf::from("custom")), manifest);
        assert_eq!(found, manifest.parent().unwrap().join("custom"));
    }

    #[test]
    fn file_urls_are_absolute() {
        assert_eq!(
            file_url(Path::new("/tmp/a b.html")),
            "file:///tmp/a%20b.html"
        );
    }
}
