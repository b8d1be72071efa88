//! The course: `course.toml` (parts and exercises, in order) and where each
//! exercise's three copies live.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bail;
use crate::error::{Context, Result};

pub const COURSE_FILE: &str = "course.toml";

// Unknown keys are allowed, so authors can add metadata before the runner reads it;
// `check` catches a misspelt required key because the value it needs is then missing.
#[derive(Debug, Deserialize)]
struct CourseFile {
    version: u32,
    #[serde(default, rename = "part")]
    parts: Vec<Part>,
    #[serde(default, rename = "exercise")]
    exercises: Vec<Exercise>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Part {
    pub id: String,
    pub title: String,
}

/// One exercise as `course.toml` describes it. The slug is its stable id.
#[derive(Debug, Clone, Deserialize)]
pub struct Exercise {
    pub number: u32,
    pub slug: String,
    pub part: String,
    pub title: String,
    pub minutes: u32,
    #[serde(default)]
    pub planned: bool,
    /// libtest names of the tests that fail at the checkpoint.
    #[serde(default)]
    pub failing_tests: Vec<String>,
    /// Three levels: a nudge, the concept, a near-solution.
    #[serde(default)]
    pub hints: Vec<String>,
    /// The lesson files (paths inside the crate) whose checkpoint copy
    /// continues the previous exercise's solution: `check` verifies the chain.
    #[serde(default)]
    pub continues: Vec<String>,
    /// The exercise whose solution `continues` carries on from, when it is not
    /// the one just before (08's handler continues 06's: 07 changes ids only).
    #[serde(default)]
    pub continues_from: Option<u32>,
}

/// The three copies of an exercise, each a folder tree of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// `exercises/NN-slug`: the attendee's working copy.
    Exercise,
    /// `checkpoints/NN-slug`: the pristine starting point.
    Checkpoint,
    /// `solutions/NN-slug`: the reference solution.
    Solution,
}

impl Tree {
    pub const ALL: [Tree; 3] = [Tree::Exercise, Tree::Checkpoint, Tree::Solution];

    pub fn folder(self) -> &'static str {
        match self {
            Tree::Exercise => "exercises",
            Tree::Checkpoint => "checkpoints",
            Tree::Solution => "solutions",
        }
    }

    fn package_prefix(self) -> &'static str {
        match self {
            Tree::Exercise => "ex",
            Tree::Checkpoint => "cp",
            Tree::Solution => "sol",
        }
    }
}

impl Exercise {
    /// `03-async-submit`: the folder name in all three copies.
    pub fn dir_name(&self) -> String {
        format!("{:02}-{}", self.number, self.slug)
    }

    /// `ex03-async-submit`, `cp03-async-submit`, `sol03-async-submit`.
    pub fn package(&self, tree: Tree) -> String {
        format!("{}{}", tree.package_prefix(), self.dir_name())
    }

    /// `03 async-submit`, how messages name an exercise.
    pub fn label(&self) -> String {
        format!("{:02} {}", self.number, self.slug)
    }
}

#[derive(Debug)]
pub struct Course {
    pub root: PathBuf,
    pub parts: Vec<Part>,
    pub exercises: Vec<Exercise>,
}

