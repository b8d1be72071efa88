//! The explorer: runs a scenario under every schedule its choices allow —
//! which delivery runs next, which paused handler goes on, whether and where a
//! fault strikes — and reports the shortest run that breaks an invariant.
//!
//! A scenario is a closure that builds a world on the [`Sim`] it is given,
//! runs it and checks invariants. Every [`Sim::choose`] in the run is a branch
//! point. The explorer searches depth first with replay: it runs the scenario
//! with a script of picks, reads the choices the run made, and runs again
//! with the last choice that has an untried option moved on to it, until no
//! choice is left untried (or a bound is hit). Choices past `max_depth`
//! always take option 0.
//!
//! Crash points come from the scenario: `sim.explore_faults("kv.**",
//! &[Fault::FailBefore, Fault::FailAfter], 1)` lets the explorer try each of
//! those faults at each store call (at most once per run).
//!
//! Two checks keep an exploration honest:
//!
//! - **Drift.** Each schedule is derived from a run the explorer made, so the
//!   new run must meet that run's choices, after the same steps, up to the
//!   branch. One that does not is not deterministic (a `HashMap`'s order,
//!   a random id, the wall clock): the explorer stops and reports it
//!   ([`Exploration::drift`]) instead of counting a schedule it never ran (see
//!   [`crate::Error::NotDeterministic`]).
//! - **Sometimes-conditions.** [`Explorer::sometimes`] names what the test
//!   is about as a condition over a run's trace; an exploration in which it
//!   never held fails, because its invariants held without meeting the
//!   trouble. The report counts, per fault point, how often it was reached
//!   and struck, and per worker how often it was preempted ([`Coverage`]).
//!
//! ```
//! use harness::{Explorer, Sim, Violation};
//!
//! // Three coin flips; "all heads" breaks the invariant.
//! let explorer = Explorer::new(|sim: &Sim| {
//!     let heads = (0..3).filter(|_| sim.choose("flip", 2) == 1).count();
//!     if heads == 3 {
//!         return Err(Violation::new("not all heads", "three heads in a row", vec![], sim));
//!     }
//!     Ok(())
//! });
//! let report = explorer.run();
//! assert_eq!(report.schedules, 8);
//! assert!(report.exhausted);
//! let counterexample = report.counterexample.unwrap();
//! assert_eq!(counterexample.recording.script, [1, 1, 1]);
//! assert!(explorer.replay(&counterexample.recording.script).is_err());
//! ```

use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use crate::coverage::{Coverage, Sometimes};
use crate::invariants::script_of;
use crate::sim::SetupSlot;
use crate::{Choice, Sim, Trace, Violation};

/// A scenario: builds a world on the given simulation, runs it, checks invariants.
pub type Scenario = Box<dyn Fn(&Sim) -> Result<(), Violation>>;

/// A sometimes-condition over a run's trace (see [`Explorer::sometimes`]).
type Condition = Box<dyn Fn(&Trace) -> bool>;

/// Explores the schedules of a scenario; see the module documentation.
pub struct Explorer {
    scenario: Scenario,
    seed: u64,
    max_depth: usize,
    max_schedules: usize,
    max_calls_per_run: u64,
    conditions: Vec<(String, Condition)>,
}

/// What an exploration found: how many schedules ran, the shortest
/// counterexample, and what the runs reached. (Not to be confused with a
/// failure report, [`crate::Failure`], which explains one run.)
///
/// ```
/// let report = harness::Explorer::new(|_sim: &harness::Sim| Ok(())).run();
/// assert_eq!(report.schedules, 1);
/// assert!(report.exhausted && report.counterexample.is_none());
/// report.assert_no_violation();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Exploration {
    /// How many schedules ran.
    pub schedules: usize,
    /// True when every schedule within the depth bound ran.
    pub exhausted: bool,
    /// How many schedules broke an invariant.
    pub violations: usize,
    /// The shortest of them (fewest events, then fewest choices), if any.
    pub counterexample: Option<Violation>,
    /// A run that was not the run its schedule was derived from (the
    /// scenario is not deterministic): the exploration stopped there, and
    /// the run is not counted.
    pub drift: Option<Violation>,
    /// What the runs reached: fault points, preemptions, sometimes-conditions.
    pub coverage: Coverage,
}

