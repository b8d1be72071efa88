//! A scenario's setup, run once per exploration: the part of a scenario
//! that is the same in every schedule ([`Sim::same_in_every_schedule`]).
//!
//! The explorer runs a scenario from scratch for every schedule, and the
//! setup (placing an order through the real handler before any choice is
//! made) was a third of a SQL schedule. So the explorer's first schedule
//! runs the setup and saves what it left behind: the simulation's own state
//! (clock, randomness, trace, labels, fault plan) and the state of every
//! component built on the simulation before the setup (the broker's queues,
//! the world's endpoints and counters, the rows of each SQL database, each
//! document and blob store). Later schedules build the same components again
//! (that is cheap: the databases come from a pool), skip the setup, and put
//! that state back: from there on, each schedule is the run it was, event
//! for event.
//!
//! What makes it the same run, and what is checked:
//!
//! - **The setup makes no choice.** A choice in the setup would make it
//!   differ from schedule to schedule: the first schedule fails with a
//!   message that says so.
//! - **The same components.** Later schedules must have built the same
//!   components, in the same order, before the setup (a scenario is
//!   deterministic, so they do); otherwise the schedule panics and says
//!   which differ. A component built inside the setup would not exist in
//!   later schedules: the setup panics too.
//! - **The world is quiet** after the setup (no handler paused halfway).
//! - **A database comes back as it was**: its rows are put back (rowids
//!   too) and, the first time in an exploration, read again and compared.
//! - **Nothing else.** State the harness does not own (a `Mutex` of the
//!   test's own, a static) is not saved: a setup must keep to the
//!   simulated cloud. A component that cannot be saved (a database or
//!   blob store on disk) makes the setup run in every schedule, as before.
//!
//! Outside an explorer (a test's own `Sim`, a replay command) the setup just
//! runs. The proof that runs stay the same is in `harness/BENCHMARKS.md`
//! (round 6): the trace, choices and verdict of every schedule of exercises
//! 09 and 11, byte-identical with and without it.

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};

use super::{Sim, State};
use crate::SimTime;
use crate::coverage::PointCounts;
use crate::fault::ExploredFaults;
use crate::{FaultRule, RandomFaults};

use super::recording::Record;

/// A component's saved state (its own type inside).
pub(crate) type Saved = Box<dyn Any + Send + Sync>;

/// A component whose state a setup may change: it can save it and put it
/// back (see the module documentation).
pub(crate) trait Restore: Send + Sync {
    /// What it is, for messages: `SQL store orders`.
    fn describe(&self) -> String;
    /// Its state now, or why it cannot be saved.
    fn save(&self) -> Result<Saved, String>;
    /// Puts back a state `save` returned, on a component built the same way.
    fn restore(&self, saved: &Saved);
    /// Whether its state now is `saved` (checked once per exploration).
    fn is_as(&self, saved: &Saved) -> bool {
        let _ = saved;
        true
    }
}

/// What the explorer keeps between its schedules: the first schedule's
/// setup, saved.
#[derive(Clone, Default)]
pub(crate) struct SetupSlot(Arc<Mutex<Slot>>);

#[derive(Default)]
enum Slot {
    /// No schedule has finished its setup yet.
    #[default]
    Empty,
    /// What the setup left, and whether a restore was checked already.
    Saved {
        saved: Arc<SavedSetup>,
        checked: bool,
    },
    /// A component cannot be saved: the setup runs in every schedule.
    RunEveryTime,
}

/// Everything a setup left behind.
pub(crate) struct SavedSetup {
    sim: SavedSim,
    /// Each live component, by its place in the order they were built.
    parts: Vec<(usize, String, Saved)>,
}

/// The simulation's own state after a setup. The chooser, the choices, the
/// scheduler hook and the call budget are the schedule's own, not saved.
struct SavedSim {
    now: SimTime,
    rng: fastrand::Rng,
    branching: bool,
    history: u64,
    record: Record,
    rules: Vec<FaultRule>,
    random: Vec<RandomFaults>,
    explored: Vec<ExploredFaults>,
    points: PointCounts,
    calls: u64,
}

