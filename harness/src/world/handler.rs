//! The handler API: what a handler is, how it fails, and what it can do
//! besides reading its message ([`HandlerContext`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::steps::Steps;
use crate::budget;
use crate::{Broker, Envelope, Error, MessageId, Sim, headers};

/// A message handler: a plain function of the context and the message.
pub type Handler =
    Arc<dyn Fn(&mut HandlerContext, &Envelope) -> Result<(), HandlerError> + Send + Sync>;

/// Why a handler failed, which decides what happens to the message.
///
/// Store and broker errors convert into a transient error, so a handler can
/// use `?` on them.
///
/// ```
/// use harness::{Error, HandlerError};
/// fn handle() -> Result<(), HandlerError> {
///     let failed: Result<(), Error> = Err(Error::Other("database down".into()));
///     failed?;
///     Ok(())
/// }
/// assert_eq!(handle(), Err(HandlerError::Transient("database down".into())));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandlerError {
    /// Worth another try: the message goes back to the queue (and to the
    /// dead-letter queue once it used up its attempts).
    Transient(String),
    /// Retrying cannot fix it: the message goes to the dead-letter queue at once.
    Unrecoverable(String),
    /// Worth another try, but not before `delay` has passed: the other side
    /// said so (a `429 Too Many Requests` or a `503` with `Retry-After`).
    /// The message goes back to the queue invisible until the simulated
    /// clock has passed `delay` ([`crate::Broker::abandon_for`]); like a
    /// transient error it spends an attempt, so a refusal that never ends
    /// still ends in the dead-letter queue.
    RetryAfter {
        /// How long the message stays invisible.
        delay: Duration,
        /// Why, in the caller's words: `the provider said 429`.
        reason: String,
    },
}

impl HandlerError {
    /// A transient error with this reason.
    ///
    /// ```
    /// let err = harness::HandlerError::transient("the payment service timed out");
    /// assert!(!err.is_unrecoverable());
    /// ```
    pub fn transient(reason: impl Into<String>) -> HandlerError {
        HandlerError::Transient(reason.into())
    }

    /// An unrecoverable error with this reason.
    ///
    /// ```
    /// let err = harness::HandlerError::unrecoverable("no such filling: Pineapple");
    /// assert!(err.is_unrecoverable());
    /// ```
    pub fn unrecoverable(reason: impl Into<String>) -> HandlerError {
        HandlerError::Unrecoverable(reason.into())
    }

    /// A transient error whose retry must wait `delay`: the message comes
    /// back once the simulated clock has passed it, not at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = harness::HandlerError::retry_after(Duration::from_secs(2), "the provider said 429");
    /// assert_eq!(err.to_string(), "retry after 2 s: the provider said 429");
    /// assert_eq!(err.reason(), "the provider said 429");
    /// ```
    pub fn retry_after(delay: Duration, reason: impl Into<String>) -> HandlerError {
        HandlerError::RetryAfter {
            delay,
            reason: reason.into(),
        }
    }

    /// True for [`HandlerError::Unrecoverable`].
    ///
    /// ```
    /// assert!(!harness::HandlerError::transient("x").is_unrecoverable());
    /// ```
    pub fn is_unrecoverable(&self) -> bool {
        matches!(self, HandlerError::Unrecoverable(_))
    }

    /// The reason, as given.
    ///
    /// ```
    /// assert_eq!(harness::HandlerError::transient("x").reason(), "x");
    /// ```
    pub fn reason(&self) -> &str {
        match self {
            HandlerError::Transient(reason)
            | HandlerError::Unrecoverable(reason)
            | HandlerError::RetryAfter { reason, .. } => reason,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Transient(reason) => f.write_str(reason),
            HandlerError::Unrecoverable(reason) => write!(f, "{reason} (unrecoverable)"),
            HandlerError::RetryAfter { delay, reason } => {
                write!(f, "retry after {} s: {reason}", delay.as_secs_f64())
            }
        }
    }
}

impl std::error::Error for HandlerError {}

impl From<Error> for HandlerError {
    fn from(err: Error) -> HandlerError {
        HandlerError::Transient(err.to_string())
    }
}

