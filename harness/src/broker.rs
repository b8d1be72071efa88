//! A message broker with the semantics of Azure Service Bus, SQS and RabbitMQ
//! that matter for exactly-once: queues with **at-least-once** delivery.
//!
//! - A received message is not removed: it is *leased* to the receiver for
//!   the queue's visibility timeout (simulated time). The receiver
//!   acknowledges it ([`Broker::ack`]) to remove it, or gives it back
//!   ([`Broker::abandon`]; [`Broker::abandon_for`] keeps it invisible for
//!   a while, for a retry after a delay). A receiver that takes too long
//!   loses the lease: the message becomes visible again and another worker
//!   gets it, and the late acknowledgement fails with [`Error::LeaseExpired`].
//! - A message delivered `max_attempts` times without success goes to the
//!   queue's dead-letter queue, from where it can be replayed.
//! - Publish copies a message to every queue subscribed to the topic.
//! - Messages larger than the maximum size (256 KB by default, as Azure
//!   Service Bus standard) are refused with [`Error::TooLarge`].
//! - **Physical duplicates** (two copies with the same id: a redelivery or a
//!   [`Fault::Duplicate`]) and **logical re-sends** (a new id, the same
//!   business content: see [`crate::Envelope::with_id`]) are both possible,
//!   and [`Broker::sent_to`] shows which is which.
//!
//! Fault points (see [`crate::FaultRule`]):
//!
//! | point | faults |
//! |---|---|
//! | `broker.<queue>.send` | `FailBefore` (not sent), `FailAfter` (sent, but the sender gets an error), `Duplicate` (two physical copies), `Drop` (silently lost), `Delay(d)` (deliverable only after `d`) |
//! | `broker.<topic>.publish` | the same, for every subscriber's copy |
//! | `broker.<queue>.receive` | `FailBefore` (nothing received), `FailAfter` and `Drop` (leased, but the receiver never got it: it comes back when the lease runs out), `Delay(d)` |
//! | `broker.<queue>.ack` | `FailBefore` (not acknowledged: redelivered when the lease runs out), `FailAfter` (acknowledged, but the caller gets an error) |
//! | `broker.<queue>.abandon` | `FailBefore` (still leased until the lease runs out); also for [`Broker::abandon_for`] |
//!
//! ```
//! use harness::{Broker, Envelope, Sim};
//!
//! let sim = Sim::new(1);
//! let broker = Broker::new(&sim);
//! broker.declare_queue("orders");
//! let submit = Envelope::new(sim.new_message_id(), "SubmitOrder", &"cart-1");
//! broker.send("orders", submit.clone()).unwrap();
//!
//! let delivery = broker.receive("orders").unwrap().unwrap();
//! assert_eq!(delivery.envelope, submit);
//! assert_eq!(delivery.attempt, 1);
//! broker.ack(&delivery).unwrap();
//! assert_eq!(broker.queue_len("orders").unwrap(), 0);
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::sim::{Restore, Saved};
use crate::{Envelope, Error, EventKind, Fault, FaultPoint, MessageId, Sim, SimTime};

mod status;
use status::Counters;
pub use status::{CopyState, HeldCopy, QueueStatus};

/// How long a received message stays invisible to other receivers, unless
/// the queue says otherwise: 30 s, as Azure Storage Queues in the original.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a message is delivered before it is dead-lettered, unless
/// the queue says otherwise: the first attempt and five immediate retries,
/// as the original workshop configured its endpoints.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// The largest message the broker accepts, unless told otherwise: 256 KB,
/// as Azure Service Bus standard.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// How many sent and finished messages the broker remembers for inspection
/// (the oldest are forgotten first), so that long runs stay in constant memory.
pub const DEFAULT_HISTORY_LIMIT: usize = 100_000;

/// A message handed to a receiver: the envelope, which attempt this is, and
/// the receipt that [`Broker::ack`] and [`Broker::abandon`] need.
///
/// ```
/// use harness::{Broker, Envelope, MessageId, Sim};
/// let broker = Broker::new(&Sim::new(1));
/// broker.declare_queue("q");
/// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
/// let delivery = broker.receive("q").unwrap().unwrap();
/// assert_eq!(delivery.queue, "q");
/// assert_eq!(delivery.attempt, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The queue it came from.
    pub queue: String,
    /// The message.
    pub envelope: Envelope,
    /// 1 for the first delivery of this copy, 2 for the next …
    pub attempt: u32,
    receipt: Receipt,
}

/// Which copy, and which lease on it: a lease that ran out is worthless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Receipt {
    entry: u64,
    lease: u64,
}

/// A message in a dead-letter queue.
///
/// ```
/// use harness::{Broker, Envelope, MessageId, Sim};
/// let broker = Broker::new(&Sim::new(1));
/// broker.declare_queue("q");
/// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
/// let delivery = broker.receive("q").unwrap().unwrap();
/// broker.dead_letter(&delivery, "cannot parse").unwrap();
/// let dead = broker.dead_letters("q").unwrap();
/// assert_eq!(dead[0].reason, "cannot parse");
/// assert_eq!(dead[0].attempts, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message.
    pub envelope: Envelope,
    /// Why it was given up.
    pub reason: String,
    /// How many times it had been delivered.
    pub attempts: u32,
}

/// One message that reached the broker (a send, or a publish), for
/// inspection and for the invariant checkers.
///
/// ```
/// use harness::{Broker, Envelope, MessageId, Sim};
/// let broker = Broker::new(&Sim::new(1));
/// broker.declare_queue("billing");
/// broker.subscribe("ItemAdded", "billing").unwrap();
/// broker.publish("ItemAdded", Envelope::new(MessageId::from_u128(1), "ItemAdded", &())).unwrap();
/// let record = &broker.sent_log()[0];
/// assert_eq!(record.destination, "ItemAdded");
/// assert!(record.published);
/// assert_eq!(record.queues, ["billing"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentRecord {
    /// The queue (for a send) or the topic (for a publish).
    pub destination: String,
    /// True for a publish.
    pub published: bool,
    /// The message.
    pub envelope: Envelope,
    /// The queues a copy landed in, once per physical copy (twice when duplicated).
    pub queues: Vec<String>,
    /// When it was sent.
    pub at: SimTime,
    /// Which handling sent it (a number the world gives each delivery it
    /// runs), or `None` when the test sent it.
    pub handling: Option<u64>,
}

