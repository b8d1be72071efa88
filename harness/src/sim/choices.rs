//! Randomness and choices: the seeded generator (ids, numbers) and the
//! chooser that answers every "which one next?", at random or as a script
//! says, checking that a replay is the run it replays.

use uuid::Uuid;

use super::Sim;
use crate::MessageId;
use crate::drift;

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

pub(super) enum Chooser {
    /// Choices come from the seeded random generator.
    Seeded,
    /// Choices follow a script (from the explorer); past its end, option 0.
    /// The first choices must be the ones `expected` lists (the run the
    /// script was derived from; see the `drift` module).
    Scripted {
        script: Vec<u32>,
        expected: Vec<Choice>,
        /// The replayed run's fingerprint (`HARNESS_RUN`).
        fingerprint: Option<drift::Fingerprint>,
        next: usize,
    },
}

impl Chooser {
    /// The scripted pick for the choice `found` (`None` in a seeded run),
    /// or why this run is not the one its script replays.
    pub(super) fn scripted_pick(&mut self, found: &Choice) -> Result<Option<u32>, crate::Error> {
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
            drift::check_fingerprint(index, fingerprint, found)?;
        }
        match script.get(index) {
            Some(&pick) if pick >= found.options => Err(drift::out_of_range(index, pick, found)),
            Some(&pick) => Ok(Some(pick)),
            None => Ok(Some(0)),
        }
    }
}

/// The run's randomness and the log of its choices.
pub(super) struct Choosing {
    pub(super) rng: fastrand::Rng,
    pub(super) chooser: Chooser,
    /// The first choices made (at most the trace limit).
    pub(super) choices: Vec<Choice>,
    /// False once [`Sim::stop_branching`] was called.
    pub(super) branching: bool,
    /// In a scripted run, the digest of the run so far (see `drift`).
    pub(super) history: u64,
    /// Why this replay stopped: it is not the run it replays.
    pub(super) drift: Option<crate::Error>,
}

impl Choosing {
    pub(super) fn new(seed: u64, chooser: Chooser) -> Choosing {
        Choosing {
            rng: fastrand::Rng::with_seed(seed),
            chooser,
            choices: Vec::new(),
            branching: true,
            history: 0,
            drift: None,
        }
    }

    /// Whether the choices follow a script (an explorer schedule).
    pub(super) fn is_scripted(&self) -> bool {
        matches!(self.chooser, Chooser::Scripted { .. })
    }
}

impl Sim {
    /// Whether this run's choices follow a script (an explorer schedule).
    pub(crate) fn is_scripted(&self) -> bool {
        self.lock().choosing.is_scripted()
    }

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
        bytes
            .iter_mut()
            .for_each(|byte| *byte = state.choosing.rng.u8(..));
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A number in `0..bound` from the seeded generator.
    ///
    /// ```
    /// assert!(harness::Sim::new(1).random_below(10) < 10);
    /// ```
    pub fn random_below(&self, bound: u64) -> u64 {
        self.lock().choosing.rng.u64(..bound.max(1))
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
        if !state.choosing.branching {
            return 0;
        }
        let mut choice = Choice {
            label: label.to_string(),
            options,
            picked: 0,
            step: state.record.next_seq - 1,
            history: state.choosing.history,
        };
        let scripted = state.choosing.chooser.scripted_pick(&choice);
        let drift = scripted
            .as_ref()
            .err()
            .cloned()
            .or(state.choosing.drift.clone());
        if let Some(drift) = drift {
            state.choosing.drift.get_or_insert(drift.clone());
            drop(state);
            panic!("{drift}");
        }
        choice.picked = match scripted {
            Ok(Some(picked)) => picked,
            _ => state.choosing.rng.u32(..options),
        };
        if state.choosing.is_scripted() {
            state.choosing.history = drift::after_choice(state.choosing.history, &choice);
        }
        // The log keeps the first choices (the explorer branches on those)
        // and stays bounded in endless runs.
        if state.choosing.choices.len() < state.record.trace.limit() {
            state.choosing.choices.push(choice.clone());
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
        self.lock().choosing.drift.clone()
    }

    /// Every decision made so far, in order (at most the trace limit: see
    /// [`Sim::set_trace_limit`]).
    ///
    /// ```
    /// assert!(harness::Sim::new(1).choices().is_empty());
    /// ```
    pub fn choices(&self) -> Vec<Choice> {
        self.lock().choosing.choices.clone()
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
        self.lock().choosing.branching = false;
    }
}