/// The name [`Exploration`] had before: kept so that code written against it
/// still compiles.
#[deprecated(
    note = "renamed `harness::Exploration` (beside the module `harness::report`, the name misled)"
)]
pub type Report = Exploration;

impl Exploration {
    /// Panics with the counterexample, explained, if there is one.
    ///
    /// ```
    /// harness::Explorer::new(|_sim: &harness::Sim| Ok(())).run().assert_no_violation();
    /// ```
    ///
    /// It checks first that the exploration can be trusted, and last that it
    /// explored what the test is about (see [`Exploration::assert_explored`]).
    #[track_caller]
    pub fn assert_no_violation(&self) {
        self.assert_deterministic();
        if let Some(violation) = &self.counterexample {
            violation
                .to_failure()
                .detail(format!(
                    "{} of {} schedules break it; this is the shortest",
                    self.violations, self.schedules
                ))
                .panic();
        }
        self.assert_explored();
    }

    /// Panics with the run that drifted, if one did (see [`Exploration::drift`]).
    ///
    /// ```
    /// harness::Explorer::new(|_sim: &harness::Sim| Ok(())).run().assert_deterministic();
    /// ```
    #[track_caller]
    pub fn assert_deterministic(&self) {
        if let Some(drift) = &self.drift {
            drift
                .to_failure()
                .detail(format!(
                    "the explorer stopped after {} schedule(s) that ran as derived: the \
                     replays of a run that changes by itself cannot be trusted",
                    self.schedules
                ))
                .panic();
        }
    }

    /// Panics unless every run was deterministic and every
    /// sometimes-condition held in at least one run: the test explored what
    /// it is about. For tests that report counterexamples their own way.
    ///
    /// ```should_panic
    /// use harness::{Explorer, Sim};
    /// Explorer::new(|sim: &Sim| { sim.choose("coin", 2); Ok(()) })
    ///     .sometimes("the coin stands on its edge", |_trace| false)
    ///     .run()
    ///     .assert_explored();
    /// ```
    #[track_caller]
    pub fn assert_explored(&self) {
        self.assert_deterministic();
        let never = self.coverage.never_held();
        if never.is_empty() {
            return;
        }
        let names: Vec<String> = never
            .iter()
            .map(|condition| format!("\"{}\"", condition.name))
            .collect();
        panic!(
            "the test did not explore what it is about: in none of its {} schedules did {} \
             hold, so its invariants held without meeting the trouble they are about. Did a \
             change stop the handler from reaching a fault point, or from overlapping with the \
             other worker? What the runs reached:\n{}",
            self.schedules,
            names.join(" or "),
            self.coverage
        );
    }
}

impl fmt::Display for Exploration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let coverage = if self.exhausted {
            "all of them"
        } else {
            "stopped at a bound"
        };
        write!(
            f,
            "explored {} schedules ({coverage}); {} broke an invariant",
            self.schedules, self.violations
        )?;
        if !self.coverage.points.is_empty() || !self.coverage.sometimes.is_empty() {
            write!(f, "\n{}", self.coverage)?;
        }
        if let Some(drift) = &self.drift {
            write!(f, "\nthe exploration stopped: {}", drift.headline)?;
        }
        if let Some(violation) = &self.counterexample {
            write!(f, "\nthe shortest:\n{violation}")?;
        }
        Ok(())
    }
}

