//! The handle to one simulated run: its clock, seeded randomness, fault plan,
//! trace, and the chooser that decides every "which one next?" question.
//!
//! Components hold a clone of the [`Sim`] they were built with, so that one
//! seed governs everything in a run and one trace records all of it.

use std::collections::{HashMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use uuid::Uuid;

use crate::budget;
use crate::coverage::PointCounts;
use crate::drift;
use crate::fault::{ExploredFaults, RuleAction};
use crate::trace::{Event, EventKind, MessageRef, Trace};
use crate::{Envelope, Failure, Fault, FaultPoint, FaultRule, MessageId, RandomFaults, SimTime};

/// The environment variable that overrides a test's seed, so that the replay
/// command printed with a failure reproduces it.
pub const SEED_VARIABLE: &str = "HARNESS_SEED";

/// The environment variable that makes [`Sim::from_env_or`] follow an
/// explorer's schedule (`1,0,2`), so that a counterexample replays exactly.
pub const SCRIPT_VARIABLE: &str = "HARNESS_SCRIPT";

/// The environment variable that carries a run's fingerprint (`12:9f…`)
/// beside its schedule, so that a replay that is not the same run stops and
/// says so (see [`crate::Error::NotDeterministic`]).
pub const RUN_VARIABLE: &str = "HARNESS_RUN";

/// One decision the chooser made: among `options` possibilities (0-based),
/// it `picked` one. The explorer enumerates these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// What was decided, e.g. `deliver from orders or billing`.
    pub label: String,
    /// How many possibilities there were.
    pub options: u32,
    /// Which one was taken.
    pub picked: u32,
    /// How many events the run had recorded before this choice.
    pub step: u64,
    /// In a scripted run, a digest of everything the run did before this
    /// choice (its events and earlier choices): a replay must find the same
    /// here (see [`crate::Error::NotDeterministic`]). 0 in a seeded run.
    pub history: u64,
}

/// Called at every fault point before anything else: the world's scheduler
/// uses it to let another worker run first.
pub type SchedulerHook = Arc<dyn Fn(&FaultPoint) + Send + Sync>;

enum Chooser {
    /// Choices come from the seeded random generator.
    Seeded,
    /// Choices follow a script (from the explorer); past its end, option 0.
    /// The first choices must be the ones `expected` lists (the run the
    /// script was derived from; see the `drift` module).
    Scripted {
        script: Vec<u32>,
        expected: Vec<Choice>,
        /// The replayed run's fingerprint: a choice and its history.
        fingerprint: Option<(usize, u64)>,
        next: usize,
    },
}

impl Chooser {
    /// The scripted pick for the choice `found` (`None` in a seeded run),
    /// or why this run is not the one its script replays.
    fn scripted_pick(&mut self, found: &Choice) -> Result<Option<u32>, crate::Error> {
        let Chooser::Scripted {
            script,
            expected,
            fingerprint,
            next,
        } = self
        else {
            return Ok(None);
        };
        let index = *next;
        *next += 1;
        if let Some(expected) = expected.get(index) {
            drift::check(index, expected, found)?;
        }
        if let Some(fingerprint) = fingerprint {
            drift::check_fingerprint(index, *fingerprint, found)?;
        }
        match script.get(index) {
            Some(&pick) if pick >= found.options => Err(drift::out_of_range(index, pick, found)),
            Some(&pick) => Ok(Some(pick)),
            None => Ok(Some(0)),
        }
    }
}

struct State {
    seed: u64,
    now: SimTime,
    rng: fastrand::Rng,
    chooser: Chooser,
    choices: Vec<Choice>,
    rules: Vec<FaultRule>,
    random: Vec<RandomFaults>,
    explored: Vec<ExploredFaults>,
    /// False once [`Sim::stop_branching`] was called.
    branching: bool,
    /// In a scripted run, the digest of the run so far (see `drift`).
    history: u64,
    /// Why this replay stopped: it is not the run it replays.
    drift: Option<crate::Error>,
    /// How often each fault point was reached and struck in this run.
    points: PointCounts,
    trace: Trace,
    next_seq: u64,
    actor: String,
    labels: HashMap<MessageId, String>,
    /// Labelled ids, oldest first, so that the label map stays bounded.
    labelled: VecDeque<MessageId>,
    next_label: u64,
    scheduler: Option<SchedulerHook>,
    /// Calls to the simulated cloud (fault points) so far in this run.
    calls: u64,
    /// How many the run may make (see [`Sim::set_call_budget`]).
    call_budget: Option<u64>,
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