/// One message that left a queue for good: acknowledged or dead-lettered.
///
/// ```
/// use harness::{Broker, Envelope, MessageId, Sim};
/// let broker = Broker::new(&Sim::new(1));
/// broker.declare_queue("q");
/// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
/// let delivery = broker.receive("q").unwrap().unwrap();
/// broker.ack(&delivery).unwrap();
/// assert!(broker.finished_log()[0].acked);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The queue it left.
    pub queue: String,
    /// The message.
    pub envelope: Envelope,
    /// True when acknowledged; false when dead-lettered (given up).
    pub acked: bool,
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    id: u64,
    until: SimTime,
}

#[derive(Clone, Debug)]
struct Entry {
    envelope: Envelope,
    attempts: u32,
    /// When it entered the queue (sent, published or replayed), for its age.
    enqueued_at: SimTime,
    visible_at: SimTime,
    lease: Option<Lease>,
}

impl Entry {
    fn is_ready(&self, now: SimTime) -> bool {
        self.visible_at <= now && self.lease.is_none_or(|lease| lease.until <= now)
    }

    /// When this entry next becomes deliverable, if it is not yet.
    fn wakes_at(&self, now: SimTime) -> Option<SimTime> {
        let at = match self.lease {
            Some(lease) => lease.until.max(self.visible_at),
            None => self.visible_at,
        };
        (at > now).then_some(at)
    }
}

#[derive(Clone)]
struct Queue {
    /// Copies by arrival number: the oldest ready copy is delivered first,
    /// and an abandoned copy keeps its place, as in Service Bus.
    entries: BTreeMap<u64, Entry>,
    leased: usize,
    dead: Vec<DeadLetter>,
    visibility_timeout: Duration,
    max_attempts: u32,
    /// What [`Broker::queue_status`] reports without scanning the logs.
    counters: Counters,
}

#[derive(Clone)]
struct Inner {
    queues: BTreeMap<String, Queue>,
    topics: BTreeMap<String, Vec<String>>,
    next_entry: u64,
    next_lease: u64,
    max_message_bytes: usize,
    history_limit: usize,
    sent: VecDeque<SentRecord>,
    finished: VecDeque<Finished>,
}

impl Inner {
    fn queue(&mut self, name: &str) -> Result<&mut Queue, Error> {
        if !self.queues.contains_key(name) {
            return Err(self.unknown_queue(name));
        }
        Ok(self.queues.get_mut(name).expect("checked above"))
    }

    fn unknown_queue(&self, name: &str) -> Error {
        Error::Unknown {
            kind: "queue",
            name: name.to_string(),
            known: self.queues.keys().cloned().collect(),
        }
    }

    fn remember_sent(&mut self, record: SentRecord) {
        if self.sent.len() >= self.history_limit {
            self.sent.pop_front();
        }
        self.sent.push_back(record);
    }

    fn remember_finished(&mut self, finished: Finished) {
        if let Some(queue) = self.queues.get_mut(&finished.queue) {
            queue.counters.count_finished(finished.acked);
        }
        if self.finished.len() >= self.history_limit {
            self.finished.pop_front();
        }
        self.finished.push_back(finished);
    }
}

/// The queues, topics and logs are what a setup leaves in a broker (see
/// [`Sim::same_in_every_schedule`]).
impl Restore for Mutex<Inner> {
    fn describe(&self) -> String {
        "the broker".to_string()
    }

    fn save(&self) -> Result<Saved, String> {
        let inner = self.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(Box::new(inner.clone()))
    }

    fn restore(&self, saved: &Saved) {
        let saved: &Inner = saved.downcast_ref().expect("a broker's saved state");
        *self.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = saved.clone();
    }
}

/// What happened to a copy while the broker held its lock; recorded in the
/// trace once the lock is released.
enum Happened {
    LeaseExpired(Envelope),
    DeadLettered(Envelope, String),
    Acked(Envelope),
    Abandoned(Envelope, String),
}

/// The simulated broker. Cheap to clone: clones share the queues.
///
/// ```
/// use harness::{Broker, Envelope, Sim};
///
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// broker.declare_queue("billing");
/// broker.declare_queue("shipping");
/// broker.subscribe("OrderPlaced", "billing").unwrap();
/// broker.subscribe("OrderPlaced", "shipping").unwrap();
/// broker.publish("OrderPlaced", Envelope::new(sim.new_message_id(), "OrderPlaced", &"o-1")).unwrap();
/// assert_eq!(broker.queue_len("billing").unwrap(), 1);
/// assert_eq!(broker.queue_len("shipping").unwrap(), 1);
/// ```
#[derive(Clone)]
pub struct Broker {
    sim: Sim,
    inner: Arc<Mutex<Inner>>,
}

