//! The attendee's progress: `.progress.toml` at the course root, ignored by git.
//!
//! Human-readable and keyed by exercise slug (the stable id), so renumbering the
//! course keeps everyone's progress. Loading never fails: a missing file starts
//! fresh, unknown slugs (renamed or removed exercises) are dropped, and a file we
//! cannot read (not TOML, not UTF-8, a future version, any bytes at all) is kept
//! aside under a name no other copy has, `.progress.toml.corrupt-<time>[-n]`,
//! and rebuilt. Each repair is announced with a warning.
//!
//! Any number of runs may share the file (`watch` in one terminal, `hint` in
//! another, a script running `verify --all`). Every change is a read-modify-write
//! under an exclusive lock on `.progress.toml.lock` ([`Progress::update`]): the
//! change is applied to what is on disk at that moment, never to a stale copy,
//! and written through a unique temporary file renamed over the old one, so a
//! reader without the lock sees the old file or the new one, never half of one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::course::{Course, Exercise};
use crate::error::{Context, Error, Result};
use crate::time::Utc;
use crate::ui;

pub const PROGRESS_FILE: &str = ".progress.toml";
/// Held (locked, never deleted) while a run changes the progress file.
pub const LOCK_FILE: &str = ".progress.toml.lock";
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
struct OnDisk {
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

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Progress {
    pub current: Option<String>,
    entries: BTreeMap<String, Entry>,
}

impl Progress {
    pub fn path(root: &Path) -> PathBuf {
        root.join(PROGRESS_FILE)
    }

    /// A snapshot of the progress, for reading. The file is repaired (under the
    /// lock) when it needs it; a repair that cannot be saved is a warning.
    pub fn load(course: &Course) -> Progress {
        // Saves are atomic renames, so an unlocked read sees a whole file.
        let (progress, repairs) = read(&Progress::path(&course.root), course);
        if repairs.is_empty() {
            return progress;
        }
        match Progress::update(course, |_| ()) {
            Ok((progress, ())) => progress,
            Err(e) => {
                ui::warn(e);
                progress
            }
        }
    }

    /// Applies `change` to the progress on disk and saves it, holding the lock
    /// throughout, so concurrent runs never undo each other's changes. Returns
    /// the saved progress and what `change` returned.
    pub fn update<T>(
        course: &Course,
        change: impl FnOnce(&mut Progress) -> T,
    ) -> Result<(Progress, T)> {
        let _lock = Lock::take(&course.root)?;
        let path = Progress::path(&course.root);
        let (mut progress, repairs) = read(&path, course);
        for repair in &repairs {
            announce(repair, &path)?;
        }
        let before = progress.clone();
        let value = change(&mut progress);
        if progress != before || !repairs.is_empty() {
            progress.save(course)?;
        }
        Ok((progress, value))
    }

    /// Moves the progress file into `dir` (for `reset --all`): the next run
    /// starts afresh. Returns whether there was a file.
    pub fn set_aside_into(course: &Course, dir: &Path) -> Result<bool> {
        let _lock = Lock::take(&course.root)?;
        let path = Progress::path(&course.root);
        if !path.exists() {
            return Ok(false);
        }
        let dest = dir.join(PROGRESS_FILE);
        std::fs::copy(&path, &dest)
            .and_then(|_| std::fs::remove_file(&path))
            .context(|| format!("could not move {} to {}", path.display(), dest.display()))?;
        Ok(true)
    }

