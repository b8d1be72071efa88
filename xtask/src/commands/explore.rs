//! `explore N [--port P]`: serves the model checker's Explorer for the model
//! of a model-checking exercise, on 127.0.0.1 only. Such an exercise keeps
//! the part of the model the attendee writes in its `src/model/` (exercise
//! 10: `src/model/handler.rs`; the machinery is the `handler-model` crate);
//! every other exercise, 11 included, is refused with the list of those that
//! have one. The exercise's own example does the serving (`cargo run -p
//! exNN-slug --example explore -- --addr 127.0.0.1:P`), so the Explorer always shows
//! the attendee's current model.

use std::process::ExitCode;

use crate::bail;
use crate::cargo;
use crate::cli::ExploreArgs;
use crate::course::{Course, Tree};
use crate::error::{Context, Result};
use crate::ui::{self, paint};

/// Where a model-checking exercise keeps its part of the model: what marks
/// an exercise the Explorer can serve.
const MODEL_DIR: &str = "src/model";

pub fn run(course: &Course, args: &ExploreArgs) -> Result<ExitCode> {
    let ex = course.resolve_built(&args.exercise)?;
    let dir = course.dir(ex, Tree::Exercise);
    if !dir.join(MODEL_DIR).is_dir() {
        let with_model: Vec<String> = course
            .built()
            .filter(|e| course.dir(e, Tree::Exercise).join(MODEL_DIR).is_dir())
            .map(|e| format!("  {:>2}  {}", e.number, e.slug))
            .collect();
        let listing = if with_model.is_empty() {
            "  (none built yet)".to_string()
        } else {
            with_model.join("\n")
        };
        bail!(
            "exercise {} has no model to explore (no {}/{MODEL_DIR}/). The Explorer serves \
             the model of a model-checking exercise:\n{listing}",
            ex.label(),
            course.rel(&dir).display()
        );
    }
    let address = format!("127.0.0.1:{}", args.port);
    let package = ex.package(Tree::Exercise);
    anstream::println!(
        "{}",
        paint(
            ui::INFO,
            format!("Building exercise {} for the Explorer…", ex.label())
        )
    );
    let status = cargo::cargo(&course.root)
        .args([
            "run",
            "--quiet",
            "-p",
            &package,
            "--example",
            "explore",
            "--",
            "--addr",
        ])
        .arg(&address)
        .status()
        .context(|| format!("running `cargo run -p {package}`"))?;
    Ok(super::exit_code(status.success()))
}
