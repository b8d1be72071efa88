//! What is missing from the attendee's workspace, and the command that mends it.
//!
//! cargo loads every workspace member before anything runs, so a broken member
//! (a folder without `Cargo.toml`) stops even `cargo xtask` with cargo's own
//! message; the runner never leaves one behind (see `reset`). What cargo
//! tolerates but the runner cannot work without (a deleted exercise or
//! checkpoint folder) is found here, before a command trips over it.

use crate::course::{Course, Exercise, Tree};
use crate::ui;

/// One missing piece: what it is, and the command that restores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub exercise: Option<u32>,
    pub what: String,
    pub mend: String,
}

impl Problem {
    pub fn message(&self) -> String {
        format!("{}; {} restores it", self.what, ui::cmd(&self.mend))
    }
}

/// Every problem with the copies of the course's written exercises.
pub fn problems(course: &Course) -> Vec<Problem> {
    let mut found = Vec::new();
    let written: Vec<&Exercise> = course.exercises.iter().filter(|e| !e.planned).collect();
    if written.is_empty() {
        return found;
    }
    for tree in [Tree::Checkpoint, Tree::Solution] {
        if !course.root.join(tree.folder()).is_dir() {
            found.push(Problem {
                exercise: None,
                what: format!("the folder {}/ is missing", tree.folder()),
                mend: format!("git checkout -- {}/", tree.folder()),
            });
        }
    }
    for ex in written {
        let mine = course.dir(ex, Tree::Exercise);
        if !mine.is_dir() {
            found.push(Problem {
                exercise: Some(ex.number),
                what: format!("{} is missing", course.rel(&mine).display()),
                mend: format!("cargo xtask reset {}", ex.number),
            });
        } else if !mine.join("Cargo.toml").is_file() {
            found.push(Problem {
                exercise: Some(ex.number),
                what: format!("{} has no Cargo.toml", course.rel(&mine).display()),
                mend: format!("cargo xtask reset {}", ex.number),
            });
        }
        for tree in [Tree::Checkpoint, Tree::Solution] {
            let dir = course.dir(ex, tree);
            if course.root.join(tree.folder()).is_dir() && !dir.join("Cargo.toml").is_file() {
                let rel = course.rel(&dir).display().to_string();
                found.push(Problem {
                    exercise: Some(ex.number),
                    what: format!("{rel} is missing"),
                    mend: format!("git checkout -- {rel}"),
                });
            }
        }
    }
    found
}

/// The problems as one message, one line each.
pub fn describe(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("  {}", p.message()))
        .collect();
    format!("the workshop folder is incomplete:\n{}", lines.join("\n"))
}
