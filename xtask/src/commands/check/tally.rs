//! The table `check` prints as it goes, and its closing line.

use crate::ui::{self, paint};

#[derive(Debug, Default)]
pub struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    pub fn heading(&self, title: &str) {
        anstream::println!("\n{}", paint(ui::INFO, title));
    }

    /// Prints one row: a mark, the check's name, and what it found. A failure's
    /// detail may span several lines; they are indented under the row.
    pub fn record(&mut self, name: &str, result: Result<String, String>) {
        let (mark, detail) = match &result {
            Ok(detail) => (paint(ui::GOOD, ui::PASS_MARK), detail),
            Err(detail) => (paint(ui::BAD, ui::FAIL_MARK), detail),
        };
        if result.is_ok() {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        let mut lines = detail.lines();
        anstream::println!("  {mark} {name:<28} {}", lines.next().unwrap_or(""));
        for line in lines {
            anstream::println!("      {line}");
        }
    }

    pub fn failed(&self) -> usize {
        self.failed
    }

    /// `N passed, N failed`, alone on its line, for people and CI alike.
    pub fn closing_line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}
