//! One module per command. Each `run` returns the process exit code: a failing
//! verdict is an exit code, not an error.

pub mod check;
pub mod explore;
pub mod hint;
pub mod list;
pub mod reset;
pub mod setup;
pub mod slides;
pub mod solution;
pub mod verify;
pub mod watch;

use std::process::ExitCode;

use crate::course::{Course, Exercise};
use crate::error::{Error, Result};
use crate::health::{self, Problem};
use crate::progress::Progress;
use crate::ui;

/// The exercise a command without an explicit argument works on.
pub fn chosen<'c>(
    course: &'c Course,
    progress: &Progress,
    name: Option<&str>,
) -> Result<&'c Exercise> {
    match name {
        Some(name) => course.resolve_built(name),
        None => match progress.current(course) {
            Some(ex) => Ok(ex),
            None => crate::bail!("the course has no exercises yet; nothing to run"),
        },
    }
}

/// Exit code 0 for a good verdict, 1 for a bad one (2 is for errors, see main).
pub fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Before a command works on `ex` (or on the whole kit, with `None`): stops
/// with what is missing and how to restore it when that concerns `ex` or the
/// whole kit; missing pieces of other exercises are only warnings.
pub fn ensure_whole(course: &Course, ex: Option<&Exercise>) -> Result<()> {
    let (blocking, other): (Vec<Problem>, Vec<Problem>) = health::problems(course)
        .into_iter()
        .partition(|p| p.exercise.is_none() || ex.is_some_and(|ex| p.exercise == Some(ex.number)));
    for problem in &other {
        ui::warn(problem.message());
    }
    if blocking.is_empty() {
        Ok(())
    } else {
        Err(Error::new(health::describe(&blocking)))
    }
}

/// Warns about every missing piece except those of `mended`, the exercise the
/// command is about to restore.
pub fn warn_problems(course: &Course, mended: Option<&Exercise>) {
    for problem in health::problems(course) {
        let mending = mended.is_some_and(|ex| problem.exercise == Some(ex.number))
            && problem.mend.starts_with("cargo xtask reset");
        if !mending {
            ui::warn(problem.message());
        }
    }
}