impl Course {
    /// Where cargo puts what it builds: `CARGO_TARGET_DIR` when set (as cargo
    /// itself reads it), else `target/` at the root. The mutant workspaces and
    /// the slide-snippet crate build there too, so they reuse the dependencies
    /// the kit already built instead of compiling them all a second time.
    pub fn build_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => {
                std::path::absolute(PathBuf::from(dir)).unwrap_or_else(|_| self.root.join("target"))
            }
            _ => self.root.join("target"),
        }
    }

    /// Finds the course root by walking up from `start` to the first `course.toml`,
    /// so every command works from any folder inside the repository.
    pub fn find_root(start: &Path) -> Result<PathBuf> {
        for dir in start.ancestors() {
            if dir.join(COURSE_FILE).is_file() {
                return Ok(dir.to_path_buf());
            }
        }
        bail!(
            "no {COURSE_FILE} found in {} or any parent folder; run this inside the workshop repository",
            start.display()
        )
    }

    pub fn load(root: &Path) -> Result<Course> {
        let path = root.join(COURSE_FILE);
        let text =
            std::fs::read_to_string(&path).context(|| format!("reading {}", path.display()))?;
        Course::parse(root, &text)
    }

    pub fn parse(root: &Path, text: &str) -> Result<Course> {
        let file: CourseFile =
            toml::from_str(text).context(|| format!("{COURSE_FILE} is not valid"))?;
        if file.version != 1 {
            bail!(
                "{COURSE_FILE} has version {}; this runner reads version 1",
                file.version
            );
        }
        let mut exercises = file.exercises;
        exercises.sort_by_key(|e| e.number);
        Ok(Course {
            root: root.to_path_buf(),
            parts: file.parts,
            exercises,
        })
    }

    pub fn dir(&self, ex: &Exercise, tree: Tree) -> PathBuf {
        self.root.join(tree.folder()).join(ex.dir_name())
    }

    /// A path relative to the course root, for messages.
    pub fn rel<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    /// Built = not planned and the attendee's folder is there. `check` flags
    /// the other combinations.
    pub fn is_built(&self, ex: &Exercise) -> bool {
        !ex.planned && self.dir(ex, Tree::Exercise).is_dir()
    }

    pub fn built(&self) -> impl Iterator<Item = &Exercise> {
        self.exercises.iter().filter(|e| self.is_built(e))
    }

    /// The built exercises whose attendee copy in exercises/ is a crate
    /// (the folder or its manifest may have been deleted).
    pub fn with_attendee_crate(&self) -> impl Iterator<Item = &Exercise> {
        self.built()
            .filter(|ex| self.dir(ex, Tree::Exercise).join("Cargo.toml").is_file())
    }

    pub fn by_slug(&self, slug: &str) -> Option<&Exercise> {
        self.exercises.iter().find(|e| e.slug == slug)
    }

    /// The built exercise after `ex`, if any.
    pub fn next_after(&self, ex: &Exercise) -> Option<&Exercise> {
        self.built().find(|e| e.number > ex.number)
    }

    pub fn part(&self, id: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.id == id)
    }

    /// An exercise named by number (`3`, `03`) or slug (`async-submit`, or the
    /// folder name `03-async-submit`). Unknown names list the valid ones.
    pub fn resolve(&self, name: &str) -> Result<&Exercise> {
        let name = name.trim();
        let found = match name.parse::<u32>() {
            Ok(n) => self.exercises.iter().find(|e| e.number == n),
            Err(_) => self
                .exercises
                .iter()
                .find(|e| e.slug == name || e.dir_name() == name),
        };
        match found {
            Some(ex) => Ok(ex),
            None => bail!(
                "unknown exercise `{name}`. Valid exercises:\n{}",
                self.listing()
            ),
        }
    }

    /// Like [`Course::resolve`], but the exercise must be built.
    pub fn resolve_built(&self, name: &str) -> Result<&Exercise> {
        let ex = self.resolve(name)?;
        self.ensure_built(ex)?;
        Ok(ex)
    }

    pub fn ensure_built(&self, ex: &Exercise) -> Result<()> {
        if self.is_built(ex) {
            return Ok(());
        }
        let folder = self
            .rel(&self.dir(ex, Tree::Exercise))
            .display()
            .to_string();
        if ex.planned {
            bail!(
                "exercise {} is planned but not written yet. Built exercises:\n{}",
                ex.label(),
                self.built_listing()
            )
        }
        bail!(
            "{folder} is missing; `cargo xtask reset {}` restores exercise {} from its checkpoint",
            ex.number,
            ex.label()
        )
    }

    fn listing(&self) -> String {
        let lines: Vec<String> = self
            .exercises
            .iter()
            .map(|e| {
                let planned = if e.planned {
                    "  (planned)".to_string()
                } else if !self.is_built(e) {
                    format!("  (missing: `cargo xtask reset {}` restores it)", e.number)
                } else {
                    String::new()
                };
                format!("  {:>2}  {}{planned}", e.number, e.slug)
            })
            .collect();
        if lines.is_empty() {
            "  (none: the course has no exercises yet)".into()
        } else {
            lines.join("\n")
        }
    }

    fn built_listing(&self) -> String {
        let lines: Vec<String> = self
            .built()
            .map(|e| format!("  {:>2}  {}", e.number, e.slug))
            .collect();
        if lines.is_empty() {
            "  (none yet)".into()
        } else {
            lines.join("\n")
        }
    }
}

