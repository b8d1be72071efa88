//! What `check` verifies in `slides/`: every exercise a deck or the facilitator
//! guide names exists in course.toml, and every Rust snippet compiles.

use std::path::{Path, PathBuf};

use crate::course::Course;
use crate::error::{Context, Result};
use crate::fsutil;

use super::Tally;

/// Commands whose argument is an exercise.
const EXERCISE_COMMANDS: [&str; 8] = [
    "verify",
    "hint",
    "solution",
    "checkpoint",
    "reset",
    "watch",
    "explore",
    "replay",
];

/// The Markdown files of `slides/`, sorted; empty when the folder is missing.
pub fn decks(root: &Path) -> Vec<PathBuf> {
    let dir = root.join("slides");
    fsutil::files(&dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md") && p.parent() == Some(Path::new("")))
        .map(|p| dir.join(p))
        .collect()
}

/// An exercise named in a deck: `cargo xtask verify 3`, `verify async-submit`
/// or "exercise 03".
#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    pub line: usize,
    pub name: String,
}

pub fn references(text: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let raw: Vec<&str> = line.split_whitespace().collect();
        let words: Vec<&str> = raw.iter().map(|w| clean_word(w)).collect();
        for (i, word) in words.iter().enumerate() {
            // A command's argument follows it within the same code span: a
            // command word that closes a span (`cargo xtask replay`) has none.
            let next = words[i + 1..].iter().find(|w| !w.starts_with('-'));
            let next = next.filter(|_| !raw[i].ends_with('`') && !raw[i].ends_with("`,"));
            let name = if EXERCISE_COMMANDS.contains(word) && is_command_context(&words, i) {
                next.filter(|w| is_number(w) || is_slug_like(w))
                    .map(|w| w.to_string())
            } else if word.eq_ignore_ascii_case("exercise") {
                words
                    .get(i + 1)
                    .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_digit()))
                    .filter(|w| is_number(w))
                    .map(String::from)
            } else {
                None
            };
            if let Some(name) = name {
                found.push(Reference {
                    line: index + 1,
                    name,
                });
            }
        }
    }
    found
}

/// `verify` counts after `cargo xtask`, or as a bare `verify <slug>` in prose.
fn is_command_context(words: &[&str], i: usize) -> bool {
    i >= 2 && words[i - 2] == "cargo" && words[i - 1] == "xtask" || words[i] == "verify"
}

fn clean_word(w: &str) -> &str {
    w.trim_matches(|c: char| "`'\"*_()[]{}<>,.;:!?".contains(c))
}

fn is_number(w: &str) -> bool {
    !w.is_empty() && w.len() <= 3 && w.bytes().all(|b| b.is_ascii_digit())
}

/// `async-submit`, not `N`, `<slug>` or an English word such as `the`.
fn is_slug_like(w: &str) -> bool {
    w.contains('-')
        && w.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub fn check_references(course: &Course, tally: &mut Tally) {
    let decks = decks(&course.root);
    if decks.is_empty() {
        tally.record("slide references", Ok("no slides yet".into()));
        return;
    }
    let (mut named, mut planned, mut problems) = (0, Vec::new(), Vec::new());
    for deck in &decks {
        let text = std::fs::read_to_string(deck).unwrap_or_default();
        for r in references(&text) {
            match course.resolve(&r.name) {
                Ok(ex) => {
                    named += 1;
                    if !course.is_built(ex) {
                        planned.push(ex.number);
                    }
                }
                Err(_) => problems.push(format!(
                    "{}:{} names exercise `{}`, which is not in course.toml",
                    course.rel(deck).display(),
                    r.line,
                    r.name
                )),
            }
        }
    }
    let result = if problems.is_empty() {
        planned.sort();
        planned.dedup();
        let planned: Vec<String> = planned.iter().map(|n| format!("{n:02}")).collect();
        let planned = if planned.is_empty() {
            String::new()
        } else {
            format!("; planned: {}", planned.join(", "))
        };
        Ok(format!(
            "{named} mentions in {} decks, all in course.toml{planned}",
            decks.len()
        ))
    } else {
        Err(problems.join("\n"))
    };
    tally.record("slide references", result);
}

/// A ```rust block of a deck.
#[derive(Debug, PartialEq, Eq)]
pub struct Snippet {
    /// Line of the deck where the code starts (1-based).
    pub line: usize,
    pub code: String,
}

/// The ```rust blocks of a deck, with presenterm's hidden lines (`# `) kept
/// and unprefixed. Blocks marked `ignore` or `compile_fail` are left out.
pub fn snippets(text: &str) -> Vec<Snippet> {
    let mut out = Vec::new();
    let mut current: Option<Snippet> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match current.as_mut() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```")
                    && is_compiled_rust(info)
                {
                    current = Some(Snippet {
                        line: index + 2,
                        code: String::new(),
                    });
                }
            }
            Some(snippet) if trimmed.starts_with("```") => {
                let _ = snippet;
                out.extend(current.take());
            }
            Some(snippet) => {
                let code = if line == "#" {
                    ""
                } else {
                    line.strip_prefix("# ").unwrap_or(line)
                };
                snippet.code.push_str(code);
                snippet.code.push('\n');
            }
        }
    }
    out
}