impl Broker {
    /// A broker with no queues, governed by `sim`.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// assert!(broker.queue_names().is_empty());
    /// ```
    pub fn new(sim: &Sim) -> Broker {
        let broker = Broker {
            sim: sim.clone(),
            inner: Arc::new(Mutex::new(Inner {
                queues: BTreeMap::new(),
                topics: BTreeMap::new(),
                next_entry: 1,
                next_lease: 1,
                max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
                history_limit: DEFAULT_HISTORY_LIMIT,
                sent: VecDeque::new(),
                finished: VecDeque::new(),
            })),
        };
        let part = Arc::downgrade(&broker.inner);
        sim.register(part);
        broker
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A failing assertion in a handler must not turn into a poisoned-lock panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The simulation this broker belongs to.
    ///
    /// ```
    /// let sim = harness::Sim::new(4);
    /// assert_eq!(harness::Broker::new(&sim).sim().seed(), 4);
    /// ```
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    // ----- configuration -----

    /// Declares a queue (declaring it again changes nothing).
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// broker.declare_queue("orders");
    /// broker.declare_queue("orders");
    /// assert_eq!(broker.queue_names(), ["orders"]);
    /// ```
    pub fn declare_queue(&self, name: &str) {
        self.lock()
            .queues
            .entry(name.to_string())
            .or_insert_with(|| Queue {
                entries: BTreeMap::new(),
                leased: 0,
                dead: Vec::new(),
                visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
                max_attempts: DEFAULT_MAX_ATTEMPTS,
                counters: Counters::default(),
            });
    }

    /// Every declared queue, sorted by name.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// broker.declare_queue("b");
    /// broker.declare_queue("a");
    /// assert_eq!(broker.queue_names(), ["a", "b"]);
    /// ```
    pub fn queue_names(&self) -> Vec<String> {
        self.lock().queues.keys().cloned().collect()
    }

    /// Whether `name` is a declared queue.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// assert!(!broker.has_queue("orders"));
    /// ```
    pub fn has_queue(&self, name: &str) -> bool {
        self.lock().queues.contains_key(name)
    }

    /// Sets how long a received message stays leased to its receiver.
    ///
    /// ```
    /// use std::time::Duration;
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// broker.declare_queue("orders");
    /// broker.set_visibility_timeout("orders", Duration::from_secs(5)).unwrap();
    /// assert!(broker.set_visibility_timeout("nope", Duration::from_secs(5)).is_err());
    /// ```
    pub fn set_visibility_timeout(&self, queue: &str, timeout: Duration) -> Result<(), Error> {
        self.lock().queue(queue)?.visibility_timeout = timeout;
        Ok(())
    }

    /// Sets how many deliveries a message gets before it is dead-lettered
    /// (at least 1).
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// broker.declare_queue("orders");
    /// broker.set_max_attempts("orders", 1).unwrap();
    /// ```
    pub fn set_max_attempts(&self, queue: &str, attempts: u32) -> Result<(), Error> {
        self.lock().queue(queue)?.max_attempts = attempts.max(1);
        Ok(())
    }

    /// Sets the largest message size the broker accepts, in bytes.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("q");
    /// broker.set_max_message_bytes(64);
    /// let big = Envelope::new(MessageId::from_u128(1), "Pdf", &"x".repeat(100));
    /// let err = broker.send("q", big).unwrap_err();
    /// assert!(err.to_string().contains("over the limit of 64 bytes"));
    /// ```
    pub fn set_max_message_bytes(&self, limit: usize) {
        self.lock().max_message_bytes = limit;
    }

    /// Sets how many sent and finished messages the broker remembers for
    /// [`Broker::sent_log`], [`Broker::sent_to`] and [`Broker::finished_log`].
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// broker.set_history_limit(1_000);
    /// ```
    pub fn set_history_limit(&self, limit: usize) {
        let mut inner = self.lock();
        inner.history_limit = limit.max(1);
        while inner.sent.len() > inner.history_limit {
            inner.sent.pop_front();
        }
        while inner.finished.len() > inner.history_limit {
            inner.finished.pop_front();
        }
    }

    /// Subscribes a queue to a topic: every message published to the topic
    /// from now on gets a copy in the queue.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// let err = broker.subscribe("ItemAdded", "billing").unwrap_err();
    /// assert_eq!(err.to_string(), "unknown queue `billing` (none is declared)");
    /// ```
    pub fn subscribe(&self, topic: &str, queue: &str) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.queue(queue)?;
        let subscribers = inner.topics.entry(topic.to_string()).or_default();
        if !subscribers.iter().any(|known| known == queue) {
            subscribers.push(queue.to_string());
        }
        Ok(())
    }

    /// The queues subscribed to `topic`, in subscription order.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// assert!(broker.subscribers("ItemAdded").is_empty());
    /// ```
    pub fn subscribers(&self, topic: &str) -> Vec<String> {
        self.lock().topics.get(topic).cloned().unwrap_or_default()
    }

    // ----- sending -----

    /// Puts a message on a queue.
    ///
    /// ```
    /// use harness::{Broker, Envelope, FaultRule, Sim};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// broker.declare_queue("orders");
    /// sim.inject(FaultRule::at("broker.orders.send").duplicate());
    /// broker.send("orders", Envelope::new(sim.new_message_id(), "SubmitOrder", &())).unwrap();
    /// // Two physical copies of one message: same id.
    /// let copies = broker.peek("orders").unwrap();
    /// assert_eq!(copies.len(), 2);
    /// assert_eq!(copies[0].id, copies[1].id);
    /// ```
    pub fn send(&self, queue: &str, envelope: Envelope) -> Result<(), Error> {
        self.send_from(queue, envelope, None)
    }

    /// [`Broker::send`], remembering which handling sent it (for the world).
    pub(crate) fn send_from(
        &self,
        queue: &str,
        envelope: Envelope,
        handling: Option<u64>,
    ) -> Result<(), Error> {
        let known = self.lock().queues.contains_key(queue);
        if !known {
            let err = self.lock().unknown_queue(queue);
            self.reject(queue, &envelope, &err);
            return Err(err);
        }
        self.check_size(queue, &envelope)?;
        let point = FaultPoint::new("broker", queue, "send").with_message(&envelope);
        let fault = self.sim.fault_at(&point);
        self.land(Outgoing {
            route: Route::Send {
                queue: queue.to_string(),
            },
            envelope,
            handling,
            fault,
            point: point.name,
        })
    }

    /// Publishes an event: every queue subscribed to `topic` gets a copy.
    /// Publishing to a topic nobody subscribed to is allowed (and the message
    /// goes nowhere), as with real brokers.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.publish("Nobody", Envelope::new(MessageId::from_u128(1), "Nobody", &())).unwrap();
    /// ```
    pub fn publish(&self, topic: &str, envelope: Envelope) -> Result<(), Error> {
        self.publish_from(topic, envelope, None)
    }

    /// [`Broker::publish`], remembering which handling published it.
    pub(crate) fn publish_from(
        &self,
        topic: &str,
        envelope: Envelope,
        handling: Option<u64>,
    ) -> Result<(), Error> {
        self.check_size(topic, &envelope)?;
        let point = FaultPoint::new("broker", topic, "publish").with_message(&envelope);
        let fault = self.sim.fault_at(&point);
        let subscribers = self.subscribers(topic);
        self.land(Outgoing {
            route: Route::Publish {
                topic: topic.to_string(),
                subscribers,
            },
            envelope,
            handling,
            fault,
            point: point.name,
        })
    }

    fn check_size(&self, destination: &str, envelope: &Envelope) -> Result<(), Error> {
        let limit = self.lock().max_message_bytes;
        if size_at_most(envelope) <= limit {
            // Serialising every message to count its bytes was a tenth of
            // an explored schedule; the exact size is needed only when it
            // may be over the limit.
            return Ok(());
        }
        let size = envelope.size_in_bytes();
        if size <= limit {
            return Ok(());
        }
        let err = Error::TooLarge {
            what: format!("message {}", envelope.message_type),
            size,
            limit,
        };
        self.reject(destination, envelope, &err);
        Err(err)
    }

    fn reject(&self, destination: &str, envelope: &Envelope, err: &Error) {
        self.sim.record(EventKind::Rejected {
            queue: destination.to_string(),
            message: self.sim.message_ref(envelope),
            reason: err.to_string(),
        });
    }

