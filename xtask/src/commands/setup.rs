use crate::course::Course;
use crate::error::Result;
use std::process::ExitCode;
pub fn run(_course: &Course) -> Result<ExitCode> {
    todo!()
}