fn is_compiled_rust(info: &str) -> bool {
    let mut words = info
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty());
    words.next() == Some("rust") && !words.any(|w| w == "ignore" || w == "compile_fail")
}

/// Compiles every snippet, each in its own module of a generated crate under
/// `target/slide-snippets/`, and maps compiler errors back to deck lines.
///
/// `cargo check`, not `cargo build`: a snippet compiles when it type- and
/// borrow-checks, and no code of it ever runs. The generated crate is a
/// workspace of its own, so cargo cannot reuse the kit's build of the harness
/// (a path dependency's artifacts are named after its path relative to the
/// workspace root): building it compiled the harness a second time (38 s of
/// CPU on a cold CI run), where checking it takes a few seconds.
pub fn check_snippets(course: &Course, tally: &mut Tally) -> Result<()> {
    let mut modules = Vec::new();
    for deck in decks(&course.root) {
        let text = std::fs::read_to_string(&deck)?;
        let stem = deck
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_lowercase();
        let stem: String = stem
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        for snippet in snippets(&text) {
            modules.push((
                format!("deck_{stem}_l{}", snippet.line),
                course.rel(&deck).to_path_buf(),
                snippet,
            ));
        }
    }
    if modules.is_empty() {
        tally.record("slide snippets", Ok("no Rust snippets in slides/".into()));
        return Ok(());
    }
    let dir = course.root.join("target/slide-snippets");
    write_crate(course, &dir, &modules)?;
    let mut cmd = crate::cargo::cargo(&dir);
    let output = crate::cargo::without_incremental_caches(&mut cmd)
        .args(["check", "--quiet", "--color=never"])
        .env("CARGO_TARGET_DIR", course.build_dir())
        .output()
        .context(|| "could not start cargo".into())?;
    let result = if output.status.success() {
        Ok(format!("{} snippets compile", modules.len()))
    } else {
        let errors = String::from_utf8_lossy(&output.stderr);
        Err(locate_errors(&errors, &modules))
    };
    tally.record("slide snippets", result);
    Ok(())
}

fn write_crate(course: &Course, dir: &Path, modules: &[(String, PathBuf, Snippet)]) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir.join("src"))?;
    let root_manifest: toml::Table = std::fs::read_to_string(course.root.join("Cargo.toml"))?
        .parse()
        .context(|| "the root Cargo.toml is not valid TOML".into())?;
    let workspace_dep = |name: &str| {
        root_manifest
            .get("workspace")
            .and_then(|w| w.get("dependencies"))
            .and_then(|d| d.get(name))
            .cloned()
    };
    let mut deps = toml::Table::new();
    let harness = course.root.join("harness");
    if harness.join("Cargo.toml").is_file() {
        let mut dep = toml::Table::new();
        dep.insert("path".into(), harness.to_string_lossy().into_owned().into());
        deps.insert("harness".into(), dep.into());
    }
    for name in ["serde", "uuid"] {
        if let Some(dep) = workspace_dep(name) {
            deps.insert(name.into(), dep);
        }
    }
    let mut package = toml::Table::new();
    for (key, value) in [
        ("name", "slide-snippets"),
        ("version", "0.0.0"),
        ("edition", "2024"),
    ] {
        package.insert(key.into(), value.into());
    }
    package.insert("publish".into(), false.into());
    let mut manifest = toml::Table::new();
    manifest.insert("package".into(), package.into());
    // A workspace of its own: the generated crate is not a member of the kit's.
    manifest.insert("workspace".into(), toml::Table::new().into());
    manifest.insert("dependencies".into(), deps.into());
    // The kit's profiles too: with the same settings, the third-party crates
    // checked here are the very artifacts clippy's check of the kit uses, and
    // their build scripts' runs (SQLite's C) those of the kit's build (one
    // shared target/), instead of a second copy of each.
    if let Some(profile) = root_manifest.get("profile") {
        manifest.insert("profile".into(), profile.clone());
    }
    let manifest = format!(
        "# Generated by `cargo xtask check` from the ```rust blocks in slides/.\n{}",
        toml::to_string(&manifest).unwrap_or_default()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest)?;
    let lock = course.root.join("Cargo.lock");
    if lock.is_file() {
        std::fs::copy(lock, dir.join("Cargo.lock"))?;
    }
    let mut lib =
        String::from("// One module per snippet; see Cargo.toml.\n#![allow(unused, dead_code)]\n");
    for (module, deck, snippet) in modules {
        lib.push_str(&format!(
            "#[path = \"{module}.rs\"]\nmod {module}; // {}:{}\n",
            deck.display(),
            snippet.line
        ));
        std::fs::write(dir.join("src").join(format!("{module}.rs")), &snippet.code)?;
    }
    std::fs::write(dir.join("src/lib.rs"), lib)?;
    Ok(())
}