/// A message a handler sends, held back until it returns `Ok`.
#[derive(Clone, Debug)]
pub(super) enum Outgoing {
    Send { queue: String, envelope: Envelope },
    Publish { topic: String, envelope: Envelope },
}

/// What a handler can do besides reading its message: send and publish,
/// make ids, take time.
///
/// ```
/// use harness::{Broker, Envelope, HandlerContext, HandlerError, Sim, World};
///
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// let mut world = World::new(&sim, &broker);
/// world.add_endpoint("orders", |ctx: &mut HandlerContext, message: &Envelope| {
///     assert_eq!(ctx.endpoint(), "orders");
///     assert_eq!(ctx.attempt(), 1);
///     let added = Envelope::new(ctx.new_message_id(), "ItemAdded", &message.body);
///     ctx.publish("ItemAdded", added)?;
///     Ok(())
/// });
/// let add = Envelope::new(sim.new_message_id(), "AddItem", &"Ruskie");
/// world.send("orders", add.clone()).unwrap();
/// world.run_until_quiet(10).unwrap();
/// let added = &broker.sent_log()[1].envelope;
/// // Outgoing messages say what caused them and share the conversation.
/// assert_eq!(added.header(harness::headers::CAUSATION_ID), Some(add.id.to_string().as_str()));
/// assert_eq!(added.conversation_id(), Some(add.id.to_string().as_str()));
/// ```
pub struct HandlerContext {
    pub(super) sim: Sim,
    pub(super) broker: Broker,
    pub(super) steps: Arc<Steps>,
    pub(super) endpoint: String,
    pub(super) incoming: Envelope,
    pub(super) attempt: u32,
    pub(super) handling: u64,
    pub(super) outgoing: Vec<Outgoing>,
}

