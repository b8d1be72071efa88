//! Running cargo, and reading libtest's human output (stable Rust has no JSON
//! test output).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Context, Result};

/// The cargo that started us (`$CARGO`), so the toolchain pin is honoured.
pub fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// Turns rustc's incremental caches off for this command, unless the caller
/// chose (`CARGO_INCREMENTAL` set). For crates nobody edits afterwards (the
/// harness, the shop, checkpoints and solutions) they are written and never
/// read: about a sixth more CPU for the kit's own crates (the harness: 36.6-41.8
/// s with them, 31.5-34.3 s without) and half of target/. The setting is not
/// part of cargo's fingerprint: a later build with the caches on reuses what
/// this one built.
pub fn without_incremental_caches(cmd: &mut Command) -> &mut Command {
    if std::env::var_os("CARGO_INCREMENTAL").is_none() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

/// `cargo test` arguments for an exercise crate: its integration tests only.
/// An exercise's tests live in `tests/` (identical in all three copies), so a
/// save compiles the library once: no unit-test build of it, no doc-tests.
pub fn exercise_test_args(package: &str) -> Vec<String> {
    ["-p", package, "--test", "*"].map(String::from).to_vec()
}

/// How `run_tests` shows cargo's own output while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Capture only (for `--json`, `check` and tests).
    Quiet,
    /// Print compiler messages as they come, in colour when `colour` is set.
    Live { colour: bool },
}

/// One `cargo test` run.
#[derive(Debug)]
pub struct TestRun {
    /// cargo's stderr without its status lines: compiler errors and warnings,
    /// and what a crashing test binary printed. Colour codes removed.
    pub compiler_output: String,
    pub report: TestReport,
    pub duration: Duration,
    pub exit_ok: bool,
}

impl TestRun {
    /// No test binary started: the build failed.
    pub fn compile_failed(&self) -> bool {
        !self.exit_ok && self.report.suites == 0
    }
}

/// Runs `cargo test <args> --no-fail-fast` once and parses what libtest printed.
pub fn run_tests(root: &Path, args: &[String], echo: Echo) -> Result<TestRun> {
    spawn_tests(cargo(root), args, echo)
}

/// [`run_tests`] in a workspace of its own that shares a build directory.
pub fn run_tests_in(dir: &Path, target_dir: &Path, args: &[String], echo: Echo) -> Result<TestRun> {
    let mut cmd = cargo(dir);
    cmd.env("CARGO_TARGET_DIR", target_dir);
    spawn_tests(cmd, args, echo)
}

fn spawn_tests(mut cmd: Command, args: &[String], echo: Echo) -> Result<TestRun> {
    let colour = matches!(echo, Echo::Live { colour: true });
    let start = Instant::now();
    // The harness explains each failure in the course's words; a stack
    // backtrace under every message would bury that explanation.
    let mut child = cmd
        .env("RUST_BACKTRACE", "0")
        .arg("test")
        .args(args)
        .arg("--no-fail-fast")
        .arg(if colour {
            "--color=always"
        } else {
            "--color=never"
        })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| "could not start cargo".to_string())?;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let stderr = BufReader::new(child.stderr.take().expect("piped"));
    let compiler_output = relay_stderr(stderr, echo);
    let status = child.wait()?;
    let stdout = reader.join().unwrap_or_default();
    Ok(TestRun {
        compiler_output,
        report: parse_libtest(&stdout),
        duration: start.elapsed(),
        exit_ok: status.success(),
    })
}

/// Reads cargo's stderr line by line, drops its status lines, echoes the rest
/// if asked, and returns the rest without colour codes.
fn relay_stderr(stderr: impl BufRead, echo: Echo) -> String {
    let mut kept = String::new();
    let mut indicator = BuildIndicator::default();
    for line in stderr.split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line);
        let plain = anstream::adapter::strip_str(&line).to_string();
        if let Some(crate_name) = compiling(&plain) {
            if let Echo::Live { colour: true } = echo {
                indicator.show(crate_name);
            }
            continue;
        }
        if is_cargo_status(&plain) {
            continue;
        }
        if let Echo::Live { .. } = echo {
            indicator.clear();
            anstream::println!("{line}");
        }
        kept.push_str(&plain);
        kept.push('\n');
    }
    indicator.clear();
    kept
}

