//! `verify [N]`: run an exercise's tests once and explain the result.
//! `watch` reuses [`verify_exercise`], [`record`] and [`report`].
//!
//! The report ends with the verdict: at most one failure in full (the first the
//! course lists, else the shortest), then one line per failing test, then the
//! summary and what to do next. Every failure in full goes to a file the summary
//! names (`--all-reports` prints them all instead).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::cargo::{self, Echo, TestCase, TestRun};
use crate::cli::VerifyArgs;
use crate::course::{Course, Exercise, Tree};
use crate::error::Result;
use crate::progress::Progress;
use crate::ui::{self, paint};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Every test passes, but the attendee's tests are not the checkpoint's:
    /// not done until the original tests pass.
    PassWithChangedTests,
    Fail,
    CompileError,
    NoTests,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::PassWithChangedTests => "pass_with_changed_tests",
            Verdict::Fail => "fail",
            Verdict::CompileError => "compile_error",
            Verdict::NoTests => "no_tests",
        }
    }
}

/// Who shows the report: the next step reads differently in `watch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Verify,
    Watch,
}

/// The result of verifying one exercise.
#[derive(Debug)]
pub struct Verification {
    pub verdict: Verdict,
    pub run: TestRun,
    /// Files under `tests/` that differ from the checkpoint's.
    pub tests_changed: Vec<PathBuf>,
}

pub fn run(course: &Course, args: &VerifyArgs) -> Result<ExitCode> {
    let progress = Progress::load(course);
    if args.all {
        super::ensure_whole(course, None)?;
        return verify_all(course, args.json);
    }
    let ex = super::chosen(course, &progress, args.exercise.as_deref())?;
    super::ensure_whole(course, Some(ex))?;
    let echo = if args.json {
        Echo::Quiet
    } else {
        Echo::Live {
            colour: ui::stdout_has_colour(),
        }
    };
    if !args.json {
        print_header(course, ex);
        print_checking();
    }
    let verification = verify_exercise(course, ex, echo)?;
    record(course, ex, &verification, true);
    if args.json {
        println!("{}", to_json(course, ex, &verification));
    } else {
        report(course, ex, &verification, Mode::Verify, args.all_reports);
    }
    Ok(super::exit_code(verification.verdict == Verdict::Pass))
}

/// Runs the attendee's copy of `ex` through `cargo test` once.
pub fn verify_exercise(course: &Course, ex: &Exercise, echo: Echo) -> Result<Verification> {
    let tests_changed = changed_tests(course, ex);
    let args = cargo::exercise_test_args(&ex.package(Tree::Exercise));
    let run = cargo::run_tests(&course.root, &args, echo)?;
    let verdict = if run.compile_failed() {
        Verdict::CompileError
    } else if run.report.all_passed() && run.exit_ok {
        if tests_changed.is_empty() {
            Verdict::Pass
        } else {
            Verdict::PassWithChangedTests
        }
    } else if run.report.total() == 0 && run.report.crashed_suites == 0 && run.exit_ok {
        Verdict::NoTests
    } else {
        Verdict::Fail
    };
    Ok(Verification {
        verdict,
        run,
        tests_changed,
    })
}

/// Files in the attendee's `tests/` that differ from the checkpoint's.
fn changed_tests(course: &Course, ex: &Exercise) -> Vec<PathBuf> {
    let mine = course.dir(ex, Tree::Exercise).join("tests");
    let pristine = course.dir(ex, Tree::Checkpoint).join("tests");
    if !pristine.is_dir() {
        return Vec::new();
    }
    crate::fsutil::differing_files(&mine, &pristine, |_| false).unwrap_or_default()
}

/// Saves what this run taught us, merged with what other runs saved meanwhile:
/// a pass marks the exercise done; `make_current` makes it the current one.
pub fn record(course: &Course, ex: &Exercise, verification: &Verification, make_current: bool) {
    let saved = Progress::update(course, |progress| {
        if make_current {
            progress.current = Some(ex.slug.clone());
        }
        if verification.verdict == Verdict::Pass {
            progress.mark_done(&ex.slug);
        }
    });
    if let Err(e) = saved {
        ui::warn(e);
    }
}

pub fn print_header(course: &Course, ex: &Exercise) {
    anstream::println!(
        "{} {} {}",
        paint(ui::INFO, format!("Exercise {:02} {}:", ex.number, ex.slug)),
        ex.title,
        paint(
            ui::DIM,
            format!(
                "({})",
                course.rel(&course.dir(ex, Tree::Exercise)).display()
            )
        )
    );
}

/// Shown at once, before cargo starts, so a slow build never looks like a hang.
pub fn print_checking() {
    anstream::println!("{}", paint(ui::DIM, "checking…"));
}

