//! `hint [N]`: three levels per exercise, one at a time.

use std::process::ExitCode;

use crate::cli::HintArgs;
use crate::course::{Course, Exercise};
use crate::error::Result;
use crate::progress::Progress;
use crate::ui::{self, paint};

const LEVELS: [&str; 3] = ["a nudge", "the concept", "nearly the solution"];

pub fn run(course: &Course, args: &HintArgs) -> Result<ExitCode> {
    let ex = match args.exercise.as_deref() {
        Some(name) => course.resolve(name)?,
        None => super::chosen(course, &Progress::load(course), None)?,
    };
    show(course, ex, args.level);
    Ok(ExitCode::SUCCESS)
}

/// Prints hint `level` (default: the next one not yet seen, as recorded at this
/// moment, so two terminals asking at once get two levels) and records it.
pub fn show(course: &Course, ex: &Exercise, level: Option<u8>) {
    if ex.hints.is_empty() {
        anstream::println!("Exercise {} has no hints yet.", ex.label());
        return;
    }
    let count = ex.hints.len();
    let choose = |used: u8| usize::from(level.unwrap_or(used.saturating_add(1))).clamp(1, count);
    let level = match Progress::update(course, |progress| {
        let entry = progress.entry_mut(&ex.slug);
        let level = choose(entry.hints_used);
        entry.hints_used = entry.hints_used.max(level as u8);
        level
    }) {
        Ok((_, level)) => level,
        Err(e) => {
            ui::warn(e);
            choose(Progress::load(course).entry(&ex.slug).hints_used)
        }
    };
    let name = LEVELS.get(level - 1).copied().unwrap_or("a hint");
    anstream::println!(
        "{} {}",
        paint(
            ui::INFO,
            format!(
                "Hint {level}/{} for exercise {}",
                ex.hints.len(),
                ex.label()
            )
        ),
        paint(ui::DIM, format!("({name})"))
    );
    for line in ex.hints[level - 1].lines() {
        anstream::println!("  {line}");
    }
    if level < ex.hints.len() {
        anstream::println!(
            "\nStill stuck? {} gives the next one.",
            ui::cmd(format!("cargo xtask hint {}", ex.number))
        );
    } else {
        anstream::println!(
            "\nThat was the last hint. See what the solution changes: {}",
            ui::cmd(format!("cargo xtask solution {} --diff", ex.number))
        );
        if let Some(next) = course.next_after(ex) {
            anstream::println!(
                "Or move on from a clean start: {}",
                ui::cmd(format!("cargo xtask checkpoint {}", next.number))
            );
        }
    }
}
