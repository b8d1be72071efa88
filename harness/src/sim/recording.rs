//! The run's record: who acts, the trace of events, and the short labels
//! (`m1`, `m2` …) that the trace gives message ids.

use super::{Chooser, Sim, State};
use crate::coverage::PointCounts;
use crate::drift;
use crate::trace::{Event, EventKind, MessageRef, Trace};
use crate::{Envelope, MessageId};

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