    /// Lands a send or publish in its queues, under the fault that struck.
    fn land(&self, outgoing: Outgoing) -> Result<(), Error> {
        let Outgoing {
            route,
            envelope,
            handling,
            fault,
            point,
        } = outgoing;
        let now = self.sim.now();
        let (copies, visible_at) = match fault {
            Some(Fault::FailBefore) => {
                return Err(Error::Injected {
                    point,
                    effect_applied: false,
                });
            }
            // The sender believes it worked; the message is gone.
            Some(Fault::Drop) => return Ok(()),
            Some(Fault::Duplicate) => (2, now),
            Some(Fault::Delay(delay)) => (1, now + delay),
            // An HTTP answer means nothing to a broker.
            Some(Fault::FailAfter) | Some(Fault::Refuse { .. }) | None => (1, now),
        };
        let message = self.sim.message_ref(&envelope);
        let mut landed = Vec::new();
        {
            let mut inner = self.lock();
            for queue in route.queues() {
                for _ in 0..copies {
                    let entry = inner.next_entry;
                    inner.next_entry += 1;
                    let Some(target) = inner.queues.get_mut(queue) else {
                        continue;
                    };
                    target.entries.insert(
                        entry,
                        Entry {
                            envelope: envelope.clone(),
                            attempts: 0,
                            enqueued_at: now,
                            visible_at,
                            lease: None,
                        },
                    );
                    landed.push(queue.clone());
                }
            }
            inner.remember_sent(SentRecord {
                destination: route.destination().to_string(),
                published: matches!(route, Route::Publish { .. }),
                envelope,
                queues: landed,
                at: now,
                handling,
            });
        }
        let event = match route {
            Route::Publish { topic, subscribers } => EventKind::Published {
                topic,
                message,
                subscribers,
            },
            Route::Send { queue } => EventKind::Sent { queue, message },
        };
        self.sim.record(event);
        if fault == Some(Fault::FailAfter) {
            return Err(Error::Injected {
                point,
                effect_applied: true,
            });
        }
        Ok(())
    }

    // ----- receiving -----

    /// Hands out the oldest ready message of `queue`, leased for the queue's
    /// visibility timeout; `Ok(None)` when nothing is ready.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// use std::time::Duration;
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// broker.declare_queue("q");
    /// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// let first = broker.receive("q").unwrap().unwrap();
    /// // Leased: nobody else sees it …
    /// assert!(broker.receive("q").unwrap().is_none());
    /// // … until the lease runs out. Then the late ack fails.
    /// sim.advance(Duration::from_secs(30));
    /// let second = broker.receive("q").unwrap().unwrap();
    /// assert_eq!(second.attempt, 2);
    /// assert!(broker.ack(&first).is_err());
    /// broker.ack(&second).unwrap();
    /// ```
    pub fn receive(&self, queue: &str) -> Result<Option<Delivery>, Error> {
        let candidate = {
            let now = self.sim.now();
            let mut inner = self.lock();
            let target = inner.queue(queue)?;
            target
                .entries
                .values()
                .find(|entry| entry.is_ready(now))
                .map(|entry| (entry.envelope.message_type.clone(), entry.envelope.id))
        };
        let mut point = FaultPoint::new("broker", queue, "receive");
        if let Some((message_type, id)) = candidate {
            point.message_type = Some(message_type);
            point.message_id = Some(id);
        }
        let fault = self.sim.fault_at(&point);
        match fault {
            Some(Fault::FailBefore) => {
                return Err(Error::Injected {
                    point: point.name,
                    effect_applied: false,
                });
            }
            Some(Fault::Delay(delay)) => self.sim.advance(delay),
            _ => {}
        }
        let now = self.sim.now();
        let (delivery, happened) = {
            let mut inner = self.lock();
            let lease = inner.next_lease;
            inner.next_lease += 1;
            let target = inner.queue(queue)?;
            let happened = expire_leases(target, now);
            let visibility = target.visibility_timeout;
            let ready = target
                .entries
                .iter_mut()
                .find(|(_, entry)| entry.is_ready(now));
            let delivery = ready.map(|(&id, entry)| {
                entry.attempts += 1;
                if entry.attempts > 1 {
                    target.counters.retried += 1;
                }
                entry.lease = Some(Lease {
                    id: lease,
                    until: now + visibility,
                });
                Delivery {
                    queue: queue.to_string(),
                    envelope: entry.envelope.clone(),
                    attempt: entry.attempts,
                    receipt: Receipt { entry: id, lease },
                }
            });
            if delivery.is_some() {
                target.leased += 1;
            }
            for done in finished_from(queue, &happened) {
                inner.remember_finished(done);
            }
            (delivery, happened)
        };
        self.record_happened(queue, happened);
        let Some(delivery) = delivery else {
            return Ok(None);
        };
        self.sim.record(EventKind::Delivered {
            queue: queue.to_string(),
            message: self.sim.message_ref(&delivery.envelope),
            attempt: delivery.attempt,
        });
        match fault {
            // Leased, but the receiver never hears of it.
            Some(Fault::Drop) => Ok(None),
            Some(Fault::FailAfter) => Err(Error::Injected {
                point: point.name,
                effect_applied: true,
            }),
            _ => Ok(Some(delivery)),
        }
    }

    /// Acknowledges a delivery: the message leaves the queue for good. Fails
    /// with [`Error::LeaseExpired`] when the lease ran out first (the message
    /// was or will be delivered again).
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("q");
    /// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// let delivery = broker.receive("q").unwrap().unwrap();
    /// broker.ack(&delivery).unwrap();
    /// assert!(broker.ack(&delivery).is_err()); // already gone
    /// ```
    pub fn ack(&self, delivery: &Delivery) -> Result<(), Error> {
        let point = self.point_for(delivery, "ack");
        let fault = self.sim.fault_at(&point);
        if fault == Some(Fault::FailBefore) {
            return Err(Error::Injected {
                point: point.name,
                effect_applied: false,
            });
        }
        self.settle(delivery, Settle::Ack)?;
        if fault == Some(Fault::FailAfter) {
            return Err(Error::Injected {
                point: point.name,
                effect_applied: true,
            });
        }
        Ok(())
    }

    /// Gives a delivery back: the message is ready again at once, unless it
    /// has used up its attempts, in which case it goes to the dead-letter queue.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("q");
    /// broker.set_max_attempts("q", 2).unwrap();
    /// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// for _ in 0..2 {
    ///     let delivery = broker.receive("q").unwrap().unwrap();
    ///     broker.abandon(&delivery, "database down").unwrap();
    /// }
    /// assert_eq!(broker.queue_len("q").unwrap(), 0);
    /// assert_eq!(broker.dead_letters("q").unwrap().len(), 1);
    /// ```
    pub fn abandon(&self, delivery: &Delivery, reason: &str) -> Result<(), Error> {
        self.abandon_for(delivery, Duration::ZERO, reason)
    }

