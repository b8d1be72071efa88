//! Faults the runner must survive without losing progress or leaving a broken
//! workspace: unreadable progress files, many runs at once, a reset that fails
//! part-way, deleted folders, edited tests. On fixture courses in temporary
//! folders; each fault is made deterministically (no sleeps, no timing).

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};

use support::{Fixture, Run};

fn files_named(dir: &Path, part: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect();
    names.sort();
    names
}

// ---- progress ----------------------------------------------------------------

#[test]
fn progress_in_any_bytes_is_kept_aside_under_a_unique_name() {
    let fx = Fixture::course();
    let utf16: Vec<u8> = "version = 1\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let contents: [&[u8]; 4] = [
        b"version = 1\ncurrent = \"caf\xe9\"\n", // one Latin-1 byte
        b"\x7fELF\x02\x01\x01\x00\x00\xff",      // a binary
        &utf16,
        b"garbage [but utf-8",
    ];
    for bytes in contents {
        std::fs::write(fx.path(".progress.toml"), bytes).unwrap();
        let run = fx.run(&["list"]);
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stderr.contains(".progress.toml could not be read")
                && run
                    .stderr
                    .contains("old copy kept as .progress.toml.corrupt-"),
            "{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("starting a new progress file"),
            "unreadable is not missing: {}",
            run.stderr
        );
    }
    // Four repairs within a second or two: four copies, each byte for byte.
    let kept = files_named(fx.root(), ".corrupt-");
    assert_eq!(kept.len(), 4, "{kept:?}");
    let mut kept_bytes: Vec<Vec<u8>> = kept
        .iter()
        .map(|n| std::fs::read(fx.path(n)).unwrap())
        .collect();
    let mut expected: Vec<Vec<u8>> = contents.iter().map(|b| b.to_vec()).collect();
    kept_bytes.sort();
    expected.sort();
    assert_eq!(kept_bytes, expected);
    assert!(fx.read(".progress.toml").contains("version = 1"));
}

/// One runner process of the concurrency test, with what it is given on stdin.
fn spawn(fx: &Fixture, args: &[&str], input: &str) -> Child {
    let mut child = fx
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child
}

#[test]
fn thirty_runs_at_once_lose_nothing() {
    let fx = Fixture::course();
    // Eight more exercises, written down but not built: hints work for them.
    let mut course = fx.read("course.toml");
    for n in 3..=10 {
        course.push_str(&format!(
            "\n[[exercise]]\nnumber = {n}\nslug = \"more-{n}\"\npart = \"A\"\ntitle = \"More\"\n\
             minutes = 5\nplanned = true\nhints = [\"a\", \"b\", \"c\"]\n"
        ));
    }
    fx.write("course.toml", &course);
    fx.solve("01");
    // Build once, so the runs below race on the progress file, not on cargo.
    assert_eq!(fx.run(&["verify", "2"]).code, 1);

    let mut runs: Vec<(String, i32, Child)> = Vec::new();
    let mut start = |args: &[&str], input: &str, code: i32| {
        runs.push((args.join(" "), code, spawn(&fx, args, input)));
    };
    for n in 3..=10 {
        for level in ["1", "2", "3"] {
            start(&["hint", &n.to_string(), "--level", level], "", 0); // 24 runs
        }
    }
    start(&["verify", "1"], "", 0); // 01 done
    start(&["verify", "2"], "", 1);
    start(&["watch", "2"], "h\nq\n", 0); // one hint of 02 each,
    start(&["watch", "2"], "h\nq\n", 0); // so 02 has seen two
    start(&["list"], "", 0);
    start(&["list"], "", 0);
    assert_eq!(runs.len(), 30);

    for (what, code, child) in runs {
        let run = Run::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, code, "{what}: {}", run.all());
        for bad in ["could not", "starting a new progress file", "warning"] {
            assert!(!run.stderr.contains(bad), "{what}: {}", run.stderr);
        }
    }
    let progress = fx.read(".progress.toml");
    for n in 3..=10 {
        assert!(
            progress.contains(&format!(
                "[exercises.more-{n}]\nstatus = \"pending\"\nhints_used = 3\n"
            )),
            "more-{n}: {progress}"
        );
    }
    assert!(
        progress.contains("[exercises.add-one]\nstatus = \"done\""),
        "{progress}"
    );
    assert!(
        progress.contains("[exercises.double]\nstatus = \"pending\"\nhints_used = 2\n"),
        "{progress}"
    );
    assert_eq!(files_named(fx.root(), ".tmp"), Vec::<String>::new());
    assert_eq!(files_named(fx.root(), ".corrupt"), Vec::<String>::new());
}

