//! The runner end to end, on fixture courses in temporary folders.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::Fixture;

// ---- verify ----------------------------------------------------------------

#[test]
fn verify_shows_failing_tests_first_then_the_summary_and_the_next_step() {
    let fx = Fixture::course();
    let run = fx.run(&["verify", "1"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let out = &run.stdout;
    let failure = out.find("✗ adds_one").expect(out);
    let message = out.find("add_one(1) should be 2").expect(out);
    let summary = out.find("1/2 tests pass").expect(out);
    assert!(failure < message && message < summary, "{out}");
    assert!(
        !out.contains("zero_stays_small"),
        "passing tests are hidden: {out}"
    );
    assert!(
        !out.contains("Running"),
        "cargo's status lines are hidden: {out}"
    );
    assert!(
        !out.contains('\x1b'),
        "no colour when not a terminal: {out:?}"
    );
    assert!(out.contains("cargo xtask hint 1"), "{out}");

    fx.solve("01");
    let run = fx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("2/2 tests pass"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Next: `cargo xtask verify 2`"),
        "{}",
        run.stdout
    );
    let progress = fx.read(".progress.toml");
    assert!(progress.contains("version = 1"), "{progress}");
    assert!(progress.contains("current = \"add-one\""), "{progress}");
    assert!(
        progress.contains("[exercises.add-one]\nstatus = \"done\""),
        "{progress}"
    );
}

#[test]
fn verify_all_runs_every_exercise_in_order() {
    let fx = Fixture::course();
    fx.solve("02");
    let run = fx.run(&["verify", "--all"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let out = &run.stdout;
    let first = out.find("✗ 01 add-one").expect(out);
    let second = out.find("✓ 02 double").expect(out);
    assert!(
        first < second && out.contains("1/2 exercises pass"),
        "{out}"
    );
    assert!(out.contains("first failure: adds_one"), "{out}");
}

#[test]
fn verify_json_is_one_object_with_every_test() {
    let fx = Fixture::course();
    let run = fx.run(&["verify", "add-one", "--json"]);
    assert_eq!(run.code, 1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    assert_eq!(json["status"], "fail");
    assert_eq!(json["exercise"]["slug"], "add-one");
    assert_eq!(
        (json["passed"].as_u64(), json["total"].as_u64()),
        (Some(1), Some(2))
    );
    let tests = json["tests"].as_array().unwrap();
    let failed = tests.iter().find(|t| t["status"] == "failed").unwrap();
    assert_eq!(failed["name"], "adds_one");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("add_one(1) should be 2")
    );
    assert!(json["duration_ms"].as_u64().is_some());
}

#[test]
fn verify_shows_compiler_errors_raw() {
    let fx = Fixture::course();
    fx.edit("exercises/02-double/src/lib.rs", "x + 2", "x + \"2\"");
    let run = fx.run(&["verify", "double"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("error[E0277]"), "{}", run.stdout);
    assert!(
        run.stdout.contains("02 double does not compile yet"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("tests pass"), "{}", run.stdout);
}

#[test]
fn verify_warns_about_edited_tests() {
    let fx = Fixture::course();
    fx.edit("exercises/01-add-one/tests/add_one.rs", "< 5", "< 50");
    let run = fx.run(&["verify", "1"]);
    assert!(
        run.stdout.contains("you changed tests/add_one.rs"),
        "{}",
        run.stdout
    );
}

#[test]
fn unknown_exercise_lists_the_valid_ones() {
    let fx = Fixture::course();
    let run = fx.run(&["verify", "async-submit"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown exercise `async-submit`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1  add-one") && run.stderr.contains("2  double"),
        "{}",
        run.stderr
    );
}

#[test]
fn works_from_a_subfolder() {
    let fx = Fixture::course();
    let run = fx
        .command(&["list"])
        .current_dir(fx.path("exercises/02-double/src"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("01 add-one") && out.contains("0/2 done"),
        "{out}"
    );
}

#[test]
fn empty_course_runs_say_so() {
    let fx = Fixture::empty();
    let run = fx.run(&["verify"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no exercises yet"), "{}", run.stderr);
    assert!(fx.run(&["list"]).stdout.contains("no exercises yet"));
}

// ---- progress repair ------------------------------------------------------

#[test]
fn a_corrupt_progress_file_is_kept_aside_and_rebuilt() {
    let fx = Fixture::course();
    fx.write(".progress.toml", "version = 1\ncurrent = [oops\n");
    let run = fx.run(&["list"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("could not be read"), "{}", run.stderr);
    let aside: Vec<_> = std::fs::read_dir(fx.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".progress.toml.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(fx.read(&aside[0]), "version = 1\ncurrent = [oops\n");
    assert!(fx.read(".progress.toml").contains("version = 1"));
}

#[test]
fn stale_and_missing_progress_is_repaired_with_a_warning() {
    let fx = Fixture::course();
    let run = fx.run(&["list"]);
    assert!(
        run.stderr.contains("starting a new progress file"),
        "{}",
        run.stderr
    );

    fx.write(
        ".progress.toml",
        "version = 1\ncurrent = \"renamed-away\"\n[exercises.renamed-away]\nstatus = \"done\"\n\
         [exercises.double]\nstatus = \"done\"\nhints_used = 2\n",
    );
    let run = fx.run(&["list"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr
            .contains("`renamed-away`, which is no longer in the course"),
        "{}",
        run.stderr
    );
    let progress = fx.read(".progress.toml");
    assert!(!progress.contains("renamed-away"), "{progress}");
    assert!(
        progress.contains("[exercises.double]\nstatus = \"done\"\nhints_used = 2"),
        "{progress}"
    );
    assert!(
        fx.run(&["list"]).stderr.is_empty(),
        "repaired once, quiet afterwards"
    );
}

// ---- hint, solution ---------------------------------------------------------

#[test]
fn hints_come_one_level_at_a_time_and_are_recorded() {
    let fx = Fixture::course();
    assert!(
        fx.run(&["hint"])
            .stdout
            .contains("Hint 1/3 for exercise 01 add-one")
    );
    assert!(
        fx.run(&["hint", "1"])
            .stdout
            .contains("It should add, not subtract.")
    );
    let last = fx.run(&["hint", "1"]).stdout;
    assert!(
        last.contains("x + 1") && last.contains("last hint"),
        "{last}"
    );
    assert!(
        fx.run(&["hint", "1", "--level", "1"])
            .stdout
            .contains("Look at add_one.")
    );
    assert!(fx.read(".progress.toml").contains("hints_used = 3"));
    assert!(fx.run(&["list"]).stdout.contains("hints 3/3"));
}

#[test]
fn solution_shows_sources_and_diffs() {
    let fx = Fixture::course();
    let plain = fx.run(&["solution", "1"]).stdout;
    assert!(
        plain.contains("solutions/01-add-one/src/lib.rs") && plain.contains("x + 1"),
        "{plain}"
    );
    let diff = fx.run(&["solution", "1", "--diff"]).stdout;
    assert!(
        diff.contains("-    x - 1") && diff.contains("+    x + 1"),
        "{diff}"
    );
    assert!(!diff.contains("Cargo.toml"), "{diff}");
    fx.solve("01");
    let mine = fx.run(&["solution", "1", "--mine"]).stdout;
    assert!(
        mine.contains("already matches the reference solution"),
        "{mine}"
    );
}

// ---- explore --------------------------------------------------------------------

#[test]
fn explore_needs_an_exercise_with_a_model() {
    let fx = Fixture::course();
    let run = fx.run(&["explore", "1"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains("exercise 01 add-one has no model to explore")
            && run.stderr.contains("exercises/01-add-one/src/model/")
            && run.stderr.contains("(none built yet)"),
        "{}",
        run.stderr
    );
    let run = fx.run(&["explore", "9"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown exercise `9`"),
        "{}",
        run.stderr
    );
}

#[test]
fn explore_runs_the_exercise_s_own_explorer_on_the_loopback() {
    let fx = Fixture::course();
    // A stand-in for the exercise's example: it prints what it was asked to
    // serve and stops, where the real one would serve until Ctrl-C.
    fx.write("exercises/02-double/src/model/mod.rs", "// the model\n");
    fx.write(
        "exercises/02-double/examples/explore.rs",
        "fn main() {\n    let args: Vec<String> = std::env::args().skip(1).collect();\n    println!(\"serving {args:?}\");\n}\n",
    );
    let run = fx.run(&["explore", "double", "--port", "3999"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains(r#"serving ["--addr", "127.0.0.1:3999"]"#),
        "{}",
        run.all()
    );
    let run = fx.run(&["explore", "1"]);
    assert!(run.stderr.contains("  2  double"), "{}", run.stderr);
}

// ---- reset and checkpoint -------------------------------------------------------

#[test]
fn reset_backs_up_then_restores_the_checkpoint() {
    let fx = Fixture::course();
    fx.solve("01");
    fx.write("exercises/01-add-one/src/extra.rs", "// my notes\n");
    let run = fx.run(&["reset", "1"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let backup = fx.backup("-01-add-one");
    assert!(
        run.stdout.contains(&format!(
            ".backups/{}",
            backup.file_name().unwrap().to_string_lossy()
        )),
        "{}",
        run.stdout
    );
    assert!(
        std::fs::read_to_string(backup.join("src/lib.rs"))
            .unwrap()
            .contains("x + 1")
    );
    assert!(backup.join("src/extra.rs").is_file());

    assert!(fx.read("exercises/01-add-one/src/lib.rs").contains("x - 1"));
    assert!(!fx.path("exercises/01-add-one/src/extra.rs").exists());
    assert_eq!(
        fx.read("exercises/01-add-one/Cargo.toml"),
        fx.read("exercises/02-double/Cargo.toml")
            .replace("02-double", "01-add-one")
            .replace("\"double\"", "\"add_one\"")
    );

    std::fs::remove_dir_all(fx.path("exercises/02-double")).unwrap();
    let recreated = fx.run(&["reset", "double"]);
    assert_eq!(recreated.code, 0, "{}", recreated.all());
    assert!(fx.read("exercises/02-double/src/lib.rs").contains("x + 2"));

    let again = fx.run(&["reset", "1"]);
    assert!(
        again.stdout.contains("already at its starting point"),
        "{}",
        again.stdout
    );
}

#[test]
fn reset_all_asks_first() {
    let fx = Fixture::course();
    fx.solve("01");
    fx.solve("02");
    fx.run(&["verify", "2"]);
    let no = fx.run_with_input(&["reset", "--all"], "n\n");
    assert_eq!(no.code, 1);
    assert!(
        no.stdout.contains("Reset all 2 exercises") && no.stdout.contains("Nothing changed"),
        "{}",
        no.stdout
    );
    assert!(fx.read("exercises/01-add-one/src/lib.rs").contains("x + 1"));

    let yes = fx.run_with_input(&["reset", "--all"], "y\n");
    assert_eq!(yes.code, 0, "{}", yes.all());
    let backup = fx.backup("-all");
    assert!(
        std::fs::read_to_string(backup.join("01-add-one/src/lib.rs"))
            .unwrap()
            .contains("x + 1")
    );
    assert!(
        std::fs::read_to_string(backup.join(".progress.toml"))
            .unwrap()
            .contains("status = \"done\"")
    );
    assert!(fx.read("exercises/02-double/src/lib.rs").contains("x + 2"));
    assert!(!fx.path(".progress.toml").exists());
    let quiet = fx.run(&["reset", "--all", "--yes"]);
    assert_eq!(quiet.code, 0);
    assert!(
        !quiet.stdout.contains(".backups"),
        "nothing to back up: {}",
        quiet.stdout
    );
    fx.backup("-all"); // still exactly one backup folder
}

#[test]
fn checkpoint_skips_ahead_with_a_backup() {
    let fx = Fixture::course();
    fx.edit("exercises/02-double/src/lib.rs", "x + 2", "x + 3");
    let run = fx.run(&["checkpoint", "2"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("Marked as skipped: add-one"),
        "{}",
        run.stdout
    );
    assert!(
        std::fs::read_to_string(fx.backup("-02-double").join("src/lib.rs"))
            .unwrap()
            .contains("x + 3")
    );
    assert!(fx.read("exercises/02-double/src/lib.rs").contains("x + 2"));
    let progress = fx.read(".progress.toml");
    assert!(progress.contains("current = \"double\""), "{progress}");
    assert!(
        progress.contains("[exercises.add-one]\nstatus = \"skipped\""),
        "{progress}"
    );
    assert!(
        fx.run(&["verify", "--json"])
            .stdout
            .contains("\"slug\":\"double\"")
    );
}

// ---- check ---------------------------------------------------------------------------

#[test]
fn check_passes_on_a_good_course_and_an_empty_one() {
    let fx = Fixture::course();
    let run = fx.run(&["check"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("Exercise 01 add-one"), "{}", run.stdout);
    assert!(run.stdout.contains("✓ checkpoint fails"), "{}", run.stdout);
    assert!(
        run.stdout.trim_end().ends_with("21 passed, 0 failed"),
        "{}",
        run.stdout
    );

    let empty = Fixture::empty();
    let run = empty.run(&["check"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("No exercises yet"), "{}", run.stdout);
    assert!(
        run.stdout.trim_end().ends_with(" passed, 0 failed"),
        "{}",
        run.stdout
    );
}

#[test]
fn check_catches_broken_exercises() {
    let fx = Fixture::course();
    // 01: the checkpoint already passes (nothing to learn).
    for copy in ["exercises", "checkpoints"] {
        fx.edit(&format!("{copy}/01-add-one/src/lib.rs"), "x - 1", "x + 1");
    }
    // 02: the solution is wrong, and the attendee copy's tests drifted.
    fx.edit("solutions/02-double/src/lib.rs", "x * 2", "x + 2");
    fx.edit(
        "exercises/02-double/tests/double.rs",
        "should be 6",
        "must be 6",
    );
    // 02's solution has a binary, which every verify would build.
    fx.write("solutions/02-double/src/main.rs", "fn main() {}\n");
    let run = fx.run(&["check"]);
    assert_eq!(run.code, 1);
    let out = &run.stdout;
    assert!(
        out.contains("solutions/02-double: src/main.rs is a binary: make it examples/<command>.rs"),
        "{out}"
    );
    assert!(
        out.contains(
            "✗ checkpoint fails             listed test `adds_one` passes at the checkpoint"
        ),
        "{out}"
    );
    assert!(out.contains("✗ solution passes"), "{out}");
    assert!(
        out.contains("doubles: assertion `left == right` failed: double(3) should be 6"),
        "{out}"
    );
    assert!(
        out.contains("tests/double.rs differs between checkpoints and exercises"),
        "{out}"
    );
    assert!(out.contains("✗ exercise = checkpoint"), "{out}");
    assert!(out.trim_end().ends_with("16 passed, 5 failed"), "{out}");
}

#[test]
fn check_verifies_the_chain_against_the_recorded_scenario() {
    let fx = Fixture::course();
    fx.edit(
        "course.toml",
        "slug = \"double\"",
        "slug = \"double\"\ncontinues = [\"src/lib.rs\"]",
    );
    // Checkpoint 02's lesson file is not solution 01's, and no scenario says why.
    let run = fx.run(&["check", "--only", "2"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("✗ chain") && run.stdout.contains("--bless"),
        "{}",
        run.stdout
    );
    // Recording the difference as the new scenario makes the chain hold…
    let run = fx.run(&["check", "--only", "2", "--bless"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let diff = fx.read("solutions/02-double/scenario.diff");
    assert!(
        diff.contains("+++ checkpoints/02-double/src/lib.rs"),
        "{diff}"
    );
    let run = fx.run(&["check", "--only", "double"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("✓ chain"), "{}", run.stdout);
    // … and the solution diff still shows the lesson only.
    let run = fx.run(&["solution", "2", "--diff"]);
    assert!(!run.stdout.contains("scenario.diff"), "{}", run.stdout);
    // A fix to solution 01 that is not carried forward breaks it.
    fx.edit("solutions/01-add-one/src/lib.rs", "x + 1", "1 + x");
    let run = fx.run(&["check", "--only", "2"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("-    1 + x"), "{}", run.stdout);
}

#[test]
fn check_keeps_exercise_crates_small_and_free_of_copies() {
    let fx = Fixture::course();
    let padding = "// not the lesson\n".repeat(1_300);
    fx.write("solutions/02-double/src/extra.rs", &padding);
    fx.write(
        "solutions/02-double/src/copied.rs",
        &fx.read("solutions/01-add-one/src/lib.rs"),
    );
    let run = fx.run(&["check"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let out = &run.stdout;
    assert!(
        out.contains("solutions/02-double: 13") && out.contains("(at most 1200)"),
        "{out}"
    );
    assert!(
        out.contains(
            "solutions/02-double/src/copied.rs is a copy of solutions/01-add-one/src/lib.rs"
        ) || out.contains("solutions/01-add-one/src/lib.rs is a copy of"),
        "{out}"
    );
}

#[test]
fn check_mutants_must_fail_the_tests() {
    let fx = Fixture::course();
    fx.write(
        "solutions/01-add-one/mutants/subtracts.patch",
        "# Subtracts instead of adding\n\
         --- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n pub fn add_one(x: i32) -> i32 {\n-    x + 1\n+    x - 1\n }\n",
    );
    fx.write(
        "solutions/01-add-one/mutants/harmless.patch",
        "# Only renames a variable: the tests cannot tell\n\
         --- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n-pub fn add_one(x: i32) -> i32 {\n-    x + 1\n+pub fn add_one(y: i32) -> i32 {\n+    y + 1\n }\n",
    );
    let run = fx.run(&["check", "--mutants"]);
    let out = &run.stdout;
    assert!(out.contains("✓ mutant subtracts"), "{out}");
    // The row (with its time, when it took a second or more), then the idea.
    assert!(
        out.contains("rejected by adds_one") && out.contains("\n      Subtracts instead of adding"),
        "{out}"
    );
    assert!(out.contains("✗ mutant harmless"), "{out}");
    assert!(
        out.contains("SURVIVED: all 2 tests pass on this wrong solution"),
        "{out}"
    );
    assert!(
        out.contains("✗ mutants                      no patches in solutions/02-double/mutants"),
        "{out}"
    );
    assert_eq!(run.code, 1);
}

#[test]
fn check_reads_the_slides() {
    let fx = Fixture::course();
    fx.write(
        "slides/A-fixture.md",
        "# Part A\n\nRun `cargo xtask verify 1`, then exercise 02 and `cargo xtask verify 9`.\n\n\
         ```rust\n# fn helper() -> i32 { 1 }\nfn shown() -> i32 { helper() }\n```\n\n\
         ```rust\nfn broken() -> i32 { \"no\" }\n```\n",
    );
    let run = fx.run(&["check"]);
    assert_eq!(run.code, 1);
    let out = &run.stdout;
    assert!(
        out.contains("slides/A-fixture.md:3 names exercise `9`, which is not in course.toml"),
        "{out}"
    );
    assert!(
        out.contains(
            "snippets that do not compile: slides/A-fixture.md:11 (snippet starting at line 11)"
        ),
        "{out}"
    );
    assert!(
        !out.contains("A-fixture.md:6"),
        "the first snippet compiles: {out}"
    );
}

#[test]
fn slides_command_points_at_the_deck() {
    let fx = Fixture::course();
    fx.write("slides/A-fixture.md", "# A\n");
    let run = fx
        .command(&["slides", "a"])
        .env("PATH", "")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("cargo install --locked presenterm") && out.contains("slides/A-fixture.md"),
        "{out}"
    );
    let missing = fx.run(&["slides", "F"]);
    assert_eq!(missing.code, 2);
}

// ---- watch ---------------------------------------------------------------------------

/// Waits for a line of `watch`'s output containing `needle`; returns the time it took.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> Duration {
    let start = Instant::now();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no `{needle}` in watch output:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if line.contains(needle) {
            return start.elapsed();
        }
    }
}

#[test]
fn watch_rechecks_on_save_and_moves_on_only_when_asked() {
    watch_session(&[]);
}

#[test]
fn watch_polls_where_file_events_do_not_arrive() {
    watch_session(&["--poll"]);
}

/// A watch that outlives a failed test would hold the test's output open.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A whole watch session: first verdict, a save that fixes the exercise, `n`
/// to move on, `q` to quit.
fn watch_session(flags: &[&str]) {
    let fx = Fixture::course();
    let mut args = vec!["watch"];
    args.extend_from_slice(flags);
    let mut child = KillOnDrop(
        fx.command(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    wait_for(&rx, "1/2 tests pass", &mut seen);
    // The next step fits watch: save again, not run a command.
    wait_for(
        &rx,
        "Edit exercises/01-add-one and save to check again",
        &mut seen,
    );
    wait_for(&rx, "watching exercises/01-add-one", &mut seen);

    fx.solve("01"); // a real file-system event: what watch is for
    wait_for(&rx, "src/lib.rs changed — checking…", &mut seen);
    wait_for(&rx, "2/2 tests pass", &mut seen);
    wait_for(&rx, "n next (02 double)", &mut seen);

    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"n\n").unwrap();
    wait_for(&rx, "Exercise 02 double", &mut seen);
    wait_for(&rx, "0/1 tests pass", &mut seen);
    stdin.write_all(b"q\n").unwrap();
    assert!(child.0.wait().unwrap().success());
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("`cargo xtask verify` again")),
        "{}",
        seen.join("\n")
    );
    assert!(fx.read(".progress.toml").contains("current = \"double\""));
}
