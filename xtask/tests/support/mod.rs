//! Fixture courses for the runner's integration tests: a temporary folder with
//! the tiny two-exercise course of `scripts/fixture-course.sh`, and the built
//! `xtask` binary run inside it.

#![allow(dead_code)] // each test file uses a different part of this module

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Fixture {
    dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Fixture {
    /// The two-exercise course: both checkpoints fail, both solutions pass.
    pub fn course() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/fixture-course.sh");
        let status = Command::new("bash")
            .arg(script)
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "fixture script failed");
        Fixture { dir }
    }

    /// A course without exercises, as the kit is before exercise 01 lands
    /// (with a stand-in harness: the kit's workspace always has members).
    pub fn empty() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let fx = Fixture { dir };
        fx.write(
            "course.toml",
            "version = 1\n\n[[part]]\nid = \"A\"\ntitle = \"A\"\n",
        );
        fx.write(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"harness\"]\n",
        );
        fx.write(
            "harness/Cargo.toml",
            "[package]\nname = \"harness\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
        );
        fx.write(
            "harness/src/lib.rs",
            "//! A stand-in for the kit's harness.\n",
        );
        fx.write("README.md", "# Empty\n");
        fx
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Replaces `from` with `to` in a file, failing if `from` is not there.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replace(from, to));
    }

    pub fn solve(&self, exercise: &str) {
        let (file, from, to) = match exercise {
            "01" => ("exercises/01-add-one/src/lib.rs", "x - 1", "x + 1"),
            _ => ("exercises/02-double/src/lib.rs", "x + 2", "x * 2"),
        };
        self.edit(file, from, to);
    }

    /// `xtask` with plain output, run in the fixture (or a folder inside it).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .current_dir(self.root())
            // Each fixture builds in its own folder: cargo names artifacts of path
            // packages by their path relative to the workspace, so two copies of
            // the same fixture would overwrite each other's in a shared one.
            .env("CARGO_TARGET_DIR", self.root().join("target"))
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().unwrap().into()
    }

    pub fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap().into()
    }

    /// The single backup folder whose name ends with `suffix`.
    pub fn backup(&self, suffix: &str) -> PathBuf {
        let found: Vec<PathBuf> = std::fs::read_dir(self.path(".backups"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        assert_eq!(found.len(), 1, "backups ending in {suffix}: {found:?}");
        found.into_iter().next().unwrap()
    }
}
