//! The model: a queue of messages, one or more handlers, a store and an
//! outgoing queue. It follows the original workshop's TLA+ specification
//! `MessageHandler.tla` (exercise 10's README maps it, step by step).
//!
//! A state holds the queue (each waiting message with the attempt it will
//! be handled in), what each handler is doing, the store's changes, the
//! events sent and the messages acknowledged. An action is one atomic step
//! of one handler: Receive, or the next step of the lesson's
//! [`HandlerSteps`], which
//! either works or fails. A step can fail only while the message has
//! retries left, so every message is handled in the end: the failures are
//! the ones of a bad afternoon, not of a broken system.

use std::collections::BTreeSet;
use std::fmt;

use stateright::{Model, Property};

use crate::attempt::{Attempt, Change, Effect, ItemAdded, Misstep, Resources};
use crate::invariants::{self, Invariant};

/// A message's id: `m1`, `m2` …
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u8);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The handler's steps after Receive. [`HandlerSteps::order`] orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The business change, in one database transaction
    /// ([`HandlerSteps::update_store`]).
    UpdateStore,
    /// The outgoing event ([`HandlerSteps::send`]).
    Send,
    /// The acknowledgement: the queue forgets the message.
    Ack,
}

impl Step {
    /// The step's name in a sentence: "the store update fails".
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Step::UpdateStore => "store update",
            Step::Send => "send",
            Step::Ack => "acknowledgement",
        }
    }
}

/// The handler as the lesson writes it: the order of its steps after
/// Receive, and what the two steps of the lesson do. Exercise 10 fills it
/// in with its `STEPS`, `update_store` and `send`; the model runs them.
#[derive(Clone, Copy, Debug)]
pub struct HandlerSteps {
    /// The steps after Receive, in the order the handler runs them.
    pub order: &'static [Step],
    /// [`Step::UpdateStore`]: the business change, in one transaction.
    pub update_store: fn(&mut Attempt),
    /// [`Step::Send`]: the outgoing `ItemAdded` event.
    pub send: fn(&mut Attempt),
}

/// A message in the queue, and the attempt it will be handled in (1 for
/// the first delivery, 2 for the first retry …).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Delivery {
    /// The message.
    pub message: MessageId,
    /// Its attempt: 1, then one more per failure.
    pub attempt: u8,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (attempt {})", self.message, self.attempt)
    }
}

/// What a handler is doing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    /// Waiting for a message.
    Idle,
    /// Handling a delivery; `left` are the steps it has still to do, the
    /// next one first (the end of [`HandlerSteps::order`]).
    Busy {
        /// What it handles.
        delivery: Delivery,
        /// The steps it has still to do.
        left: &'static [Step],
    },
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handler::Idle => f.write_str("idle"),
            Handler::Busy { delivery, left } => match left.first() {
                Some(step) => write!(f, "handling {delivery:?}, next step: {step:?}"),
                None => write!(f, "handling {delivery:?}, no step left"),
            },
        }
    }
}

/// Everything the model checker keeps track of.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct State {
    /// Messages waiting to be handled.
    pub queue: BTreeSet<Delivery>,
    /// One entry per handler.
    pub handlers: Vec<Handler>,
    /// The business changes in the store.
    pub store: BTreeSet<Change>,
    /// The events sent to the outgoing queue (a set: an identical resend is
    /// the same event).
    pub sent: BTreeSet<ItemAdded>,
    /// Messages acknowledged: the queue forgot them.
    pub acked: BTreeSet<MessageId>,
    /// Messages the queue gave up on: handled without an acknowledgement
    /// and no retries left.
    pub dead_letters: BTreeSet<MessageId>,
    /// The first step that did another step's kind of effect, if any.
    pub misstep: Option<Misstep>,
}

impl State {
    /// A handler is in the middle of an attempt at `message`.
    pub fn in_flight(&self, message: MessageId) -> bool {
        self.handlers.iter().any(|handler| {
            matches!(handler, Handler::Busy { delivery, .. } if delivery.message == message)
        })
    }

    /// The store's changes for `message`.
    pub fn changes_of(&self, message: MessageId) -> impl Iterator<Item = &Change> {
        self.store
            .iter()
            .filter(move |change| change.message == message)
    }