    /// The pure part of loading: parse and repair. `None` is a missing file.
    pub fn from_bytes(bytes: Option<&[u8]>, course: &Course) -> (Progress, Vec<Repair>) {
        let Some(bytes) = bytes else {
            return (Progress::default(), vec![Repair::Missing]);
        };
        let corrupt = |why: String| (Progress::default(), vec![Repair::Corrupt(why)]);
        // A byte-order mark is what some Windows editors add; it is still UTF-8.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                return corrupt(format!("byte {} is not UTF-8 text", e.valid_up_to() + 1));
            }
        };
        let file: OnDisk = match toml::from_str(text) {
            Ok(file) => file,
            Err(e) => return corrupt(first_line(&e.to_string())),
        };
        if file.version != VERSION {
            return corrupt(format!("version {} is not {VERSION}", file.version));
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

    /// Writes the file in course order through a unique temporary file renamed
    /// over the old one (a crash never leaves half a file). Callers hold the lock.
    fn save(&self, course: &Course) -> Result<()> {
        let path = Progress::path(&course.root);
        let failed = || format!("could not save {}", path.display());
        let mut tmp = tempfile::Builder::new()
            .prefix(".progress.toml.tmp-")
            .tempfile_in(&course.root)
            .context(failed)?;
        tmp.write_all(self.render(course).as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .context(failed)?;
        tmp.persist(&path).map_err(|e| e.error).context(failed)?;
        Ok(())
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

    /// Back to the start: pending, no completion time (hints seen stay seen).
    pub fn mark_pending(&mut self, slug: &str) {
        let entry = self.entry_mut(slug);
        entry.status = Status::Pending;
        entry.done_at = None;
    }

    /// The exercise `verify` runs without an argument, which `list` marks `▶`:
    /// the recorded current one while it is not done; once it is done, the next
    /// built exercise after it that is not done (what `verify` announced as
    /// "Next"); else the first built one not done; else the first built.
    pub fn current<'c>(&self, course: &'c Course) -> Option<&'c Exercise> {
        let not_done = |e: &&Exercise| self.entry(&e.slug).status != Status::Done;
        let recorded = self
            .current
            .as_deref()
            .and_then(|s| course.by_slug(s))
            .filter(|e| course.is_built(e));
        if let Some(ex) = recorded {
            if not_done(&ex) {
                return Some(ex);
            }
            if let Some(after) = course
                .built()
                .filter(|e| e.number > ex.number)
                .find(not_done)
            {
                return Some(after);
            }
        }
        course
            .built()
            .find(|e| self.entry(&e.slug).status == Status::Pending)
            .or_else(|| course.built().find(not_done))
            .or_else(|| course.built().next())
    }

    pub fn done_count(&self, course: &Course) -> usize {
        course
            .built()
            .filter(|e| self.entry(&e.slug).status == Status::Done)
            .count()
    }
}

/// Reads and repairs the file at `path`. A file that exists but cannot be
/// read (a folder in its place, no permission) counts as corrupt, so the
/// repair moves it aside rather than writing over it.
fn read(path: &Path, course: &Course) -> (Progress, Vec<Repair>) {
    match std::fs::read(path) {
        Ok(bytes) => Progress::from_bytes(Some(&bytes), course),
        Err(e) if e.kind() == ErrorKind::NotFound => Progress::from_bytes(None, course),
        Err(e) => (Progress::default(), vec![Repair::Corrupt(e.to_string())]),
    }
}

/// Tells the attendee about one repair; an unreadable file is first moved
/// aside, and if that fails nothing may be written over it.
fn announce(repair: &Repair, path: &Path) -> Result<()> {
    match repair {
        Repair::Missing => ui::note(format!("starting a new progress file, {PROGRESS_FILE}")),
        Repair::Corrupt(why) => {
            let aside = set_aside(path).map_err(|e| {
                Error::new(format!(
                    "{PROGRESS_FILE} could not be read ({why}) nor moved aside ({e}); \
                     progress is not saved until you move or delete it"
                ))
            })?;
            ui::warn(format!(
                "{PROGRESS_FILE} could not be read ({why}); it was rebuilt and the old copy kept as {aside}"
            ));
        }
        Repair::UnknownExercise(slug) => ui::warn(format!(
            "{PROGRESS_FILE} mentions `{slug}`, which is no longer in the course; dropped it"
        )),
    }
    Ok(())
}

/// Moves an unreadable progress file to a name no other file has; returns that
/// name. The name is reserved with `create_new` first, so two repairs in the
/// same second keep two copies.
fn set_aside(path: &Path) -> std::io::Result<String> {
    let stamp = Utc::now().compact();
    for n in 1u32.. {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".corrupt-{stamp}"));
        if n > 1 {
            name.push(format!("-{n}"));
        }
        let aside = PathBuf::from(name);
        match OpenOptions::new().write(true).create_new(true).open(&aside) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        if let Err(e) = std::fs::rename(path, &aside) {
            let _ = std::fs::remove_file(&aside);
            return Err(e);
        }
        return Ok(aside
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default());
    }
    unreachable!("the loop above returns")
}

/// An exclusive lock on [`LOCK_FILE`], released when dropped (or when the
/// process ends, however it ends).
struct Lock(File);

