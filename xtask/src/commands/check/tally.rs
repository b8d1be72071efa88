//! The table `check` prints as it goes, and its closing line.
//!
//! A row that took a second or more says how long, so that authors see
//! where the kit's check spends its time (CI has a budget).

use std::time::{Duration, Instant};

use crate::ui::{self, paint};

/// Rows quicker than this do not show their time.
const SHOWN_FROM: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Tally {
    passed: usize,
    failed: usize,
    /// When the previous row (or heading) was printed: a row's time is
    /// what it took since then, as the checks run one after the other.
    since: Instant,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            passed: 0,
            failed: 0,
            since: Instant::now(),
        }
    }
}

impl Tally {
    pub fn heading(&mut self, title: &str) {
        anstream::println!("\n{}", paint(ui::INFO, title));
        self.since = Instant::now();
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
        let took = self.since.elapsed();
        self.since = Instant::now();
        let time = if took >= SHOWN_FROM {
            format!(
                " {}",
                paint(ui::DIM, format!("({:.1} s)", took.as_secs_f64()))
            )
        } else {
            String::new()
        };
        let mut lines = detail.lines();
        anstream::println!("  {mark} {name:<28} {}{time}", lines.next().unwrap_or(""));
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
