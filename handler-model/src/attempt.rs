//! What one step of the handler can do: read the store, write the change,
//! send an event. The lesson's steps use these and nothing else.

use std::collections::BTreeSet;
use std::fmt;

use crate::message_handler::MessageId;

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

/// One attempt at handling a message: what a step of the lesson sees and
/// changes. A step is atomic: everything it does happens together, or —
/// when the checker makes the step fail — none of it.
pub struct Attempt<'a> {
    message: MessageId,
    number: u8,
    store: &'a mut BTreeSet<Change>,
    sent: &'a mut BTreeSet<ItemAdded>,
    effects: Vec<Effect>,
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
        store: &'a mut BTreeSet<Change>,
        sent: &'a mut BTreeSet<ItemAdded>,
    ) -> Attempt<'a> {
        Attempt {
            message,
            number,
            store,
            sent,
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
        self.sent.insert(event);
        self.effects.push(Effect::Sent(event));
    }
}
