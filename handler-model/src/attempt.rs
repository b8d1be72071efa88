//! What one step of the handler can do: read the store, write the change,
//! send an event. The lesson's steps use these and nothing else.

use std::collections::BTreeSet;
use std::fmt;

use crate::message_handler::{MessageId, Step};

/// The business change a message makes (a line added to an order), as the
/// store keeps it: which message made it, in which attempt.
///
/// Each attempt computes its change afresh (a new line id, today's price),
/// so the changes of attempt 1 and attempt 2 of one message differ.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    /// The message that made the change.
    pub message: MessageId,
    /// The attempt that computed it.
    pub attempt: u8,
}

impl Change {
    /// The `ItemAdded` event that tells about this change: the event built
    /// from the stored record (the outbox idea).
    pub fn event(self) -> ItemAdded {
        ItemAdded {
            message: self.message,
            attempt: self.attempt,
        }
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}'s change, made by attempt {}",
            self.message, self.attempt
        )
    }
}

/// The outgoing event: `ItemAdded` for a message, with the data of the
/// attempt that built it. Two events with the same message and attempt are
/// the same event (a resend of identical content).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemAdded {
    /// The message the event tells about.
    pub message: MessageId,
    /// The attempt whose data it carries.
    pub attempt: u8,
}

impl fmt::Display for ItemAdded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ItemAdded({}, data of attempt {})",
            self.message, self.attempt
        )
    }
}

impl fmt::Debug for ItemAdded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A step that did the other step's kind of effect: `update_store` sent, or
/// `send` wrote the store. The model allows it no more than the real system
/// does: the store and the queue share no transaction, so one step cannot
/// both write and send atomically (that would be a distributed
/// transaction). Every invariant breaks in a state with a misstep.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Misstep {
    /// `update_store` sent this event.
    SentInUpdateStore(ItemAdded),
    /// `send` wrote this change.
    SavedInSend(Change),
}

impl fmt::Display for Misstep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misstep::SentInUpdateStore(event) => write!(f, "update_store sent {event}")?,
            Misstep::SavedInSend(change) => write!(f, "send wrote {change:?} to the store")?,
        }
        f.write_str(
            ": a step may only do its own kind of effect. The store and the queue share no \
             transaction, so writing and sending in one step is not atomic in a real system: \
             save in update_store, send in send, and order the steps",
        )
    }
}

impl fmt::Debug for Misstep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One attempt at handling a message: what a step of the lesson sees and
/// changes. A step is atomic: everything it does happens together, or —
/// when the checker makes the step fail — none of it. A step does one kind
/// of effect only (see [`Misstep`]).
pub struct Attempt<'a> {
    message: MessageId,
    number: u8,
    step: Step,
    store: &'a mut BTreeSet<Change>,
    sent: &'a mut BTreeSet<ItemAdded>,
    misstep: &'a mut Option<Misstep>,
    effects: Vec<Effect>,
}

/// Where an attempt's step writes: the store, the events sent, and the
/// first misstep of the run.
pub(crate) struct Resources<'a> {
    pub store: &'a mut BTreeSet<Change>,
    pub sent: &'a mut BTreeSet<ItemAdded>,
    pub misstep: &'a mut Option<Misstep>,
}

/// What a step did, so that a counterexample can tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Saved(Change),
    Sent(ItemAdded),
}

impl<'a> Attempt<'a> {
    pub(crate) fn new(
        message: MessageId,
        number: u8,
        step: Step,
        resources: Resources<'a>,
    ) -> Attempt<'a> {
        Attempt {
            message,
            number,
            step,
            store: resources.store,
            sent: resources.sent,
            misstep: resources.misstep,
            effects: Vec::new(),
        }
    }

    /// What the step did, in order.
    pub(crate) fn into_effects(self) -> Vec<Effect> {
        self.effects
    }

    /// The message being handled (`m1`, `m2` …).
    pub fn message(&self) -> MessageId {
        self.message
    }

    /// Which attempt this is: 1 for the first delivery, 2 for the first
    /// retry, and so on.
    pub fn number(&self) -> u8 {
        self.number
    }

    /// The store's record of this message's change, if it has one (the
    /// earliest, if it has several).
    pub fn stored_change(&self) -> Option<Change> {
        self.store
            .iter()
            .find(|change| change.message == self.message)
            .copied()
    }

    /// Writes this message's change, as this attempt computes it.
    pub fn save_change(&mut self) {
        let change = Change {
            message: self.message,
            attempt: self.number,
        };
        if self.step != Step::UpdateStore {
            self.misstep.get_or_insert(Misstep::SavedInSend(change));
        }
        self.store.insert(change);
        self.effects.push(Effect::Saved(change));
    }

    /// The `ItemAdded` event built from the incoming message, now: it
    /// carries this attempt's data.
    pub fn new_event(&self) -> ItemAdded {
        ItemAdded {
            message: self.message,
            attempt: self.number,
        }
    }

    /// Sends an event to the outgoing queue.
    pub fn send(&mut self, event: ItemAdded) {
        if self.step != Step::Send {
            self.misstep
                .get_or_insert(Misstep::SentInUpdateStore(event));
        }
        self.sent.insert(event);
        self.effects.push(Effect::Sent(event));
    }
}