/// The human verdict, ending with the summary and what to do next.
pub fn report(course: &Course, ex: &Exercise, v: &Verification, mode: Mode, all_reports: bool) {
    let report = &v.run.report;
    if v.verdict == Verdict::CompileError {
        warn_changed_tests(course, ex, &v.tests_changed);
        anstream::println!(
            "\n{} {} does not compile yet: the compiler's messages are above.",
            paint(ui::BAD, ui::FAIL_MARK),
            ex.label()
        );
        next_step(course, ex, v.verdict, mode);
        return;
    }
    let failures = ordered_failures(ex, report.failures());
    let shown = if all_reports {
        failures.len()
    } else {
        failures.len().min(1)
    };
    for case in &failures[..shown] {
        anstream::println!(
            "\n{} {}",
            paint(ui::BAD, ui::FAIL_MARK),
            paint(ui::BOLD, &case.name)
        );
        for line in case.message.as_deref().unwrap_or("(no message)").lines() {
            anstream::println!("    {line}");
        }
    }
    if report.crashed_suites > 0 {
        anstream::println!(
            "\n{} a test binary crashed before it finished (its output is above).",
            paint(ui::BAD, ui::FAIL_MARK)
        );
    }
    let file = reports_file(course, ex);
    let omitted = failures.len() > shown;
    if omitted {
        if let Err(e) = write_reports(&file, ex, &failures) {
            ui::warn(format!("could not write {}: {e}", file.display()));
        }
    } else {
        // A file from an earlier run would describe failures that are gone.
        let _ = std::fs::remove_file(&file);
    }
    if failures.len() > 1 {
        anstream::println!("\n{}", paint(ui::BOLD, "Failing tests:"));
        for case in &failures {
            anstream::println!(
                "  {} {} {}",
                paint(ui::BAD, ui::FAIL_MARK),
                case.name,
                paint(ui::DIM, format!("— {}", gist(case)))
            );
        }
    }
    if omitted {
        anstream::println!(
            "Every failure in full: {} (or {})",
            paint(ui::BOLD, course.rel(&file).display()),
            ui::cmd(format!("cargo xtask verify {} --all-reports", ex.number))
        );
    }
    warn_changed_tests(course, ex, &v.tests_changed);
    anstream::println!("\n{}", summary_line(v));
    if v.verdict == Verdict::Pass {
        explored_line(course, ex, v);
    }
    next_step(course, ex, v.verdict, mode);
}

/// Failing tests in the order the course lists them (`failing_tests`, the
/// order the README introduces them), then the others, shortest message first.
/// Deterministic: libtest prints results in the order tests finish.
pub fn ordered_failures<'r>(
    ex: &Exercise,
    failures: impl Iterator<Item = &'r TestCase>,
) -> Vec<&'r TestCase> {
    let rank = |case: &TestCase| {
        let listed = ex.failing_tests.iter().position(|listed| {
            case.name == *listed || case.name.rsplit("::").next() == Some(listed.as_str())
        });
        let message = case.message.as_deref().unwrap_or("");
        (
            listed.unwrap_or(usize::MAX),
            message.lines().count(),
            message.len(),
            case.name.clone(),
        )
    };
    let mut failures: Vec<&TestCase> = failures.collect();
    failures.sort_by_cached_key(|case| rank(case));
    failures
}

/// A failure in a few words: the first line of its panic message (not what the
/// test printed before), without libtest's `thread '…' panicked at …` and
/// `assertion … failed:` preambles
/// (with the line after it when it ends in a colon), cut to fit one line
/// beside the test's name.
pub fn gist(case: &TestCase) -> String {
    const WIDTH: usize = 110;
    let max = WIDTH.saturating_sub(case.name.chars().count()).max(40);
    let message = case.message.as_deref().unwrap_or("");
    // What the test printed before it panicked is context; the panic says what failed.
    let all: Vec<&str> = message.lines().map(str::trim).collect();
    let from = all.iter().position(|l| is_panic_header(l)).unwrap_or(0);
    let mut lines = all[from..]
        .iter()
        .copied()
        .filter(|l| !l.is_empty() && !is_panic_header(l));
    let Some(first) = lines.next() else {
        return "no message".to_string();
    };
    let first = match first.split_once(" failed: ") {
        Some((assertion, said)) if assertion.starts_with("assertion") && !said.is_empty() => said,
        _ => first,
    };
    let line = match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {next}"),
        _ => first.to_string(),
    };
    if line.chars().count() > max {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        line
    }
}

/// libtest's `thread 'name' (123) panicked at tests/x.rs:1:2:` line.
fn is_panic_header(line: &str) -> bool {
    line.starts_with("thread '") && line.contains("panicked at")
}

/// `target/xtask/NN-slug-failures.txt`: every failure of the last run in full.
pub fn reports_file(course: &Course, ex: &Exercise) -> PathBuf {
    course
        .root
        .join("target")
        .join("xtask")
        .join(format!("{}-failures.txt", ex.dir_name()))
}