    /// The events sent for `message`.
    pub fn events_of(&self, message: MessageId) -> impl Iterator<Item = &ItemAdded> {
        self.sent
            .iter()
            .filter(move |event| event.message == message)
    }

    /// Nothing left to do: the queue is empty and every handler idle.
    pub fn finished(&self) -> bool {
        self.queue.is_empty() && self.handlers.iter().all(|h| *h == Handler::Idle)
    }
}

/// The state as the Explorer shows it, one line per part.
impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Debug>(items: impl Iterator<Item = T>) -> String {
            let items: Vec<String> = items.map(|item| format!("{item:?}")).collect();
            if items.is_empty() {
                "—".to_string()
            } else {
                items.join(", ")
            }
        }
        writeln!(f, "queue:        {}", list(self.queue.iter()))?;
        for (index, handler) in self.handlers.iter().enumerate() {
            writeln!(f, "handler {}:    {handler:?}", index + 1)?;
        }
        writeln!(f, "store:        {}", list(self.store.iter()))?;
        writeln!(f, "sent:         {}", list(self.sent.iter()))?;
        writeln!(f, "acknowledged: {}", list(self.acked.iter()))?;
        write!(f, "dead letters: {}", list(self.dead_letters.iter()))?;
        match &self.misstep {
            Some(misstep) => write!(f, "\nmisstep:      {misstep}"),
            None => Ok(()),
        }
    }
}

/// One atomic step of one handler (handlers are numbered from 0 here and
/// from 1 in sentences).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The handler takes the message from the queue: an attempt begins.
    Receive {
        /// Which handler, counted from 0.
        handler: usize,
        /// The message it takes.
        message: MessageId,
    },
    /// The handler's next step works.
    Works {
        /// Which handler, counted from 0.
        handler: usize,
        /// The step that works.
        step: Step,
    },
    /// The handler's next step fails: it has no effect, and the message
    /// goes back to the queue.
    Fails {
        /// Which handler, counted from 0.
        handler: usize,
        /// The step that fails.
        step: Step,
    },
}

/// How big a world to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Messages in the queue at the start: `m1`, `m2` …
    pub messages: u8,
    /// How many times a message may fail and come back.
    pub retries: u8,
    /// Handlers working on the queue at the same time.
    pub handlers: u8,
}

impl Config {
    /// What the tests and the Explorer use: small enough to check in
    /// milliseconds, big enough for every counterexample of the exercise.
    pub const DEFAULT: Config = Config {
        messages: 2,
        retries: 2,
        handlers: 1,
    };

    /// The original workshop's size: 3 messages, 2 retries, 2 handlers.
    pub const BIG: Config = Config {
        messages: 3,
        retries: 2,
        handlers: 2,
    };
}

impl Default for Config {
    fn default() -> Config {
        Config::DEFAULT
    }
}

/// The message handler as a `stateright` model.
#[derive(Clone, Debug)]
pub struct HandlerModel {
    /// The handler under check.
    pub steps: HandlerSteps,
    /// How big a world to check.
    pub config: Config,
    /// The invariants the checker checks.
    pub invariants: Vec<Invariant>,
}

impl HandlerModel {
    /// The model of `steps` with every invariant switched on.
    pub fn new(steps: HandlerSteps, config: Config) -> HandlerModel {
        HandlerModel {
            steps,
            config,
            invariants: Invariant::ALL.to_vec(),
        }
    }

    /// The model of `steps` that checks `invariant` only.
    pub fn only(steps: HandlerSteps, config: Config, invariant: Invariant) -> HandlerModel {
        HandlerModel {
            steps,
            config,
            invariants: vec![invariant],
        }
    }

    /// Retries left after this attempt: a step may fail.
    fn may_fail(&self, delivery: Delivery) -> bool {
        delivery.attempt <= self.config.retries
    }

    /// Runs a step of the lesson (or the acknowledgement) for `delivery`
    /// on `state`, and returns what it did.
    fn run_step(&self, state: &mut State, delivery: Delivery, step: Step) -> Vec<Effect> {
        let resources = Resources {
            store: &mut state.store,
            sent: &mut state.sent,
            misstep: &mut state.misstep,
        };
        let mut attempt = Attempt::new(delivery.message, delivery.attempt, step, resources);
        match step {
            Step::UpdateStore => (self.steps.update_store)(&mut attempt),
            Step::Send => (self.steps.send)(&mut attempt),
            Step::Ack => {}
        }
        let effects = attempt.into_effects();
        if step == Step::Ack {
            state.acked.insert(delivery.message);
        }
        effects
    }