    /// A run whose seed is `default_seed`, unless the `HARNESS_SEED`
    /// environment variable gives another one (that is how a printed replay
    /// command reproduces a failure). When `HARNESS_SCRIPT` is set too
    /// (`1,0,2`), the run follows that explorer schedule, as
    /// [`Sim::scripted`] does; `HARNESS_RUN` (the fingerprint a report prints
    /// beside the schedule) then makes it stop if it is not the same run.
    ///
    /// ```
    /// let sim = harness::Sim::from_env_or(7);
    /// ```
    ///
    /// # Panics
    ///
    /// When `HARNESS_SCRIPT` is not a comma-separated list of numbers.
    pub fn from_env_or(default_seed: u64) -> Sim {
        let seed = std::env::var(SEED_VARIABLE)
            .ok()
            .and_then(|text| parse_seed(&text))
            .unwrap_or(default_seed);
        match std::env::var(SCRIPT_VARIABLE) {
            Ok(text) => match parse_script(&text) {
                Some(script) => {
                    let fingerprint = std::env::var(RUN_VARIABLE)
                        .ok()
                        .and_then(|text| drift::parse_fingerprint(&text));
                    let sim = Sim::scripted(seed, script);
                    sim.expect_fingerprint(fingerprint);
                    sim
                }
                None => panic!(
                    "{SCRIPT_VARIABLE}={text:?} is not a schedule: write the choices as numbers separated by commas, like {SCRIPT_VARIABLE}=1,0,2"
                ),
            },
            Err(_) => Sim::new(seed),
        }
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

    /// Makes a scripted run check the replayed run's fingerprint.
    fn expect_fingerprint(&self, expected: Option<(usize, u64)>) {
        if let Chooser::Scripted { fingerprint, .. } = &mut self.lock().chooser {
            *fingerprint = expected;
        }
    }

    fn with_chooser(seed: u64, chooser: Chooser) -> Sim {
        let state = State {
            seed,
            now: SimTime::ZERO,
            rng: fastrand::Rng::with_seed(seed),
            chooser,
            choices: Vec::new(),
            rules: Vec::new(),
            random: Vec::new(),
            explored: Vec::new(),
            branching: true,
            history: 0,
            drift: None,
            points: PointCounts::default(),
            trace: Trace::with_limit(Trace::DEFAULT_LIMIT),
            next_seq: 1,
            actor: "test".to_string(),
            labels: HashMap::new(),
            labelled: VecDeque::new(),
            next_label: 1,
            scheduler: None,
            calls: 0,
            call_budget: None,
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

    /// Whether this run's choices follow a script (an explorer schedule).
    pub(crate) fn is_scripted(&self) -> bool {
        matches!(self.lock().chooser, Chooser::Scripted { .. })
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

    // ----- randomness and choices -----

    /// A fresh message id from the seeded generator.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// assert_ne!(sim.new_message_id(), sim.new_message_id());
    /// ```
    pub fn new_message_id(&self) -> MessageId {
        MessageId::from_uuid(self.new_uuid())
    }

    /// A fresh random (v4) UUID from the seeded generator.
    ///
    /// ```
    /// let uuid = harness::Sim::new(1).new_uuid();
    /// assert_eq!(uuid.get_version_num(), 4);
    /// ```
    pub fn new_uuid(&self) -> Uuid {
        let mut bytes = [0u8; 16];
        let mut state = self.lock();
        bytes.iter_mut().for_each(|byte| *byte = state.rng.u8(..));
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A number in `0..bound` from the seeded generator.
    ///
    /// ```
    /// assert!(harness::Sim::new(1).random_below(10) < 10);
    /// ```
    pub fn random_below(&self, bound: u64) -> u64 {
        self.lock().rng.u64(..bound.max(1))
    }

    /// Decides among `options` possibilities (answers `0..options`): at random
    /// from the seed, or as the explorer's script says. Every decision is
    /// logged in [`Sim::choices`].
    ///
    /// ```
    /// let sim = harness::Sim::new(3);
    /// let picked = sim.choose("which queue delivers next", 2);
    /// assert!(picked < 2);
    /// assert_eq!(sim.choices().len(), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// In a replay that is not the run it replays (see
    /// [`crate::Error::NotDeterministic`]), with the message that says so.
    pub fn choose(&self, label: &str, options: u32) -> u32 {
        if options <= 1 {
            return 0;
        }
        let mut state = self.lock();
        if !state.branching {
            return 0;
        }
        let mut choice = Choice {
            label: label.to_string(),
            options,
            picked: 0,
            step: state.next_seq - 1,
            history: state.history,
        };
        let scripted = state.chooser.scripted_pick(&choice);
        let drift = scripted.as_ref().err().cloned().or(state.drift.clone());
        if let Some(drift) = drift {
            state.drift.get_or_insert(drift.clone());
            drop(state);
            panic!("{drift}");
        }
        choice.picked = match scripted {
            Ok(Some(picked)) => picked,
            _ => state.rng.u32(..options),
        };
        if matches!(state.chooser, Chooser::Scripted { .. }) {
            state.history = drift::after_choice(state.history, &choice);
        }
        // The log keeps the first choices (the explorer branches on those)
        // and stays bounded in endless runs.
        if state.choices.len() < state.trace.limit() {
            state.choices.push(choice.clone());
        }
        choice.picked
    }

    /// Why this replay stopped, if it did: it met a choice other than the
    /// one the run it replays made there (see [`crate::Error::NotDeterministic`]).
    ///
    /// ```
    /// let sim = harness::Sim::scripted(1, vec![2]);
    /// let stopped = std::panic::catch_unwind(|| sim.choose("coin", 2));
    /// assert!(stopped.is_err());
    /// assert!(sim.drift().unwrap().to_string().starts_with("the run is not deterministic"));
    /// ```
    pub fn drift(&self) -> Option<crate::Error> {
        self.lock().drift.clone()
    }

    /// Every decision made so far, in order (at most the trace limit: see
    /// [`Sim::set_trace_limit`]).
    ///
    /// ```
    /// assert!(harness::Sim::new(1).choices().is_empty());
    /// ```
    pub fn choices(&self) -> Vec<Choice> {
        self.lock().choices.clone()
    }

    // ----- faults -----

    /// Adds a scripted fault rule.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.inject(harness::FaultRule::at("kv.carts.batch").fail_after());
    /// ```
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Adds a seeded random fault profile.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.inject_random(harness::RandomFaults::new().with("broker.**", harness::Fault::Duplicate, 0.5));
    /// ```
    pub fn inject_random(&self, profile: RandomFaults) {
        self.lock().random.push(profile);
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
        self.lock().explored.push(ExploredFaults {
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
        self.lock().explored.clear();
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
        inner.rules.clear();
        inner.random.clear();
        inner.explored.clear();
    }

    /// From here on, every choice takes its first option and is not
    /// logged, so an explorer does not branch on it: for bounding an
    /// exploration (say, once a crash struck, let the run finish one way).
    ///
    /// ```
    /// let sim = harness::Sim::scripted(1, vec![1, 1]);
    /// assert_eq!(sim.choose("coin", 2), 1);
    /// sim.stop_branching();
    /// assert_eq!(sim.choose("coin", 2), 0);
    /// assert_eq!(sim.choices().len(), 1);
    /// ```
    pub fn stop_branching(&self) {
        self.lock().branching = false;
    }

    /// Installs the scheduler hook, called at every fault point first.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.set_scheduler(std::sync::Arc::new(|_point: &harness::FaultPoint| {}));
    /// ```
    pub fn set_scheduler(&self, hook: SchedulerHook) {
        self.lock().scheduler = Some(hook);
    }

    /// Removes the scheduler hook.
    ///
    /// ```
    /// harness::Sim::new(1).clear_scheduler();
    /// ```
    pub fn clear_scheduler(&self) {
        self.lock().scheduler = None;
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
        self.lock().scheduler.is_some()
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
        let scheduler = self.lock().scheduler.clone();
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
        self.lock().call_budget = Some(calls);
    }

    fn charge_run(&self, point: &FaultPoint) {
        let spent = {
            let mut state = self.lock();
            state.calls += 1;
            state.points.reached(&point.name);
            state.call_budget.filter(|budget| state.calls > *budget)
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
            self.lock().points.struck(&point.name);
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
            _ => Ok(false),
        }
    }

    fn scripted_fault(
        &self,
        point: &FaultPoint,
    ) -> (Option<Fault>, Vec<crate::fault::Interleaving>) {
        let mut state = self.lock();
        let mut fault = None;
        let mut interleavings = Vec::new();
        for rule in state.rules.iter_mut() {
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
                .explored
                .iter()
                .position(|entry| entry.budget > 0 && point.matches(&entry.pattern))?;
            (index, state.explored[index].faults.clone())
        };
        let (index, faults) = candidates;
        let label = format!("fault at {}", point.name);
        let picked = self.choose(&label, faults.len() as u32 + 1);
        if picked == 0 {
            return None;
        }
        self.lock().explored[index].budget -= 1;
        Some(faults[picked as usize - 1])
    }

    fn random_fault(&self, point: &FaultPoint) -> Option<Fault> {
        let mut state = self.lock();
        let State { random, rng, .. } = &mut *state;
        random
            .iter()
            .find_map(|profile| profile.pick(point, || rng.f64()))
    }

    // ----- trace -----

    /// Says who acts from now on (an endpoint name, a client, `test`); events
    /// are attributed to it.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.set_actor("orders");
    /// assert_eq!(sim.actor(), "orders");
    /// ```
    pub fn set_actor(&self, actor: &str) {
        // Reuses the string's buffer: the world sets the actor at every step.
        let mut state = self.lock();
        state.actor.clear();
        state.actor.push_str(actor);
    }

    /// Who acts now.
    ///
    /// ```
    /// assert_eq!(harness::Sim::new(1).actor(), "test");
    /// ```
    pub fn actor(&self) -> String {
        self.lock().actor.clone()
    }

    /// Records an event, attributed to the current actor at the current time.
    ///
    /// ```
    /// use harness::{EventKind, Sim};
    /// let sim = Sim::new(1);
    /// sim.record(EventKind::Note { text: "cart submitted".into() });
    /// assert_eq!(sim.trace().events()[0].seq, 1);
    /// ```
    pub fn record(&self, kind: EventKind) {
        let mut state = self.lock();
        let event = Event {
            seq: state.next_seq,
            at: state.now,
            actor: state.actor.clone(),
            kind,
        };
        state.next_seq += 1;
        if matches!(state.chooser, Chooser::Scripted { .. }) {
            state.history = drift::after_event(state.history, &event);
        }
        state.trace.push(event);
    }

    /// Records a free-text note.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.note("the user clicks Submit twice");
    /// ```
    pub fn note(&self, text: &str) {
        self.record(EventKind::Note {
            text: text.to_string(),
        });
    }

    /// A copy of the trace so far.
    ///
    /// ```
    /// assert!(harness::Sim::new(1).trace().events().is_empty());
    /// ```
    pub fn trace(&self) -> Trace {
        self.lock().trace.clone()
    }

    /// Reads the trace without copying it (for the explorer's conditions).
    pub(crate) fn with_trace<T>(&self, read: impl FnOnce(&Trace) -> T) -> T {
        read(&self.lock().trace)
    }

    /// How often each fault point was reached and struck so far; the
    /// counts start again from zero.
    pub(crate) fn take_point_counts(&self) -> PointCounts {
        std::mem::take(&mut self.lock().points)
    }

    /// Keeps at most `limit` events (the newest) from now on. The same limit
    /// bounds the other logs of a run, so that memory stays flat in long runs:
    /// the choice log keeps the first `limit` choices, and the label map the
    /// newest `limit` message labels (an evicted message gets a new label if it
    /// shows up again).
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.set_trace_limit(1);
    /// sim.note("a");
    /// sim.note("b");
    /// assert_eq!(sim.trace().dropped(), 1);
    /// ```
    pub fn set_trace_limit(&self, limit: usize) {
        let mut state = self.lock();
        state.trace.set_limit(limit);
        let limit = state.trace.limit();
        state.choices.truncate(limit);
        while state.labelled.len() > limit {
            evict_oldest_label(&mut state);
        }
    }

    /// The short label (`m1`, `m2` …) of a message id in this run's trace.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// let id = harness::MessageId::from_u128(99);
    /// assert_eq!(sim.label(id), "m1");
    /// assert_eq!(sim.label(id), "m1");
    /// ```
    pub fn label(&self, id: MessageId) -> String {
        let mut state = self.lock();
        if let Some(label) = state.labels.get(&id) {
            return label.clone();
        }
        if state.labelled.len() >= state.trace.limit() {
            evict_oldest_label(&mut state);
        }
        let label = format!("m{}", state.next_label);
        state.next_label += 1;
        state.labels.insert(id, label.clone());
        state.labelled.push_back(id);
        label
    }

    /// The trace's view of a message: label, type and id.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// let m = harness::Envelope::new(harness::MessageId::from_u128(5), "Ping", &());
    /// assert_eq!(sim.message_ref(&m).to_string(), "Ping(m1)");
    /// ```
    pub fn message_ref(&self, message: &Envelope) -> MessageRef {
        MessageRef {
            label: self.label(message.id),
            message_type: message.message_type.clone(),
            id: message.id,
        }
    }
}

fn evict_oldest_label(state: &mut State) {
    if let Some(oldest) = state.labelled.pop_front() {
        state.labels.remove(&oldest);
    }
}

/// Reads a seed written in decimal or as `0x…` hex.
fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Reads a schedule written as `1,0,2` (spaces allowed; empty means "always 0").
fn parse_script(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|pick| pick.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_as_comma_separated_choices() {
        assert_eq!(parse_script("1,0,2"), Some(vec![1, 0, 2]));
        assert_eq!(parse_script(" 3 , 1 "), Some(vec![3, 1]));
        assert_eq!(parse_script(""), Some(vec![]));
        assert_eq!(parse_script("1,x"), None);
    }

    /// A run: a note (`different` changes it), then three choices.
    fn noted_run(sim: &Sim, note: &str) -> Vec<u32> {
        sim.note(note);
        (0..3).map(|_| sim.choose("coin", 2)).collect()
    }

    #[test]
    fn a_replay_with_the_runs_fingerprint_stops_when_the_run_differs() {
        let first = Sim::scripted(1, vec![1, 0, 1]);
        noted_run(&first, "ola adds meat");
        let fingerprint = drift::parse_fingerprint(&drift::fingerprint(&first.choices()).unwrap());
        // The same run replays.
        let same = Sim::scripted(1, vec![1, 0, 1]);
        same.expect_fingerprint(fingerprint);
        assert_eq!(noted_run(&same, "ola adds meat"), [1, 0, 1]);
        // Another one stops at the fingerprint's choice, the third.
        let other = Sim::scripted(1, vec![1, 0, 1]);
        other.expect_fingerprint(fingerprint);
        let stopped = panic::catch_unwind(AssertUnwindSafe(|| noted_run(&other, "ola adds fish")));
        assert!(stopped.is_err());
        let drift = other.drift().unwrap();
        assert!(
            matches!(drift, crate::Error::NotDeterministic { choice: 3, .. }),
            "{drift}"
        );
    }

    #[test]
    fn a_scripted_run_knows_it_is_scripted() {
        assert!(Sim::scripted(1, vec![1]).is_scripted());
        assert!(!Sim::new(1).is_scripted());
    }

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed("0x2a"), Some(42));
        assert_eq!(parse_seed("nope"), None);
    }

    #[test]
    fn the_same_seed_gives_the_same_choices() {
        let run = |seed| {
            let sim = Sim::new(seed);
            (0..20).map(|_| sim.choose("x", 5)).collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn labels_and_choices_stay_within_the_trace_limit() {
        let sim = Sim::new(1);
        sim.set_trace_limit(3);
        for n in 0..10 {
            sim.label(MessageId::from_u128(n));
            sim.choose("x", 2);
        }
        assert_eq!(sim.choices().len(), 3);
        assert_eq!(sim.lock().labels.len(), 3);
        // The newest labels survive, and numbering never reuses a label.
        assert_eq!(sim.label(MessageId::from_u128(9)), "m10");
        assert_eq!(sim.label(MessageId::from_u128(0)), "m11");
    }

    #[test]
    fn a_scripted_fault_is_recorded_in_the_trace() {
        let sim = Sim::new(1);
        sim.inject(FaultRule::at("kv.carts.batch").fail_after());
        assert_eq!(
            sim.fault_at(&FaultPoint::new("kv", "carts", "batch")),
            Some(Fault::FailAfter)
        );
        let trace = sim.trace().to_string();
        assert!(
            trace.contains("fault: fail after at kv.carts.batch"),
            "{trace}"
        );
    }
}
