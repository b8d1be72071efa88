//! `slides [part]`: present a deck with presenterm, or say where it is.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use crate::bail;
use crate::cli::SlidesArgs;
use crate::course::Course;
use crate::error::Result;
use crate::ui::{self, paint};

use super::check::decks;

pub fn run(course: &Course, args: &SlidesArgs) -> Result<ExitCode> {
    let decks = decks(&course.root);
    let Some(part) = args.part.as_deref() else {
        list(course, &decks);
        return Ok(ExitCode::SUCCESS);
    };
    let prefix = match part {
        "opening" | "0" | "00" => "00".to_string(),
        p => p.to_ascii_uppercase(),
    };
    let Some(deck) = decks
        .iter()
        .find(|d| file_name(d).starts_with(&format!("{prefix}-")))
    else {
        list(course, &decks);
        bail!("no deck for part `{part}` (looked for slides/{prefix}-*.md)");
    };
    if presenterm_available() {
        let status = Command::new("presenterm").arg(deck).status()?;
        return Ok(super::verify::exit_code(status.success()));
    }
    anstream::println!(
        "presenterm is not installed. Install it with {}",
        ui::cmd("cargo install --locked presenterm")
    );
    anstream::println!(
        "Meanwhile the deck reads fine as Markdown: {}",
        paint(ui::BOLD, course.rel(deck).display())
    );
    Ok(ExitCode::SUCCESS)
}

fn list(course: &Course, decks: &[PathBuf]) {
    if decks.is_empty() {
        anstream::println!("No slides yet (slides/ is empty).");
        return;
    }
    anstream::println!(
        "Decks (present one with {}):",
        ui::cmd("cargo xtask slides A")
    );
    for deck in decks {
        anstream::println!("  {}", course.rel(deck).display());
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn presenterm_available() -> bool {
    Command::new("presenterm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
