//! `list`: the course at a glance, grouped by part.

use std::process::ExitCode;

use crate::course::Course;
use crate::error::Result;
use crate::progress::{Progress, Status};
use crate::ui::{self, paint};

pub fn run(course: &Course) -> Result<ExitCode> {
    let progress = Progress::load(course);
    let built = course.built().count();
    if course.exercises.is_empty() {
        anstream::println!("The course has no exercises yet.");
        return Ok(ExitCode::SUCCESS);
    }
    let current = progress.current(course).map(|e| e.slug.clone());
    anstream::println!(
        "{}  {}/{} done",
        paint(ui::BOLD, "Exactly-once in Rust"),
        progress.done_count(course),
        built
    );
    let mut last_part = None;
    for ex in &course.exercises {
        if last_part != Some(&ex.part) {
            let title = course
                .part(&ex.part)
                .map(|p| p.title.as_str())
                .unwrap_or("");
            anstream::println!(
                "\n{}",
                paint(ui::INFO, format!("Part {}: {title}", ex.part))
            );
            last_part = Some(&ex.part);
        }
        let entry = progress.entry(&ex.slug);
        let is_current = current.as_deref() == Some(ex.slug.as_str());
        let status = if ex.planned {
            paint(ui::DIM, "planned")
        } else if !course.is_built(ex) {
            paint(ui::BAD, "missing")
        } else if is_current && entry.status != Status::Done {
            paint(ui::WARN, "current")
        } else {
            match entry.status {
                Status::Done => paint(ui::GOOD, "done"),
                Status::Skipped => paint(ui::DIM, "skipped"),
                Status::Pending => "pending".to_string(),
            }
        };
        let pointer = if is_current { "▶" } else { " " };
        let hints = if entry.hints_used > 0 {
            format!("hints {}/3", entry.hints_used)
        } else {
            String::new()
        };
        // Pad before painting: escape codes would confuse the column widths.
        anstream::println!(
            "{pointer} {:02} {:<20} {:>3} min  {}{}  {:<9} {}",
            ex.number,
            ex.slug,
            ex.minutes,
            status,
            " ".repeat(8usize.saturating_sub(visible_len(&status))),
            hints,
            ex.title
        );
    }
    if let Some(slug) = current {
        anstream::println!("\nCurrent: {slug} — {}", ui::cmd("cargo xtask verify"));
    }
    Ok(ExitCode::SUCCESS)
}

fn visible_len(text: &str) -> usize {
    anstream::adapter::strip_str(text)
        .to_string()
        .chars()
        .count()
}
