//! What happens at every fault point: the scheduler's turn, the run's call
//! budget, and the faults of the plan (scripted, explored, random).

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::{Sim, State};
use crate::budget;
use crate::coverage::PointCounts;
use crate::fault::{ExploredFaults, RuleAction};
use crate::trace::EventKind;
use crate::{Failure, Fault, FaultPoint, FaultRule, RandomFaults};

/// Called at every fault point before anything else: the world's scheduler
/// uses it to let another worker run first.
pub type SchedulerHook = Arc<dyn Fn(&FaultPoint) + Send + Sync>;

/// The run's fault plan, and what its fault points have seen.
#[derive(Default)]
pub(super) struct FaultPlan {
    /// Scripted rules ([`Sim::inject`]).
    pub(super) rules: Vec<FaultRule>,
    /// Seeded random profiles ([`Sim::inject_random`]).
    pub(super) random: Vec<RandomFaults>,
    /// Faults the chooser decides ([`Sim::explore_faults`]).
    pub(super) explored: Vec<ExploredFaults>,
    /// How often each fault point was reached and struck in this run.
    pub(super) points: PointCounts,
    /// Called at every fault point first ([`Sim::set_scheduler`]).
    pub(super) scheduler: Option<SchedulerHook>,
    /// Calls to the simulated cloud (fault points) so far in this run.
    pub(super) calls: u64,
    /// How many the run may make (see [`Sim::set_call_budget`]).
    pub(super) call_budget: Option<u64>,
}

impl Sim {
    /// Adds a scripted fault rule.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.inject(harness::FaultRule::at("kv.carts.batch").fail_after());
    /// ```
    pub fn inject(&self, rule: FaultRule) {
        self.lock().plan.rules.push(rule);
    }

    /// Adds a seeded random fault profile.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.inject_random(harness::RandomFaults::new().with("broker.**", harness::Fault::Duplicate, 0.5));
    /// ```
    pub fn inject_random(&self, profile: RandomFaults) {
        self.lock().plan.random.push(profile);
    }

    /// Lets the chooser decide, at every point matching `pattern`, whether
    /// one of `faults` strikes, at most `budget` times in the run. The
    /// explorer uses this to try every crash point.
    ///
    /// ```
    /// use harness::{Fault, FaultPoint, Sim};
    /// let sim = Sim::scripted(1, vec![1]);
    /// sim.explore_faults("kv.**", &[Fault::FailBefore], 1);
    /// let point = FaultPoint::new("kv", "carts", "put");
    /// assert_eq!(sim.fault_at(&point), Some(Fault::FailBefore));
    /// assert_eq!(sim.fault_at(&point), None); // the budget is spent
    /// ```
    pub fn explore_faults(&self, pattern: &str, faults: &[Fault], budget: u32) {
        self.lock().plan.explored.push(ExploredFaults {
            pattern: pattern.to_string(),
            faults: faults.to_vec(),
            budget,
        });
    }

    /// Ends [`Sim::explore_faults`] for the rest of the run: later points
    /// make no choice and no explored fault strikes there. For the checks
    /// that read the stores once a run is over, so that their reads are not
    /// crash points too.
    ///
    /// ```
    /// use harness::{Fault, FaultPoint, Sim};
    /// let sim = Sim::scripted(1, vec![1]);
    /// sim.explore_faults("kv.**", &[Fault::FailBefore], 1);
    /// sim.stop_exploring_faults();
    /// assert_eq!(sim.fault_at(&FaultPoint::new("kv", "carts", "get")), None);
    /// assert!(sim.choices().is_empty());
    /// ```
    pub fn stop_exploring_faults(&self) {
        self.lock().plan.explored.clear();
    }

    /// Ends every fault for the rest of the run: the rules, the random
    /// profiles and the explored faults. For the reports that read the
    /// stores once a run under chaos is over.
    ///
    /// ```
    /// use harness::{Fault, FaultPoint, RandomFaults, Sim};
    /// let sim = Sim::new(1);
    /// sim.inject_random(RandomFaults::new().with("kv.**", Fault::FailBefore, 1.0));
    /// sim.stop_faults();
    /// assert_eq!(sim.fault_at(&FaultPoint::new("kv", "carts", "get")), None);
    /// ```
    pub fn stop_faults(&self) {
        let mut inner = self.lock();
        inner.plan.rules.clear();
        inner.plan.random.clear();
        inner.plan.explored.clear();
    }

    /// Installs the scheduler hook, called at every fault point first.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.set_scheduler(std::sync::Arc::new(|_point: &harness::FaultPoint| {}));
    /// ```
    pub fn set_scheduler(&self, hook: SchedulerHook) {
        self.lock().plan.scheduler = Some(hook);
    }

