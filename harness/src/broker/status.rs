//! What an operator asks a queue at 3 a.m.: how many messages are ready, how
//! many are being worked on, how many went through, how many were given up,
//! how many needed another try, and how long the oldest one has been waiting.
//!
//! These are the numbers Service Bus, SQS and RabbitMQ put on their
//! dashboards (active / in flight / completed / dead-lettered; the age of the
//! oldest message), and the deck's "Queue metrics that matter". The totals
//! are counters kept as the broker works, not scans of its history: they stay
//! right after [`Broker::set_history_limit`] has forgotten the messages, and
//! reading them costs a walk over the messages still in the queue, never
//! over everything the queue ever held.
//!
//! [`Broker::held`] lists the copies still in a queue, one by one, for tools
//! that follow single messages (the shop's conversation tracker).

use std::time::Duration;

use super::{Broker, Entry, Queue};
use crate::{Envelope, Error, SimTime};

/// Running totals of one queue.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counters {
    /// Copies acknowledged.
    pub(super) delivered: u64,
    /// Copies sent to the dead-letter queue, replayed or not.
    pub(super) dead_lettered: u64,
    /// Deliveries after the first of a copy (redeliveries).
    pub(super) retried: u64,
}

impl Counters {
    /// Counts a copy that left the queue for good.
    pub(super) fn count_finished(&mut self, acked: bool) {
        if acked {
            self.delivered += 1;
        } else {
            self.dead_lettered += 1;
        }
    }
}

/// The state of one queue, from [`Broker::queue_status`].
///
/// ```
/// use harness::{Broker, Envelope, MessageId, Sim};
/// use std::time::Duration;
///
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// broker.declare_queue("orders");
/// broker.send("orders", Envelope::new(MessageId::from_u128(1), "SubmitOrder", &())).unwrap();
/// broker.send("orders", Envelope::new(MessageId::from_u128(2), "SubmitOrder", &())).unwrap();
/// sim.advance(Duration::from_secs(4));
/// let first = broker.receive("orders").unwrap().unwrap();
/// broker.ack(&first).unwrap();
///
/// let status = broker.queue_status("orders").unwrap();
/// assert_eq!((status.ready, status.in_flight, status.delivered), (1, 0, 1));
/// assert_eq!(status.oldest_ready_age, Some(Duration::from_secs(4)));
/// assert_eq!(
///     status.to_string(),
///     "orders: 1 ready, 0 in flight, 1 delivered, 0 dead-lettered (0 ever), 0 retried, oldest ready 4.000s"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStatus {
    /// The queue.
    pub queue: String,
    /// Copies a receiver could take now.
    pub ready: usize,
    /// Copies that wait for a delay to pass (not yet deliverable).
    pub delayed: usize,
    /// Copies leased to a receiver, not yet settled (unacknowledged).
    pub in_flight: usize,
    /// Copies acknowledged since the queue was declared.
    pub delivered: u64,
    /// Copies in the dead-letter queue now.
    pub dead_lettered: usize,
    /// Copies ever sent to the dead-letter queue, including those replayed since.
    pub dead_lettered_ever: u64,
    /// Deliveries that were not a copy's first: retries after an error,
    /// a lost lease or a lost acknowledgement.
    pub retried: u64,
    /// How long the oldest ready copy has been in the queue, on the
    /// simulated clock (`None` when nothing is ready): the lag.
    pub oldest_ready_age: Option<Duration>,
}

impl std::fmt::Display for QueueStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ready, {} in flight, {} delivered, {} dead-lettered ({} ever), {} retried",
            self.queue,
            self.ready,
            self.in_flight,
            self.delivered,
            self.dead_lettered,
            self.dead_lettered_ever,
            self.retried
        )?;
        if self.delayed > 0 {
            write!(f, ", {} delayed", self.delayed)?;
        }
        match self.oldest_ready_age {
            Some(age) => write!(
                f,
                ", oldest ready {}.{:03}s",
                age.as_secs(),
                age.subsec_millis()
            ),
            None => write!(f, ", none ready"),
        }
    }
}

/// Where a copy still in its queue stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyState {
    /// A receiver could take it now.
    Ready,
    /// It becomes deliverable at the given time (a delayed send).
    Delayed {
        /// When.
        until: SimTime,
    },
    /// Leased to a receiver until the given time.
    InFlight {
        /// When the lease runs out.
        until: SimTime,
    },
}

/// One copy still in a queue, from [`Broker::held`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeldCopy {
    /// The message.
    pub envelope: Envelope,
    /// Where it stands.
    pub state: CopyState,
    /// How many times it has been delivered.
    pub attempts: u32,
    /// When it entered the queue (sent, published or replayed).
    pub enqueued_at: SimTime,
}

