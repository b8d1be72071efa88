//! The attendee's progress: `.progress.toml` at the course root, ignored by git.
//!
//! Human-readable and keyed by exercise slug (the stable id), so renumbering the
//! course keeps everyone's progress. Loading never fails: a missing file starts
//! fresh, unknown slugs (renamed or removed exercises) are dropped, and a file we
//! cannot read is kept aside as `.progress.toml.corrupt-<time>` and rebuilt. Each
//! repair is announced with a warning.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::course::{Course, Exercise};
use crate::error::{Context, Result};
use crate::time::Utc;
use crate::ui;

pub const PROGRESS_FILE: &str = ".progress.toml";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Pending,
    Done,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Done => "done",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Entry {
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub hints_used: u8,
    #[serde(default)]
    pub done_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct File {
    version: u32,
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    exercises: BTreeMap<String, Entry>,
}

/// What loading had to fix; each becomes one warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    Missing,
    Corrupt(String),
    UnknownExercise(String),
}

#[derive(Debug, Default)]
pub struct Progress {
    pub current: Option<String>,
    entries: BTreeMap<String, Entry>,
}

impl Progress {
    pub fn path(root: &Path) -> PathBuf {
        root.join(PROGRESS_FILE)
    }

    /// Reads the progress file, repairing (and re-saving) it when needed.
    pub fn load(course: &Course) -> Progress {
        let path = Progress::path(&course.root);
        let text = std::fs::read_to_string(&path).ok();
        let (progress, repairs) = Progress::from_text(text.as_deref(), course);
        if repairs.is_empty() {
            return progress;
        }
        for repair in &repairs {
            match repair {
                Repair::Missing => {
                    ui::note(format!("starting a new progress file, {PROGRESS_FILE}"))
                }
                Repair::Corrupt(why) => {
                    let aside = set_aside(&path);
                    ui::warn(format!(
                        "{PROGRESS_FILE} could not be read ({why}); it was rebuilt and the old copy kept as {aside}"
                    ));
                }
                Repair::UnknownExercise(slug) => ui::warn(format!(
                    "{PROGRESS_FILE} mentions `{slug}`, which is no longer in the course; dropped it"
                )),
            }
        }
        if let Err(e) = progress.save(course) {
            ui::warn(e);
        }
        progress
    }

    /// The pure part of [`Progress::load`]: parse and repair.
    pub fn from_text(text: Option<&str>, course: &Course) -> (Progress, Vec<Repair>) {
        let Some(text) = text else {
            return (Progress::default(), vec![Repair::Missing]);
        };
        let file: File = match toml::from_str(text) {
            Ok(file) => file,
            Err(e) => {
                return (
                    Progress::default(),
                    vec![Repair::Corrupt(first_line(&e.to_string()))],
                );
            }
        };
        if file.version != VERSION {
            let why = format!("version {} is not {VERSION}", file.version);
            return (Progress::default(), vec![Repair::Corrupt(why)]);
        }
        let mut repairs = Vec::new();
        let mut entries = BTreeMap::new();
        for (slug, entry) in file.exercises {
            if course.by_slug(&slug).is_some() {
                entries.insert(slug, entry);
            } else {
                repairs.push(Repair::UnknownExercise(slug));
            }
        }
        let current = match file.current {
            Some(slug) if course.by_slug(&slug).is_none() => {
                if !repairs.contains(&Repair::UnknownExercise(slug.clone())) {
                    repairs.push(Repair::UnknownExercise(slug));
                }
                None
            }
            other => other,
        };
        (Progress { current, entries }, repairs)
    }

