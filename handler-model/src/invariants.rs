//! The four invariants of the original specification, in the course's
//! words: each one a `stateright` property, and a sentence that says what is
//! wrong when it breaks. Each also breaks where a step did another step's
//! kind of effect (a [`crate::attempt::Misstep`]).

use stateright::Property;

use crate::attempt::Change;
use crate::message_handler::{HandlerModel, MessageId, State};

/// The four invariants of the original specification, in the course's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invariant {
    /// No event is out for a change the store does not have (once the
    /// handler let go of the message). TLA+: `NoGhostMessages`.
    NoGhostMessages,
    /// An acknowledged message (once no handler works on it) has its change
    /// stored and its event sent, and when all is done every message was
    /// acknowledged. TLA+: `NoLostMessages`.
    NoLostMessages,
    /// The store has at most one change per message. TLA+: `NoDuplicatedProcessings`.
    NoDuplicateProcessing,
    /// Every event sent for a message says the same thing, and what the
    /// store recorded. TLA+: `ConsistentOutput`.
    ConsistentOutput,
}

impl Invariant {
    /// All four, in the order of the exercise's tests.
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

    pub(crate) fn by_name(name: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|inv| inv.name() == name)
    }
}

/// What is wrong with `state` for `invariant`, in one sentence (or `None`
/// if it holds).
pub(crate) fn violation(
    model: &HandlerModel,
    invariant: Invariant,
    state: &State,
) -> Option<String> {
    // A step that wrote and sent at once is no handler a real system can
    // run: whatever the invariant, that is what is wrong.
    if let Some(misstep) = state.misstep {
        return Some(misstep.to_string());
    }
    match invariant {
        Invariant::NoGhostMessages => ghost(state),
        Invariant::NoLostMessages => lost(model, state),
        Invariant::NoDuplicateProcessing => duplicate(state),
        Invariant::ConsistentOutput => inconsistent(state),
    }
}

/// `invariant` as a property the checker checks in every state.
pub(crate) fn property(invariant: Invariant) -> Property<HandlerModel> {
    let name = invariant.name();
    // Each holds only where no step did another step's kind of effect.
    match invariant {
        Invariant::NoGhostMessages => Property::always(name, |_, state: &State| {
            state.misstep.is_none() && ghost(state).is_none()
        }),
        Invariant::NoLostMessages => {
            Property::always(name, |model: &HandlerModel, state: &State| {
                state.misstep.is_none() && lost(model, state).is_none()
            })
        }
        Invariant::NoDuplicateProcessing => Property::always(name, |_, state: &State| {
            state.misstep.is_none() && duplicate(state).is_none()
        }),
        Invariant::ConsistentOutput => Property::always(name, |_, state: &State| {
            state.misstep.is_none() && inconsistent(state).is_none()
        }),
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
    // A handler still at work on an acknowledged message may yet store or
    // send: judge the message once the handler let go of it.
    for &message in state.acked.iter().filter(|m| !state.in_flight(**m)) {
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
