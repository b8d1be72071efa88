//! What an exploration reached: how often each fault point was reached and
//! struck, how often each worker was preempted, and in how many runs each of
//! the test's sometimes-conditions held.
//!
//! Why: an exploration checks invariants after every run, and an invariant
//! holds trivially in runs that never get near the trouble. If a change
//! stops a handler from reaching the fault point the test is about (it no
//! longer commits, say), or the two copies no longer overlap, the test still
//! passes, having explored nothing interesting. So a test names what it is
//! about, as conditions over a run's trace ("a crash struck after the
//! commit"), and the exploration fails unless each held in at least one run
//! (sometimes-assertions, as Antithesis and stateright have them). The
//! counts tell the same story at a glance, in the explorer's report and in
//! `cargo xtask verify`'s pass line.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use crate::report::files;
use crate::report::replay::{current_package, current_test_name};
use crate::{EventKind, Trace};

/// How often one fault point was reached (a component called it) and
/// struck (a fault struck there), summed over the runs.
///
/// ```
/// let count = harness::PointCount { reached: 3, struck: 1 };
/// assert_eq!(count.to_string(), "3/1");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointCount {
    /// How many calls reached the point.
    pub reached: u64,
    /// How many of them a fault struck.
    pub struck: u64,
}

impl fmt::Display for PointCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.reached, self.struck)
    }
}

/// The counts of one run, per fault point name (kept by the [`crate::Sim`]),
/// in the order the points were first reached. A list, not a map: a run
/// reaches a handful of points, each thousands of times, and a look-up along
/// a short list is cheaper than along a tree of names that share their
/// first letters (`sql.orders.…`).
#[derive(Clone, Debug, Default)]
pub(crate) struct PointCounts(Vec<(String, PointCount)>);

impl PointCounts {
    pub(crate) fn reached(&mut self, point: &str) {
        self.entry(point).reached += 1;
    }

    pub(crate) fn struck(&mut self, point: &str) {
        self.entry(point).struck += 1;
    }