    /// Gives a delivery back, invisible for `delay`: the message is ready
    /// again once the simulated clock has passed it (unless it has used up
    /// its attempts: then it goes to the dead-letter queue, as with
    /// [`Broker::abandon`]). For a handler told "not now, retry in 2 s" (a
    /// `429 Too Many Requests` with `Retry-After`): retrying at once would
    /// only be refused again, and spend an attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// broker.declare_queue("q");
    /// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// let delivery = broker.receive("q").unwrap().unwrap();
    /// broker.abandon_for(&delivery, Duration::from_secs(2), "the provider said 429").unwrap();
    /// assert!(broker.receive("q").unwrap().is_none()); // not yet
    /// sim.advance(Duration::from_secs(2));
    /// assert_eq!(broker.receive("q").unwrap().unwrap().attempt, 2);
    /// ```
    pub fn abandon_for(
        &self,
        delivery: &Delivery,
        delay: Duration,
        reason: &str,
    ) -> Result<(), Error> {
        let point = self.point_for(delivery, "abandon");
        if self.sim.fault_at(&point) == Some(Fault::FailBefore) {
            return Err(Error::Injected {
                point: point.name,
                effect_applied: false,
            });
        }
        self.settle(delivery, Settle::Abandon { reason, delay })
    }

    /// Moves a delivery to the dead-letter queue at once, without retries:
    /// for errors that retrying cannot fix.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("q");
    /// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// let delivery = broker.receive("q").unwrap().unwrap();
    /// broker.dead_letter(&delivery, "unknown filling").unwrap();
    /// assert_eq!(broker.dead_letters("q").unwrap().len(), 1);
    /// ```
    pub fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), Error> {
        self.settle(delivery, Settle::DeadLetter(reason))
    }

    fn point_for(&self, delivery: &Delivery, operation: &str) -> FaultPoint {
        FaultPoint::new("broker", &delivery.queue, operation).with_message(&delivery.envelope)
    }

    /// Settles a delivery that still holds its lease; fails with
    /// [`Error::LeaseExpired`] when it does not.
    fn settle(&self, delivery: &Delivery, how: Settle<'_>) -> Result<(), Error> {
        let now = self.sim.now();
        let queue = delivery.queue.as_str();
        let (result, happened) = {
            let mut inner = self.lock();
            let target = inner.queue(queue)?;
            let mut happened = expire_leases(target, now);
            let receipt = delivery.receipt;
            let holds_lease = target
                .entries
                .get(&receipt.entry)
                .is_some_and(|entry| entry.lease.is_some_and(|lease| lease.id == receipt.lease));
            let result = if holds_lease {
                let mut entry = target
                    .entries
                    .remove(&receipt.entry)
                    .expect("checked above");
                target.leased -= 1;
                // The entry is out of the queue: its envelope moves on (into
                // the trace, the dead letters, or back into the queue).
                match how {
                    Settle::Ack => happened.push(Happened::Acked(entry.envelope)),
                    Settle::Abandon { reason, .. } if entry.attempts >= target.max_attempts => {
                        let reason = format!(
                            "delivered {} times without success; last error: {reason}",
                            entry.attempts
                        );
                        happened.push(bury(target, entry, reason));
                    }
                    Settle::Abandon { reason, delay } => {
                        entry.lease = None;
                        entry.visible_at = now + delay;
                        let reason = if delay.is_zero() {
                            reason.to_string()
                        } else {
                            format!("{reason}; it is back at {}", entry.visible_at)
                        };
                        happened.push(Happened::Abandoned(entry.envelope.clone(), reason));
                        target.entries.insert(receipt.entry, entry);
                    }
                    Settle::DeadLetter(reason) => {
                        happened.push(bury(target, entry, reason.to_string()));
                    }
                }
                Ok(())
            } else {
                Err(Error::LeaseExpired {
                    queue: queue.to_string(),
                    message: self.sim.label(delivery.envelope.id),
                })
            };
            for done in finished_from(queue, &happened) {
                inner.remember_finished(done);
            }
            (result, happened)
        };
        self.record_happened(queue, happened);
        result
    }

    fn record_happened(&self, queue: &str, happened: Vec<Happened>) {
        for event in happened {
            let queue = queue.to_string();
            let kind = match event {
                Happened::LeaseExpired(envelope) => EventKind::LeaseExpired {
                    queue,
                    message: self.sim.message_ref(&envelope),
                },
                Happened::DeadLettered(envelope, reason) => EventKind::DeadLettered {
                    queue,
                    message: self.sim.message_ref(&envelope),
                    reason,
                },
                Happened::Acked(envelope) => EventKind::Acked {
                    queue,
                    message: self.sim.message_ref(&envelope),
                },
                Happened::Abandoned(envelope, reason) => EventKind::Abandoned {
                    queue,
                    message: self.sim.message_ref(&envelope),
                    reason,
                },
            };
            self.sim.record(kind);
        }
    }

    // ----- dead letters -----

    /// The messages in `queue`'s dead-letter queue, oldest first.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// broker.declare_queue("q");
    /// assert!(broker.dead_letters("q").unwrap().is_empty());
    /// ```
    pub fn dead_letters(&self, queue: &str) -> Result<Vec<DeadLetter>, Error> {
        Ok(self.lock().queue(queue)?.dead.clone())
    }

    /// Puts a dead-lettered message back on its queue, with fresh attempts
    /// (after the bug that killed it is fixed). The same physical message:
    /// same id.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("q");
    /// let id = MessageId::from_u128(1);
    /// broker.send("q", Envelope::new(id, "Ping", &())).unwrap();
    /// let delivery = broker.receive("q").unwrap().unwrap();
    /// broker.dead_letter(&delivery, "bug").unwrap();
    /// broker.replay_dead_letter("q", id).unwrap();
    /// assert_eq!(broker.receive("q").unwrap().unwrap().attempt, 1);
    /// assert!(broker.replay_dead_letter("q", id).is_err());
    /// ```
    pub fn replay_dead_letter(&self, queue: &str, id: MessageId) -> Result<(), Error> {
        let now = self.sim.now();
        let envelope = {
            let mut inner = self.lock();
            let entry = inner.next_entry;
            inner.next_entry += 1;
            let target = inner.queue(queue)?;
            let Some(index) = target.dead.iter().position(|dead| dead.envelope.id == id) else {
                return Err(Error::NotFound {
                    store: format!("dead-letter queue of {queue}"),
                    key: id.to_string(),
                });
            };
            let dead = target.dead.remove(index);
            target.entries.insert(
                entry,
                Entry {
                    envelope: dead.envelope.clone(),
                    attempts: 0,
                    enqueued_at: now,
                    visible_at: now,
                    lease: None,
                },
            );
            dead.envelope
        };
        self.sim.record(EventKind::Replayed {
            queue: queue.to_string(),
            message: self.sim.message_ref(&envelope),
        });
        Ok(())
    }

    // ----- inspection -----

    /// How many copies wait in `queue` (ready or delayed, not leased).
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// broker.declare_queue("q");
    /// assert_eq!(broker.queue_len("q").unwrap(), 0);
    /// assert!(broker.queue_len("nope").is_err());
    /// ```
    pub fn queue_len(&self, queue: &str) -> Result<usize, Error> {
        let now = self.sim.now();
        let mut inner = self.lock();
        let target = inner.queue(queue)?;
        Ok(target
            .entries
            .values()
            .filter(|entry| entry.lease.is_none_or(|lease| lease.until <= now))
            .count())
    }

    /// How many copies of `queue` are leased to a receiver right now.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("q");
    /// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// let _delivery = broker.receive("q").unwrap();
    /// assert_eq!(broker.in_flight("q").unwrap(), 1);
    /// ```
    pub fn in_flight(&self, queue: &str) -> Result<usize, Error> {
        let now = self.sim.now();
        let mut inner = self.lock();
        let target = inner.queue(queue)?;
        Ok(target
            .entries
            .values()
            .filter(|entry| entry.lease.is_some_and(|lease| lease.until > now))
            .count())
    }

    /// The messages waiting in `queue` (not leased), oldest first.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("q");
    /// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// assert_eq!(broker.peek("q").unwrap()[0].message_type, "Ping");
    /// ```
    pub fn peek(&self, queue: &str) -> Result<Vec<Envelope>, Error> {
        let now = self.sim.now();
        let mut inner = self.lock();
        let target = inner.queue(queue)?;
        Ok(target
            .entries
            .values()
            .filter(|entry| entry.lease.is_none_or(|lease| lease.until <= now))
            .map(|entry| entry.envelope.clone())
            .collect())
    }

    /// Every copy ever put on `queue` (sent or published to it), oldest
    /// first, once per physical copy — within the history limit. A physical
    /// duplicate shows up twice with the same id; a logical re-send shows up
    /// with a new id.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("billing");
    /// let added = Envelope::new(MessageId::from_u128(1), "ItemAdded", &"Ruskie");
    /// broker.send("billing", added.clone()).unwrap();
    /// broker.send("billing", added.with_id(MessageId::from_u128(2))).unwrap();
    /// let seen = broker.sent_to("billing").unwrap();
    /// assert_eq!(seen.len(), 2);
    /// assert_ne!(seen[0].id, seen[1].id); // a logical re-send
    /// assert_eq!(seen.iter().filter(|m| m.body == "SwissCheese").count(), 0);
    /// ```
    pub fn sent_to(&self, queue: &str) -> Result<Vec<Envelope>, Error> {
        let inner = self.lock();
        if !inner.queues.contains_key(queue) {
            return Err(inner.unknown_queue(queue));
        }
        Ok(inner
            .sent
            .iter()
            .flat_map(|record| {
                record
                    .queues
                    .iter()
                    .filter(|landed| landed.as_str() == queue)
                    .map(|_| record.envelope.clone())
            })
            .collect())
    }

    /// Every message that reached the broker, oldest first (within the
    /// history limit): one record per send or publish that took effect.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// assert!(broker.sent_log().is_empty());
    /// ```
    pub fn sent_log(&self) -> Vec<SentRecord> {
        self.lock().sent.iter().cloned().collect()
    }

    /// Every copy that left a queue for good (acknowledged or
    /// dead-lettered), oldest first, within the history limit.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// assert!(broker.finished_log().is_empty());
    /// ```
    pub fn finished_log(&self) -> Vec<Finished> {
        self.lock().finished.iter().cloned().collect()
    }

    /// The records of [`Broker::sent_log`] that `keep` accepts: only those
    /// are copied (a history of one endpoint reads a few of many, after
    /// every explored schedule).
    pub(crate) fn sent_where(&self, keep: impl Fn(&SentRecord) -> bool) -> Vec<SentRecord> {
        let inner = self.lock();
        inner
            .sent
            .iter()
            .filter(|record| keep(record))
            .cloned()
            .collect()
    }

    /// The records of [`Broker::finished_log`] that `keep` accepts.
    pub(crate) fn finished_where(&self, keep: impl Fn(&Finished) -> bool) -> Vec<Finished> {
        let inner = self.lock();
        inner
            .finished
            .iter()
            .filter(|finished| keep(finished))
            .cloned()
            .collect()
    }

    // ----- for the world -----

    /// Whether `queue` has a copy ready for delivery now.
    pub(crate) fn has_ready(&self, queue: &str) -> bool {
        let now = self.sim.now();
        self.lock()
            .queues
            .get(queue)
            .is_some_and(|target| target.entries.values().any(|entry| entry.is_ready(now)))
    }

    /// The earliest time a copy of one of `queues` becomes ready, if any is
    /// waiting for a delay or a lease to run out.
    pub(crate) fn next_wake_up(&self, queues: &[String]) -> Option<SimTime> {
        let now = self.sim.now();
        let inner = self.lock();
        queues
            .iter()
            .filter_map(|name| inner.queues.get(name))
            .flat_map(|target| target.entries.values())
            .filter_map(|entry| entry.wakes_at(now))
            .min()
    }

    /// How many copies in `queues` (waiting or leased) belong to `conversation`.
    pub(crate) fn pending_in_conversation(&self, queues: &[String], conversation: &str) -> usize {
        let inner = self.lock();
        queues
            .iter()
            .filter_map(|name| inner.queues.get(name))
            .flat_map(|target| target.entries.values())
            .filter(|entry| entry.envelope.conversation_id() == Some(conversation))
            .count()
    }

    /// How many copies in `queues` are waiting or leased, for error messages.
    pub(crate) fn pending(&self, queues: &[String]) -> Vec<(String, usize)> {
        let inner = self.lock();
        queues
            .iter()
            .filter_map(|name| inner.queues.get(name).map(|target| (name, target)))
            .filter(|(_, target)| !target.entries.is_empty())
            .map(|(name, target)| (name.clone(), target.entries.len()))
            .collect()
    }
}