    /// Removes the scheduler hook.
    ///
    /// ```
    /// harness::Sim::new(1).clear_scheduler();
    /// ```
    pub fn clear_scheduler(&self) {
        self.lock().plan.scheduler = None;
    }

    /// Whether a scheduler hook is installed: workers then take turns at
    /// fault points, so a component must never wait for another worker
    /// (that worker is parked until this one yields).
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// assert!(!sim.has_scheduler());
    /// sim.set_scheduler(std::sync::Arc::new(|_point: &harness::FaultPoint| {}));
    /// assert!(sim.has_scheduler());
    /// ```
    pub fn has_scheduler(&self) -> bool {
        self.lock().plan.scheduler.is_some()
    }

    /// How often each fault point was reached and struck so far; the
    /// counts start again from zero.
    pub(crate) fn take_point_counts(&self) -> PointCounts {
        std::mem::take(&mut self.lock().plan.points)
    }

    /// Every component calls this at each operation, before doing anything:
    /// it lets the scheduler interleave other work, runs scripted
    /// interleavings, and returns the fault that strikes here, if any (and
    /// records it in the trace).
    ///
    /// ```
    /// use harness::{Fault, FaultPoint, FaultRule, Sim};
    /// let sim = Sim::new(1);
    /// sim.inject(FaultRule::at("broker.orders.send").nth(2).duplicate());
    /// let send = FaultPoint::new("broker", "orders", "send");
    /// assert_eq!(sim.fault_at(&send), None);
    /// assert_eq!(sim.fault_at(&send), Some(Fault::Duplicate));
    /// ```
    pub fn fault_at(&self, point: &FaultPoint) -> Option<Fault> {
        // Charged to the delivery being handled (see `budget`); a parked
        // worker waits for its turn inside this call.
        let _call = budget::call(&point.name);
        self.charge_run(point);
        let scheduler = self.lock().plan.scheduler.clone();
        if let Some(hook) = scheduler {
            hook(point);
        }
        self.fault_here(point)
    }

    /// [`Sim::fault_at`] without a turn for the scheduler: for a worker
    /// that holds a resource another worker would have to wait for (a SQL
    /// transaction), so that nobody runs while it holds it.
    fn fault_at_without_turn(&self, point: &FaultPoint) -> Option<Fault> {
        let _call = budget::call(&point.name);
        self.charge_run(point);
        self.fault_here(point)
    }

    /// Bounds the whole run: once it has made `calls` calls to the
    /// simulated cloud (fault points), the next one panics with a message
    /// that says the run does not end. The explorer sets this for every
    /// schedule it runs ([`crate::Explorer::max_calls_per_run`]), so that a
    /// scenario that loops for ever outside any delivery fails too.
    ///
    /// ```
    /// use harness::{FaultPoint, Sim};
    /// let sim = Sim::new(1);
    /// sim.set_call_budget(2);
    /// let get = FaultPoint::new("kv", "carts", "get");
    /// sim.fault_at(&get);
    /// sim.fault_at(&get);
    /// let third = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.fault_at(&get)));
    /// assert!(third.is_err());
    /// ```
    pub fn set_call_budget(&self, calls: u64) {
        self.lock().plan.call_budget = Some(calls);
    }

    fn charge_run(&self, point: &FaultPoint) {
        let spent = {
            let mut state = self.lock();
            state.plan.calls += 1;
            state.plan.points.reached(&point.name);
            state
                .plan
                .call_budget
                .filter(|budget| state.plan.calls > *budget)
        };
        if let Some(budget) = spent {
            panic!(
                "the run never ends: it made {budget} calls to the simulated cloud and wanted \
                 another at {} — handlers that keep sending each other messages, or a loop \
                 around the world that never stops? (the bound: `Sim::set_call_budget`, \
                 `Explorer::max_calls_per_run`)",
                point.name
            );
        }
    }

