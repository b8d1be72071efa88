//! The model: a queue of messages, one or more handlers, a store and an
//! outgoing queue. It follows the original workshop's TLA+ specification
//! `MessageHandler.tla` (see the README for the mapping, step by step).
//!
//! A state holds the queue (each waiting message with the attempt it will
//! be handled in), what each handler is doing, the store's changes, the
//! events sent and the messages acknowledged. An action is one atomic step
//! of one handler: Receive, or the next step of `handler::STEPS`, which
//! either works or fails. A step can fail only while the message has
//! retries left, so every message is handled in the end: the failures are
//! the ones of a bad afternoon, not of a broken system.

use std::collections::BTreeSet;
use std::fmt;

use stateright::{Model, Property};

use super::attempt::{Attempt, Change, Effect, ItemAdded};
use super::check::Narrated;
use super::handler;

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

/// The handler's steps after Receive. `handler::STEPS` orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The business change, in one database transaction (`handler::update_store`).
    UpdateStore,
    /// The outgoing event (`handler::send`).
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

/// A message in the queue, and the attempt it will be handled in (1 for
/// the first delivery, 2 for the first retry …).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Delivery {
    pub message: MessageId,
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
    /// Handling a delivery; `next` is the index in `handler::STEPS` of the
    /// step it does next.
    Busy { delivery: Delivery, next: usize },
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handler::Idle => f.write_str("idle"),
            Handler::Busy { delivery, next } => match handler::STEPS.get(*next) {
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
        write!(f, "dead letters: {}", list(self.dead_letters.iter()))
    }
}

/// One atomic step of one handler (handlers are numbered from 0 here and
/// from 1 in sentences).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The handler takes the message from the queue: an attempt begins.
    Receive { handler: usize, message: MessageId },
    /// The handler's next step works.
    Works { handler: usize, step: Step },
    /// The handler's next step fails: it has no effect, and the message
    /// goes back to the queue.
    Fails { handler: usize, step: Step },
}

/// The four invariants of the original specification, in the course's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invariant {
    /// No event is out for a change the store does not have (once the
    /// handler let go of the message). TLA+: `NoGhostMessages`.
    NoGhostMessages,
    /// An acknowledged message has its change stored and its event sent, and
    /// when all is done every message was acknowledged. TLA+: `NoLostMessages`.
    NoLostMessages,
    /// The store has at most one change per message. TLA+: `NoDuplicatedProcessings`.
    NoDuplicateProcessing,
    /// Every event sent for a message says the same thing, and what the
    /// store recorded. TLA+: `ConsistentOutput`.
    ConsistentOutput,
}

impl Invariant {
    pub const ALL: [Invariant; 4] = [
        Invariant::NoGhostMessages,
        Invariant::NoLostMessages,
        Invariant::NoDuplicateProcessing,
        Invariant::ConsistentOutput,
    ];

    /// The property's name, as reports and the Explorer show it.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::NoGhostMessages => "no ghost messages",
            Invariant::NoLostMessages => "no lost messages",
            Invariant::NoDuplicateProcessing => "no duplicate processing",
            Invariant::ConsistentOutput => "consistent output",
        }
    }

    fn by_name(name: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|inv| inv.name() == name)
    }
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
    pub config: Config,
    /// The invariants the checker checks.
    pub invariants: Vec<Invariant>,
}

impl HandlerModel {
    /// The model with every invariant switched on.
    pub fn new(config: Config) -> HandlerModel {
        HandlerModel {
            config,
            invariants: Invariant::ALL.to_vec(),
        }
    }

    /// The model that checks `invariant` only.
    pub fn only(config: Config, invariant: Invariant) -> HandlerModel {
        HandlerModel {
            config,
            invariants: vec![invariant],
        }
    }

    /// Retries left after this attempt: a step may fail.
    fn may_fail(&self, delivery: Delivery) -> bool {
        delivery.attempt <= self.config.retries
    }