impl Explorer {
    /// The default bound on branching choices per run.
    pub const DEFAULT_MAX_DEPTH: usize = 1_000;
    /// The default bound on runs.
    pub const DEFAULT_MAX_SCHEDULES: usize = 100_000;
    /// The default bound on calls to the simulated cloud in one run.
    pub const DEFAULT_MAX_CALLS_PER_RUN: u64 = 1_000_000;

    /// An explorer of `scenario`, with seed 0 for whatever randomness is not
    /// a choice (such as message ids).
    ///
    /// ```
    /// let explorer = harness::Explorer::new(|_sim: &harness::Sim| Ok(()));
    /// ```
    pub fn new(scenario: impl Fn(&Sim) -> Result<(), Violation> + 'static) -> Explorer {
        Explorer {
            scenario: Box::new(scenario),
            seed: 0,
            max_depth: Explorer::DEFAULT_MAX_DEPTH,
            max_schedules: Explorer::DEFAULT_MAX_SCHEDULES,
            max_calls_per_run: Explorer::DEFAULT_MAX_CALLS_PER_RUN,
            conditions: Vec::new(),
        }
    }

    /// Declares what the test is about: `condition` must hold, over the
    /// trace of a run, in at least one explored run, or
    /// [`Exploration::assert_no_violation`] (and [`Exploration::assert_explored`])
    /// fail with a message that says the test did not explore it. The
    /// report counts the runs in which each condition held.
    ///
    /// ```
    /// use harness::{EventKind, Explorer, Fault, FaultPoint, Sim};
    /// let report = Explorer::new(|sim: &Sim| {
    ///     sim.explore_faults("kv.**", &[Fault::FailAfter], 1);
    ///     sim.fault_at(&FaultPoint::new("kv", "orders", "put"));
    ///     Ok(())
    /// })
    /// .sometimes("a write failed after it took effect", |trace| {
    ///     trace.events().iter().any(|event| {
    ///         matches!(&event.kind, EventKind::FaultInjected { point, .. } if point == "kv.orders.put")
    ///     })
    /// })
    /// .run();
    /// report.assert_no_violation();
    /// assert_eq!(report.coverage.sometimes[0].runs, 1);
    /// ```
    pub fn sometimes(
        mut self,
        name: &str,
        condition: impl Fn(&Trace) -> bool + 'static,
    ) -> Explorer {
        self.conditions
            .push((name.to_string(), Box::new(condition)));
        self
    }

    /// Uses `seed` for every run's non-choice randomness.
    ///
    /// ```
    /// let explorer = harness::Explorer::new(|sim: &harness::Sim| {
    ///     assert_eq!(sim.seed(), 7);
    ///     Ok(())
    /// }).seed(7);
    /// explorer.run().assert_no_violation();
    /// ```
    pub fn seed(mut self, seed: u64) -> Explorer {
        self.seed = seed;
        self
    }

    /// Branches on the first `depth` choices of a run only; later choices
    /// take option 0.
    ///
    /// ```
    /// use harness::{Explorer, Sim};
    /// let explorer = Explorer::new(|sim: &Sim| {
    ///     (0..10).for_each(|_| { sim.choose("flip", 2); });
    ///     Ok(())
    /// }).max_depth(3);
    /// assert_eq!(explorer.run().schedules, 8);
    /// ```
    pub fn max_depth(mut self, depth: usize) -> Explorer {
        self.max_depth = depth;
        self
    }

    /// Stops after `schedules` runs (the report then says it is not exhausted).
    ///
    /// ```
    /// use harness::{Explorer, Sim};
    /// let explorer = Explorer::new(|sim: &Sim| {
    ///     (0..10).for_each(|_| { sim.choose("flip", 2); });
    ///     Ok(())
    /// }).max_schedules(5);
    /// let report = explorer.run();
    /// assert_eq!(report.schedules, 5);
    /// assert!(!report.exhausted);
    /// ```
    pub fn max_schedules(mut self, schedules: usize) -> Explorer {
        self.max_schedules = schedules.max(1);
        self
    }