fn write_reports(file: &Path, ex: &Exercise, failures: &[&TestCase]) -> std::io::Result<()> {
    let mut text = format!(
        "Exercise {}: {} failing, in full (the last run of `cargo xtask verify`).\n",
        ex.label(),
        ui::plural(failures.len(), "test")
    );
    for case in failures {
        text.push_str(&format!("\n{} {}\n", ui::FAIL_MARK, case.name));
        for line in case.message.as_deref().unwrap_or("(no message)").lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, text)
}

/// `3/5 tests pass` (plus ignored tests and the time taken).
pub fn summary_line(v: &Verification) -> String {
    let report = &v.run.report;
    let mut line = format!("{}/{} tests pass", report.passed(), report.total());
    if report.ignored() > 0 {
        line.push_str(&format!(", {} ignored", report.ignored()));
    }
    let style = match v.verdict {
        Verdict::Pass => ui::GOOD,
        Verdict::PassWithChangedTests => ui::WARN,
        _ => ui::BAD,
    };
    format!(
        "{} {}",
        paint(style, line),
        paint(ui::DIM, format!("({:.1} s)", v.run.duration.as_secs_f64()))
    )
}

/// What the passing explorations met, in one line (see `crate::explored`).
fn explored_line(course: &Course, ex: &Exercise, v: &Verification) {
    let package = ex.package(Tree::Exercise);
    let traces = course.build_dir().join("harness-traces").join(&package);
    let began = std::time::SystemTime::now() - v.run.duration;
    if let Some(line) = crate::explored::summary(&traces, began) {
        anstream::println!("{}", paint(ui::DIM, line));
    }
}

fn warn_changed_tests(course: &Course, ex: &Exercise, changed: &[PathBuf]) {
    if changed.is_empty() {
        return;
    }
    let names: Vec<String> = changed
        .iter()
        .map(|p| format!("tests/{}", p.display()))
        .collect();
    anstream::println!(
        "{}: you changed {} of exercise {}: the tests ran as you changed them, and the exercise is done only once the original tests pass. The originals are in {}.",
        paint(ui::WARN, "warning"),
        names.join(", "),
        ex.label(),
        course
            .rel(&course.dir(ex, Tree::Checkpoint).join("tests"))
            .display()
    );
}

fn next_step(course: &Course, ex: &Exercise, verdict: Verdict, mode: Mode) {
    let again = match mode {
        Mode::Verify => format!("run {} again", ui::cmd("cargo xtask verify")),
        Mode::Watch => "save to check again".to_string(),
    };
    let mine = course
        .rel(&course.dir(ex, Tree::Exercise))
        .display()
        .to_string();
    match verdict {
        Verdict::Pass => {
            anstream::println!(
                "{} Exercise {} is done!",
                paint(ui::GOOD, ui::PASS_MARK),
                ex.label()
            );
            match (course.next_after(ex), mode) {
                (Some(next), Mode::Verify) => anstream::println!(
                    "Next: {} — {}",
                    ui::cmd(format!("cargo xtask verify {}", next.number)),
                    next.title
                ),
                (Some(next), Mode::Watch) => anstream::println!(
                    "Next: type {} and Enter for exercise {} — {}",
                    paint(ui::BOLD, "n"),
                    next.label(),
                    next.title
                ),
                (None, _) => anstream::println!(
                    "That was the last exercise of the course. Well done! Compare with the reference: {}",
                    ui::cmd(format!("cargo xtask solution {} --mine", ex.number))
                ),
            }
        }
        Verdict::PassWithChangedTests => anstream::println!(
            "{} Your tests pass, but they are not the exercise's: copy the original tests back from {} into {mine}/tests/ and {again}.",
            paint(ui::WARN, "?"),
            course
                .rel(&course.dir(ex, Tree::Checkpoint).join("tests"))
                .display()
        ),
        Verdict::NoTests => anstream::println!(
            "{} no test ran: does {mine}/tests still have its tests?",
            paint(ui::WARN, "?"),
        ),
        Verdict::CompileError => anstream::println!(
            "Fix the first error in {mine}, then {again}. Stuck? {}",
            ui::cmd(format!("cargo xtask hint {}", ex.number))
        ),
        Verdict::Fail => anstream::println!(
            "Edit {mine} and {again}. Stuck? {}",
            ui::cmd(format!("cargo xtask hint {}", ex.number))
        ),
    }
}

