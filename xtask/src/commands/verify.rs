//! `verify [N]`: run an exercise's tests once and explain the result.
//! `watch` reuses [`verify_exercise`] and [`report`].

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::cargo::{self, Echo, TestRun};
use crate::cli::VerifyArgs;
use crate::course::{Copy, Course, Exercise};
use crate::error::Result;
use crate::progress::Progress;
use crate::ui::{self, paint};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    CompileError,
    NoTests,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::CompileError => "compile_error",
            Verdict::NoTests => "no_tests",
        }
    }
}

/// The result of verifying one exercise.
#[derive(Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub run: TestRun,
    /// Files under `tests/` that differ from the checkpoint's.
    pub tests_changed: Vec<PathBuf>,
}

pub fn run(course: &Course, args: &VerifyArgs) -> Result<ExitCode> {
    let mut progress = Progress::load(course);
    if args.all {
        return verify_all(course, &mut progress, args.json);
    }
    let ex = super::chosen(course, &progress, args.exercise.as_deref())?;
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
    let outcome = verify_exercise(course, ex, echo)?;
    progress.current = Some(ex.slug.clone());
    record(course, &mut progress, ex, &outcome);
    if args.json {
        println!("{}", to_json(course, ex, &outcome));
    } else {
        report(course, ex, &outcome);
    }
    Ok(super::exit_code(outcome.verdict == Verdict::Pass))
}

/// Runs the attendee's copy of `ex` through `cargo test` once.
pub fn verify_exercise(course: &Course, ex: &Exercise, echo: Echo) -> Result<Outcome> {
    let tests_changed = changed_tests(course, ex);
    let args = cargo::exercise_test_args(&ex.package(Copy::Exercise));
    let run = cargo::run_tests(&course.root, &args, echo)?;
    let verdict = if run.compile_failed() {
        Verdict::CompileError
    } else if run.report.all_passed() && run.exit_ok {
        Verdict::Pass
    } else if run.report.total() == 0 && run.report.crashed_suites == 0 && run.exit_ok {
        Verdict::NoTests
    } else {
        Verdict::Fail
    };
    Ok(Outcome {
        verdict,
        run,
        tests_changed,
    })
}

/// Files in the attendee's `tests/` that differ from the checkpoint's.
fn changed_tests(course: &Course, ex: &Exercise) -> Vec<PathBuf> {
    let mine = course.dir(ex, Copy::Exercise).join("tests");
    let pristine = course.dir(ex, Copy::Checkpoint).join("tests");
    if !pristine.is_dir() {
        return Vec::new();
    }
    crate::fsutil::differing_files(&mine, &pristine, |_| false).unwrap_or_default()
}

/// Saves what this run taught us: a pass marks the exercise done.
pub fn record(course: &Course, progress: &mut Progress, ex: &Exercise, outcome: &Outcome) {
    if outcome.verdict == Verdict::Pass {
        progress.mark_done(&ex.slug);
    }
    if let Err(e) = progress.save(course) {
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
                course.rel(&course.dir(ex, Copy::Exercise)).display()
            )
        )
    );
}

/// Shown at once, before cargo starts, so a slow build never looks like a hang.
pub fn print_checking() {
    anstream::println!("{}", paint(ui::DIM, "checking…"));
}

/// The human verdict: failing tests first, the summary line, then what to do next.
pub fn report(course: &Course, ex: &Exercise, outcome: &Outcome) {
    let report = &outcome.run.report;
    warn_changed_tests(course, ex, &outcome.tests_changed);
    if outcome.verdict == Verdict::CompileError {
        anstream::println!(
            "\n{} {} does not compile yet: the compiler's messages are above.",
            paint(ui::BAD, ui::FAIL_MARK),
            ex.label()
        );
        anstream::println!(
            "Fix the first error, then run {} again.",
            ui::cmd("cargo xtask verify")
        );
        return;
    }
    for case in report.failures() {
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
    anstream::println!("\n{}", summary_line(outcome));
    next_step(course, ex, outcome.verdict);
}

/// `3/5 tests pass` (plus ignored tests and the time taken).
pub fn summary_line(outcome: &Outcome) -> String {
    let report = &outcome.run.report;
    let mut line = format!("{}/{} tests pass", report.passed(), report.total());
    if report.ignored() > 0 {
        line.push_str(&format!(", {} ignored", report.ignored()));
    }
    let style = if outcome.verdict == Verdict::Pass {
        ui::GOOD
    } else {
        ui::BAD
    };
    format!(
        "{} {}",
        paint(style, line),
        paint(
            ui::DIM,
            format!("({:.1} s)", outcome.run.duration.as_secs_f64())
        )
    )
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
        "{}: you changed {} of exercise {}: the verdict uses your version. The original is in {}.",
        paint(ui::WARN, "warning"),
        names.join(", "),
        ex.label(),
        course
            .rel(&course.dir(ex, Copy::Checkpoint).join("tests"))
            .display()
    );
}

