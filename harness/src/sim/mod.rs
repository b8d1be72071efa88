//! The handle to one simulated run: its clock, seeded randomness, fault plan,
//! trace, and the chooser that decides every "which one next?" question.
//!
//! Components hold a clone of the [`Sim`] they were built with, so that one
//! seed governs everything in a run and one trace records all of it.
//!
//! Its methods, by concern, one file each: the clock and the constructors
//! here; randomness and choices in `choices.rs`; the fault plan and what
//! happens at a fault point in `faults.rs`; the trace, the actor and the
//! message labels in `recording.rs`; a run started from a replay command's
//! variables in `env.rs`; a setup run once per exploration in `setup.rs`.

mod choices;
mod env;
mod faults;
mod recording;
mod setup;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::SimTime;

pub use choices::Choice;
use choices::{Chooser, Choosing};
pub use env::{RUN_VARIABLE, SCRIPT_VARIABLE, SEED_VARIABLE};
use faults::FaultPlan;
pub use faults::SchedulerHook;
use recording::Record;
pub(crate) use setup::{Restore, Saved, SetupSlot};

/// Everything a run holds, by concern; one lock over all of it, because
/// one step touches several (an event is stamped with the time and folded
/// into the replay's digest; a choice is numbered by the events before it).
struct State {
    seed: u64,
    now: SimTime,
    /// Randomness and choices (see `choices.rs`).
    choosing: Choosing,
    /// Faults and what happens at fault points (see `faults.rs`).
    plan: FaultPlan,
    /// The trace, the actor and the message labels (see `recording.rs`).
    record: Record,
    /// The components built on this run that a setup may change, in the
    /// order they were built (see `setup.rs`).
    /// A component dropped since is `None`, so that a long run that builds
    /// many keeps no memory for them (see `setup.rs`, `register`).
    parts: Vec<Option<Weak<dyn Restore>>>,
    /// In an explorer's schedule, where the first schedule's setup is kept.
    setup: Option<SetupSlot>,
}

/// One simulated run. Cheap to clone: every clone is the same run.
///
/// ```
/// use harness::Sim;
/// use std::time::Duration;
///
/// let sim = Sim::new(42);
/// assert_eq!(sim.seed(), 42);
/// sim.advance(Duration::from_secs(31));
/// assert_eq!(sim.now().as_millis(), 31_000);
/// // Same seed, same "random" ids: runs replay exactly.
/// assert_eq!(Sim::new(42).new_message_id(), Sim::new(42).new_message_id());
/// ```
#[derive(Clone)]
pub struct Sim {
    state: Arc<Mutex<State>>,
}

impl Sim {
    /// A run governed by `seed`, starting at time zero with no faults.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// assert_eq!(sim.now(), harness::SimTime::ZERO);
    /// ```
    pub fn new(seed: u64) -> Sim {
        Sim::with_chooser(seed, Chooser::Seeded)
    }

    /// A run whose choices follow `script` (then option 0), as the explorer
    /// replays a schedule. Randomness other than choices still comes from `seed`.
    ///
    /// ```
    /// let sim = harness::Sim::scripted(1, vec![2]);
    /// assert_eq!(sim.choose("which", 3), 2);
    /// assert_eq!(sim.choose("which", 3), 0);
    /// ```
    pub fn scripted(seed: u64, script: Vec<u32>) -> Sim {
        Sim::replaying(seed, script, Vec::new())
    }

    /// A run that follows `script` and must meet, at its first choices, the
    /// ones in `expected` (the run the script was derived from); see
    /// [`crate::Error::NotDeterministic`].
    pub(crate) fn replaying(seed: u64, script: Vec<u32>, expected: Vec<Choice>) -> Sim {
        let chooser = Chooser::Scripted {
            script,
            expected,
            fingerprint: None,
            next: 0,
        };
        Sim::with_chooser(seed, chooser)
    }

    fn with_chooser(seed: u64, chooser: Chooser) -> Sim {
        let state = State {
            seed,
            now: SimTime::ZERO,
            choosing: Choosing::new(seed, chooser),
            plan: FaultPlan::default(),
            record: Record::new(),
            parts: Vec::new(),
            setup: None,
        };
        Sim {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (a failing assertion inside a hook)
        // must not hide the original failure behind a poisoned-lock panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The seed of this run.
    ///
    /// ```
    /// assert_eq!(harness::Sim::new(9).seed(), 9);
    /// ```
    pub fn seed(&self) -> u64 {
        self.lock().seed
    }

    // ----- time -----

    /// The current simulated time.
    ///
    /// ```
    /// assert_eq!(harness::Sim::new(1).now().as_millis(), 0);
    /// ```
    pub fn now(&self) -> SimTime {
        self.lock().now
    }

    /// Moves simulated time forward; nothing sleeps.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.advance(std::time::Duration::from_millis(250));
    /// assert_eq!(sim.now().as_millis(), 250);
    /// ```
    pub fn advance(&self, duration: Duration) {
        let mut state = self.lock();
        state.now = state.now + duration;
    }
}