    /// Bounds each run: past `calls` calls to the simulated cloud (fault
    /// points), the run fails as a violation that says it never ends (see
    /// [`Sim::set_call_budget`]). Each delivery has its own, smaller bound
    /// (see [`crate::World::set_delivery_budget`]).
    ///
    /// ```
    /// use harness::{Explorer, FaultPoint, Sim};
    /// let report = Explorer::new(|sim: &Sim| {
    ///     // A scenario that never stops calling the cloud.
    ///     loop {
    ///         sim.fault_at(&FaultPoint::new("kv", "orders", "get"));
    ///     }
    /// })
    /// .max_calls_per_run(50)
    /// .run();
    /// let violation = report.counterexample.unwrap();
    /// assert!(violation.headline.contains("the run never ends"), "{}", violation.headline);
    /// ```
    pub fn max_calls_per_run(mut self, calls: u64) -> Explorer {
        self.max_calls_per_run = calls;
        self
    }

    /// Runs every schedule (within the bounds) and reports.
    ///
    /// ```
    /// let report = harness::Explorer::new(|sim: &harness::Sim| {
    ///     sim.choose("which", 3);
    ///     Ok(())
    /// }).run();
    /// assert_eq!(report.schedules, 3);
    /// ```
    pub fn run(&self) -> Exploration {
        let mut report = Exploration::default();
        report.coverage.sometimes = self
            .conditions
            .iter()
            .map(|(name, _)| Sometimes {
                name: name.clone(),
                runs: 0,
            })
            .collect();
        let mut expected = Vec::new();
        // The scenario's setup, saved by the first schedule for the others
        // (see `Sim::same_in_every_schedule`).
        let setup = SetupSlot::default();
        loop {
            let (result, sim) = self.run_once(&picks_of(&expected), expected, Some(&setup));
            if let Some(drift) = sim.drift() {
                report.drift = Some(drift_violation(&drift, &sim));
                break;
            }
            self.count(&sim, &mut report.coverage);
            let choices = sim.choices();
            report.schedules += 1;
            if let Err(violation) = result {
                report.violations += 1;
                let shorter = report
                    .counterexample
                    .as_ref()
                    .is_none_or(|best| length(&violation) < length(best));
                if shorter {
                    report.counterexample = Some(violation);
                }
            }
            match next_schedule(&choices, self.max_depth) {
                None => {
                    report.exhausted = true;
                    break;
                }
                Some(next) => expected = next,
            }
            if report.schedules >= self.max_schedules {
                break;
            }
        }
        report.coverage.save_for_this_test();
        report
    }

    /// Runs the scenario once with `script` (as a counterexample reports it).
    ///
    /// ```
    /// use harness::{Explorer, Sim, Violation};
    /// let explorer = Explorer::new(|sim: &Sim| match sim.choose("coin", 2) {
    ///     1 => Err(Violation::new("heads never", "heads", vec![], sim)),
    ///     _ => Ok(()),
    /// });
    /// assert!(explorer.replay(&[0]).is_ok());
    /// assert!(explorer.replay(&[1]).is_err());
    /// ```
    pub fn replay(&self, script: &[u32]) -> Result<(), Violation> {
        self.run_once(script, Vec::new(), None).0
    }

    /// Adds one run to the coverage: its fault points, its preemptions, the
    /// conditions that held in it.
    fn count(&self, sim: &Sim, coverage: &mut Coverage) {
        let points = sim.take_point_counts();
        sim.with_trace(|trace| {
            coverage.add_run(points, trace);
            for ((_, condition), held) in self.conditions.iter().zip(&mut coverage.sometimes) {
                if condition(trace) {
                    held.runs += 1;
                }
            }
        });
    }