/// The attendee's `Cargo.toml`, derived from the checkpoint's: the same file but
/// for the package name and `doc = false` (only the checkpoint and solution
/// libraries hide their docs, to avoid `cargo doc` name collisions). `reset`
/// writes it and `check` compares against it, so the two always agree.
pub fn exercise_manifest(checkpoint_manifest: &str, ex: &Exercise) -> String {
    let from = format!("\"{}\"", ex.package(Tree::Checkpoint));
    let to = format!("\"{}\"", ex.package(Tree::Exercise));
    let mut section = String::new();
    let mut out = String::new();
    for line in checkpoint_manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_string();
        }
        let key = trimmed.split('=').next().unwrap_or("").trim();
        if section == "[lib]" && key == "doc" {
            continue;
        }
        if section == "[package]" && key == "name" {
            out.push_str(&line.replace(&from, &to));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Exercise 01 built, 02 planned: shared with other modules' tests.
    pub(crate) const COURSE: &str = r#"
        version = 1
        [[part]]
        id = "A"
        title = "The edge"
        [[exercise]]
        number = 2
        slug = "idempotent-http"
        part = "A"
        title = "Second"
        minutes = 20
        planned = true
        [[exercise]]
        number = 1
        slug = "submit-once"
        part = "A"
        title = "First"
        minutes = 15
        failing_tests = ["racing_tabs"]
        hints = ["a", "b", "c"]
    "#;

    fn course() -> Course {
        Course::parse(Path::new("/nowhere"), COURSE).unwrap()
    }

    #[test]
    fn exercises_are_sorted_by_number_and_named_consistently() {
        let c = course();
        let first = &c.exercises[0];
        assert_eq!(first.slug, "submit-once");
        assert_eq!(first.dir_name(), "01-submit-once");
        assert_eq!(first.package(Tree::Exercise), "ex01-submit-once");
        assert_eq!(first.package(Tree::Checkpoint), "cp01-submit-once");
        assert_eq!(first.package(Tree::Solution), "sol01-submit-once");
        assert!(c.exercises[1].planned);
    }

    #[test]
    fn resolves_numbers_slugs_and_folder_names() {
        let c = course();
        for name in ["1", "01", "submit-once", "01-submit-once"] {
            assert_eq!(c.resolve(name).unwrap().number, 1, "{name}");
        }
        assert_eq!(c.resolve("idempotent-http").unwrap().number, 2);
    }

    #[test]
    fn unknown_exercise_lists_the_valid_ones() {
        let err = course().resolve("nope").unwrap_err().to_string();
        assert!(err.contains("unknown exercise `nope`"), "{err}");
        assert!(err.contains("submit-once"), "{err}");
        assert!(err.contains("idempotent-http  (planned)"), "{err}");
    }

    #[test]
    fn exercise_manifest_renames_the_package_and_shows_docs() {
        let c = course();
        let cp = "[package]\nname = \"cp01-submit-once\"\nversion.workspace = true\n\n[lib]\nname = \"submit_once\"\ndoc = false\n\n[dependencies]\nharness.workspace = true\n";
        let ex = exercise_manifest(cp, &c.exercises[0]);
        assert_eq!(
            ex,
            "[package]\nname = \"ex01-submit-once\"\nversion.workspace = true\n\n[lib]\nname = \"submit_once\"\n\n[dependencies]\nharness.workspace = true\n"
        );
    }

    #[test]
    fn rejects_unknown_versions() {
        assert!(Course::parse(Path::new("/"), "version = 2").is_err());
        assert!(
            Course::parse(Path::new("/"), "version = 1")
                .unwrap()
                .exercises
                .is_empty()
        );
    }
}