/// A one-line "building…" indicator, rewritten in place on a terminal, so a
/// first build shows life without flooding the screen.
#[derive(Default)]
struct BuildIndicator {
    count: usize,
    shown: bool,
}

impl BuildIndicator {
    fn show(&mut self, crate_name: &str) {
        self.count += 1;
        self.shown = true;
        print!(
            "\r\x1b[K  building {crate_name} ({} crates so far)…",
            self.count
        );
        let _ = std::io::stdout().flush();
    }

    fn clear(&mut self) {
        if std::mem::take(&mut self.shown) {
            print!("\r\x1b[K");
            let _ = std::io::stdout().flush();
        }
    }
}

/// `Compiling foo v0.1.0 (…)` → `foo`.
fn compiling(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("Compiling ")?;
    rest.split_whitespace().next()
}

/// cargo's own chatter, which the runner replaces with its summary. Compiler
/// diagnostics and crash reports are never status lines.
pub fn is_cargo_status(line: &str) -> bool {
    const STATUS: [&str; 12] = [
        "Blocking ",
        "Finished ",
        "Running ",
        "Doc-tests ",
        "Fresh ",
        "Checking ",
        "Locking ",
        "Adding ",
        "Downloading ",
        "Downloaded ",
        "Updating ",
        "Executable ",
    ];
    let trimmed = line.trim_start();
    let indented = line.starts_with("  ");
    (indented && STATUS.iter().any(|s| trimmed.starts_with(s)))
        || trimmed.starts_with("error: test failed, to rerun pass")
        || (trimmed.starts_with("error: ")
            && (trimmed.ends_with(" targets failed:") || trimmed.ends_with(" target failed:")))
        || (indented && trimmed.starts_with("`-p ") && trimmed.ends_with('`'))
        || (indented && trimmed.starts_with("`--") && trimmed.ends_with('`'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestCase {
    pub name: String,
    pub status: Outcome,
    /// What the failing test printed: its panic or assertion message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    pub tests: Vec<TestCase>,
    /// Test binaries that started (`running N tests`).
    pub suites: usize,
    /// Test binaries that started but never printed `test result:`: they crashed.
    pub crashed_suites: usize,
}

impl TestReport {
    fn count(&self, outcome: Outcome) -> usize {
        self.tests.iter().filter(|t| t.status == outcome).count()
    }

    pub fn passed(&self) -> usize {
        self.count(Outcome::Passed)
    }

    pub fn failed(&self) -> usize {
        self.count(Outcome::Failed)
    }

    pub fn ignored(&self) -> usize {
        self.count(Outcome::Ignored)
    }

    /// Tests that ran (ignored ones do not count).
    pub fn total(&self) -> usize {
        self.passed() + self.failed()
    }

    pub fn all_passed(&self) -> bool {
        self.failed() == 0 && self.crashed_suites == 0 && self.total() > 0
    }

    pub fn failures(&self) -> impl Iterator<Item = &TestCase> {
        self.tests.iter().filter(|t| t.status == Outcome::Failed)
    }
}

/// Parses libtest's human output, from any number of test binaries.
pub fn parse_libtest(stdout: &str) -> TestReport {
    let mut report = TestReport::default();
    let mut suite_start = 0;
    let mut open = false;
    let mut in_details = false;
    let mut section: Option<(String, Vec<&str>)> = None;

    for line in stdout.lines() {
        if line.starts_with("running ") && (line.ends_with(" tests") || line.ends_with(" test")) {
            finish_section(&mut report, suite_start, &mut section);
            report.suites += 1;
            report.crashed_suites += usize::from(open);
            open = true;
            in_details = false;
            suite_start = report.tests.len();
        } else if line.starts_with("test result: ") {
            finish_section(&mut report, suite_start, &mut section);
            open = false;
        } else if line == "failures:" {
            finish_section(&mut report, suite_start, &mut section);
            in_details = !in_details;
        } else if let Some(name) = section_header(line).filter(|_| in_details) {
            finish_section(&mut report, suite_start, &mut section);
            section = Some((name.to_string(), Vec::new()));
        } else if let Some((_, lines)) = section.as_mut() {
            lines.push(line);
        } else if let Some(case) = result_line(line) {
            report.tests.push(case);
        }
    }
    finish_section(&mut report, suite_start, &mut section);
    report.crashed_suites += usize::from(open);
    report
}

/// `---- name stdout ----` → `name`.
fn section_header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("---- ")?.strip_suffix(" ----")?;
    inner
        .strip_suffix(" stdout")
        .or_else(|| inner.strip_suffix(" stderr"))
}

/// `test name ... ok` → a test case.
fn result_line(line: &str) -> Option<TestCase> {
    let (name, result) = line.strip_prefix("test ")?.rsplit_once(" ... ")?;
    let status = match result {
        "ok" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        r if r.starts_with("ignored") => Outcome::Ignored,
        _ => return None,
    };
    Some(TestCase {
        name: name.to_string(),
        status,
        message: None,
    })
}

/// Attaches a finished `---- name stdout ----` section to its test.
fn finish_section(
    report: &mut TestReport,
    suite_start: usize,
    section: &mut Option<(String, Vec<&str>)>,
) {
    let Some((name, lines)) = section.take() else {
        return;
    };
    let kept: Vec<&str> = lines
        .into_iter()
        .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE=1`"))
        .collect();
    let message = kept.join("\n").trim_matches('\n').trim_end().to_string();
    if let Some(case) = report.tests[suite_start..]
        .iter_mut()
        .find(|t| t.name == name)
    {
        case.message = Some(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "
running 1 test
test t::unit ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s


running 3 tests
test good ... ok
test ign ... ignored, slow
test bad ... FAILED

failures:

---- bad stdout ----

thread 'bad' (6665) panicked at a/tests/one.rs:2:19:
assertion `left == right` failed: seed=0x5eed replay: cargo xtask replay 1
  left: 1
 right: 2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    bad

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.10s


running 1 test
test bad ... FAILED

failures:

---- bad stdout ----
thread 'bad' panicked at a/tests/two.rs:1:20:
multi

message

failures:
    bad

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s
";

    #[test]
    fn parses_outcomes_and_messages_across_binaries() {
        let report = parse_libtest(OUTPUT);
        assert_eq!(report.suites, 3);
        assert_eq!(report.crashed_suites, 0);
        assert_eq!(
            (
                report.passed(),
                report.failed(),
                report.ignored(),
                report.total()
            ),
            (2, 2, 1, 4)
        );
        let failures: Vec<_> = report.failures().collect();
        // Same name in two binaries: each keeps its own message.
        assert_eq!(
            failures[0].message.as_deref(),
            Some(
                "thread 'bad' (6665) panicked at a/tests/one.rs:2:19:\n\
                 assertion `left == right` failed: seed=0x5eed replay: cargo xtask replay 1\n  left: 1\n right: 2"
            )
        );
        assert_eq!(
            failures[1].message.as_deref(),
            Some("thread 'bad' panicked at a/tests/two.rs:1:20:\nmulti\n\nmessage")
        );
        assert!(!report.all_passed());
    }

    #[test]
    fn a_binary_without_a_result_line_crashed() {
        let report = parse_libtest("running 2 tests\ntest a ... ok\n");
        assert_eq!((report.suites, report.crashed_suites), (1, 1));
        assert!(!report.all_passed());
    }

    #[test]
    fn no_tests_is_not_a_pass() {
        let report = parse_libtest("running 0 tests\n\ntest result: ok. 0 passed\n");
        assert!(!report.all_passed());
    }

    #[test]
    fn doc_test_names_and_slow_test_notices() {
        let out = "running 2 tests\ntest src/lib.rs - f (line 3) ... ok\n\
                   test slow has been running for over 60 seconds\ntest slow ... ok\n";
        let names: Vec<_> = parse_libtest(out)
            .tests
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["src/lib.rs - f (line 3)", "slow"]);
    }

    #[test]
    fn cargo_status_lines_are_recognised() {
        for status in [
            "    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.60s",
            "     Running tests/one.rs (target/debug/deps/one-8c4a3302b073070f)",
            "error: test failed, to rerun pass `-p exa --test one`",
            "error: 2 targets failed:",
            "    `-p exa --test one`",
        ] {
            assert!(is_cargo_status(status), "{status}");
        }
        for kept in [
            "error[E0308]: mismatched types",
            " --> src/lib.rs:1:1",
            "warning: unused variable: `x`",
        ] {
            assert!(!is_cargo_status(kept), "{kept}");
        }
        assert_eq!(compiling("   Compiling exa v0.1.0 (/tmp/a)"), Some("exa"));
    }
}
