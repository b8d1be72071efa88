//! What an exercise's explorations reached, for `verify`'s pass message.
//!
//! The harness's explorer writes its counts, one file per test, to
//! `<target>/harness-traces/<package>/<test>.explored` (lines `schedules N`,
//! `point REACHED STRUCK NAME`, `preempted TIMES WORKER`, `sometimes RUNS
//! NAME`). A pass shows them summed in one line, so that an attendee sees
//! that the tests met what they are about: the fault points were struck, the
//! workers interleaved, every sometimes-condition held.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// The counts of the explorations that ran since `since`, summed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Explored {
    tests: usize,
    schedules: u64,
    points: BTreeMap<String, (u64, u64)>,
    preempted: BTreeMap<String, u64>,
    conditions: usize,
    held: usize,
}

/// `explored 1802 schedules in 4 tests · 14 fault points reached 9120×,
/// struck 310× · preempted orders#1 402×, orders#2 398× · 9/9
/// sometimes-conditions held`, or `None` when no exploration ran.
pub fn summary(traces: &Path, since: SystemTime) -> Option<String> {
    let mut explored = Explored::default();
    for entry in std::fs::read_dir(traces).ok()?.flatten() {
        let path = entry.path();
        let fresh = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| modified >= since);
        if fresh
            && path.extension().is_some_and(|ext| ext == "explored")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            explored.add(&text);
        }
    }
    (explored.tests > 0).then(|| explored.to_string())
}

impl Explored {
    /// Adds one test's file.
    fn add(&mut self, text: &str) {
        self.tests += 1;
        for line in text.lines() {
            let mut words = line.splitn(2, ' ');
            let (Some(kind), Some(rest)) = (words.next(), words.next()) else {
                continue;
            };
            match kind {
                "schedules" => self.schedules += rest.parse::<u64>().unwrap_or(0),
                "point" => {
                    let mut fields = rest.splitn(3, ' ');
                    let reached = number(fields.next());
                    let struck = number(fields.next());
                    let name = fields.next().unwrap_or_default().to_string();
                    let total = self.points.entry(name).or_default();
                    total.0 += reached;
                    total.1 += struck;
                }
                "preempted" => {
                    let (times, worker) = rest.split_once(' ').unwrap_or((rest, ""));
                    *self.preempted.entry(worker.to_string()).or_default() +=
                        times.parse::<u64>().unwrap_or(0);
                }
                "sometimes" => {
                    self.conditions += 1;
                    let runs = number(rest.split(' ').next());
                    self.held += usize::from(runs > 0);
                }
                _ => {}
            }
        }
    }
}

fn number(field: Option<&str>) -> u64 {
    field.and_then(|text| text.parse().ok()).unwrap_or(0)
}

impl std::fmt::Display for Explored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tests = if self.tests == 1 { "test" } else { "tests" };
        write!(
            f,
            "explored {} schedules in {} {tests}",
            self.schedules, self.tests
        )?;
        if !self.points.is_empty() {
            let reached: u64 = self.points.values().map(|count| count.0).sum();
            let struck: u64 = self.points.values().map(|count| count.1).sum();
            write!(
                f,
                " · {} fault points reached {reached}×, struck {struck}×",
                self.points.len()
            )?;
        }
        if !self.preempted.is_empty() {
            let workers: Vec<String> = self
                .preempted
                .iter()
                .map(|(worker, times)| format!("{worker} {times}×"))
                .collect();
            write!(f, " · preempted {}", workers.join(", "))?;
        }
        if self.conditions > 0 {
            write!(
                f,
                " · {}/{} sometimes-conditions held",
                self.held, self.conditions
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tests_are_summed_in_one_line() {
        let mut explored = Explored::default();
        explored.add(
            "schedules 10\npoint 20 2 sql.orders.commit\npreempted 3 orders#1\n\
             sometimes 4 the second copy loaded before the first one committed\n",
        );
        explored.add("schedules 5\npoint 10 1 sql.orders.commit\npoint 5 0 broker.orders.ack\nsometimes 0 a crash struck\n");
        assert_eq!(
            explored.to_string(),
            "explored 15 schedules in 2 tests · 2 fault points reached 35×, struck 3× · \
             preempted orders#1 3× · 1/2 sometimes-conditions held"
        );
    }

    #[test]
    fn only_files_written_since_the_run_began_count() {
        let dir = std::env::temp_dir().join(format!("explored-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.explored"), "schedules 7\n").unwrap();
        std::fs::write(dir.join("a.html"), "not counts").unwrap();
        let before = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(
            summary(&dir, before).as_deref(),
            Some("explored 7 schedules in 1 test")
        );
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(summary(&dir, later), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