impl Lock {
    fn take(root: &Path) -> Result<Lock> {
        let path = root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .context(|| format!("could not open {}", path.display()))?;
        file.lock()
            .context(|| format!("could not lock {}", path.display()))?;
        Ok(Lock(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COURSE: &str = r#"
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
        [[exercise]]
        number = 3
        slug = "three"
        part = "A"
        title = "Three"
        minutes = 10
    "#;

    fn course() -> Course {
        Course::parse(Path::new("/nowhere"), COURSE).unwrap()
    }

    /// The course in a real folder, with every exercise built.
    fn course_in(dir: &Path) -> Course {
        for name in ["01-one", "02-two", "03-three"] {
            std::fs::create_dir_all(dir.join("exercises").join(name)).unwrap();
        }
        Course::parse(dir, COURSE).unwrap()
    }

    fn parse(bytes: &[u8]) -> (Progress, Vec<Repair>) {
        Progress::from_bytes(Some(bytes), &course())
    }

    #[test]
    fn missing_file_starts_fresh() {
        let (p, repairs) = Progress::from_bytes(None, &course());
        assert_eq!(repairs, vec![Repair::Missing]);
        assert_eq!(p.current, None);
    }

    #[test]
    fn any_unreadable_bytes_are_corrupt_not_missing() {
        let utf16 = "version = 1"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>();
        let cases: [&[u8]; 6] = [
            b"this is [not toml",
            b"version = 7",
            b"current = \"one\"",
            b"version = 1\ncurrent = \"caf\xe9\"\n", // Latin-1
            b"\x7fELF\x02\x01\x01\x00\xff\xfe",
            &utf16,
        ];
        for bytes in cases {
            let (p, repairs) = parse(bytes);
            assert!(
                matches!(repairs[..], [Repair::Corrupt(_)]),
                "{bytes:?}: {repairs:?}"
            );
            assert_eq!(p, Progress::default());
        }
        let (_, repairs) = parse(b"version = 1\ncurrent = \"caf\xe9\"\n");
        assert_eq!(
            repairs,
            [Repair::Corrupt("byte 27 is not UTF-8 text".into())]
        );
    }

    #[test]
    fn a_byte_order_mark_is_still_utf8() {
        let (p, repairs) = parse(b"\xEF\xBB\xBFversion = 1\ncurrent = \"two\"\n");
        assert!(repairs.is_empty(), "{repairs:?}");
        assert_eq!(p.current.as_deref(), Some("two"));
    }

    #[test]
    fn unknown_slugs_are_dropped_and_known_ones_kept() {
        let text = "version = 1\ncurrent = \"gone\"\n[exercises.gone]\nstatus = \"done\"\n\
                    [exercises.two]\nstatus = \"done\"\nhints_used = 2\n";
        let (p, repairs) = parse(text.as_bytes());
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
        let (again, repairs) = parse(text.as_bytes());
        assert!(repairs.is_empty(), "{repairs:?}");
        assert_eq!(again, p);
        assert!(again.entry("one").done_at.is_some());
    }

    #[test]
    fn current_moves_past_a_done_exercise_to_the_next_not_done() {
        let tmp = tempfile::tempdir().unwrap();
        let c = course_in(tmp.path());
        let slug = |p: &Progress| p.current(&c).map(|e| e.slug.clone());
        let mut p = Progress::default();
        assert_eq!(slug(&p).as_deref(), Some("one"), "a fresh start");
        p.current = Some("one".into());
        p.mark_done("one");
        assert_eq!(slug(&p).as_deref(), Some("two"), "verify said `Next: 2`");
        p.mark_done("three");
        p.current = Some("three".into());
        assert_eq!(slug(&p).as_deref(), Some("two"), "the first not done");
        p.mark_pending("one");
        assert_eq!(p.entry("one").done_at, None);
        assert_eq!(slug(&p).as_deref(), Some("one"));
    }

    #[test]
    fn updates_apply_to_what_is_on_disk_and_keep_unreadable_files() {
        let tmp = tempfile::tempdir().unwrap();
        let c = course_in(tmp.path());
        let stale = Progress::load(&c);
        Progress::update(&c, |p| p.entry_mut("one").hints_used = 2).unwrap();
        // A second run that loaded before the first saved still keeps its change.
        Progress::update(&c, |p| p.mark_done("two")).unwrap();
        let now = Progress::load(&c);
        assert_eq!(now.entry("one").hints_used, 2);
        assert_eq!(now.entry("two").status, Status::Done);
        assert_eq!(stale, Progress::default());

        // Two unreadable files in the same second: two copies kept.
        let path = Progress::path(&c.root);
        for bytes in [&b"\xff\xfe1"[..], b"\xff\xfe2"] {
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(Progress::load(&c), Progress::default());
        }
        let mut kept: Vec<Vec<u8>> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".corrupt-"))
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        kept.sort();
        assert_eq!(kept, [b"\xff\xfe1".to_vec(), b"\xff\xfe2".to_vec()]);
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let c = course_in(tmp.path());
        std::thread::scope(|s| {
            for i in 0..24u8 {
                let c = &c;
                s.spawn(move || {
                    let slug = ["one", "two", "three"][usize::from(i % 3)];
                    Progress::update(c, |p| {
                        let e = p.entry_mut(slug);
                        e.hints_used = e.hints_used.max(i);
                    })
                    .unwrap();
                });
            }
        });
        let p = Progress::load(&c);
        let hints: Vec<u8> = ["one", "two", "three"]
            .iter()
            .map(|s| p.entry(s).hints_used)
            .collect();
        assert_eq!(hints, [21, 22, 23]);
    }
}
