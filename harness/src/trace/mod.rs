//! The record of a run: every operation of every component, in order, in the
//! course's words.

mod describe;

use std::collections::VecDeque;
use std::fmt;

use crate::{MessageId, SimTime};

pub(crate) use describe::{Drawing, Lane, Seen, Standing, describe};

/// A message as it appears in a trace: a short label (`m3`) that is easy to
/// follow, its type and its full id.
///
/// ```
/// use harness::{MessageId, MessageRef};
/// let m = MessageRef { label: "m3".into(), message_type: "SubmitOrder".into(), id: MessageId::from_u128(3) };
/// assert_eq!(m.to_string(), "SubmitOrder(m3)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageRef {
    /// `m1`, `m2` … in order of first appearance in the run.
    pub label: String,
    /// The message type.
    pub message_type: String,
    /// The transport id.
    pub id: MessageId,
}

impl fmt::Display for MessageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.message_type, self.label)
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A message was put on a queue.
    Sent { queue: String, message: MessageRef },
    /// An event was published to a topic (and copied to each subscriber queue).
    Published {
        topic: String,
        message: MessageRef,
        subscribers: Vec<String>,
    },
    /// A queue handed a message to a worker.
    Delivered {
        queue: String,
        message: MessageRef,
        attempt: u32,
    },
    /// The worker acknowledged the message: it is gone from the queue.
    Acked { queue: String, message: MessageRef },
    /// The worker gave the message back: it will be delivered again.
    Abandoned {
        queue: String,
        message: MessageRef,
        reason: String,
    },
    /// The worker took too long: the message became visible again.
    LeaseExpired { queue: String, message: MessageRef },
    /// The message went to the dead-letter queue.
    DeadLettered {
        queue: String,
        message: MessageRef,
        reason: String,
    },
    /// A dead-lettered message was put back on its queue by hand.
    Replayed { queue: String, message: MessageRef },
    /// The broker refused a message (too large, unknown queue …).
    Rejected {
        queue: String,
        message: MessageRef,
        reason: String,
    },
    /// An endpoint started handling a message.
    HandlerStarted {
        endpoint: String,
        message: MessageRef,
    },
    /// The handler returned `Ok`.
    HandlerSucceeded {
        endpoint: String,
        message: MessageRef,
    },
    /// The handler returned an error (or crashed).
    HandlerFailed {
        endpoint: String,
        message: MessageRef,
        error: String,
    },
    /// A store read a key (`version` is `None` when absent).
    Read {
        store: String,
        key: String,
        version: Option<u64>,
    },
    /// A store wrote a key (`version` is `None` for a delete).
    Wrote {
        store: String,
        key: String,
        version: Option<u64>,
    },
    /// An optimistic-concurrency check refused a write.
    Conflict {
        store: String,
        key: String,
        expected: String,
        actual: String,
    },
    /// A SQL statement ran (its text, abbreviated).
    Statement { store: String, sql: String },
    /// A blob store stored, read, listed or deleted a blob.
    Blob {
        store: String,
        path: String,
        action: String,
    },
    /// A transaction committed.
    Committed { store: String },
    /// A transaction rolled back.
    RolledBack { store: String },
    /// An HTTP request reached a service.
    Request {
        service: String,
        method: String,
        path: String,
    },
    /// The service answered.
    Response { service: String, status: u16 },
    /// The service executed the request but the caller never got the answer.
    ResponseLost {
        service: String,
        method: String,
        path: String,
    },
    /// A fault struck.
    FaultInjected { point: String, fault: String },
    /// Free text from a test or an exercise.
    Note { text: String },
}

/// One entry of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// 1, 2, 3 … in the order things happened.
    pub seq: u64,
    /// When, in simulated time.
    pub at: SimTime,
    /// Who did it: an endpoint, a client, `test`.
    pub actor: String,
    /// What happened.
    pub kind: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = describe(&self.kind, Seen::first(&self.actor)).line;
        write!(f, "#{} {} {}: {line}", self.seq, self.at, self.actor)
    }
}

/// The events of a run, oldest first. It keeps at most `limit` events (the
/// newest), so that long runs stay in constant memory; `dropped` says how many
/// older ones were let go.
///
/// ```
/// use harness::Sim;
/// let sim = Sim::new(7);
/// sim.note("hello");
/// let trace = sim.trace();
/// assert_eq!(trace.events().len(), 1);
/// assert!(trace.to_string().contains("hello"));
/// ```
#[derive(Clone, Debug)]
pub struct Trace {
    events: VecDeque<Event>,
    limit: usize,
    dropped: u64,
}

impl Trace {
    /// The default number of events kept.
    pub const DEFAULT_LIMIT: usize = 100_000;

    pub(crate) fn with_limit(limit: usize) -> Trace {
        Trace {
            events: VecDeque::new(),
            limit: limit.max(1),
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        if self.events.len() == self.limit {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(event);
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
        while self.events.len() > self.limit {
            self.events.pop_front();
            self.dropped += 1;
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The events kept, oldest first.
    ///
    /// ```
    /// assert!(harness::Sim::new(1).trace().events().is_empty());
    /// ```
    pub fn events(&self) -> &VecDeque<Event> {
        &self.events
    }

    /// How many older events were let go to respect the limit.
    ///
    /// ```
    /// assert_eq!(harness::Sim::new(1).trace().dropped(), 0);
    /// ```
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dropped > 0 {
            writeln!(f, "({} earlier events not kept)", self.dropped)?;
        }
        for event in &self.events {
            writeln!(f, "{event}")?;
        }
        Ok(())
    }
}