fn next_step(course: &Course, ex: &Exercise, verdict: Verdict) {
    match verdict {
        Verdict::Pass => {
            anstream::println!(
                "{} Exercise {} is done!",
                paint(ui::GOOD, ui::PASS_MARK),
                ex.label()
            );
            match course.next_after(ex) {
                Some(next) => anstream::println!(
                    "Next: {} — {}",
                    ui::cmd(format!("cargo xtask verify {}", next.number)),
                    next.title
                ),
                None => anstream::println!(
                    "That was the last exercise of the course. Well done! Compare with the reference: {}",
                    ui::cmd(format!("cargo xtask solution {} --mine", ex.number))
                ),
            }
        }
        Verdict::NoTests => anstream::println!(
            "{} no test ran: does {} still have its tests?",
            paint(ui::WARN, "?"),
            course
                .rel(&course.dir(ex, Copy::Exercise).join("tests"))
                .display()
        ),
        Verdict::Fail | Verdict::CompileError => anstream::println!(
            "Edit {} and run {} again. Stuck? {}",
            course.rel(&course.dir(ex, Copy::Exercise)).display(),
            ui::cmd("cargo xtask verify"),
            ui::cmd(format!("cargo xtask hint {}", ex.number))
        ),
    }
}

fn to_json(course: &Course, ex: &Exercise, outcome: &Outcome) -> serde_json::Value {
    let report = &outcome.run.report;
    let mut value = json!({
        "status": outcome.verdict.as_str(),
        "exercise": {
            "number": ex.number,
            "slug": ex.slug,
            "title": ex.title,
            "path": course.rel(&course.dir(ex, Copy::Exercise)),
        },
        "tests": report.tests,
        "passed": report.passed(),
        "failed": report.failed(),
        "ignored": report.ignored(),
        "total": report.total(),
        "duration_ms": outcome.run.duration.as_millis() as u64,
        "tests_changed": outcome.tests_changed,
    });
    if !outcome.run.compiler_output.is_empty() {
        value["compiler_output"] = outcome.run.compiler_output.clone().into();
    }
    value
}

/// `verify --all`: every built exercise in order, one line each.
fn verify_all(course: &Course, progress: &mut Progress, json: bool) -> Result<ExitCode> {
    let mut results = Vec::new();
    let mut passed = 0;
    let built: Vec<&Exercise> = course.built().collect();
    if built.is_empty() && !json {
        anstream::println!("No exercises yet: nothing to verify.");
    }
    for ex in &built {
        let outcome = verify_exercise(course, ex, Echo::Quiet)?;
        record(course, progress, ex, &outcome);
        passed += usize::from(outcome.verdict == Verdict::Pass);
        if json {
            results.push(to_json(course, ex, &outcome));
        } else {
            print_line(ex, &outcome);
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

fn print_line(ex: &Exercise, outcome: &Outcome) {
    let report = &outcome.run.report;
    let (mark, detail) = match outcome.verdict {
        Verdict::Pass => (
            paint(ui::GOOD, ui::PASS_MARK),
            format!("{}/{}", report.passed(), report.total()),
        ),
        Verdict::CompileError => (paint(ui::BAD, ui::FAIL_MARK), "does not compile".into()),
        Verdict::NoTests => (paint(ui::WARN, "?"), "no tests ran".into()),
        Verdict::Fail => {
            let first = report
                .failures()
                .next()
                .map(|t| format!(", first failure: {}", t.name));
            (
                paint(ui::BAD, ui::FAIL_MARK),
                format!(
                    "{}/{}{}",
                    report.passed(),
                    report.total(),
                    first.unwrap_or_default()
                ),
            )
        }
    };
    anstream::println!("{mark} {:<28} {detail}", ex.label());
}