/// How a receiver settles a delivery.
enum Settle<'a> {
    Ack,
    /// Back to the queue, invisible for `delay` (zero: ready at once).
    Abandon {
        reason: &'a str,
        delay: Duration,
    },
    DeadLetter(&'a str),
}

/// Makes copies whose lease ran out visible again, or dead-letters them when
/// they used up their attempts.
fn expire_leases(queue: &mut Queue, now: SimTime) -> Vec<Happened> {
    if queue.leased == 0 {
        return Vec::new();
    }
    let expired: Vec<u64> = queue
        .entries
        .iter()
        .filter(|(_, entry)| entry.lease.is_some_and(|lease| lease.until <= now))
        .map(|(&id, _)| id)
        .collect();
    let mut happened = Vec::new();
    for id in expired {
        queue.leased -= 1;
        let entry = queue.entries.get_mut(&id).expect("listed above");
        entry.lease = None;
        happened.push(Happened::LeaseExpired(entry.envelope.clone()));
        if entry.attempts >= queue.max_attempts {
            let entry = queue.entries.remove(&id).expect("listed above");
            let reason = format!(
                "delivered {} times; the last lease ran out too",
                entry.attempts
            );
            queue.dead.push(DeadLetter {
                envelope: entry.envelope.clone(),
                reason: reason.clone(),
                attempts: entry.attempts,
            });
            happened.push(Happened::DeadLettered(entry.envelope, reason));
        }
    }
    happened
}

