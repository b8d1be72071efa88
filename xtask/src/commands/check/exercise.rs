//! The checks of one exercise, and of the course metadata as a whole.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::cargo::{self, Echo, TestReport};
use crate::course::{Course, Exercise, Tree};
use crate::fsutil;
use crate::ui::plural;

use super::Tally;

/// Numbers and slugs unique, parts known, folders agree with `planned`, and
/// the README names every exercise.
pub fn check_course_metadata(course: &Course, tally: &mut Tally) {
    let mut problems = Vec::new();
    let (mut numbers, mut slugs) = (HashSet::new(), HashSet::new());
    for ex in &course.exercises {
        if !numbers.insert(ex.number) {
            problems.push(format!("number {} is used twice", ex.number));
        }
        if !slugs.insert(&ex.slug) {
            problems.push(format!("slug `{}` is used twice", ex.slug));
        }
        if !is_slug(&ex.slug) {
            problems.push(format!(
                "slug `{}` must be lowercase letters, digits and dashes",
                ex.slug
            ));
        }
        if course.part(&ex.part).is_none() {
            problems.push(format!(
                "{} is in part `{}`, which course.toml does not define",
                ex.label(),
                ex.part
            ));
        }
        let present: Vec<Tree> = Tree::ALL
            .into_iter()
            .filter(|c| course.dir(ex, *c).is_dir())
            .collect();
        if ex.planned && !present.is_empty() {
            problems.push(format!(
                "{} has folders but is `planned = true`",
                ex.label()
            ));
        }
        if !ex.planned && present.len() < 3 {
            problems.push(format!(
                "{} is not planned but lacks some of its three folders",
                ex.label()
            ));
        }
    }
    let result = if problems.is_empty() {
        let built = course.exercises.iter().filter(|e| !e.planned).count();
        Ok(format!(
            "{} ({built} built), {}",
            plural(course.exercises.len(), "exercise"),
            plural(course.parts.len(), "part")
        ))
    } else {
        Err(problems.join("\n"))
    };
    tally.record("course.toml", result);
    tally.record("README agenda", readme_names_every_exercise(course));
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn readme_names_every_exercise(course: &Course) -> Result<String, String> {
    let readme = std::fs::read_to_string(course.root.join("README.md"))
        .map_err(|_| "README.md is missing".to_string())?;
    let missing: Vec<&str> = course
        .exercises
        .iter()
        .filter(|e| !readme.contains(&e.slug))
        .map(|e| e.slug.as_str())
        .collect();
    if missing.is_empty() {
        Ok(format!(
            "README.md names all {} exercises",
            course.exercises.len()
        ))
    } else {
        Err(format!("README.md does not name: {}", missing.join(", ")))
    }
}

/// Every check of one built exercise, one table row each.
pub fn check_exercise(course: &Course, ex: &Exercise, tally: &mut Tally) {
    tally.record("metadata", metadata(course, ex));
    tally.record("tests/ identical", tests_identical(course, ex));
    tally.record("exercise = checkpoint", pristine(course, ex));
    tally.record("checkpoint fails", checkpoint_fails(course, ex));
    tally.record("solution passes", solution_passes(course, ex));
}

fn metadata(course: &Course, ex: &Exercise) -> Result<String, String> {
    let mut problems = Vec::new();
    if ex.hints.len() != 3 || ex.hints.iter().any(|h| h.trim().is_empty()) {
        problems.push(format!(
            "needs exactly three non-empty hints, has {}",
            ex.hints.len()
        ));
    }
    if ex.failing_tests.is_empty() {
        problems.push("`failing_tests` is empty: which tests fail at the checkpoint?".to_string());
    }
    for copy in Tree::ALL {
        let readme = course.dir(ex, copy).join("README.md");
        if !readme.is_file() {
            problems.push(format!("{} is missing", course.rel(&readme).display()));
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "3 hints, {} listed, READMEs present",
            plural(ex.failing_tests.len(), "failing test")
        ))
    } else {
        Err(problems.join("\n"))
    }
}

fn tests_identical(course: &Course, ex: &Exercise) -> Result<String, String> {
    let tests = |copy| course.dir(ex, copy).join("tests");
    let count = fsutil::files(&tests(Tree::Checkpoint))
        .map(|f| f.len())
        .unwrap_or(0);
    if count == 0 {
        return Err(format!(
            "{} has no test files",
            course.rel(&tests(Tree::Checkpoint)).display()
        ));
    }
    let mut problems = Vec::new();
    for other in [Tree::Exercise, Tree::Solution] {
        let differ = fsutil::differing_files(&tests(Tree::Checkpoint), &tests(other), |_| false)
            .map_err(|e| e.to_string())?;
        problems.extend(differ.iter().map(|rel| {
            format!(
                "tests/{} differs between {} and {}",
                rel.display(),
                Tree::Checkpoint.folder(),
                other.folder()
            )
        }));
    }
    if problems.is_empty() {
        Ok(format!(
            "{}, byte-identical in all three copies",
            plural(count, "test file")
        ))
    } else {
        Err(problems.join("\n"))
    }
}

fn pristine(course: &Course, ex: &Exercise) -> Result<String, String> {
    let differ =
        super::super::reset::differences_from_checkpoint(course, ex).map_err(|e| e.to_string())?;
    if differ.is_empty() {
        return Ok("identical apart from the package name".to_string());
    }
    let list: Vec<String> = differ
        .iter()
        .map(|p: &PathBuf| p.display().to_string())
        .collect();
    Err(format!(
        "{} differs from {} in: {}",
        course.rel(&course.dir(ex, Tree::Exercise)).display(),
        course.rel(&course.dir(ex, Tree::Checkpoint)).display(),
        list.join(", ")
    ))
}

