use crate::cli::SlidesArgs;
use crate::course::Course;
use crate::error::Result;
use std::process::ExitCode;
pub fn run(_course: &Course, _args: &SlidesArgs) -> Result<ExitCode> {
    todo!()
}