impl Entry {
    fn state(&self, now: SimTime) -> CopyState {
        match self.lease {
            Some(lease) if lease.until > now => CopyState::InFlight { until: lease.until },
            _ if self.visible_at > now => CopyState::Delayed {
                until: self.visible_at,
            },
            _ => CopyState::Ready,
        }
    }
}

impl Broker {
    /// The state of `queue`: ready, delayed, in flight, delivered,
    /// dead-lettered, retried, and the age of the oldest ready copy.
    /// Read-only: it neither delivers nor expires anything.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("orders");
    /// broker.send("orders", Envelope::new(MessageId::from_u128(1), "SubmitOrder", &())).unwrap();
    /// let delivery = broker.receive("orders").unwrap().unwrap();
    /// broker.dead_letter(&delivery, "unknown filling").unwrap();
    /// let status = broker.queue_status("orders").unwrap();
    /// assert_eq!((status.ready, status.dead_lettered, status.dead_lettered_ever), (0, 1, 1));
    /// assert!(broker.queue_status("nope").is_err());
    /// ```
    pub fn queue_status(&self, queue: &str) -> Result<QueueStatus, Error> {
        let now = self.sim.now();
        let mut inner = self.lock();
        let target = inner.queue(queue)?;
        Ok(status_of(queue, target, now))
    }

    /// [`Broker::queue_status`] of every declared queue, sorted by name.
    ///
    /// ```
    /// let broker = harness::Broker::new(&harness::Sim::new(1));
    /// broker.declare_queue("b");
    /// broker.declare_queue("a");
    /// let names: Vec<String> = broker.queue_statuses().into_iter().map(|s| s.queue).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// ```
    pub fn queue_statuses(&self) -> Vec<QueueStatus> {
        let now = self.sim.now();
        let inner = self.lock();
        inner
            .queues
            .iter()
            .map(|(name, target)| status_of(name, target, now))
            .collect()
    }

    /// Every copy still in `queue` (ready, delayed or in flight), oldest
    /// first; the dead letters are in [`Broker::dead_letters`].
    ///
    /// ```
    /// use harness::{Broker, CopyState, Envelope, MessageId, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// broker.declare_queue("q");
    /// broker.send("q", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// broker.send("q", Envelope::new(MessageId::from_u128(2), "Ping", &())).unwrap();
    /// let _first = broker.receive("q").unwrap().unwrap();
    /// let held = broker.held("q").unwrap();
    /// assert!(matches!(held[0].state, CopyState::InFlight { .. }));
    /// assert_eq!(held[0].attempts, 1);
    /// assert_eq!(held[1].state, CopyState::Ready);
    /// ```
    pub fn held(&self, queue: &str) -> Result<Vec<HeldCopy>, Error> {
        let now = self.sim.now();
        let mut inner = self.lock();
        let target = inner.queue(queue)?;
        Ok(target
            .entries
            .values()
            .map(|entry| HeldCopy {
                envelope: entry.envelope.clone(),
                state: entry.state(now),
                attempts: entry.attempts,
                enqueued_at: entry.enqueued_at,
            })
            .collect())
    }
}