/// Runs one copy's tests (already built by `check`'s single build).
fn run(course: &Course, ex: &Exercise, copy: Tree) -> Result<cargo::TestRun, String> {
    let run = cargo::run_tests(
        &course.root,
        &cargo::exercise_test_args(&ex.package(copy)),
        Echo::Quiet,
    )
    .map_err(|e| e.to_string())?;
    if run.compile_failed() {
        return Err(format!(
            "does not compile:\n{}",
            run.compiler_output.trim_end()
        ));
    }
    Ok(run)
}

fn checkpoint_fails(course: &Course, ex: &Exercise) -> Result<String, String> {
    let run = run(course, ex, Tree::Checkpoint)?;
    judge_checkpoint(&run.report, &ex.failing_tests)
}

fn solution_passes(course: &Course, ex: &Exercise) -> Result<String, String> {
    let run = run(course, ex, Tree::Solution)?;
    if run.report.all_passed() {
        Ok(format!(
            "{}/{} tests pass",
            run.report.passed(),
            run.report.total()
        ))
    } else {
        Err(failure_list(&run.report, &run.compiler_output))
    }
}

/// Whether libtest's `name` is the listed test: the full path or its last part.
pub fn names_match(name: &str, listed: &str) -> bool {
    name == listed || name.ends_with(&format!("::{listed}"))
}

/// At the checkpoint, exactly the listed tests fail, each by a panic with a
/// message: not a compile error, and not a bare `todo!()`.
pub fn judge_checkpoint(report: &TestReport, listed: &[String]) -> Result<String, String> {
    let mut problems = Vec::new();
    for want in listed {
        match report.tests.iter().find(|t| names_match(&t.name, want)) {
            None => problems.push(format!("listed test `{want}` did not run")),
            Some(t) if t.status != cargo::Outcome::Failed => {
                problems.push(format!("listed test `{want}` passes at the checkpoint; it must fail"))
            }
            Some(t) if is_bare_todo(t.message.as_deref().unwrap_or("")) => problems.push(format!(
                "listed test `{want}` fails only on a bare todo!(); fail on the scenario, or say what to write: todo!(\"…\")"
            )),
            Some(_) => {}
        }
    }
    for t in report.failures() {
        if !listed.iter().any(|want| names_match(&t.name, want)) {
            problems.push(format!(
                "`{}` fails at the checkpoint but is not in failing_tests",
                t.name
            ));
        }
    }
    if report.crashed_suites > 0 {
        problems.push("a test binary crashed".to_string());
    }
    if problems.is_empty() {
        Ok(format!(
            "{} by assertion, {} pass",
            match listed.len() {
                1 => "1 listed test fails".to_string(),
                n => format!("{n} listed tests fail"),
            },
            report.passed()
        ))
    } else {
        Err(problems.join("\n"))
    }
}

fn is_bare_todo(message: &str) -> bool {
    message.lines().any(|l| l.trim() == "not yet implemented")
}

/// The failing tests and their first message lines, for a table row.
pub fn failure_list(report: &TestReport, compiler_output: &str) -> String {
    let mut lines = vec![format!(
        "{}/{} tests pass; failing:",
        report.passed(),
        report.total()
    )];
    // A table row, not a log: the first failures say enough, and
    // `cargo test -p <package>` shows them all.
    const SHOWN: usize = 10;
    for t in report.failures().take(SHOWN) {
        let message = t.message.as_deref().unwrap_or("");
        let first = message
            .lines()
            .find(|l| !l.starts_with("thread '"))
            .unwrap_or("");
        lines.push(format!("{}: {first}", t.name));
    }
    if report.failed() > SHOWN {
        lines.push(format!("… and {} more", report.failed() - SHOWN));
    }
    if report.crashed_suites > 0 {
        lines.push(format!(
            "a test binary crashed:\n{}",
            compiler_output.trim_end()
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cargo::parse_libtest;

    fn report(lines: &str) -> TestReport {
        parse_libtest(&format!("running 3 tests\n{lines}\ntest result: FAILED.\n"))
    }

    const FAILS: &str = "test scenario::racing_tabs ... FAILED\ntest other ... ok\n\nfailures:\n\n\
                         ---- scenario::racing_tabs stdout ----\nthread 'x' panicked at t.rs:1:1:\ntwo orders for one cart\n\nfailures:\n";

    #[test]
    fn checkpoint_passes_when_exactly_the_listed_tests_fail_by_assertion() {
        let ok = judge_checkpoint(&report(FAILS), &["racing_tabs".into()]);
        assert_eq!(ok, Ok("1 listed test fails by assertion, 1 pass".into()));
    }

    #[test]
    fn checkpoint_problems_are_named() {
        let err =
            judge_checkpoint(&report(FAILS), &["other".into(), "missing".into()]).unwrap_err();
        assert!(err.contains("`other` passes at the checkpoint"), "{err}");
        assert!(err.contains("`missing` did not run"), "{err}");
        assert!(
            err.contains(
                "`scenario::racing_tabs` fails at the checkpoint but is not in failing_tests"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_bare_todo_is_not_a_teaching_failure() {
        let todo = "test t ... FAILED\n\nfailures:\n\n---- t stdout ----\nthread 't' panicked at src/lib.rs:1:1:\nnot yet implemented\n\nfailures:\n";
        let err = judge_checkpoint(&report(todo), &["t".into()]).unwrap_err();
        assert!(err.contains("bare todo!()"), "{err}");
        let explained = todo.replace(
            "not yet implemented\n",
            "not yet implemented: write the outbox\n",
        );
        assert!(judge_checkpoint(&report(&explained), &["t".into()]).is_ok());
    }
}
