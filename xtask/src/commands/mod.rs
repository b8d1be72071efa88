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
use crate::error::Result;
use crate::progress::Progress;

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
