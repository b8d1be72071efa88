//! `reset N|--all` and `checkpoint N`: restore exercises from `checkpoints/`.
//! Nothing is overwritten before the attendee's copy is backed up.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::bail;
use crate::cli::ResetArgs;
use crate::course::{Copy, Course, Exercise, exercise_manifest};
use crate::error::{Context, Result};
use crate::fsutil;
use crate::progress::{Progress, Status};
use crate::ui::{self, paint};

pub fn run_reset(course: &Course, args: &ResetArgs) -> Result<ExitCode> {
    if args.all {
        return reset_all(course, args.yes);
    }
    let ex = restorable(course, args.exercise.as_deref().unwrap_or_default())?;
    restore_announced(course, ex)?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_checkpoint(course: &Course, name: &str) -> Result<ExitCode> {
    let ex = restorable(course, name)?;
    restore_announced(course, ex)?;
    let mut progress = Progress::load(course);
    let mut skipped = Vec::new();
    for earlier in course.built().filter(|e| e.number < ex.number) {
        let entry = progress.entry_mut(&earlier.slug);
        if entry.status == Status::Pending {
            entry.status = Status::Skipped;
            skipped.push(earlier.slug.clone());
        }
    }
    progress.current = Some(ex.slug.clone());
    progress.save(course)?;
    if !skipped.is_empty() {
        anstream::println!(
            "Marked as skipped: {} (finish them any time).",
            skipped.join(", ")
        );
    }
    anstream::println!(
        "Exercise {} is now current, from its clean starting point: the reference solution of the exercise before it plus the new scenario.",
        ex.label()
    );
    anstream::println!("Run {} to see what fails.", ui::cmd("cargo xtask verify"));
    Ok(ExitCode::SUCCESS)
}

/// An exercise that can be restored: written (not planned), even if the
/// attendee deleted its folder.
fn restorable<'c>(course: &'c Course, name: &str) -> Result<&'c Exercise> {
    let ex = course.resolve(name)?;
    if ex.planned {
        course.ensure_built(ex)?;
    }
    Ok(ex)
}

/// Restores one exercise and says what happened, including where the backup is.
fn restore_announced(course: &Course, ex: &Exercise) -> Result<()> {
    match restore(course, ex, None)? {
        Restored::AlreadyPristine => {
            anstream::println!(
                "Exercise {} is already at its starting point; nothing to back up.",
                ex.label()
            )
        }
        Restored::Restored { backup } => {
            anstream::println!(
                "{} Exercise {} restored from {}.",
                paint(ui::GOOD, ui::PASS_MARK),
                ex.label(),
                course.rel(&course.dir(ex, Copy::Checkpoint)).display()
            );
            if let Some(backup) = backup {
                anstream::println!(
                    "Your previous files are in {}",
                    paint(ui::BOLD, course.rel(&backup).display())
                );
            }
        }
    }
    Ok(())
}

pub enum Restored {
    AlreadyPristine,
    /// `backup` is None when there was no folder to back up.
    Restored {
        backup: Option<PathBuf>,
    },
}

/// Makes `exercises/NN` equal to `checkpoints/NN` (with the exercise's package
/// name), after copying the attendee's folder to `backup_into` or to a fresh
/// `.backups/<time>-NN-slug/`.
fn restore(course: &Course, ex: &Exercise, backup_into: Option<&Path>) -> Result<Restored> {
    let checkpoint = course.dir(ex, Copy::Checkpoint);
    let mine = course.dir(ex, Copy::Exercise);
    if !checkpoint.is_dir() {
        bail!(
            "{} is missing, so exercise {} cannot be restored",
            course.rel(&checkpoint).display(),
            ex.label()
        );
    }
    if differences_from_checkpoint(course, ex)?.is_empty() {
        return Ok(Restored::AlreadyPristine);
    }
    let backup = match backup_into {
        _ if !mine.is_dir() => None,
        Some(dir) => {
            let dest = dir.join(ex.dir_name());
            fsutil::copy_dir(&mine, &dest).context(|| format!("backing up {}", mine.display()))?;
            Some(dest)
        }
        None => Some(fsutil::backup(&course.root, &mine, &ex.dir_name())?),
    };
    if mine.is_dir() {
        fsutil::clear_dir(&mine).context(|| format!("clearing {}", mine.display()))?;
    }
    fsutil::copy_dir(&checkpoint, &mine).context(|| format!("copying {}", checkpoint.display()))?;
    let manifest = std::fs::read_to_string(checkpoint.join("Cargo.toml"))?;
    std::fs::write(mine.join("Cargo.toml"), exercise_manifest(&manifest, ex))?;
    Ok(Restored::Restored { backup })
}

/// Files in which the attendee's copy differs from the checkpoint. `Cargo.toml`
/// is compared as TOML after deriving the exercise's manifest from the
/// checkpoint's, so formatting does not matter but every setting does.
pub fn differences_from_checkpoint(course: &Course, ex: &Exercise) -> Result<Vec<PathBuf>> {
    let checkpoint = course.dir(ex, Copy::Checkpoint);
    let mine = course.dir(ex, Copy::Exercise);
    let mut differ = fsutil::differing_files(&mine, &checkpoint, |p| p == Path::new("Cargo.toml"))?;
    let parse = |text: &str| text.parse::<toml::Table>().ok();
    let expected = std::fs::read_to_string(checkpoint.join("Cargo.toml"))
        .ok()
        .and_then(|t| parse(&exercise_manifest(&t, ex)));
    let actual = std::fs::read_to_string(mine.join("Cargo.toml"))
        .ok()
        .and_then(|t| parse(&t));
    if expected.is_none() || expected != actual {
        differ.push(PathBuf::from("Cargo.toml"));
    }
    Ok(differ)
}

fn reset_all(course: &Course, yes: bool) -> Result<ExitCode> {
    let built: Vec<&Exercise> = course.exercises.iter().filter(|e| !e.planned).collect();
    if built.is_empty() {
        anstream::println!("The course has no exercises yet: nothing to reset.");
        return Ok(ExitCode::SUCCESS);
    }
    let question = format!(
        "Reset all {} exercises to their starting points and start your progress over? Your files are backed up first.",
        built.len()
    );
    if !yes && !confirm(&question)? {
        anstream::println!("Nothing changed.");
        return Ok(ExitCode::FAILURE);
    }
    let backup = fsutil::fresh_backup_dir(&course.root, "all")?;
    let mut restored = 0;
    for ex in &built {
        if let Restored::Restored { .. } = restore(course, ex, Some(&backup))? {
            restored += 1;
        }
    }
    let progress_file = Progress::path(&course.root);
    if progress_file.is_file() {
        std::fs::copy(&progress_file, backup.join(crate::progress::PROGRESS_FILE))?;
        std::fs::remove_file(&progress_file)?;
    }
    anstream::println!(
        "{} Reset {} exercises ({restored} had changes) and your progress.",
        paint(ui::GOOD, ui::PASS_MARK),
        built.len()
    );
    if fsutil::files(&backup)?.is_empty() {
        // Nothing was changed or recorded: an empty backup would only confuse.
        std::fs::remove_dir(&backup)?;
    } else {
        anstream::println!(
            "Your previous files are in {}",
            paint(ui::BOLD, course.rel(&backup).display())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks a yes/no question on stdin; no answer (end of input) means no.
fn confirm(question: &str) -> Result<bool> {
    anstream::print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim().to_ascii_lowercase();
    if answer.is_empty() {
        anstream::println!();
    }
    Ok(answer == "y" || answer == "yes")
}