/// Puts an entry taken out of `queue` among its dead letters.
fn bury(queue: &mut Queue, entry: Entry, reason: String) -> Happened {
    queue.dead.push(DeadLetter {
        envelope: entry.envelope.clone(),
        reason: reason.clone(),
        attempts: entry.attempts,
    });
    Happened::DeadLettered(entry.envelope, reason)
}

/// The copies that left their queue for good among `happened`.
fn finished_from(queue: &str, happened: &[Happened]) -> Vec<Finished> {
    happened
        .iter()
        .filter_map(|event| match event {
            Happened::Acked(envelope) => Some((envelope, true)),
            Happened::DeadLettered(envelope, _) => Some((envelope, false)),
            Happened::LeaseExpired(_) | Happened::Abandoned(..) => None,
        })
        .map(|(envelope, acked)| Finished {
            queue: queue.to_string(),
            envelope: envelope.clone(),
            acked,
        })
        .collect()
}

/// Where a send or a publish goes.
enum Route {
    /// To one queue.
    Send { queue: String },
    /// To every queue subscribed to the topic, one copy each.
    Publish {
        topic: String,
        subscribers: Vec<String>,
    },
}

impl Route {
    /// The queue or topic named by the sender.
    fn destination(&self) -> &str {
        match self {
            Route::Send { queue } => queue,
            Route::Publish { topic, .. } => topic,
        }
    }

    /// The queues that get a copy.
    fn queues(&self) -> &[String] {
        match self {
            Route::Send { queue } => std::slice::from_ref(queue),
            Route::Publish { subscribers, .. } => subscribers,
        }
    }
}

/// A send or publish that passed its fault point, about to land.
struct Outgoing {
    route: Route,
    envelope: Envelope,
    /// The handling that sent it, if a handler did (for the world).
    handling: Option<u64>,
    /// The fault that struck at its fault point, if any.
    fault: Option<Fault>,
    /// The fault point's name, for an injected error.
    point: String,
}

/// At least the size of the envelope as JSON ([`Envelope::size_in_bytes`]),
/// found without serialising it: every character escaped as `\uXXXX`, every
/// number at its longest, and room for the field names and punctuation.
fn size_at_most(envelope: &Envelope) -> usize {
    const ENVELOPE_FIELDS: usize = 256;
    let headers: usize = envelope
        .headers
        .iter()
        .map(|(name, value)| json_string_at_most(name) + json_string_at_most(value) + 2)
        .sum();
    ENVELOPE_FIELDS
        + json_string_at_most(&envelope.message_type)
        + headers
        + json_at_most(&envelope.body)
}

fn json_string_at_most(text: &str) -> usize {
    2 + 6 * text.len()
}

