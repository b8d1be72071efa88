//! One feature set: every cargo command builds the shared crates one way.
//!
//! cargo turns on a dependency's features per command, as the union of what
//! the packages of that command ask for. When `cargo test -p cp01-submit-once`
//! asks for fewer features of serde than `cargo build --workspace`, it builds
//! serde again, and then everything above serde: tokio, the harness, the
//! shop. The runner and `check` build one package at a time, so each package
//! that asked for less cost a build of the whole shop of its own (a cold
//! `check` built the harness seven times).
//!
//! The `workspace-hack` crate asks for the union of the features, and the
//! kit's crates depend on it. This check keeps it complete: it compares, for
//! every package, the features `cargo tree` resolves for the package alone
//! with those it resolves for the whole workspace, and names what to add.

use std::collections::BTreeMap;

use crate::cargo;
use crate::course::{Course, Tree};

/// The third-party packages of one resolution: "name version" → features.
type Features = BTreeMap<String, String>;

/// A dependency that some packages, built alone, build with other features
/// than the workspace does.
struct Difference {
    /// The features the whole workspace builds it with.
    workspace: String,
    /// The packages that build it otherwise alone (the first one found
    /// decides `alone`).
    packages: Vec<String>,
    /// The features the first of them builds it with.
    alone: String,
}

/// Every package of the course, alone, builds each third-party crate with
/// the features the whole workspace builds it with.
pub fn one_feature_set(course: &Course, tools: &[&str]) -> Result<String, String> {
    let workspace = resolve(course, &["--workspace"])?;
    let packages = packages(course, tools);
    let mut differ: BTreeMap<String, Difference> = BTreeMap::new();
    for package in &packages {
        let alone = resolve(course, &["-p", package])?;
        for (dependency, features) in alone {
            let Some(union) = workspace.get(&dependency) else {
                continue;
            };
            if *union != features {
                let entry = differ.entry(dependency).or_insert_with(|| Difference {
                    workspace: union.clone(),
                    packages: Vec::new(),
                    alone: features,
                });
                entry.packages.push(package.clone());
            }
        }
    }
    if differ.is_empty() {
        return Ok(format!(
            "{} packages build their dependencies as the workspace does",
            packages.len()
        ));
    }
    Err(explain(&differ))
}

/// The tool packages and every copy of every built exercise.
fn packages(course: &Course, tools: &[&str]) -> Vec<String> {
    let mut packages: Vec<String> = tools.iter().map(|t| t.to_string()).collect();
    for ex in course.built() {
        for copy in Tree::ALL {
            if course.dir(ex, copy).join("Cargo.toml").is_file() {
                packages.push(ex.package(copy));
            }
        }
    }
    packages
}

/// `cargo tree` with the given selection: every third-party package with its
/// features (normal, build and dev dependencies, as `cargo test` builds them).
fn resolve(course: &Course, selection: &[&str]) -> Result<Features, String> {
    let output = cargo::cargo(&course.root)
        .arg("tree")
        .args(selection)
        .args(["-e", "normal,build,dev", "--prefix", "none"])
        .args(["--format", "{p} [{f}]"])
        .output()
        .map_err(|e| format!("could not start cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree {} failed:\n{}",
            selection.join(" "),
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
    }
    Ok(parse_tree(&String::from_utf8_lossy(&output.stdout)))
}

/// Reads `name vX.Y.Z [f1,f2]` lines; a path package (one of ours, `(/…)`)
/// is left out: only third-party crates are shared between commands.
fn parse_tree(text: &str) -> Features {
    let mut features = Features::new();
    for line in text.lines() {
        let Some((package, rest)) = line.split_once(" [") else {
            continue;
        };
        if package.contains(" (/") {
            continue;
        }
        let Some((list, _)) = rest.split_once(']') else {
            continue;
        };
        features.insert(package.to_string(), list.to_string());
    }
    features
}

fn explain(differ: &BTreeMap<String, Difference>) -> String {
    let mut lines = Vec::new();
    for (dependency, difference) in differ {
        let Difference {
            workspace: union,
            packages,
            alone,
        } = difference;
        let first = packages.first().map(String::as_str).unwrap_or_default();
        let others = match packages.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        lines.push(format!(
            "{dependency}: the workspace builds it with [{union}], {first}{others} alone with [{alone}]"
        ));
    }
    lines.push(
        "each of those packages builds it, and all that depends on it, again: add the \
         workspace's features to workspace-hack/Cargo.toml"
            .to_string(),
    );
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_third_party_packages_and_leaves_ours_out() {
        let tree = "harness v0.1.0 (/kit/harness) []\n\
                    serde v1.0.229 [default,derive,rc]\n\
                    serde v1.0.229 [default,derive,rc] (*)\n\
                    serde_derive v1.0.229 (proc-macro) []\n";
        let features = parse_tree(tree);
        assert_eq!(features.len(), 2);
        assert_eq!(features["serde v1.0.229"], "default,derive,rc");
        assert_eq!(features["serde_derive v1.0.229 (proc-macro)"], "");
    }

    #[test]
    fn a_difference_names_the_crate_both_feature_sets_and_the_fix() {
        let mut differ = BTreeMap::new();
        differ.insert(
            "serde v1.0.229".to_string(),
            Difference {
                workspace: "default,rc".to_string(),
                packages: vec![
                    "cp01-submit-once".to_string(),
                    "sol01-submit-once".to_string(),
                ],
                alone: "default".to_string(),
            },
        );
        let text = explain(&differ);
        assert!(text.contains(
            "serde v1.0.229: the workspace builds it with [default,rc], cp01-submit-once and 1 more alone with [default]"
        ));
        assert!(text.contains("workspace-hack/Cargo.toml"));
    }
}