impl State {
    fn save(&self) -> SavedSim {
        SavedSim {
            now: self.now,
            rng: self.choosing.rng.clone(),
            branching: self.choosing.branching,
            history: self.choosing.history,
            record: self.record.clone(),
            rules: self.plan.rules.clone(),
            random: self.plan.random.clone(),
            explored: self.plan.explored.clone(),
            points: self.plan.points.clone(),
            calls: self.plan.calls,
        }
    }

    fn restore(&mut self, saved: &SavedSim) {
        self.now = saved.now;
        self.choosing.rng = saved.rng.clone();
        self.choosing.branching = saved.branching;
        self.choosing.history = saved.history;
        self.record = saved.record.clone();
        self.plan.rules = saved.rules.clone();
        self.plan.random = saved.random.clone();
        self.plan.explored = saved.explored.clone();
        self.plan.points = saved.points.clone();
        self.plan.calls = saved.calls;
    }
}

impl Sim {
    /// Runs `setup`: the part of a scenario that is the same in every
    /// schedule (placing an order, say, before the requests that race).
    /// In an [`crate::Explorer`], only the first schedule runs it; the
    /// others start from the state it left — the simulation's and that of
    /// every component built on it before (broker, world, SQL, document and
    /// blob stores) — so a schedule costs only what differs. Each schedule
    /// is the same run, event for event, as if it had run the setup itself.
    /// Elsewhere (a test's own `Sim`, a replay command), it just runs.
    ///
    /// Build the components before the setup, not in it; the setup must
    /// make no choice, leave no handler paused, and keep to the simulated
    /// cloud (state of the test's own is not saved).
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Explorer, Sim};
    ///
    /// let report = Explorer::new(|sim: &Sim| {
    ///     let carts = DocumentStore::new(sim, "carts");
    ///     // Runs in the first schedule only; the others get its cart back.
    ///     sim.same_in_every_schedule(|| {
    ///         carts.put("ola", "c-1", &"open", Condition::CreateOnly).unwrap();
    ///     });
    ///     let late = sim.choose("submit late", 2) == 1;
    ///     assert_eq!(carts.len(), 1);
    ///     if late {
    ///         sim.note("late");
    ///     }
    ///     Ok(())
    /// })
    /// .run();
    /// assert_eq!(report.schedules, 2);
    /// report.assert_no_violation();
    /// ```
    ///
    /// # Panics
    ///
    /// When the setup makes a choice, builds a component, or leaves a
    /// handler paused; when a later schedule built other components before
    /// it than the first one did; when a database does not come back as it
    /// was.
    #[track_caller]
    pub fn same_in_every_schedule(&self, setup: impl FnOnce()) {
        let slot = self.lock().setup.clone();
        let Some(slot) = slot else {
            setup();
            return;
        };
        let saved = {
            let guard = slot.lock();
            match &*guard {
                Slot::Empty => None,
                Slot::Saved { saved, .. } => Some(saved.clone()),
                Slot::RunEveryTime => {
                    drop(guard);
                    setup();
                    return;
                }
            }
        };
        match saved {
            Some(saved) => {
                self.restore_setup(&saved);
                slot.check_once(|| self.is_as(&saved));
            }
            None => {
                let before = self.setup_marks();
                setup();
                let after = self.setup_marks();
                self.check_setup(before, after);
                *slot.lock() = match self.save_setup() {
                    Ok(saved) => Slot::Saved {
                        saved: Arc::new(saved),
                        checked: false,
                    },
                    Err(_) => Slot::RunEveryTime,
                };
            }
        }
    }

    /// Lets `part` be saved and put back around a setup (see the module
    /// documentation). Every stateful component calls it when it is built.
    pub(crate) fn register(&self, part: Weak<dyn Restore>) {
        let mut state = self.lock();
        let parts = &mut state.parts;
        // Now and then, forget the components dropped since: a `Weak` keeps
        // its component's allocation. Their places stay, so the others keep
        // their numbers.
        if parts.len() >= 64 && parts.len().is_power_of_two() {
            for place in parts.iter_mut() {
                if place.as_ref().is_some_and(|part| part.strong_count() == 0) {
                    *place = None;
                }
            }
        }
        parts.push(Some(part));
    }

    /// Gives this run the explorer's slot for its setup.
    pub(crate) fn share_setup(&self, slot: SetupSlot) {
        self.lock().setup = Some(slot);
    }

    /// How many choices and components there are: a setup adds neither.
    fn setup_marks(&self) -> (usize, usize) {
        let state = self.lock();
        (state.choosing.choices.len(), state.parts.len())
    }

    #[track_caller]
    fn check_setup(&self, before: (usize, usize), after: (usize, usize)) {
        if after.0 != before.0 {
            let choice = &self.choices()[before.0];
            panic!(
                "the setup passed to `Sim::same_in_every_schedule` made a choice ({}, {} \
                 options): it is not the same in every schedule. Move what branches after \
                 the setup",
                choice.label, choice.options
            );
        }
        if after.1 != before.1 {
            panic!(
                "a component was built inside the setup passed to \
                 `Sim::same_in_every_schedule`: build the stores, the broker and the world \
                 before it, so that every schedule has them"
            );
        }
    }

    /// The live components, with their place in the order they were built.
    fn live_parts(&self) -> Vec<(usize, Arc<dyn Restore>)> {
        let parts = self.lock().parts.clone();
        parts
            .iter()
            .enumerate()
            .filter_map(|(index, part)| Some((index, part.as_ref()?.upgrade()?)))
            .collect()
    }

    fn save_setup(&self) -> Result<SavedSetup, String> {
        let mut parts = Vec::new();
        for (index, part) in self.live_parts() {
            parts.push((index, part.describe(), part.save()?));
        }
        let sim = self.lock().save();
        Ok(SavedSetup { sim, parts })
    }

    #[track_caller]
    fn restore_setup(&self, saved: &SavedSetup) {
        let live = self.live_parts();
        let found: Vec<(usize, String)> = live
            .iter()
            .map(|(index, part)| (*index, part.describe()))
            .collect();
        let expected: Vec<(usize, String)> = saved
            .parts
            .iter()
            .map(|(index, what, _)| (*index, what.clone()))
            .collect();
        if found != expected {
            panic!(
                "this schedule built other components before its setup than the first \
                 schedule did (expected {}; found {}): the scenario is not deterministic",
                names(&expected),
                names(&found)
            );
        }
        for ((_, part), (_, _, state)) in live.iter().zip(&saved.parts) {
            part.restore(state);
        }
        self.lock().restore(&saved.sim);
    }

    fn is_as(&self, saved: &SavedSetup) -> Result<(), String> {
        for ((_, part), (_, what, state)) in self.live_parts().iter().zip(&saved.parts) {
            if !part.is_as(state) {
                return Err(what.clone());
            }
        }
        Ok(())
    }
}

impl SetupSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks, once per exploration, that the first restore gave back what
    /// was saved.
    #[track_caller]
    fn check_once(&self, check: impl FnOnce() -> Result<(), String>) {
        let mut guard = self.lock();
        let Slot::Saved { checked, .. } = &mut *guard else {
            return;
        };
        if *checked {
            return;
        }
        *checked = true;
        drop(guard);
        if let Err(what) = check() {
            panic!(
                "{what} did not come back as the setup passed to \
                 `Sim::same_in_every_schedule` left it (a trigger that changes other tables \
                 when rows are put back?): run the scenario without that setup"
            );
        }
    }
}

fn names(parts: &[(usize, String)]) -> String {
    let names: Vec<String> = parts
        .iter()
        .map(|(index, what)| format!("#{index} {what}"))
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