    /// What the handler's next step does on `state` (which stays as it is).
    pub(crate) fn effects_of(&self, state: &State, handler: usize) -> Vec<Effect> {
        match busy(state, handler) {
            Some((delivery, step)) => self.run_step(&mut state.clone(), delivery, step),
            None => Vec::new(),
        }
    }

    /// The attempt is over (every step done, or one failed): the handler
    /// is idle again, and an unacknowledged message goes back to the queue
    /// while it has retries left (else to the dead letters).
    fn end_attempt(&self, state: &mut State, handler: usize, delivery: Delivery) {
        state.handlers[handler] = Handler::Idle;
        if state.acked.contains(&delivery.message) {
            return;
        }
        if self.may_fail(delivery) {
            state.queue.insert(Delivery {
                message: delivery.message,
                attempt: delivery.attempt + 1,
            });
        } else {
            state.dead_letters.insert(delivery.message);
        }
    }

    /// Moves the handler past the step it just did.
    fn advance(&self, state: &mut State, handler: usize) {
        if let Handler::Busy { delivery, left } = state.handlers[handler] {
            match left {
                [_, rest @ ..] if !rest.is_empty() => {
                    state.handlers[handler] = Handler::Busy {
                        delivery,
                        left: rest,
                    };
                }
                _ => self.end_attempt(state, handler, delivery),
            }
        }
    }

    /// What is wrong with `state` for `invariant`, in one sentence (or
    /// `None` if it holds).
    pub fn violation(&self, invariant: Invariant, state: &State) -> Option<String> {
        invariants::violation(self, invariant, state)
    }
}

/// What the handler is handling and the step it does next.
pub(crate) fn busy(state: &State, handler: usize) -> Option<(Delivery, Step)> {
    match state.handlers.get(handler)? {
        Handler::Busy { delivery, left } => Some((*delivery, *left.first()?)),
        Handler::Idle => None,
    }
}

impl Model for HandlerModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let queue = (1..=self.config.messages)
            .map(|n| Delivery {
                message: MessageId(n),
                attempt: 1,
            })
            .collect();
        vec![State {
            queue,
            handlers: vec![Handler::Idle; usize::from(self.config.handlers)],
            store: BTreeSet::new(),
            sent: BTreeSet::new(),
            acked: BTreeSet::new(),
            dead_letters: BTreeSet::new(),
            misstep: None,
        }]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        for (handler, what) in state.handlers.iter().enumerate() {
            match what {
                Handler::Idle => {
                    for delivery in &state.queue {
                        actions.push(Action::Receive {
                            handler,
                            message: delivery.message,
                        });
                    }
                }
                Handler::Busy { delivery, .. } => {
                    if let Some((_, step)) = busy(state, handler) {
                        actions.push(Action::Works { handler, step });
                        if self.may_fail(*delivery) {
                            actions.push(Action::Fails { handler, step });
                        }
                    }
                }
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut state = last.clone();
        match action {
            Action::Receive { handler, message } => {
                let delivery = *state.queue.iter().find(|d| d.message == message)?;
                state.queue.remove(&delivery);
                state.handlers[handler] = Handler::Busy {
                    delivery,
                    left: self.steps.order,
                };
                if self.steps.order.is_empty() {
                    self.end_attempt(&mut state, handler, delivery);
                }
            }
            Action::Works { handler, step } => {
                let (delivery, _) = busy(&state, handler)?;
                self.run_step(&mut state, delivery, step);
                self.advance(&mut state, handler);
            }
            Action::Fails { handler, .. } => {
                let (delivery, _) = busy(&state, handler)?;
                self.end_attempt(&mut state, handler, delivery);
            }
        }
        Some(state)
    }

    fn format_action(&self, action: &Action) -> String {
        match action {
            Action::Receive { handler, message } => {
                format!("handler {} receives {message}", handler + 1)
            }
            Action::Works { handler, step } => format!("handler {}: {step:?} works", handler + 1),
            Action::Fails { handler, step } => format!("handler {}: {step:?} fails", handler + 1),
        }
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.invariants
            .iter()
            .map(|invariant| invariants::property(*invariant))
            .collect()
    }
}
