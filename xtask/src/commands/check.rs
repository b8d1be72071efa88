use crate::cli::CheckArgs;
use crate::course::Course;
use crate::error::Result;
use std::process::ExitCode;
pub fn run(_course: &Course, _args: &CheckArgs) -> Result<ExitCode> {
    todo!()
}