#[test]
fn progress_side_files_are_ignored_by_git() {
    let gitignore =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.gitignore"))
            .unwrap();
    assert!(
        gitignore.lines().any(|l| l == "/.progress.toml*"),
        "{gitignore}"
    );
    assert!(gitignore.lines().any(|l| l == "/.backups/"), "{gitignore}");
}

// ---- reset and the workspace -------------------------------------------------------

#[test]
fn a_reset_that_fails_at_any_step_changes_nothing_and_says_so() {
    let fx = Fixture::course();
    fx.solve("01");
    fx.write("exercises/01-add-one/src/notes.rs", "// mine\n");
    for fault in ["reset.stage", "reset.backup", "reset.swap"] {
        let run: Run = fx
            .command(&["reset", "1"])
            .env("XTASK_FAULTS", fault)
            .output()
            .unwrap()
            .into();
        assert_eq!(run.code, 2, "{fault}: {}", run.all());
        assert!(
            run.stderr
                .contains("nothing changed in exercises/01-add-one"),
            "{fault}: {}",
            run.stderr
        );
        assert!(fx.read("exercises/01-add-one/src/lib.rs").contains("x + 1"));
        assert!(fx.path("exercises/01-add-one/src/notes.rs").is_file());
        // Nothing half-made is left where cargo would trip over it.
        assert_eq!(
            files_named(&fx.path("exercises"), ""),
            ["01-add-one", "02-double"]
        );
        if fx.path(".backups").exists() {
            assert_eq!(files_named(&fx.path(".backups"), ""), Vec::<String>::new());
        }
    }
    // A real fault: `.backups` is a file, so there is nowhere to build the copy.
    let _ = std::fs::remove_dir_all(fx.path(".backups"));
    fx.write(".backups", "not a folder");
    let run = fx.run(&["reset", "1"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains("nothing changed in exercises/01-add-one"),
        "{}",
        run.stderr
    );
    assert!(fx.read("exercises/01-add-one/src/lib.rs").contains("x + 1"));
    std::fs::remove_file(fx.path(".backups")).unwrap();
    // The workspace still works, and the exercise is still done.
    assert_eq!(fx.run(&["verify", "1"]).code, 0);

    let run = fx.run(&["reset", "1"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let backup = fx.backup("-01-add-one");
    assert!(backup.join("src/notes.rs").is_file());
    assert!(
        run.stdout.contains("Your previous files are in .backups/"),
        "{}",
        run.stdout
    );
    assert!(fx.read("exercises/01-add-one/src/lib.rs").contains("x - 1"));
    assert_eq!(
        files_named(&fx.path(".backups"), ".restoring"),
        Vec::<String>::new()
    );
    // Reset means starting over: pending, so `verify` and `list` point at it.
    assert!(
        fx.read(".progress.toml")
            .contains("[exercises.add-one]\nstatus = \"pending\""),
        "{}",
        fx.read(".progress.toml")
    );
    assert!(fx.run(&["list"]).stdout.contains("▶ 01 add-one"));
}

#[test]
fn a_deleted_exercise_folder_is_named_with_the_command_that_restores_it() {
    let fx = Fixture::course();
    std::fs::remove_dir_all(fx.path("exercises/01-add-one")).unwrap();

    let list = fx.run(&["list"]);
    assert_eq!(list.code, 0, "{}", list.all());
    assert!(list.stdout.contains("missing"), "{}", list.stdout);
    assert!(!list.stdout.contains("planned"), "{}", list.stdout);
    assert!(
        list.stderr
            .contains("exercises/01-add-one is missing; `cargo xtask reset 1` restores it"),
        "{}",
        list.stderr
    );
    let verify = fx.run(&["verify", "1"]);
    assert_eq!(verify.code, 2);
    assert!(
        verify.stderr.contains("`cargo xtask reset 1`"),
        "{}",
        verify.stderr
    );
    let unknown = fx.run(&["verify", "nope"]);
    assert!(
        unknown
            .stderr
            .contains("add-one  (missing: `cargo xtask reset 1` restores it)"),
        "{}",
        unknown.stderr
    );
    // Other exercises still run, with a reminder.
    let other = fx.run(&["verify", "2"]);
    assert_eq!(other.code, 1, "{}", other.all());
    assert!(
        other.stderr.contains("cargo xtask reset 1"),
        "{}",
        other.stderr
    );

    let reset = fx.run(&["reset", "1"]);
    assert_eq!(reset.code, 0, "{}", reset.all());
    assert!(!reset.stderr.contains("missing"), "{}", reset.stderr);
    assert_eq!(fx.run(&["verify", "1"]).code, 1);
}

#[test]
fn missing_checkpoints_are_named_with_the_git_command_that_restores_them() {
    let fx = Fixture::course();
    std::fs::remove_dir_all(fx.path("checkpoints/01-add-one")).unwrap();
    for args in [
        &["solution", "1", "--diff"][..],
        &["reset", "1"],
        &["verify", "1"],
    ] {
        let run = fx.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("checkpoints/01-add-one is missing")
                && run
                    .stderr
                    .contains("`git checkout -- checkpoints/01-add-one`"),
            "{args:?}: {}",
            run.stderr
        );
    }

    std::fs::remove_dir_all(fx.path("checkpoints")).unwrap();
    for args in [&["list"][..], &["verify", "2"], &["reset", "2"]] {
        let run = fx.run(args);
        assert!(
            run.stderr.contains("`git checkout -- checkpoints/`"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// The member patterns of the kit's own workspace (`Cargo.toml` at the root)
/// that name the exercise crates, rather than one crate.
fn kit_member_patterns() -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(manifest).unwrap().parse().unwrap();
    manifest["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| m.contains('*'))
        .map(String::from)
        .collect()
}

#[test]
fn cargo_loads_the_workspace_whichever_tree_is_missing() {
    // `cargo xtask` is `cargo run`: cargo loads the workspace before the
    // runner starts, so a member pattern that fails without its folder would
    // stop every command with cargo's message instead of the runner's.
    let fx = Fixture::course();
    let patterns = kit_member_patterns();
    assert!(!patterns.is_empty(), "the kit's workspace has no patterns");
    fx.write(
        "Cargo.toml",
        &format!("[workspace]\nresolver = \"3\"\nmembers = {patterns:?}\n"),
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let packages = |fx: &Fixture| {
        let out = std::process::Command::new(&cargo)
            .args([
                "metadata",
                "--no-deps",
                "--offline",
                "--format-version",
                "1",
            ])
            .current_dir(fx.root())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.success(),
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, all, err) = packages(&fx);
    assert!(ok, "{err}");
    for name in ["\"ex01-add-one\"", "\"cp02-double\"", "\"sol01-add-one\""] {
        assert!(all.contains(name), "{patterns:?} misses {name}");
    }
    for tree in ["checkpoints", "solutions", "exercises"] {
        let aside = format!("{tree}.aside");
        std::fs::rename(fx.path(tree), fx.path(&aside)).unwrap();
        let (ok, _, err) = packages(&fx);
        assert!(ok, "without {tree}/, cargo stops before the runner: {err}");
        std::fs::rename(fx.path(&aside), fx.path(tree)).unwrap();
    }
}

// ---- what counts as done ---------------------------------------------------------------

#[test]
fn an_exercise_with_edited_tests_is_not_done() {
    let fx = Fixture::course();
    fx.solve("02");
    fx.write(
        "exercises/02-double/tests/double.rs",
        "#[test]\nfn always() {}\n",
    );
    let run = fx.run(&["verify", "2"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("you changed tests/double.rs"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("is done!"), "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .rfind(|l| !l.is_empty())
            .unwrap()
            .contains("copy the original tests back from checkpoints/02-double/tests"),
        "{}",
        run.stdout
    );
    assert!(!fx.read(".progress.toml").contains("done"));

    std::fs::copy(
        fx.path("checkpoints/02-double/tests/double.rs"),
        fx.path("exercises/02-double/tests/double.rs"),
    )
    .unwrap();
    let run = fx.run(&["verify", "2"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(fx.read(".progress.toml").contains("status = \"done\""));
}

#[test]
fn list_and_verify_agree_on_what_is_next() {
    let fx = Fixture::course();
    fx.solve("01");
    let run = fx.run(&["verify"]);
    assert!(
        run.stdout.contains("Next: `cargo xtask verify 2`"),
        "{}",
        run.stdout
    );
    let list = fx.run(&["list"]);
    assert!(list.stdout.contains("▶ 02 double"), "{}", list.stdout);
    assert!(list.stdout.contains("Current: double"), "{}", list.stdout);
    assert!(fx.run(&["verify"]).stdout.contains("Exercise 02 double"));
}

// ---- the verdict comes last ---------------------------------------------------------------

#[test]
fn verify_shows_one_full_report_then_a_line_per_failure_then_the_verdict() {
    let fx = Fixture::course();
    let tests = "#[test]\nfn adds_one() {\n    assert_eq!(add_one::add_one(1), 2, \"add_one(1) should be 2\");\n}\n\n\
                 #[test]\nfn long_story() {\n    panic!(\"step 1\\nstep 2\\nstep 3\\nstep 4\\nthe end\");\n}\n\n\
                 #[test]\nfn short() {\n    panic!(\"short and wrong\");\n}\n\n\
                 #[test]\nfn fine() {}\n";
    for copy in ["exercises", "checkpoints", "solutions"] {
        fx.write(&format!("{copy}/01-add-one/tests/add_one.rs"), tests);
    }
    let run = fx.run(&["verify", "1"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let out = &run.stdout;
    // The full report: the first test course.toml lists.
    assert!(out.contains("✗ adds_one\n    thread 'adds_one'"), "{out}");
    assert!(!out.contains("step 2"), "one full report only: {out}");
    for line in [
        "  ✗ adds_one — add_one(1) should be 2",
        "  ✗ short — short and wrong",
        "  ✗ long_story — step 1",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    let n = lines.len();
    assert!(
        lines[n - 3].starts_with("Every failure in full: target/xtask/01-add-one-failures.txt"),
        "{out}"
    );
    assert!(lines[n - 2].starts_with("1/4 tests pass"), "{out}");
    assert!(
        lines[n - 1].starts_with("Edit exercises/01-add-one and run"),
        "{out}"
    );
    let file = fx.read("target/xtask/01-add-one-failures.txt");
    assert!(
        file.contains("step 4") && file.contains("short and wrong") && file.contains("add_one(1)"),
        "{file}"
    );

    let all = fx.run(&["verify", "1", "--all-reports"]);
    assert!(
        all.stdout.contains("    step 4") && all.stdout.contains("    short and wrong"),
        "{}",
        all.stdout
    );
    assert!(
        !all.stdout.contains("Every failure in full"),
        "{}",
        all.stdout
    );
    assert!(
        !fx.path("target/xtask/01-add-one-failures.txt").exists(),
        "a stale file would mislead"
    );
}

// ---- watch and reset together ------------------------------------------------------

/// The next line of `lines` that contains `needle` (the test fails after two
/// minutes without one: a watch that stopped noticing saves).
fn wait_for(lines: &std::sync::mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no `{needle}` in watch output:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if line.contains(needle) {
            return;
        }
    }
}

/// A watch that outlives a failed test would hold the test's output open.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn watch_keeps_watching_an_exercise_reset_in_another_terminal() {
    use std::io::{BufRead, BufReader};
    let fx = Fixture::course();
    fx.edit("exercises/01-add-one/src/lib.rs", "x - 1", "x - 2");
    let mut child = KillOnDrop(
        fx.command(&["watch", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    wait_for(&rx, "watching exercises/01-add-one", &mut seen);
    // The folder is swapped for a new one while watch runs.
    let reset = fx.run(&["reset", "1"]);
    assert_eq!(reset.code, 0, "{}", reset.all());
    fx.solve("01");
    wait_for(&rx, "2/2 tests pass", &mut seen);
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"q\n").unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{}", seen.join("\n"));
}