impl HandlerContext {
    /// The simulation (clock, ids, chooser, trace).
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
    ///     ctx.sim().note("handling");
    ///     Ok(())
    /// });
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// assert!(sim.trace().to_string().contains("orders: handling"));
    /// ```
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The message being handled.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, m: &Envelope| {
    ///     assert_eq!(ctx.message(), m);
    ///     Ok(())
    /// });
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// ```
    pub fn message(&self) -> &Envelope {
        &self.incoming
    }

    /// The name of the endpoint handling it.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
    ///     assert_eq!(ctx.endpoint(), "orders");
    ///     Ok(())
    /// });
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Which delivery of this copy this is: 1 the first time, 2 on the first
    /// retry …
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
    ///     if ctx.attempt() < 3 {
    ///         return Err(harness::HandlerError::transient("not yet"));
    ///     }
    ///     Ok(())
    /// });
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// assert_eq!(broker.finished_log().len(), 1);
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A fresh message id from the seeded generator.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, m: &Envelope| {
    ///     assert_ne!(ctx.new_message_id(), m.id);
    ///     Ok(())
    /// });
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// ```
    pub fn new_message_id(&self) -> MessageId {
        self.sim.new_message_id()
    }

    /// Sends `envelope` to `queue` once the handler returns `Ok`. Fails at
    /// once when the queue does not exist.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
    ///     let bill = Envelope::new(ctx.new_message_id(), "Bill", &());
    ///     assert!(ctx.send("no-such-queue", bill.clone()).is_err());
    ///     ctx.send("billing", bill)?;
    ///     Ok(())
    /// });
    /// broker.declare_queue("billing");
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// assert_eq!(broker.sent_to("billing").unwrap().len(), 1);
    /// ```
    pub fn send(&mut self, queue: &str, envelope: Envelope) -> Result<(), Error> {
        let _call = budget::call("HandlerContext::send");
        if !self.broker.has_queue(queue) {
            return Err(self.broker.send(queue, envelope).unwrap_err());
        }
        let envelope = self.stamp(envelope);
        self.outgoing.push(Outgoing::Send {
            queue: queue.to_string(),
            envelope,
        });
        Ok(())
    }

    /// Publishes `envelope` to `topic` once the handler returns `Ok`.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
    ///     ctx.publish("ItemAdded", Envelope::new(ctx.new_message_id(), "ItemAdded", &()))?;
    ///     Err(harness::HandlerError::unrecoverable("crash before returning"))
    /// });
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// // The handler failed, so nothing was published.
    /// assert_eq!(broker.sent_log().len(), 1);
    /// ```
    pub fn publish(&mut self, topic: &str, envelope: Envelope) -> Result<(), Error> {
        let _call = budget::call("HandlerContext::publish");
        let envelope = self.stamp(envelope);
        self.outgoing.push(Outgoing::Publish {
            topic: topic.to_string(),
            envelope,
        });
        Ok(())
    }

    /// Sends `envelope` to `queue` now, whatever the handler does next.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
    ///     ctx.send_immediately("billing", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
    ///     Err(harness::HandlerError::unrecoverable("crash after sending"))
    /// });
    /// broker.declare_queue("billing");
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// // Sent although the handler failed.
    /// assert_eq!(broker.sent_to("billing").unwrap().len(), 1);
    /// ```
    pub fn send_immediately(&mut self, queue: &str, envelope: Envelope) -> Result<(), Error> {
        let envelope = self.stamp(envelope);
        self.broker.send_from(queue, envelope, Some(self.handling))
    }

    /// Publishes `envelope` to `topic` now, whatever the handler does next.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
    ///     ctx.publish_immediately("ItemAdded", Envelope::new(ctx.new_message_id(), "ItemAdded", &()))?;
    ///     Err(harness::HandlerError::unrecoverable("crash after publishing"))
    /// });
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// assert_eq!(broker.sent_log().len(), 2);
    /// ```
    pub fn publish_immediately(&mut self, topic: &str, envelope: Envelope) -> Result<(), Error> {
        let envelope = self.stamp(envelope);
        self.broker
            .publish_from(topic, envelope, Some(self.handling))
    }

    /// Makes the handler slow: simulated time moves on by `duration` (and
    /// other workers may run meanwhile). Longer than the queue's visibility
    /// timeout, and the message is handed to another worker.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
    ///     ctx.take_time(std::time::Duration::from_secs(5));
    ///     Ok(())
    /// });
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// world.run_until_quiet(10).unwrap();
    /// assert_eq!(sim.now().as_millis(), 5_000);
    /// ```
    pub fn take_time(&mut self, duration: Duration) {
        // A parked handler waits for its turn inside the call.
        let _call = budget::call("HandlerContext::take_time");
        self.sim.advance(duration);
        self.steps.yield_now();
    }

    /// Adds the causation, conversation and sender headers.
    fn stamp(&self, mut envelope: Envelope) -> Envelope {
        envelope.headers.insert(
            headers::CAUSATION_ID.to_string(),
            self.incoming.id.to_string(),
        );
        if envelope.conversation_id().is_none()
            && let Some(conversation) = self.incoming.conversation_id()
        {
            envelope.headers.insert(
                headers::CONVERSATION_ID.to_string(),
                conversation.to_string(),
            );
        }
        envelope
            .headers
            .insert(headers::SENDER.to_string(), self.endpoint.clone());
        envelope
    }

    /// Sends what the handler held back, in order; stops at the first failure.
    pub(super) fn dispatch(&mut self) -> Result<(), HandlerError> {
        for outgoing in std::mem::take(&mut self.outgoing) {
            let (result, what, to) = match outgoing {
                Outgoing::Send { queue, envelope } => {
                    let what = self.sim.message_ref(&envelope).to_string();
                    let result = self.broker.send_from(&queue, envelope, Some(self.handling));
                    (result, what, queue)
                }
                Outgoing::Publish { topic, envelope } => {
                    let what = self.sim.message_ref(&envelope).to_string();
                    let result = self
                        .broker
                        .publish_from(&topic, envelope, Some(self.handling));
                    (result, what, topic)
                }
            };
            if let Err(err) = result {
                return Err(HandlerError::Transient(format!(
                    "dispatching {what} to {to} failed: {err}"
                )));
            }
        }
        Ok(())
    }
}
