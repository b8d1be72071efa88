//! The run's record: who acts, the trace of events, and the short labels
//! (`m1`, `m2` …) that the trace gives message ids.

use std::collections::VecDeque;

use super::Sim;
use crate::drift::{self, FastMap};
use crate::trace::{Event, EventKind, MessageRef, Trace};
use crate::{Envelope, MessageId};

/// The run's record: its trace, who acts now, and the message labels.
#[derive(Clone)]
pub(super) struct Record {
    pub(super) trace: Trace,
    /// The number of the next event.
    pub(super) next_seq: u64,
    pub(super) actor: String,
    pub(super) labels: FastMap<MessageId, String>,
    /// Labelled ids, oldest first, so that the label map stays bounded.
    pub(super) labelled: VecDeque<MessageId>,
    pub(super) next_label: u64,
}

impl Record {
    fn evict_oldest_label(&mut self) {
        if let Some(oldest) = self.labelled.pop_front() {
            self.labels.remove(&oldest);
        }
    }

    pub(super) fn new() -> Record {
        Record {
            trace: Trace::with_limit(Trace::DEFAULT_LIMIT),
            next_seq: 1,
            actor: "test".to_string(),
            labels: FastMap::default(),
            labelled: VecDeque::new(),
            next_label: 1,
        }
    }
}

impl Sim {
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
        state.record.actor.clear();
        state.record.actor.push_str(actor);
    }

    /// Who acts now.
    ///
    /// ```
    /// assert_eq!(harness::Sim::new(1).actor(), "test");
    /// ```
    pub fn actor(&self) -> String {
        self.lock().record.actor.clone()
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
            seq: state.record.next_seq,
            at: state.now,
            actor: state.record.actor.clone(),
            kind,
        };
        state.record.next_seq += 1;
        if state.choosing.is_scripted() {
            state.choosing.history = drift::after_event(state.choosing.history, &event);
        }
        state.record.trace.push(event);
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
        self.lock().record.trace.clone()
    }

    /// Reads the trace without copying it (for the explorer's conditions).
    pub(crate) fn with_trace<T>(&self, read: impl FnOnce(&Trace) -> T) -> T {
        read(&self.lock().record.trace)
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
        state.record.trace.set_limit(limit);
        let limit = state.record.trace.limit();
        state.choosing.choices.truncate(limit);
        while state.record.labelled.len() > limit {
            state.record.evict_oldest_label();
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
        if let Some(label) = state.record.labels.get(&id) {
            return label.clone();
        }
        if state.record.labelled.len() >= state.record.trace.limit() {
            state.record.evict_oldest_label();
        }
        let label = format!("m{}", state.record.next_label);
        state.record.next_label += 1;
        state.record.labels.insert(id, label.clone());
        state.record.labelled.push_back(id);
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