fn to_json(course: &Course, ex: &Exercise, v: &Verification) -> serde_json::Value {
    let report = &v.run.report;
    let mut value = json!({
        "status": v.verdict.as_str(),
        "exercise": {
            "number": ex.number,
            "slug": ex.slug,
            "title": ex.title,
            "path": course.rel(&course.dir(ex, Tree::Exercise)),
        },
        "tests": report.tests,
        "passed": report.passed(),
        "failed": report.failed(),
        "ignored": report.ignored(),
        "total": report.total(),
        "duration_ms": v.run.duration.as_millis() as u64,
        "tests_changed": v.tests_changed,
    });
    if !v.run.compiler_output.is_empty() {
        value["compiler_output"] = v.run.compiler_output.clone().into();
    }
    value
}

/// `verify --all`: every built exercise in order, one line each.
fn verify_all(course: &Course, json: bool) -> Result<ExitCode> {
    let mut results = Vec::new();
    let mut passed = 0;
    let built: Vec<&Exercise> = course.built().collect();
    if built.is_empty() && !json {
        anstream::println!("No exercises yet: nothing to verify.");
    }
    for ex in &built {
        let v = verify_exercise(course, ex, Echo::Quiet)?;
        record(course, ex, &v, false);
        passed += usize::from(v.verdict == Verdict::Pass);
        if json {
            results.push(to_json(course, ex, &v));
        } else {
            print_line(ex, &v);
        }
    }
    if json {
        println!(
            "{}",
            json!({ "exercises": results, "passed": passed, "total": built.len() })
        );
    } else if !built.is_empty() {
        anstream::println!("\n{passed}/{} exercises pass", built.len());
    }
    Ok(super::exit_code(passed == built.len()))
}

fn print_line(ex: &Exercise, v: &Verification) {
    let report = &v.run.report;
    let counts = format!("{}/{}", report.passed(), report.total());
    let (mark, detail) = match v.verdict {
        Verdict::Pass => (paint(ui::GOOD, ui::PASS_MARK), counts),
        Verdict::PassWithChangedTests => (
            paint(ui::WARN, "?"),
            format!("{counts}, with tests changed from the checkpoint's"),
        ),
        Verdict::CompileError => (paint(ui::BAD, ui::FAIL_MARK), "does not compile".into()),
        Verdict::NoTests => (paint(ui::WARN, "?"), "no tests ran".into()),
        Verdict::Fail => {
            let first = ordered_failures(ex, report.failures())
                .first()
                .map(|t| format!(", first failure: {}", t.name));
            (
                paint(ui::BAD, ui::FAIL_MARK),
                format!("{counts}{}", first.unwrap_or_default()),
            )
        }
    };
    anstream::println!("{mark} {:<28} {detail}", ex.label());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cargo::Outcome;

    fn failed(name: &str, message: &str) -> TestCase {
        TestCase {
            name: name.into(),
            status: Outcome::Failed,
            message: Some(message.into()),
        }
    }

    #[test]
    fn a_failure_in_a_few_words() {
        let cases = [
            (
                "thread 't' (12) panicked at tests/a.rs:2:5:\nassertion `left == right` failed: add_one(1) should be 2\n  left: 0\n right: 2",
                "add_one(1) should be 2",
            ),
            (
                "thread 't' panicked at tests/a.rs:2:5:\nassertion `left == right` failed\n  left: 0",
                "assertion `left == right` failed",
            ),
            (
                "thread 't' panicked at tests/a.rs:2:5:\n\nItemAdded(m1) was published, then the write failed\n\nWhat happened (4 steps):",
                "ItemAdded(m1) was published, then the write failed",
            ),
            (
                "two copies: 365 schedules\n\nthread 't' panicked at tests/a.rs:2:5:\nduplicate: AddItem(m5)",
                "duplicate: AddItem(m5)",
            ),
            ("printed, then no panic", "printed, then no panic"),
            ("", "no message"),
        ];
        for (message, expected) in cases {
            assert_eq!(gist(&failed("t", message)), expected, "{message}");
        }
        let long = gist(&failed("t", &"word ".repeat(40)));
        assert!(long.ends_with('…') && long.chars().count() <= 109, "{long}");
        assert_eq!(
            gist(&failed("t", "6 things are wrong:\n  - one\n  - two")),
            "6 things are wrong: - one"
        );
    }

    #[test]
    fn failures_come_in_the_course_s_order_then_shortest_first() {
        let ex = Course::parse(
            Path::new("/nowhere"),
            "version = 1\n[[exercise]]\nnumber = 1\nslug = \"a\"\npart = \"A\"\ntitle = \"A\"\n\
             minutes = 1\nfailing_tests = [\"second\", \"scenario::first\"]\n",
        )
        .unwrap()
        .exercises
        .remove(0);
        let cases = [
            failed("long", "1\n2\n3"),
            failed("scenario::first", "1\n2\n3\n4"),
            failed("short", "1"),
            failed("mod::second", "1\n2\n3\n4\n5"),
        ];
        let names: Vec<&str> = ordered_failures(&ex, cases.iter())
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["mod::second", "scenario::first", "short", "long"]);
    }
}