fn json_at_most(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 32,
        Value::String(text) => json_string_at_most(text),
        Value::Array(items) => {
            2 + items
                .iter()
                .map(|item| json_at_most(item) + 1)
                .sum::<usize>()
        }
        Value::Object(fields) => {
            let fields: usize = fields
                .iter()
                .map(|(name, value)| json_string_at_most(name) + json_at_most(value) + 2)
                .sum();
            2 + fields
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultRule;
    use proptest::prelude::*;

    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::{Value, json};
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|x| json!(x)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn the_size_bound_is_never_below_the_size(
            body in any_json(),
            message_type in any::<String>(),
            header in any::<(String, String)>(),
        ) {
            let envelope = Envelope::new(MessageId::from_u128(7), &message_type, &body)
                .with_header(&header.0, &header.1);
            prop_assert!(size_at_most(&envelope) >= envelope.size_in_bytes());
        }
    }

    fn setup() -> (Sim, Broker) {
        let sim = Sim::new(1);
        let broker = Broker::new(&sim);
        broker.declare_queue("orders");
        (sim, broker)
    }

    fn ping(n: u128) -> Envelope {
        Envelope::new(MessageId::from_u128(n), "Ping", &n)
    }

    #[test]
    fn fail_after_on_send_delivers_the_message_but_reports_an_error() {
        let (sim, broker) = setup();
        sim.inject(FaultRule::at("broker.orders.send").fail_after());
        let err = broker.send("orders", ping(1)).unwrap_err();
        assert_eq!(
            err,
            Error::Injected {
                point: "broker.orders.send".into(),
                effect_applied: true
            }
        );
        assert_eq!(broker.queue_len("orders").unwrap(), 1);
    }

    #[test]
    fn fail_before_and_drop_leave_the_queue_empty_but_only_fail_before_says_so() {
        let (sim, broker) = setup();
        sim.inject(FaultRule::at("broker.orders.send").fail_before());
        assert!(broker.send("orders", ping(1)).is_err());
        sim.inject(FaultRule::at("broker.orders.send").drop_message());
        assert!(broker.send("orders", ping(2)).is_ok());
        assert_eq!(broker.queue_len("orders").unwrap(), 0);
        assert!(broker.sent_to("orders").unwrap().is_empty());
    }

    #[test]
    fn a_delayed_message_is_delivered_only_after_its_delay() {
        let (sim, broker) = setup();
        sim.inject(FaultRule::at("broker.orders.send").delay(Duration::from_secs(10)));
        broker.send("orders", ping(1)).unwrap();
        broker.send("orders", ping(2)).unwrap();
        // The later message overtakes the delayed one: a reordering.
        assert_eq!(
            broker.receive("orders").unwrap().unwrap().envelope.id,
            MessageId::from_u128(2)
        );
        assert!(broker.receive("orders").unwrap().is_none());
        assert_eq!(
            broker.next_wake_up(&["orders".to_string()]),
            Some(SimTime::from_millis(10_000))
        );
        sim.advance(Duration::from_secs(10));
        assert_eq!(
            broker.receive("orders").unwrap().unwrap().envelope.id,
            MessageId::from_u128(1)
        );
    }

    #[test]
    fn a_too_large_message_is_refused_and_the_refusal_is_traced() {
        let (sim, broker) = setup();
        let big = Envelope::new(MessageId::from_u128(1), "Pdf", &"x".repeat(300 * 1024));
        let err = broker.send("orders", big).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit, .. } if limit == 256 * 1024));
        assert!(err.to_string().starts_with("message Pdf is 307"), "{err}");
        assert!(
            sim.trace()
                .to_string()
                .contains("queue orders refused Pdf(m1)")
        );
        assert_eq!(broker.queue_len("orders").unwrap(), 0);
    }

    #[test]
    fn an_unknown_queue_names_the_known_ones() {
        let (_sim, broker) = setup();
        broker.declare_queue("billing");
        let err = broker.send("shipping", ping(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown queue `shipping` (known: billing, orders)"
        );
        assert!(broker.receive("shipping").is_err());
    }

    #[test]
    fn a_receive_that_fails_after_leasing_brings_the_message_back_after_the_lease() {
        let (sim, broker) = setup();
        broker.send("orders", ping(1)).unwrap();
        sim.inject(FaultRule::at("broker.orders.receive").fail_after());
        assert!(broker.receive("orders").is_err());
        assert!(broker.receive("orders").unwrap().is_none());
        sim.advance(DEFAULT_VISIBILITY_TIMEOUT);
        assert_eq!(broker.receive("orders").unwrap().unwrap().attempt, 2);
    }

    #[test]
    fn a_lost_ack_means_the_message_is_delivered_again() {
        let (sim, broker) = setup();
        broker.send("orders", ping(1)).unwrap();
        sim.inject(FaultRule::at("broker.orders.ack").fail_before());
        let first = broker.receive("orders").unwrap().unwrap();
        assert!(broker.ack(&first).unwrap_err().is_injected());
        sim.advance(DEFAULT_VISIBILITY_TIMEOUT);
        let second = broker.receive("orders").unwrap().unwrap();
        assert_eq!(second.envelope, first.envelope);
        assert_eq!(second.attempt, 2);
        assert!(matches!(
            broker.ack(&first),
            Err(Error::LeaseExpired { .. })
        ));
        broker.ack(&second).unwrap();
        let trace = sim.trace().to_string();
        assert!(trace.contains("the lease on Ping(m1) ran out"), "{trace}");
    }

    #[test]
    fn a_message_whose_leases_keep_running_out_is_dead_lettered() {
        let (sim, broker) = setup();
        broker.set_max_attempts("orders", 2).unwrap();
        broker.send("orders", ping(1)).unwrap();
        for _ in 0..2 {
            broker.receive("orders").unwrap().unwrap();
            sim.advance(DEFAULT_VISIBILITY_TIMEOUT);
        }
        assert!(broker.receive("orders").unwrap().is_none());
        let dead = broker.dead_letters("orders").unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].attempts, 2);
        assert!(!broker.finished_log()[0].acked);
    }

    #[test]
    fn physical_copies_are_settled_independently() {
        let (sim, broker) = setup();
        sim.inject(FaultRule::at("broker.orders.send").duplicate());
        broker.send("orders", ping(1)).unwrap();
        let a = broker.receive("orders").unwrap().unwrap();
        let b = broker.receive("orders").unwrap().unwrap();
        assert_eq!(a.envelope.id, b.envelope.id);
        broker.ack(&a).unwrap();
        broker.ack(&b).unwrap();
        assert_eq!(broker.finished_log().len(), 2);
        assert_eq!(broker.sent_to("orders").unwrap().len(), 2);
    }

    #[test]
    fn publish_copies_to_every_subscriber_and_logs_one_record() {
        let (sim, broker) = setup();
        broker.declare_queue("billing");
        broker.subscribe("OrderPlaced", "orders").unwrap();
        broker.subscribe("OrderPlaced", "billing").unwrap();
        sim.inject(FaultRule::at("broker.OrderPlaced.publish").duplicate());
        broker.publish("OrderPlaced", ping(1)).unwrap();
        assert_eq!(broker.queue_len("orders").unwrap(), 2);
        assert_eq!(broker.queue_len("billing").unwrap(), 2);
        let log = broker.sent_log();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].queues, ["orders", "orders", "billing", "billing"]);
    }

    #[test]
    fn the_history_stays_within_its_limit() {
        let (_sim, broker) = setup();
        broker.set_history_limit(3);
        for n in 0..10 {
            broker.send("orders", ping(n)).unwrap();
            let delivery = broker.receive("orders").unwrap().unwrap();
            broker.ack(&delivery).unwrap();
        }
        assert_eq!(broker.sent_log().len(), 3);
        assert_eq!(broker.finished_log().len(), 3);
        assert_eq!(
            broker.sent_to("orders").unwrap()[0].id,
            MessageId::from_u128(7)
        );
    }

    #[derive(Clone, Debug)]
    enum Op {
        Send,
        Receive,
        Ack(usize),
        Abandon(usize),
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Send),
            Just(Op::Receive),
            (0..8usize).prop_map(Op::Ack),
            (0..8usize).prop_map(Op::Abandon),
            (0..40u64).prop_map(Op::Wait),
        ]
    }

    proptest! {
        /// Whatever receivers do, every sent copy is either acknowledged,
        /// dead-lettered, or still in its queue (waiting or leased).
        #[test]
        fn the_broker_never_loses_an_unacknowledged_message(
            ops in proptest::collection::vec(op(), 1..80),
            seed in 0u64..1000,
        ) {
            let sim = Sim::new(seed);
            let broker = Broker::new(&sim);
            broker.declare_queue("q");
            broker.set_max_attempts("q", 3).unwrap();
            let mut sent = 0usize;
            let mut held: Vec<Delivery> = Vec::new();
            for op in ops {
                match op {
                    Op::Send => {
                        broker.send("q", Envelope::new(sim.new_message_id(), "M", &sent)).unwrap();
                        sent += 1;
                    }
                    Op::Receive => held.extend(broker.receive("q").unwrap()),
                    Op::Ack(i) if i < held.len() => { let _ = broker.ack(&held.remove(i)); }
                    Op::Abandon(i) if i < held.len() => {
                        let _ = broker.abandon(&held.remove(i), "failed");
                    }
                    Op::Wait(seconds) => sim.advance(Duration::from_secs(seconds)),
                    _ => {}
                }
                let acked = broker.finished_log().iter().filter(|f| f.acked).count();
                let dead = broker.dead_letters("q").unwrap().len();
                let waiting = broker.queue_len("q").unwrap();
                let leased = broker.in_flight("q").unwrap();
                prop_assert_eq!(acked + dead + waiting + leased, sent);
            }
        }
    }
}
