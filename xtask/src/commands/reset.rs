//! `reset N|--all` and `checkpoint N`: restore exercises from `checkpoints/`.
//! Nothing is overwritten before the attendee's copy is backed up.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::bail;
use crate::cli::ResetArgs;
use crate::course::{Course, Exercise, Tree, exercise_manifest};
use crate::error::{Context, Result};
use crate::progress::{Progress, Status};
use crate::ui::{self, paint};
use crate::{fault, fsutil};

pub fn run_reset(course: &Course, args: &ResetArgs) -> Result<ExitCode> {
    if args.all {
        return reset_all(course, args.yes);
    }
    let ex = restorable(course, args.exercise.as_deref().unwrap_or_default())?;
    super::warn_problems(course, Some(ex));
    restore_announced(course, ex)?;
    // A restored exercise starts over: pending again (hints seen stay seen).
    Progress::update(course, |p| p.mark_pending(&ex.slug))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_checkpoint(course: &Course, name: &str) -> Result<ExitCode> {
    let ex = restorable(course, name)?;
    super::warn_problems(course, Some(ex));
    restore_announced(course, ex)?;
    let (_, skipped) = Progress::update(course, |progress| {
        let mut skipped = Vec::new();
        for earlier in course.built().filter(|e| e.number < ex.number) {
            let entry = progress.entry_mut(&earlier.slug);
            if entry.status == Status::Pending {
                entry.status = Status::Skipped;
                skipped.push(earlier.slug.clone());
            }
        }
        progress.mark_pending(&ex.slug);
        progress.current = Some(ex.slug.clone());
        skipped
    })?;
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
                course.rel(&course.dir(ex, Tree::Checkpoint)).display()
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
/// name) without ever leaving it half-done: the new copy is built beside the
/// old one (in `.backups/`), then the attendee's folder is moved whole to its
/// backup (`backup_into/NN-slug`, or a fresh `.backups/<time>-NN-slug`) and the
/// new copy moved into its place. A step that fails puts everything back as it
/// was and says where the attendee's files are.
fn restore(course: &Course, ex: &Exercise, backup_into: Option<&Path>) -> Result<Restored> {
    let checkpoint = course.dir(ex, Tree::Checkpoint);
    let mine = course.dir(ex, Tree::Exercise);
    let mine_rel = course.rel(&mine).display().to_string();
    if !checkpoint.join("Cargo.toml").is_file() {
        let folder = Tree::Checkpoint.folder();
        let mend = if course.root.join(folder).is_dir() {
            format!("git checkout -- {}", course.rel(&checkpoint).display())
        } else {
            format!("git checkout -- {folder}/")
        };
        bail!(
            "{} is missing, so exercise {} cannot be restored; {} brings it back",
            course.rel(&checkpoint).display(),
            ex.label(),
            ui::cmd(mend)
        );
    }
    if mine.is_dir() && differences_from_checkpoint(course, ex)?.is_empty() {
        return Ok(Restored::AlreadyPristine);
    }
    let nothing_changed = |what: &str| format!("{what}; nothing changed in {mine_rel}");

    // 1. The new copy, complete, beside the old one.
    let backups = course.root.join(fsutil::BACKUPS);
    std::fs::create_dir_all(&backups)
        .context(|| nothing_changed(&format!("could not create {}", backups.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".restoring-{}-", ex.dir_name()))
        .tempdir_in(&backups)
        .context(|| nothing_changed("could not create a folder for the new copy"))?;
    let new = staging.path().join(ex.dir_name());
    fault::check("reset.stage")
        .and_then(|()| fsutil::copy_dir(&checkpoint, &new))
        .and_then(|()| std::fs::read_to_string(checkpoint.join("Cargo.toml")))
        .and_then(|manifest| {
            std::fs::write(new.join("Cargo.toml"), exercise_manifest(&manifest, ex))
        })
        .context(|| {
            nothing_changed(&format!(
                "could not copy {}",
                course.rel(&checkpoint).display()
            ))
        })?;

    // 2. No folder to keep: the new copy goes straight in.
    if !mine.is_dir() {
        mine.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::rename(&new, &mine))
            .context(|| nothing_changed(&format!("could not create {mine_rel}")))?;
        return Ok(Restored::Restored { backup: None });
    }

    // 3. Build output stays with the exercise, not with its backup.
    let target = mine.join("target");
    let moved_target = target.is_dir() && std::fs::rename(&target, new.join("target")).is_ok();
    let put_target_back = || {
        if moved_target {
            let _ = std::fs::rename(new.join("target"), &target);
        }
    };

    // 4. The attendee's folder, whole, becomes the backup.
    let backup = match backup_into {
        Some(dir) => dir.join(ex.dir_name()),
        None => fsutil::fresh_backup_path(&course.root, &ex.dir_name())?,
    };
    if let Err(e) = fault::check("reset.backup").and_then(|()| std::fs::rename(&mine, &backup)) {
        put_target_back();
        bail!(
            "{}",
            nothing_changed(&format!(
                "could not move {mine_rel} to {} ({e})",
                course.rel(&backup).display()
            ))
        );
    }

    // 5. The new copy takes its place; if it cannot, the old one goes back.
    if let Err(e) = fault::check("reset.swap").and_then(|()| std::fs::rename(&new, &mine)) {
        let backup_rel = course.rel(&backup).display();
        if std::fs::rename(&backup, &mine).is_ok() {
            put_target_back();
            bail!(
                "{}",
                nothing_changed(&format!("could not put the restored copy in place ({e})"))
            );
        }
        bail!(
            "could not put the restored copy in place ({e}), nor move your files back: they are all in {backup_rel}. Run {} again, then copy what you need from there.",
            ui::cmd(format!("cargo xtask reset {}", ex.number))
        );
    }
    Ok(Restored::Restored {
        backup: Some(backup),
    })
}

/// Files in which the attendee's copy differs from the checkpoint. `Cargo.toml`
/// is compared as TOML after deriving the exercise's manifest from the
/// checkpoint's, so formatting does not matter but every setting does.
pub fn differences_from_checkpoint(course: &Course, ex: &Exercise) -> Result<Vec<PathBuf>> {
    let checkpoint = course.dir(ex, Tree::Checkpoint);
    let mine = course.dir(ex, Tree::Exercise);
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
    let backup_rel = course.rel(&backup).display().to_string();
    let mut restored = 0;
    for ex in &built {
        match restore(course, ex, Some(&backup)) {
            Ok(Restored::Restored { .. }) => restored += 1,
            Ok(Restored::AlreadyPristine) => {}
            Err(e) => bail!(
                "{e}\nStopped at exercise {}; the files of the {restored} exercises restored before it are in {backup_rel}",
                ex.label()
            ),
        }
    }
    Progress::set_aside_into(course, &backup)?;
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