    /// Writes the file in course order, atomically (a crash never leaves half a file).
    pub fn save(&self, course: &Course) -> Result<()> {
        let path = Progress::path(&course.root);
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, self.render(course))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .context(|| format!("could not save {}", path.display()))
    }

    pub fn render(&self, course: &Course) -> String {
        let mut out = String::from(
            "# Your progress through the workshop, kept by `cargo xtask`.\n\
             # Safe to read and edit; delete it to start over.\n",
        );
        let _ = writeln!(out, "version = {VERSION}");
        if let Some(current) = &self.current {
            let _ = writeln!(out, "current = \"{current}\"");
        }
        for ex in &course.exercises {
            let Some(entry) = self.entries.get(&ex.slug) else {
                continue;
            };
            let _ = write!(
                out,
                "\n[exercises.{}]\nstatus = \"{}\"\nhints_used = {}\n",
                ex.slug,
                entry.status.as_str(),
                entry.hints_used
            );
            if let Some(at) = &entry.done_at {
                let _ = writeln!(out, "done_at = \"{at}\"");
            }
        }
        out
    }

    pub fn entry(&self, slug: &str) -> Entry {
        self.entries.get(slug).cloned().unwrap_or_default()
    }

    pub fn entry_mut(&mut self, slug: &str) -> &mut Entry {
        self.entries.entry(slug.to_string()).or_default()
    }

    pub fn mark_done(&mut self, slug: &str) {
        let entry = self.entry_mut(slug);
        if entry.status != Status::Done {
            entry.status = Status::Done;
            entry.done_at = Some(Utc::now().rfc3339());
        }
    }

    /// The exercise `verify` runs without an argument: the recorded current one
    /// if it is built, else the first built one not yet done, else the first built.
    pub fn current<'c>(&self, course: &'c Course) -> Option<&'c Exercise> {
        let recorded = self.current.as_deref().and_then(|s| course.by_slug(s));
        recorded
            .filter(|e| course.is_built(e))
            .or_else(|| {
                course
                    .built()
                    .find(|e| self.entry(&e.slug).status == Status::Pending)
            })
            .or_else(|| course.built().next())
    }

    pub fn done_count(&self, course: &Course) -> usize {
        course
            .built()
            .filter(|e| self.entry(&e.slug).status == Status::Done)
            .count()
    }
}

/// Renames an unreadable progress file out of the way; returns its new name.
fn set_aside(path: &Path) -> String {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{}", Utc::now().compact()));
    let aside = PathBuf::from(aside);
    match std::fs::rename(path, &aside) {
        Ok(()) => aside
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        Err(e) => format!("(could not keep it: {e})"),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn course() -> Course {
        Course::parse(
            Path::new("/nowhere"),
            r#"
            version = 1
            [[exercise]]
            number = 1
            slug = "one"
            part = "A"
            title = "One"
            minutes = 10
            [[exercise]]
            number = 2
            slug = "two"
            part = "A"
            title = "Two"
            minutes = 10
            "#,
        )
        .unwrap()
    }

    #[test]
    fn missing_file_starts_fresh() {
        let (p, repairs) = Progress::from_text(None, &course());
        assert_eq!(repairs, vec![Repair::Missing]);
        assert_eq!(p.current, None);
    }

    #[test]
    fn corrupt_or_future_file_is_rebuilt() {
        for text in ["this is [not toml", "version = 7", "current = \"one\""] {
            let (p, repairs) = Progress::from_text(Some(text), &course());
            assert!(
                matches!(repairs[..], [Repair::Corrupt(_)]),
                "{text}: {repairs:?}"
            );
            assert_eq!(p.current, None);
        }
    }

    #[test]
    fn unknown_slugs_are_dropped_and_known_ones_kept() {
        let text = "version = 1\ncurrent = \"gone\"\n[exercises.gone]\nstatus = \"done\"\n\
                    [exercises.two]\nstatus = \"done\"\nhints_used = 2\n";
        let (p, repairs) = Progress::from_text(Some(text), &course());
        assert_eq!(repairs, vec![Repair::UnknownExercise("gone".into())]);
        assert_eq!(p.current, None);
        assert_eq!(p.entry("two").status, Status::Done);
        assert_eq!(p.entry("two").hints_used, 2);
        assert_eq!(p.entry("gone"), Entry::default());
    }

    #[test]
    fn render_round_trips_in_course_order() {
        let c = course();
        let mut p = Progress {
            current: Some("two".into()),
            ..Progress::default()
        };
        p.entry_mut("two").hints_used = 1;
        p.mark_done("one");
        let text = p.render(&c);
        assert!(text.find("[exercises.one]").unwrap() < text.find("[exercises.two]").unwrap());
        let (again, repairs) = Progress::from_text(Some(&text), &c);
        assert!(repairs.is_empty(), "{repairs:?}");
        assert_eq!(again.current.as_deref(), Some("two"));
        assert_eq!(again.entry("one").status, Status::Done);
        assert!(again.entry("one").done_at.is_some());
        assert_eq!(again.entry("two").hints_used, 1);
    }
}