    fn entry(&mut self, point: &str) -> &mut PointCount {
        // Looked up by `&str` first: the name is allocated once per run.
        let index = match self.0.iter().position(|(name, _)| name == point) {
            Some(index) => index,
            None => {
                self.0.push((point.to_string(), PointCount::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[index].1
    }
}

/// One sometimes-condition of an exploration and in how many runs it held.
///
/// ```
/// let held = harness::Sometimes { name: "a crash struck".into(), runs: 0 };
/// assert!(!held.held());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sometimes {
    /// What the test is about, as it named it.
    pub name: String,
    /// In how many runs it held.
    pub runs: usize,
}

impl Sometimes {
    /// Whether it held in at least one run.
    pub fn held(&self) -> bool {
        self.runs > 0
    }
}

/// What an exploration reached, summed over its runs (a run the explorer
/// stopped for drift is not counted).
///
/// ```
/// use harness::{Explorer, Fault, FaultPoint, Sim};
/// let report = Explorer::new(|sim: &Sim| {
///     sim.explore_faults("kv.**", &[Fault::FailBefore], 1);
///     sim.fault_at(&FaultPoint::new("kv", "orders", "put"));
///     Ok(())
/// })
/// .run();
/// // Two runs: one where the fault struck, one where it did not.
/// let put = report.coverage.points["kv.orders.put"];
/// assert_eq!((put.reached, put.struck), (2, 1));
/// assert_eq!(report.coverage.summary(), "2 schedules · 1 fault point reached 2×, struck 1×");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// How many runs the counts cover.
    pub runs: usize,
    /// Per fault point name.
    pub points: BTreeMap<String, PointCount>,
    /// Per worker (`orders#1`), how often another actor acted between two
    /// steps of its handler.
    pub preempted: BTreeMap<String, u64>,
    /// The test's sometimes-conditions, in the order it declared them.
    pub sometimes: Vec<Sometimes>,
}

impl Coverage {
    /// Adds one run: its fault point counts and its trace.
    pub(crate) fn add_run(&mut self, points: PointCounts, trace: &Trace) {
        self.runs += 1;
        for (name, count) in points.0 {
            let total = self.points.entry(name).or_default();
            total.reached += count.reached;
            total.struck += count.struck;
        }
        for (worker, times) in preemptions(trace) {
            *self.preempted.entry(worker).or_default() += times;
        }
    }

    /// The conditions that never held.
    pub fn never_held(&self) -> Vec<&Sometimes> {
        self.sometimes.iter().filter(|each| !each.held()).collect()
    }

    /// The counts in one line: `120 schedules · 6 fault points reached
    /// 1430×, struck 118× · preempted orders#1 40×, orders#2 38× · 2/2
    /// sometimes-conditions held`.
    pub fn summary(&self) -> String {
        self.line(format!("{} schedules", self.runs))
    }

    /// The counts of several tests' explorations, summed, in the line
    /// `cargo xtask verify` shows with a pass: `explored 1802 schedules in
    /// 4 tests · 14 fault points reached 9120×, struck 310× · preempted
    /// orders#1 402×, orders#2 398× · 9/9 sometimes-conditions held`.
    ///
    /// ```
    /// use harness::{Coverage, PointCount, Sometimes};
    /// let mut one = Coverage { runs: 10, ..Coverage::default() };
    /// one.points.insert("sql.orders.commit".into(), PointCount { reached: 20, struck: 2 });
    /// one.sometimes.push(Sometimes { name: "a crash struck".into(), runs: 4 });
    /// let other = Coverage { runs: 5, ..Coverage::default() };
    /// assert_eq!(
    ///     Coverage::summary_of_tests([&one, &other]),
    ///     "explored 15 schedules in 2 tests · 1 fault point reached 20×, struck 2× · \
    ///      1/1 sometimes-conditions held"
    /// );
    /// ```
    pub fn summary_of_tests<'a>(tests: impl IntoIterator<Item = &'a Coverage>) -> String {
        let mut sum = Coverage::default();
        let mut count = 0;
        for test in tests {
            sum.add(test);
            count += 1;
        }
        let noun = if count == 1 { "test" } else { "tests" };
        sum.line(format!("explored {} schedules in {count} {noun}", sum.runs))
    }

    /// Adds another exploration's counts to these (its sometimes-conditions
    /// after these: they are another test's).
    fn add(&mut self, other: &Coverage) {
        self.runs += other.runs;
        for (name, count) in &other.points {
            let total = self.points.entry(name.clone()).or_default();
            total.reached += count.reached;
            total.struck += count.struck;
        }
        for (worker, times) in &other.preempted {
            *self.preempted.entry(worker.clone()).or_default() += times;
        }
        self.sometimes.extend(other.sometimes.iter().cloned());
    }

    /// `what_ran`, then the counts, in one line.
    fn line(&self, what_ran: String) -> String {
        let mut parts = vec![what_ran];
        if !self.points.is_empty() {
            let reached: u64 = self.points.values().map(|count| count.reached).sum();
            let struck: u64 = self.points.values().map(|count| count.struck).sum();
            let plural = if self.points.len() == 1 { "" } else { "s" };
            parts.push(format!(
                "{} fault point{plural} reached {reached}×, struck {struck}×",
                self.points.len()
            ));
        }
        if !self.preempted.is_empty() {
            let workers: Vec<String> = self
                .preempted
                .iter()
                .map(|(worker, times)| format!("{worker} {times}×"))
                .collect();
            parts.push(format!("preempted {}", workers.join(", ")));
        }
        if !self.sometimes.is_empty() {
            let held = self.sometimes.iter().filter(|each| each.held()).count();
            parts.push(format!(
                "{held}/{} sometimes-conditions held",
                self.sometimes.len()
            ));
        }
        parts.join(" · ")
    }

    /// Inside a test, keeps these counts as this test's (a test that
    /// explores several times keeps its last exploration's) and writes the
    /// line of every test this test binary explored so far,
    /// [`Coverage::summary_of_tests`], to
    /// `<target>/harness-traces/<package>/<test binary>.explored`, where
    /// `cargo xtask verify` reads it to show with a pass.
    pub(crate) fn save_for_this_test(&self) {
        let (Some(test), Some(package)) = (current_test_name(), current_package()) else {
            return;
        };
        // Held while writing, so that the last test to finish writes the
        // line with every test in it.
        let mut explored = THIS_BINARY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        explored.insert(test, self.clone());
        let line = Coverage::summary_of_tests(explored.values());
        let dir = files::traces_dir(Some(&package));
        let name = format!("{}.explored", files::file_stem(&test_binary()));
        // The counts are a courtesy: a test never fails for want of them.
        let _ = files::write(&dir, &name, &format!("{line}\n"));
    }
}

/// The counts of the explorations of this test binary, by test.
static THIS_BINARY: Mutex<BTreeMap<String, Coverage>> = Mutex::new(BTreeMap::new());

/// The test binary's name, without the hash cargo adds (`interleavings`
/// for `target/debug/deps/interleavings-3f2a…`): each test binary of a
/// package writes its own line.
fn test_binary() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => stem.to_string(),
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let points: Vec<String> = self
            .points
            .iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        write!(f, "fault points (reached/struck): {}", points.join(", "))?;
        if !self.preempted.is_empty() {
            let workers: Vec<String> = self
                .preempted
                .iter()
                .map(|(worker, times)| format!("{worker} {times}×"))
                .collect();
            write!(f, "\nworkers preempted: {}", workers.join(", "))?;
        }
        for condition in &self.sometimes {
            write!(
                f,
                "\nsometimes \"{}\": held in {} of {} runs",
                condition.name, condition.runs, self.runs
            )?;
        }
        Ok(())
    }
}

