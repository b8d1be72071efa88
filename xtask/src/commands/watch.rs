use crate::cli::WatchArgs;
use crate::course::Course;
use crate::error::Result;
use std::process::ExitCode;
pub fn run(_course: &Course, _args: &WatchArgs) -> Result<ExitCode> {
    todo!()
}