    /// One run of `script`, which must meet the choices `expected` first
    /// (the run it was derived from): the scenario's verdict (a panic
    /// counts as a violation) and the run. With `setup`, the run starts
    /// from the setup an earlier schedule saved there, if there is one.
    fn run_once(
        &self,
        script: &[u32],
        expected: Vec<Choice>,
        setup: Option<&SetupSlot>,
    ) -> (Result<(), Violation>, Sim) {
        let sim = Sim::replaying(self.seed, script.to_vec(), expected);
        if let Some(setup) = setup {
            sim.share_setup(setup.clone());
        }
        sim.set_call_budget(self.max_calls_per_run);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (self.scenario)(&sim)));
        let result = match outcome {
            Ok(result) => result,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|text| text.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_string());
                Err(Violation::new(
                    "the scenario's assertions",
                    &format!("the scenario panicked: {message}"),
                    Vec::new(),
                    &sim,
                ))
            }
        };
        let result = result.map_err(|mut violation| {
            let choices = sim.choices();
            violation.recording.script = script_of(&choices);
            violation.recording.choices = choices;
            violation
        });
        (result, sim)
    }
}

/// The report of a run that drifted: what it met instead of the run its
/// schedule came from, with its steps up to there.
fn drift_violation(drift: &crate::Error, sim: &Sim) -> Violation {
    let invariant = "the same schedule gives the same run";
    Violation::new(invariant, &drift.to_string(), Vec::new(), sim)
}

/// The picks of a schedule.
fn picks_of(choices: &[Choice]) -> Vec<u32> {
    choices.iter().map(|choice| choice.picked).collect()
}

/// How long a counterexample is: its events, then its choices.
fn length(violation: &Violation) -> (u64, usize) {
    let recording = &violation.recording;
    (
        recording.trace.dropped() + recording.trace.events().len() as u64,
        recording.choices.len(),
    )
}

/// The next schedule in depth-first order: the deepest choice (within
/// `max_depth`) that has an untried option, moved on by one. Returned as
/// the choices the next run must meet, the last with its new pick.
fn next_schedule(choices: &[Choice], max_depth: usize) -> Option<Vec<Choice>> {
    let depth = choices.len().min(max_depth);
    let branch = (0..depth)
        .rev()
        .find(|&index| choices[index].picked + 1 < choices[index].options)?;
    let mut schedule = choices[..=branch].to_vec();
    schedule[branch].picked += 1;
    Some(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_counterexample_wins_even_when_found_last() {
        let explorer = Explorer::new(|sim: &Sim| {
            if sim.choose("long way or short way", 2) == 0 {
                (0..5).for_each(|n| sim.note(&format!("detour {n}")));
                if sim.choose("fail at the end", 2) == 1 {
                    return Err(Violation::new("x", "long", vec![], sim));
                }
                return Ok(());
            }
            Err(Violation::new("x", "short", vec![], sim))
        });
        let report = explorer.run();
        assert_eq!(report.schedules, 3);
        assert_eq!(report.violations, 2);
        let shortest = report.counterexample.unwrap();
        assert_eq!(shortest.headline, "short");
        assert_eq!(shortest.recording.script, [1]);
    }

    #[test]
    fn a_panicking_scenario_is_a_violation_with_its_message() {
        let report = Explorer::new(|sim: &Sim| {
            assert!(sim.choose("coin", 2) == 0, "the coin must land tails");
            Ok(())
        })
        .run();
        let violation = report.counterexample.unwrap();
        assert_eq!(
            violation.headline,
            "the scenario panicked: the coin must land tails"
        );
        assert_eq!(violation.recording.script, [1]);
    }

    /// The original workshop's test: every string over {A, B} of length 11.
    #[test]
    fn eleven_two_way_choices_give_two_to_the_eleven_schedules() {
        let report = Explorer::new(|sim: &Sim| {
            (0..11).for_each(|_| {
                sim.choose("A or B", 2);
            });
            Ok(())
        })
        .run();
        assert_eq!(report.schedules, 2048);
        assert!(report.exhausted);
    }
}
