//! The chain: where an exercise's lesson file continues the previous
//! exercise's, the attendee starts from what the previous solution left.
//!
//! `course.toml` names the files that continue (`continues = ["src/submit.rs"]`).
//! Checkpoint N's copy of each must be solution N-1's, byte for byte, or differ
//! from it exactly as `solutions/NN-slug/scenario.diff` says: the new scenario,
//! written down once and reviewed like code. A fix to an earlier solution that
//! is not carried forward then fails here instead of drifting silently.
//! `check --only N --bless` writes the diff as it is now.

use std::path::Path;

use similar::TextDiff;

use crate::course::{Course, Exercise, Tree};

/// What the new scenario changes in the files that continue.
pub const SCENARIO_DIFF: &str = "scenario.diff";

/// `None` when the exercise continues nothing (the first of a part, or a
/// new shape of the shop).
pub fn check_chain(course: &Course, ex: &Exercise, bless: bool) -> Option<Result<String, String>> {
    if ex.continues.is_empty() {
        return None;
    }
    Some(continues(course, ex, bless))
}

fn continues(course: &Course, ex: &Exercise, bless: bool) -> Result<String, String> {
    let previous = previous_exercise(course, ex)?;
    let actual = scenario(course, previous, ex)?;
    let recorded_at = course.dir(ex, Tree::Solution).join(SCENARIO_DIFF);
    let recorded = std::fs::read_to_string(&recorded_at).unwrap_or_default();
    let summary = format!(
        "{} = solution {:02}'s",
        ex.continues.join(", "),
        previous.number
    );
    if bless && actual != recorded {
        write_or_remove(&recorded_at, &actual)?;
        return Ok(format!(
            "{summary} + the scenario (written to {SCENARIO_DIFF})"
        ));
    }
    if actual == recorded {
        return Ok(match changed_lines(&actual) {
            0 => format!("{summary}, unchanged"),
            n => format!("{summary} + the scenario ({n} lines in {SCENARIO_DIFF})"),
        });
    }
    Err(format!(
        "{} no longer continue solution {:02} as {} says. Carry the earlier fix forward; or, \
         if the difference below is the new scenario, record it with `cargo xtask check --only {} --bless`:\n{}",
        ex.continues.join(", "),
        previous.number,
        course.rel(&recorded_at).display(),
        ex.number,
        actual.trim_end()
    ))
}

/// The exercise whose solution this checkpoint continues: `continues_from`,
/// or else the built exercise just before it.
fn previous_exercise<'c>(course: &'c Course, ex: &Exercise) -> Result<&'c Exercise, String> {
    let found = match ex.continues_from {
        Some(number) => course
            .built()
            .find(|e| e.number == number && e.number < ex.number),
        None => course.built().filter(|e| e.number < ex.number).last(),
    };
    found.ok_or_else(|| match ex.continues_from {
        Some(number) => format!(
            "`continues_from = {number}` names no built exercise before {}",
            ex.label()
        ),
        None => format!(
            "`continues` is set, but no built exercise comes before {}",
            ex.label()
        ),
    })
}

/// The unified diff from the previous solution's files to this checkpoint's
/// (empty when they are the same).
fn scenario(course: &Course, previous: &Exercise, ex: &Exercise) -> Result<String, String> {
    let mut out = String::new();
    for file in &ex.continues {
        let old_path = course.dir(previous, Tree::Solution).join(file);
        let new_path = course.dir(ex, Tree::Checkpoint).join(file);
        let old = read(course, &old_path)?;
        let new = read(course, &new_path)?;
        if old == new {
            continue;
        }
        let diff = TextDiff::from_lines(&old, &new);
        let (a, b) = (
            course.rel(&old_path).display().to_string(),
            course.rel(&new_path).display().to_string(),
        );
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(2)
                .header(&a, &b)
                .to_string(),
        );
    }
    Ok(out)
}

fn read(course: &Course, path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {e} (listed in `continues`)",
            course.rel(path).display()
        )
    })
}

fn write_or_remove(path: &Path, diff: &str) -> Result<(), String> {
    let result = if diff.is_empty() {
        std::fs::remove_file(path).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })
    } else {
        std::fs::write(path, diff)
    };
    result.map_err(|e| format!("{}: {e}", path.display()))
}

/// Lines added or removed in a unified diff.
fn changed_lines(diff: &str) -> usize {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') && !l.starts_with("+++"))
                || (l.starts_with('-') && !l.starts_with("---"))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_skip_the_headers() {
        let diff = "--- a\n+++ b\n@@ -1,2 +1,2 @@\n keep\n-old\n+new\n";
        assert_eq!(changed_lines(diff), 2);
    }
}