    /// Runs `work` (code a test calls directly, such as a client's submit
    /// loop) as a bounded delivery: if it makes more than
    /// [`crate::DEFAULT_DELIVERY_BUDGET`] calls to the simulated cloud
    /// without returning, it fails with a report that says it never
    /// finished, instead of hanging the test. The world bounds every
    /// delivery it makes this way already.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, FaultRule, Sim};
    /// let sim = Sim::new(1);
    /// let carts = DocumentStore::new(&sim, "carts");
    /// sim.inject(FaultRule::at("kv.carts.put").always().fail_before());
    /// // A submit loop that never gives up.
    /// let hung = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     sim.bounded("ola submits cart c-1", || {
    ///         while carts.put("ola", "c-1", &"submitted", Condition::Always).is_err() {}
    ///     })
    /// }));
    /// let report = *hung.unwrap_err().downcast::<String>().unwrap();
    /// assert!(report.starts_with("the call `ola submits cart c-1` never finished"), "{report}");
    /// assert_eq!(sim.bounded("a quick read", || carts.len()), 0);
    /// ```
    #[track_caller]
    pub fn bounded<T>(&self, what: &str, work: impl FnOnce() -> T) -> T {
        let who = format!("the call `{what}`");
        let budget = budget::DEFAULT_DELIVERY_BUDGET;
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            budget::within(&who, "", budget, calls, work)
        }));
        match outcome {
            Ok(value) => value,
            Err(payload) => match payload.downcast::<budget::Runaway>() {
                Ok(runaway) => Failure::new(self, runaway.explain()).panic(),
                Err(other) => panic::resume_unwind(other),
            },
        }
    }

    /// The faults of `point`: scripted, explored, random.
    fn fault_here(&self, point: &FaultPoint) -> Option<Fault> {
        let (fault, interleavings) = self.scripted_fault(point);
        // Interleavings run without the lock: they call back into the components.
        for interleave in interleavings {
            interleave();
        }
        let fault = fault
            .or_else(|| self.explored_fault(point))
            .or_else(|| self.random_fault(point));
        if let Some(fault) = fault {
            self.lock().plan.points.struck(&point.name);
            self.record(EventKind::FaultInjected {
                point: point.name.clone(),
                fault: fault.to_string(),
            });
        }
        fault
    }

    /// How a store operation (document, SQL, blob) meets the fault plan:
    /// `FailBefore` is an error with no effect, `Delay` moves the clock, and
    /// `Ok(true)` means "apply the effect, then report a failure" (fail
    /// after). An operation with no effect to apply (`can_fail_after` false)
    /// treats fail-after as a plain failure. Duplicating or dropping a store
    /// call means nothing, so those faults are ignored.
    pub(crate) fn storage_fault(
        &self,
        point: &FaultPoint,
        can_fail_after: bool,
    ) -> Result<bool, crate::Error> {
        self.storage_fault_taking_turn(point, can_fail_after, true)
    }

    /// [`Sim::storage_fault`], with a turn for the scheduler only when
    /// `take_turn` is true (see [`Sim::fault_at_without_turn`]).
    pub(crate) fn storage_fault_taking_turn(
        &self,
        point: &FaultPoint,
        can_fail_after: bool,
        take_turn: bool,
    ) -> Result<bool, crate::Error> {
        let failed = |effect_applied| crate::Error::Injected {
            point: point.name.clone(),
            effect_applied,
        };
        let fault = if take_turn {
            self.fault_at(point)
        } else {
            self.fault_at_without_turn(point)
        };
        match fault {
            Some(Fault::FailBefore) => Err(failed(false)),
            Some(Fault::FailAfter) if can_fail_after => Ok(true),
            Some(Fault::FailAfter) => Err(failed(false)),
            Some(Fault::Delay(duration)) => {
                self.advance(duration);
                Ok(false)
            }
            // Duplicating, dropping or refusing a store call means nothing.
            Some(Fault::Duplicate | Fault::Drop | Fault::Refuse { .. }) | None => Ok(false),
        }
    }

    fn scripted_fault(
        &self,
        point: &FaultPoint,
    ) -> (Option<Fault>, Vec<crate::fault::Interleaving>) {
        let mut state = self.lock();
        let mut fault = None;
        let mut interleavings = Vec::new();
        for rule in state.plan.rules.iter_mut() {
            match rule.fire(point) {
                Some(RuleAction::Inject(found)) => fault = fault.or(Some(found)),
                Some(RuleAction::Interleave(action)) => interleavings.push(action),
                None => {}
            }
        }
        (fault, interleavings)
    }

    fn explored_fault(&self, point: &FaultPoint) -> Option<Fault> {
        let candidates = {
            let state = self.lock();
            let index = state
                .plan
                .explored
                .iter()
                .position(|entry| entry.budget > 0 && point.matches(&entry.pattern))?;
            (index, state.plan.explored[index].faults.clone())
        };
        let (index, faults) = candidates;
        let label = format!("fault at {}", point.name);
        let picked = self.choose(&label, faults.len() as u32 + 1);
        if picked == 0 {
            return None;
        }
        self.lock().plan.explored[index].budget -= 1;
        Some(faults[picked as usize - 1])
    }

    fn random_fault(&self, point: &FaultPoint) -> Option<Fault> {
        let mut state = self.lock();
        let State { plan, choosing, .. } = &mut *state;
        let rng = &mut choosing.rng;
        plan.random
            .iter()
            .find_map(|profile| profile.pick(point, || rng.f64()))
    }
}