    /// Runs a step of `handler.rs` (or the acknowledgement) for `delivery`
    /// on `state`, and returns what it did.
    fn run_step(&self, state: &mut State, delivery: Delivery, step: Step) -> Vec<Effect> {
        let mut attempt = Attempt::new(
            delivery.message,
            delivery.attempt,
            &mut state.store,
            &mut state.sent,
        );
        match step {
            Step::UpdateStore => handler::update_store(&mut attempt),
            Step::Send => handler::send(&mut attempt),
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
        match HandlerModel::busy(state, handler) {
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
        if let Handler::Busy { delivery, next } = state.handlers[handler] {
            if next + 1 < handler::STEPS.len() {
                state.handlers[handler] = Handler::Busy {
                    delivery,
                    next: next + 1,
                };
            } else {
                self.end_attempt(state, handler, delivery);
            }
        }
    }

    /// What the handler is handling and the step it does next.
    fn busy(state: &State, handler: usize) -> Option<(Delivery, Step)> {
        match state.handlers.get(handler)? {
            Handler::Busy { delivery, next } => Some((*delivery, *handler::STEPS.get(*next)?)),
            Handler::Idle => None,
        }
    }

    /// What is wrong with `state` for `invariant`, in one sentence (or
    /// `None` if it holds).
    pub fn violation(&self, invariant: Invariant, state: &State) -> Option<String> {
        match invariant {
            Invariant::NoGhostMessages => ghost(state),
            Invariant::NoLostMessages => lost(self, state),
            Invariant::NoDuplicateProcessing => duplicate(state),
            Invariant::ConsistentOutput => inconsistent(state),
        }
    }
}

fn ghost(state: &State) -> Option<String> {
    let event = state.sent.iter().find(|event| {
        state.changes_of(event.message).next().is_none() && !state.in_flight(event.message)
    })?;
    Some(format!(
        "{event} is out, but the store has no change for {} (and no handler is working on it)",
        event.message
    ))
}

fn lost(model: &HandlerModel, state: &State) -> Option<String> {
    for &message in &state.acked {
        if state.changes_of(message).next().is_none() {
            return Some(format!(
                "{message} was acknowledged, but the store has no change for it: the queue forgot a message nobody handled"
            ));
        }
        if state.events_of(message).next().is_none() {
            return Some(format!(
                "{message} was acknowledged and its change is stored, but no ItemAdded for {message} was sent, and nobody will send it"
            ));
        }
    }
    if state.finished() {
        let forgotten = (1..=model.config.messages)
            .map(MessageId)
            .find(|message| !state.acked.contains(message))?;
        return Some(format!(
            "all is done, but {forgotten} was never acknowledged: it went to the dead letters, handled without an acknowledgement"
        ));
    }
    None
}

fn duplicate(state: &State) -> Option<String> {
    for change in &state.store {
        let attempts: Vec<String> = state
            .changes_of(change.message)
            .map(|c| c.attempt.to_string())
            .collect();
        if attempts.len() > 1 {
            return Some(format!(
                "the store holds {} changes for {} (made by attempts {})",
                attempts.len(),
                change.message,
                attempts.join(" and ")
            ));
        }
    }
    None
}

fn inconsistent(state: &State) -> Option<String> {
    for event in &state.sent {
        let message = event.message;
        if let Some(other) = state.events_of(message).find(|other| *other != event) {
            return Some(format!(
                "two different events were sent for {message}: {event} and {other}"
            ));
        }
        let stored: Vec<&Change> = state.changes_of(message).collect();
        if !stored.is_empty()
            && !stored.contains(&&Change {
                message,
                attempt: event.attempt,
            })
        {
            return Some(format!(
                "{event} was sent, but the store recorded {:?}",
                stored[0]
            ));
        }
    }
    None
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
                    if let Some((_, step)) = HandlerModel::busy(state, handler) {
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
                state.handlers[handler] = Handler::Busy { delivery, next: 0 };
                if handler::STEPS.is_empty() {
                    self.end_attempt(&mut state, handler, delivery);
                }
            }
            Action::Works { handler, step } => {
                let (delivery, _) = HandlerModel::busy(&state, handler)?;
                self.run_step(&mut state, delivery, step);
                self.advance(&mut state, handler);
            }
            Action::Fails { handler, .. } => {
                let (delivery, _) = HandlerModel::busy(&state, handler)?;
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
            .map(|invariant| match invariant {
                Invariant::NoGhostMessages => {
                    Property::always(invariant.name(), |_, state| ghost(state).is_none())
                }
                Invariant::NoLostMessages => Property::always(invariant.name(), |model, state| {
                    lost(model, state).is_none()
                }),
                Invariant::NoDuplicateProcessing => {
                    Property::always(invariant.name(), |_, state| duplicate(state).is_none())
                }
                Invariant::ConsistentOutput => {
                    Property::always(invariant.name(), |_, state| inconsistent(state).is_none())
                }
            })
            .collect()
    }
}

impl Narrated for HandlerModel {
    fn narrate(&self, before: &State, action: &Action, after: &State) -> String {
        match *action {
            Action::Receive { handler, message } => {
                let attempt = before
                    .queue
                    .iter()
                    .find(|d| d.message == message)
                    .map_or(0, |d| d.attempt);
                let mut text = format!(
                    "handler {} receives {message} (attempt {attempt})",
                    handler + 1
                );
                text.push_str(&ending(after, handler, message));
                text
            }
            Action::Works { handler, step } => {
                let Some((delivery, _)) = HandlerModel::busy(before, handler) else {
                    return format!("handler {}: {step:?} works", handler + 1);
                };
                let who = format!("handler {}", handler + 1);
                let message = delivery.message;
                let mut text = match step {
                    Step::Ack => format!("{who} acknowledges {message}: the queue forgets it"),
                    Step::UpdateStore | Step::Send => {
                        // Run the step again on a copy, to tell what it did.
                        let effects = self.effects_of(before, handler);
                        describe_effects(&who, step, message, before, &effects)
                    }
                };
                text.push_str(&ending(after, handler, message));
                text
            }
            Action::Fails { handler, step } => {
                let message = HandlerModel::busy(before, handler)
                    .map_or(MessageId(0), |(delivery, _)| delivery.message);
                let mut text = format!("handler {}'s {} fails", handler + 1, step.noun());
                if before.acked.contains(&message) {
                    text.push_str(&format!(
                        ": {message} was acknowledged already, so the queue does not bring it back"
                    ));
                } else if let Some(again) = after.queue.iter().find(|d| d.message == message) {
                    text.push_str(&format!(
                        ": {message} goes back to the queue (attempt {} next)",
                        again.attempt
                    ));
                }
                text
            }
        }
    }

    fn explain(&self, property: &str, state: &State) -> String {
        let why = Invariant::by_name(property).and_then(|inv| self.violation(inv, state));
        match why {
            Some(why) => format!("{property}: {why}"),
            None => property.to_string(),
        }
    }
}

/// What a store update or a send did, in a sentence.
fn describe_effects(
    who: &str,
    step: Step,
    message: MessageId,
    before: &State,
    effects: &[Effect],
) -> String {
    if effects.is_empty() {
        return match (step, before.changes_of(message).next()) {
            (Step::UpdateStore, Some(stored)) => {
                format!("{who} leaves the store as it is (it has {stored:?})")
            }
            (Step::UpdateStore, None) => format!("{who} writes nothing to the store"),
            _ => format!("{who} sends nothing"),
        };
    }
    let parts: Vec<String> = effects
        .iter()
        .map(|effect| match effect {
            Effect::Saved(change) if before.changes_of(message).next().is_some() => {
                format!("writes {change:?} to the store, which had one already")
            }
            Effect::Saved(change) => format!("updates the store: {change:?}"),
            Effect::Sent(event) if before.sent.contains(event) => {
                format!("sends {event} again (the same event)")
            }
            Effect::Sent(event) => format!("sends {event}"),
        })
        .collect();
    format!("{who} {}", parts.join(", then "))
}

/// What happens to the message when the step ended its attempt without
/// an acknowledgement.
fn ending(after: &State, handler: usize, message: MessageId) -> String {
    let ended = after.handlers.get(handler) == Some(&Handler::Idle);
    if !ended || after.acked.contains(&message) {
        return String::new();
    }
    if let Some(again) = after.queue.iter().find(|d| d.message == message) {
        format!(
            "; its steps are done, but {message} was not acknowledged: the queue brings it back (attempt {})",
            again.attempt
        )
    } else if after.dead_letters.contains(&message) {
        format!(
            "; its steps are done, but {message} was not acknowledged and has no retries left: dead letter"
        )
    } else {
        String::new()
    }
}