/// Per worker, how often another actor acted between two steps of its
/// handler: a handler is running from its `HandlerStarted` to its
/// `HandlerSucceeded` or `HandlerFailed`, and each time the next event is
/// someone else's while it runs, it was preempted.
fn preemptions(trace: &Trace) -> BTreeMap<String, u64> {
    let mut preempted = BTreeMap::new();
    let mut running: Vec<&str> = Vec::new();
    let mut previous: Option<&str> = None;
    for event in trace.events() {
        let actor = event.actor.as_str();
        if let Some(before) = previous
            && before != actor
            && running.contains(&before)
        {
            *preempted.entry(before.to_string()).or_default() += 1;
        }
        match &event.kind {
            EventKind::HandlerStarted { .. } => running.push(actor),
            EventKind::HandlerSucceeded { .. } | EventKind::HandlerFailed { .. } => {
                running.retain(|worker| *worker != actor)
            }
            _ => {}
        }
        previous = Some(actor);
    }
    preempted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageId, MessageRef, Sim};

    fn handles(sim: &Sim, worker: &str, started: bool) {
        sim.set_actor(worker);
        let message = MessageRef {
            label: "m1".into(),
            message_type: "AddItem".into(),
            id: MessageId::from_u128(1),
        };
        let endpoint = "orders".to_string();
        sim.record(if started {
            EventKind::HandlerStarted { endpoint, message }
        } else {
            EventKind::HandlerSucceeded { endpoint, message }
        });
    }

    #[test]
    fn a_worker_is_preempted_when_another_acts_while_its_handler_runs() {
        let sim = Sim::new(1);
        handles(&sim, "orders#1", true);
        handles(&sim, "orders#2", true); // #1 preempted
        sim.note("#2 reads");
        handles(&sim, "orders#1", false); // #2 preempted
        handles(&sim, "orders#2", false); // #1 finished: not preempted
        sim.set_actor("test");
        sim.note("after both");
        let counts = preemptions(&sim.trace());
        assert_eq!(counts.get("orders#1"), Some(&1));
        assert_eq!(counts.get("orders#2"), Some(&1));
    }

    #[test]
    fn the_summary_says_which_conditions_held() {
        let coverage = Coverage {
            runs: 3,
            sometimes: vec![
                Sometimes {
                    name: "a".into(),
                    runs: 2,
                },
                Sometimes {
                    name: "b".into(),
                    runs: 0,
                },
            ],
            ..Coverage::default()
        };
        assert_eq!(
            coverage.summary(),
            "3 schedules · 1/2 sometimes-conditions held"
        );
        assert_eq!(coverage.never_held()[0].name, "b");
    }
}
