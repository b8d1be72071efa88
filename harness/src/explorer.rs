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

use crate::invariants::script_of;
use crate::{Choice, Sim, Violation};

/// A scenario: builds a world on the given simulation, runs it, checks invariants.
pub type Scenario = Box<dyn Fn(&Sim) -> Result<(), Violation>>;

/// Explores the schedules of a scenario; see the module documentation.
pub struct Explorer {
    scenario: Scenario,
    seed: u64,
    max_depth: usize,
    max_schedules: usize,
    max_calls_per_run: u64,
}

/// What an exploration found.
///
/// ```
/// let report = harness::Explorer::new(|_sim: &harness::Sim| Ok(())).run();
/// assert_eq!(report.schedules, 1);
/// assert!(report.exhausted && report.counterexample.is_none());
/// report.assert_no_violation();
/// ```
#[derive(Clone, Debug)]
pub struct Report {
    /// How many schedules ran.
    pub schedules: usize,
    /// True when every schedule within the depth bound ran.
    pub exhausted: bool,
    /// How many schedules broke an invariant.
    pub violations: usize,
    /// The shortest of them (fewest events, then fewest choices), if any.
    pub counterexample: Option<Violation>,
}

impl Report {
    /// Panics with the counterexample, explained, if there is one.
    ///
    /// ```
    /// harness::Explorer::new(|_sim: &harness::Sim| Ok(())).run().assert_no_violation();
    /// ```
    #[track_caller]
    pub fn assert_no_violation(&self) {
        if let Some(violation) = &self.counterexample {
            violation
                .to_failure()
                .detail(format!(
                    "{} of {} schedules break it; this is the shortest",
                    self.violations, self.schedules
                ))
                .panic();
        }
    }
}

impl fmt::Display for Report {
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
        }
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
    pub fn run(&self) -> Report {
        let mut report = Report {
            schedules: 0,
            exhausted: false,
            violations: 0,
            counterexample: None,
        };
        let mut script = Vec::new();
        loop {
            let (result, choices) = self.run_once(&script);
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
            match next_script(&choices, self.max_depth) {
                None => {
                    report.exhausted = true;
                    break;
                }
                Some(next) => script = next,
            }
            if report.schedules >= self.max_schedules {
                break;
            }
        }
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
        self.run_once(script).0
    }

    /// One run: the scenario's verdict (a panic counts as a violation) and
    /// the choices it made.
    fn run_once(&self, script: &[u32]) -> (Result<(), Violation>, Vec<Choice>) {
        let sim = Sim::scripted(self.seed, script.to_vec());
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
        let choices = sim.choices();
        let result = result.map_err(|mut violation| {
            violation.recording.script = script_of(&choices);
            violation.recording.choices = choices.clone();
            violation
        });
        (result, choices)
    }
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
/// `max_depth`) that has an untried option, moved on by one.
fn next_script(choices: &[Choice], max_depth: usize) -> Option<Vec<u32>> {
    let depth = choices.len().min(max_depth);
    let branch = (0..depth)
        .rev()
        .find(|&index| choices[index].picked + 1 < choices[index].options)?;
    let mut script: Vec<u32> = choices[..branch]
        .iter()
        .map(|choice| choice.picked)
        .collect();
    script.push(choices[branch].picked + 1);
    Some(script)
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