fn status_of(name: &str, queue: &Queue, now: SimTime) -> QueueStatus {
    let mut status = QueueStatus {
        queue: name.to_string(),
        ready: 0,
        delayed: 0,
        in_flight: 0,
        delivered: queue.counters.delivered,
        dead_lettered: queue.dead.len(),
        dead_lettered_ever: queue.counters.dead_lettered,
        retried: queue.counters.retried,
        oldest_ready_age: None,
    };
    let mut oldest_ready: Option<SimTime> = None;
    for entry in queue.entries.values() {
        match entry.state(now) {
            CopyState::Ready => {
                status.ready += 1;
                let earliest = oldest_ready.map_or(entry.enqueued_at, |t| t.min(entry.enqueued_at));
                oldest_ready = Some(earliest);
            }
            CopyState::Delayed { .. } => status.delayed += 1,
            CopyState::InFlight { .. } => status.in_flight += 1,
        }
    }
    status.oldest_ready_age = oldest_ready.map(|at| now.since(at));
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FaultRule, MessageId, Sim};

    fn ping(n: u128) -> Envelope {
        Envelope::new(MessageId::from_u128(n), "Ping", &n)
    }

    fn setup() -> (Sim, Broker) {
        let sim = Sim::new(1);
        let broker = Broker::new(&sim);
        broker.declare_queue("orders");
        (sim, broker)
    }

    #[test]
    fn a_lost_lease_counts_as_a_retry_and_keeps_the_message_s_age() {
        let (sim, broker) = setup();
        broker.send("orders", ping(1)).unwrap();
        let _lost = broker.receive("orders").unwrap().unwrap();
        assert_eq!(broker.queue_status("orders").unwrap().in_flight, 1);
        sim.advance(crate::DEFAULT_VISIBILITY_TIMEOUT);
        // The lease ran out: ready again, and it has waited since it was sent.
        let status = broker.queue_status("orders").unwrap();
        assert_eq!((status.ready, status.in_flight, status.retried), (1, 0, 0));
        assert_eq!(status.oldest_ready_age, Some(Duration::from_secs(30)));
        let again = broker.receive("orders").unwrap().unwrap();
        broker.ack(&again).unwrap();
        let status = broker.queue_status("orders").unwrap();
        assert_eq!((status.ready, status.retried, status.delivered), (0, 1, 1));
        assert_eq!(status.oldest_ready_age, None);
    }

    #[test]
    fn a_delayed_copy_is_neither_ready_nor_the_oldest() {
        let (sim, broker) = setup();
        sim.inject(FaultRule::at("broker.orders.send").delay(Duration::from_secs(60)));
        broker.send("orders", ping(1)).unwrap();
        sim.advance(Duration::from_secs(5));
        broker.send("orders", ping(2)).unwrap();
        sim.advance(Duration::from_secs(2));
        let status = broker.queue_status("orders").unwrap();
        assert_eq!((status.ready, status.delayed), (1, 1));
        assert_eq!(status.oldest_ready_age, Some(Duration::from_secs(2)));
        let held = broker.held("orders").unwrap();
        assert_eq!(
            held[0].state,
            CopyState::Delayed {
                until: SimTime::from_millis(60_000)
            }
        );
        assert_eq!(held[0].envelope.id, MessageId::from_u128(1));
    }

    #[test]
    fn a_replayed_dead_letter_leaves_the_dead_letter_count_but_not_the_total() {
        let (sim, broker) = setup();
        broker.send("orders", ping(1)).unwrap();
        let delivery = broker.receive("orders").unwrap().unwrap();
        broker.dead_letter(&delivery, "poison").unwrap();
        sim.advance(Duration::from_secs(10));
        broker
            .replay_dead_letter("orders", MessageId::from_u128(1))
            .unwrap();
        let status = broker.queue_status("orders").unwrap();
        assert_eq!((status.dead_lettered, status.dead_lettered_ever), (0, 1));
        // A replayed message is young again: it re-entered the queue now.
        assert_eq!(status.oldest_ready_age, Some(Duration::ZERO));
        let replayed = broker.receive("orders").unwrap().unwrap();
        assert_eq!(replayed.attempt, 1);
        broker.ack(&replayed).unwrap();
        let status = broker.queue_status("orders").unwrap();
        assert_eq!((status.delivered, status.retried), (1, 0));
    }

    #[test]
    fn the_counters_survive_a_short_history() {
        let (_sim, broker) = setup();
        broker.set_history_limit(2);
        for n in 0..10 {
            broker.send("orders", ping(n)).unwrap();
            let delivery = broker.receive("orders").unwrap().unwrap();
            if n % 3 == 0 {
                broker.dead_letter(&delivery, "poison").unwrap();
            } else {
                broker.ack(&delivery).unwrap();
            }
        }
        let status = broker.queue_status("orders").unwrap();
        assert_eq!(broker.finished_log().len(), 2);
        assert_eq!((status.delivered, status.dead_lettered_ever), (6, 4));
        assert_eq!(status.dead_lettered, 4);
    }

    #[test]
    fn abandoned_copies_count_their_retries_per_queue() {
        let (_sim, broker) = setup();
        broker.declare_queue("billing");
        broker.set_max_attempts("orders", 3).unwrap();
        broker.send("orders", ping(1)).unwrap();
        broker.send("billing", ping(2)).unwrap();
        for _ in 0..3 {
            let delivery = broker.receive("orders").unwrap().unwrap();
            broker.abandon(&delivery, "database down").unwrap();
        }
        let orders = broker.queue_status("orders").unwrap();
        assert_eq!(
            (orders.retried, orders.dead_lettered, orders.ready),
            (2, 1, 0)
        );
        let billing = broker.queue_status("billing").unwrap();
        assert_eq!(
            (billing.retried, billing.dead_lettered, billing.ready),
            (0, 0, 1)
        );
    }
}
