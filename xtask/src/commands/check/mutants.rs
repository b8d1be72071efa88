//! `check --mutants`: every known wrong solution must fail the exercise's tests.
//!
//! A mutant is a patch in `solutions/NN-slug/mutants/*.patch`, made from inside
//! the solution's folder (paths like `a/src/lib.rs`), whose first line names the
//! wrong idea. Each is applied to a copy of the solution in its own small
//! workspace under `target/mutants/`, which shares the kit's dependency versions
//! (Cargo.lock) and build directory, so only the mutated crate is compiled.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cargo::{self, Echo};
use crate::course::{Course, Exercise, Tree};
use crate::fsutil;

use super::Tally;

pub fn check_mutants(course: &Course, ex: &Exercise, tally: &mut Tally) {
    let dir = course.dir(ex, Tree::Solution).join("mutants");
    let patches: Vec<PathBuf> = fsutil::files(&dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .map(|p| dir.join(p))
        .collect();
    if patches.is_empty() {
        tally.record(
            "mutants",
            Err(format!("no patches in {}", course.rel(&dir).display())),
        );
        return;
    }
    for patch in patches {
        let name = patch
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The verdict on the row, the wrong idea (often a long sentence) below it.
        let idea = wrong_idea(&patch);
        let result = run_mutant(course, ex, &patch)
            .map(|killed| format!("rejected by {killed}\n{idea}"))
            .map_err(|e| format!("{e}\n{idea}"));
        tally.record(&format!("mutant {name}"), result);
    }
}

/// The patch's first line, without a comment marker.
fn wrong_idea(patch: &Path) -> String {
    let text = std::fs::read_to_string(patch).unwrap_or_default();
    let first = text.lines().next().unwrap_or("").trim();
    first.trim_start_matches(['#', '/']).trim().to_string()
}

/// Applies `patch` to a fresh copy of the solution and runs its tests.
/// Ok names the tests that caught it; Err says why the mutant is a problem.
fn run_mutant(course: &Course, ex: &Exercise, patch: &Path) -> Result<String, String> {
    let stem = patch.file_stem().unwrap_or_default().to_string_lossy();
    let member = format!("{}--{stem}", ex.dir_name());
    let workspace = course.root.join("target/mutants").join(&member);
    prepare_workspace(course, ex, &workspace, &member)
        .map_err(|e| format!("could not prepare {}: {e}", workspace.display()))?;
    apply(patch, &workspace.join(&member))?;

    let mut args = cargo::exercise_test_args(&ex.package(Tree::Solution));
    args.drain(..2); // the copy is the only package of its workspace
    // Sharing the build dir is safe because cargo names a path package's artifacts
    // after its path relative to the workspace root, and each mutant's member
    // folder has a name of its own: no two mutants, nor the real solution,
    // write the same files.
    let run = cargo::run_tests_in(&workspace, &course.build_dir(), &args, Echo::Quiet)
        .map_err(|e| e.to_string())?;
    if run.compile_failed() {
        return Err(format!(
            "does not compile; a mutant must be a wrong solution that builds:\n{}",
            run.compiler_output.trim_end()
        ));
    }
    let killers: Vec<&str> = run.report.failures().map(|t| t.name.as_str()).collect();
    if killers.is_empty() {
        return Err(format!(
            "SURVIVED: all {} tests pass on this wrong solution",
            run.report.total()
        ));
    }
    Ok(killers.join(", "))
}

/// `target/mutants/NN-slug--<patch>/`: a one-member workspace whose root
/// manifest is the kit's (same dependencies, lints and profiles, paths made
/// absolute) and whose only member is a copy of the solution.
fn prepare_workspace(
    course: &Course,
    ex: &Exercise,
    dir: &Path,
    member: &str,
) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    fsutil::copy_dir(&course.dir(ex, Tree::Solution), &dir.join(member))?;
    let manifest = std::fs::read_to_string(course.root.join("Cargo.toml"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        nested_workspace_manifest(&manifest, &course.root, &[member]),
    )?;
    let lock = course.root.join("Cargo.lock");
    if lock.is_file() {
        std::fs::copy(lock, dir.join("Cargo.lock"))?;
    }
    Ok(())
}

/// The kit's root manifest turned into the root of a workspace elsewhere:
/// `members` replaced, relative `path` dependencies made absolute.
pub fn nested_workspace_manifest(root_manifest: &str, root: &Path, members: &[&str]) -> String {
    let mut table: toml::Table = root_manifest.parse().unwrap_or_default();
    if let Some(toml::Value::Table(ws)) = table.get_mut("workspace") {
        ws.insert(
            "members".into(),
            members
                .iter()
                .map(|m| toml::Value::from(*m))
                .collect::<Vec<_>>()
                .into(),
        );
        ws.remove("exclude");
        ws.remove("default-members");
        if let Some(toml::Value::Table(deps)) = ws.get_mut("dependencies") {
            for (_, dep) in deps.iter_mut() {
                if let Some(toml::Value::String(path)) = dep.get_mut("path") {
                    let absolute = root.join(path.as_str()).to_string_lossy().into_owned();
                    *path = absolute;
                }
            }
        }
    }
    toml::to_string(&table).unwrap_or_default()
}

/// `git apply` in a folder outside any repository (attendees have git; no
/// `patch` needed). The ceiling stops git from finding the kit's own repo.
fn apply(patch: &Path, crate_dir: &Path) -> Result<(), String> {
    let ceiling = crate_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(crate_dir);
    let output = Command::new("git")
        .arg("apply")
        .arg(patch)
        .current_dir(crate_dir)
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .output()
        .map_err(|e| format!("could not run git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the patch does not apply to the solution (make it inside the solution's folder, paths like a/src/lib.rs):\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_manifest_keeps_dependencies_and_makes_paths_absolute() {
        let root = "[workspace]\nresolver = \"3\"\nmembers = [\"harness\", \"xtask\"]\n\n\
                    [workspace.dependencies]\nharness = { path = \"harness\" }\nserde = \"1.0\"\n\n\
                    [profile.dev]\ndebug = \"line-tables-only\"\n";
        let out: toml::Table = nested_workspace_manifest(root, Path::new("/kit"), &["sol"])
            .parse()
            .unwrap();
        let ws = out["workspace"].as_table().unwrap();
        assert_eq!(ws["members"].as_array().unwrap()[0].as_str(), Some("sol"));
        assert_eq!(
            ws["dependencies"]["harness"]["path"].as_str(),
            Some("/kit/harness")
        );
        assert_eq!(ws["dependencies"]["serde"].as_str(), Some("1.0"));
        assert_eq!(
            out["profile"]["dev"]["debug"].as_str(),
            Some("line-tables-only")
        );
    }
}