/// Turns `--> src/deck_a_l12.rs:3:5` into `slides/A.md:14` for each error.
fn locate_errors(errors: &str, modules: &[(String, PathBuf, Snippet)]) -> String {
    let mut places = Vec::new();
    for line in errors.lines() {
        let Some(location) = line.trim_start().strip_prefix("--> src/") else {
            continue;
        };
        let mut parts = location.split(':');
        let (Some(file), Some(row)) = (
            parts.next(),
            parts.next().and_then(|r| r.parse::<usize>().ok()),
        ) else {
            continue;
        };
        if let Some((_, deck, snippet)) = modules.iter().find(|(m, _, _)| format!("{m}.rs") == file)
        {
            let place = format!(
                "{}:{} (snippet starting at line {})",
                deck.display(),
                snippet.line + row - 1,
                snippet.line
            );
            if !places.contains(&place) {
                places.push(place);
            }
        }
    }
    let mut out = vec![format!(
        "snippets that do not compile: {}",
        if places.is_empty() {
            "see below".to_string()
        } else {
            places.join(", ")
        }
    )];
    out.extend(errors.lines().map(String::from));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exercise_references_in_prose_and_commands() {
        let text = "Run `cargo xtask verify 3` now.\n\
                    Then `cargo xtask verify --json async-submit`, or verify retry-and-dedup.\n\
                    In exercise 05, and Exercise 12's tests; `cargo xtask replay` (re-run one).\n\
                    Use `cargo xtask verify N` and verify the result; `cargo xtask hint 7`.";
        let got: Vec<(usize, String)> = references(text)
            .into_iter()
            .map(|r| (r.line, r.name))
            .collect();
        let want = [
            (1, "3"),
            (2, "async-submit"),
            (2, "retry-and-dedup"),
            (3, "05"),
            (3, "12"),
            (4, "7"),
        ];
        assert_eq!(got, want.map(|(l, n)| (l, n.to_string())));
    }

    #[test]
    fn extracts_rust_blocks_with_hidden_lines() {
        let deck = "# Title\n\n```rust\n# use std::fmt;\n#\nfn f() {}\n```\n\n```rust ignore\nnope\n```\n```toml\nx = 1\n```\n```rust +exec\nfn g() {}\n```\n";
        let got = snippets(deck);
        assert_eq!(
            got,
            vec![
                Snippet {
                    line: 4,
                    code: "use std::fmt;\n\nfn f() {}\n".into()
                },
                Snippet {
                    line: 16,
                    code: "fn g() {}\n".into()
                },
            ]
        );
    }

    #[test]
    fn compiler_errors_point_at_deck_lines() {
        let modules = vec![(
            "deck_a_l4".to_string(),
            PathBuf::from("slides/A.md"),
            Snippet {
                line: 4,
                code: String::new(),
            },
        )];
        let out = locate_errors("error[E0425]: x\n  --> src/deck_a_l4.rs:3:5\n", &modules);
        assert!(
            out.starts_with(
                "snippets that do not compile: slides/A.md:6 (snippet starting at line 4)"
            ),
            "{out}"
        );
    }
}
