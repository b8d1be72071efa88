//! The world: endpoints whose handlers are plain synchronous functions,
//! driven one delivery at a time over a [`Broker`], deterministically.
//!
//! - Each endpoint reads its input queue, named after it. A handler is a
//!   closure `Fn(&mut HandlerContext, &Envelope) -> Result<(), HandlerError>`
//!   that captures clones of the stores it needs.
//! - What a handler sends with [`HandlerContext::send`] or
//!   [`HandlerContext::publish`] is held back until the handler returns `Ok`,
//!   then dispatched, then the incoming message is acknowledged (like
//!   NServiceBus): a failed handler sends nothing. `send_immediately` and
//!   `publish_immediately` go out at once, whatever happens next.
//! - A transient error gives the message back for another attempt (up to the
//!   queue's maximum, then the dead-letter queue); an unrecoverable error
//!   dead-letters it at once. A panic is a transient error that carries the
//!   panic message.
//! - Every delivery is bounded: a handler that keeps calling the simulated
//!   cloud without returning (a loop around a write that keeps failing) is
//!   stopped after [`crate::DEFAULT_DELIVERY_BUDGET`] calls, its message is
//!   dead-lettered with the reason, and the world stops with
//!   [`Error::Runaway`] (see [`World::set_delivery_budget`]).
//! - Time is simulated: [`HandlerContext::take_time`] makes a handler slow,
//!   and when nothing is ready the world jumps to the next moment something
//!   is (a delayed message, a lease running out).
//! - Which queue delivers next, and which of several concurrent handlers runs
//!   next, is decided by [`Sim::choose`]: at random from the seed, or as the
//!   [`crate::Explorer`] scripts it. The same seed gives the same run.
//!
//! An endpoint with several workers (see [`World::set_workers`]) handles
//! several messages at once: each handler then runs on its own thread, but
//! only one runs at a time, and they take turns at every fault point (every
//! store and broker call) and in `take_time`. That is how two copies of one
//! message race, step by step, in every order the explorer can think of.
//!
//! The world has no fault points of its own: the broker and the stores have them.
//!
//! ```
//! use harness::{Broker, Envelope, HandlerContext, HandlerError, Sim, World};
//!
//! let sim = Sim::new(1);
//! let broker = Broker::new(&sim);
//! let mut world = World::new(&sim, &broker);
//! world.add_endpoint("orders", |ctx: &mut HandlerContext, message: &Envelope| {
//!     let placed = Envelope::new(ctx.new_message_id(), "OrderPlaced", &message.body);
//!     ctx.publish("OrderPlaced", placed)?;
//!     Ok(())
//! });
//! world.add_endpoint("billing", |_ctx: &mut HandlerContext, _message: &Envelope| Ok(()));
//! world.subscribe("OrderPlaced", "billing").unwrap();
//!
//! world.send("orders", Envelope::new(sim.new_message_id(), "PlaceOrder", &"o-1")).unwrap();
//! let steps = world.run_until_quiet(100).unwrap();
//! assert_eq!(steps, 2);
//! assert_eq!(broker.sent_to("billing").unwrap()[0].message_type, "OrderPlaced");
//! ```

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::budget::{self, Runaway};
use crate::scheduler::{Scheduler, Shutdown, Turn};
use crate::{Broker, Delivery, Envelope, Error, EventKind, Failure, MessageId, Sim, headers};

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
            HandlerError::Transient(reason) | HandlerError::Unrecoverable(reason) => reason,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Transient(reason) => f.write_str(reason),
            HandlerError::Unrecoverable(reason) => write!(f, "{reason} (unrecoverable)"),
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
enum Outgoing {
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
    sim: Sim,
    broker: Broker,
    steps: Arc<Steps>,
    endpoint: String,
    incoming: Envelope,
    attempt: u32,
    handling: u64,
    outgoing: Vec<Outgoing>,
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
    fn dispatch(&mut self) -> Result<(), HandlerError> {
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

struct Endpoint {
    name: String,
    handler: Handler,
    /// One flag per worker: busy or free.
    workers: Vec<bool>,
}

impl Endpoint {
    fn free_worker(&self) -> Option<usize> {
        self.workers.iter().position(|busy| !busy)
    }

    /// The actor name of a worker in the trace: the endpoint's name, with
    /// `#n` when it has several workers.
    fn actor(&self, worker: usize) -> String {
        if self.workers.len() == 1 {
            self.name.clone()
        } else {
            format!("{}#{}", self.name, worker + 1)
        }
    }
}

/// A handler running on its own thread, paused at a fault point.
struct Task {
    id: u64,
    endpoint: usize,
    worker: usize,
    actor: String,
    /// The message it handles, as the trace labels it.
    message: String,
    /// The calls its delivery made so far (see the `budget` module).
    calls: Arc<AtomicU64>,
}

/// What the world can do next.
#[derive(Clone, Copy, Debug)]
enum Move {
    /// Let a paused handler run on (index into `tasks`).
    Resume(usize),
    /// Deliver the next message of an endpoint's queue.
    Deliver(usize),
}

/// Everything one delivery needs, on whichever thread runs it.
struct Job {
    sim: Sim,
    broker: Broker,
    steps: Arc<Steps>,
    handler: Handler,
    endpoint: String,
    delivery: Delivery,
    handling: u64,
    /// The calls the handler may make (see the `budget` module).
    budget: u64,
    /// The calls it made, counted by the `budget` module.
    calls: Arc<AtomicU64>,
}

/// How the world decides its next step. The thread holding the baton uses
/// it: the world's own thread, or a paused handler's thread at a fault point,
/// which then hands the baton straight to the handler that goes on (see the
/// scheduler module). Every step, on whichever thread, is decided by
/// [`Steps::choose`] in the same order, so the run is the same as if the
/// world's thread had decided them all.
struct Steps {
    sim: Sim,
    broker: Broker,
    scheduler: Arc<Scheduler>,
    state: Mutex<StepState>,
}

struct StepState {
    endpoints: Vec<Endpoint>,
    /// Paused handlers, oldest first.
    tasks: Vec<Task>,
    /// Who acts between steps (usually the test): every step ends by making
    /// it the actor again.
    actor: String,
    /// How many more steps handlers may take among themselves before the
    /// baton goes back to the world's thread (`step` takes one step only).
    budget: usize,
    /// How many steps they took since the world's thread handed the baton over.
    taken: usize,
    /// A delivery that a handler's thread chose, for the world's thread to make.
    chosen: Option<Move>,
    /// The calls one delivery may make (see [`World::set_delivery_budget`]).
    delivery_budget: u64,
    /// Why the world stopped: a delivery that never finished. Nothing runs
    /// after that.
    halted: Option<Error>,
}

impl StepState {
    /// The possible moves, in a stable order: paused handlers oldest first,
    /// then endpoints in the order they were added.
    fn moves(&self, broker: &Broker) -> Vec<Move> {
        let mut moves: Vec<Move> = (0..self.tasks.len()).map(Move::Resume).collect();
        for (index, endpoint) in self.endpoints.iter().enumerate() {
            if endpoint.free_worker().is_some() && broker.has_ready(&endpoint.name) {
                moves.push(Move::Deliver(index));
            }
        }
        moves
    }

    fn describe(&self, moves: &[Move]) -> String {
        let names: Vec<String> = moves
            .iter()
            .map(|next| match *next {
                Move::Resume(index) => format!("resume {}", self.tasks[index].actor),
                Move::Deliver(index) => format!("deliver from {}", self.endpoints[index].name),
            })
            .collect();
        format!("next: {}", names.join(" | "))
    }

    fn endpoint_names(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.name.clone()).collect()
    }

    fn endpoint_index(&self, name: &str) -> Result<usize, Error> {
        self.endpoints
            .iter()
            .position(|endpoint| endpoint.name == name)
            .ok_or_else(|| Error::Unknown {
                kind: "endpoint",
                name: name.to_string(),
                known: self.endpoint_names(),
            })
    }
}

impl Steps {
    fn lock(&self) -> MutexGuard<'_, StepState> {
        // A failing assertion (say, in `add_endpoint`) must not poison the world.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides the next move, with the simulation's chooser when there are
    /// several; `None` when there is nothing to do.
    fn choose(&self, state: &StepState) -> Option<Move> {
        let moves = state.moves(&self.broker);
        let picked = match moves.len() {
            0 => return None,
            1 => 0,
            options => {
                let label = state.describe(&moves);
                self.sim.choose(&label, options as u32) as usize
            }
        };
        Some(moves[picked])
    }

    /// Stops the world for good: `reason` is what it answers from now on.
    fn halt(&self, reason: Error) {
        self.lock().halted.get_or_insert(reason);
    }

    /// At every fault point: on a paused handler's thread, its step ends and
    /// the baton moves on (see [`Steps::after`]); elsewhere nothing happens.
    fn yield_now(&self) {
        self.scheduler.yield_now(|task| self.after(task, false));
    }

    /// On the thread of handler `task`, holding the baton, when the handler
    /// yields or finishes: its step is over, so this thread decides the next
    /// one. Handlers resume one another while the budget lasts; anything else
    /// (a delivery, moving the clock, returning from `step`) is the world's.
    fn after(&self, task: u64, finished: bool) -> Turn {
        let mut state = self.lock();
        if finished {
            let index = state
                .tasks
                .iter()
                .position(|paused| paused.id == task)
                .expect("a running handler is listed");
            let done = state.tasks.remove(index);
            state.endpoints[done.endpoint].workers[done.worker] = false;
        }
        // The step ends as it does on the world's thread.
        self.sim.set_actor(&state.actor);
        if state.budget == 0 || state.halted.is_some() {
            return Turn::World;
        }
        match self.choose(&state) {
            Some(Move::Resume(index)) => {
                state.budget -= 1;
                state.taken += 1;
                let next = &state.tasks[index];
                self.sim.set_actor(&next.actor);
                Turn::Task(next.id)
            }
            chosen => {
                state.chosen = chosen;
                Turn::World
            }
        }
    }
}

/// The simulated system: endpoints over one broker, driven step by step.
/// One world per [`Sim`].
///
/// ```
/// use harness::{Broker, Envelope, HandlerContext, HandlerError, Sim, World};
///
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// let mut world = World::new(&sim, &broker);
/// world.add_endpoint("orders", |_ctx: &mut HandlerContext, message: &Envelope| {
///     if message.body == "SwissCheese" {
///         return Err(HandlerError::unrecoverable("we are out of Swiss cheese"));
///     }
///     Ok(())
/// });
/// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &"SwissCheese")).unwrap();
/// world.run_until_quiet(10).unwrap();
/// assert_eq!(broker.dead_letters("orders").unwrap().len(), 1);
/// ```
pub struct World {
    sim: Sim,
    broker: Broker,
    /// Endpoints and paused handlers, shared with the handlers' threads.
    steps: Arc<Steps>,
    next_task: u64,
    next_handling: u64,
}

impl World {
    /// The steps [`World::send_in_order`] allows one conversation.
    pub const CONVERSATION_STEP_LIMIT: usize = 10_000;

    /// A world with no endpoints over `broker`. It installs itself as the
    /// simulation's scheduler (see [`Sim::set_scheduler`]).
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// let world = harness::World::new(&sim, &harness::Broker::new(&sim));
    /// assert!(world.endpoint_names().is_empty());
    /// ```
    pub fn new(sim: &Sim, broker: &Broker) -> World {
        let steps = Arc::new(Steps {
            sim: sim.clone(),
            broker: broker.clone(),
            scheduler: Scheduler::new(),
            state: Mutex::new(StepState {
                endpoints: Vec::new(),
                tasks: Vec::new(),
                actor: String::new(),
                budget: 0,
                taken: 0,
                chosen: None,
                delivery_budget: budget::DEFAULT_DELIVERY_BUDGET,
                halted: None,
            }),
        });
        // Weak, because the simulation keeps the hook and `Steps` keeps the
        // simulation. Only a handler's thread has anything to do here; on the
        // world's thread (every step of a one-worker endpoint) the hook
        // returns at once.
        let scheduler = steps.scheduler.clone();
        let hook = Arc::downgrade(&steps);
        sim.set_scheduler(Arc::new(move |_point| {
            if scheduler.current_task().is_none() {
                return;
            }
            if let Some(steps) = hook.upgrade() {
                steps.yield_now();
            }
        }));
        World {
            sim: sim.clone(),
            broker: broker.clone(),
            steps,
            next_task: 1,
            next_handling: 1,
        }
    }

    /// The simulation.
    ///
    /// ```
    /// let sim = harness::Sim::new(5);
    /// let world = harness::World::new(&sim, &harness::Broker::new(&sim));
    /// assert_eq!(world.sim().seed(), 5);
    /// ```
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The broker.
    ///
    /// ```
    /// let sim = harness::Sim::new(5);
    /// let world = harness::World::new(&sim, &harness::Broker::new(&sim));
    /// assert!(world.broker().queue_names().is_empty());
    /// ```
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Adds an endpoint with one worker; its input queue, named `name`, is
    /// declared. Panics if an endpoint of that name exists already.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("billing", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    /// assert!(broker.has_queue("billing"));
    /// ```
    pub fn add_endpoint(
        &mut self,
        name: &str,
        handler: impl Fn(&mut HandlerContext, &Envelope) -> Result<(), HandlerError>
        + Send
        + Sync
        + 'static,
    ) {
        let exists = self.steps.lock().endpoint_index(name).is_ok();
        assert!(!exists, "endpoint `{name}` is already added to this world");
        self.broker.declare_queue(name);
        self.steps.lock().endpoints.push(Endpoint {
            name: name.to_string(),
            handler: Arc::new(handler),
            workers: vec![false],
        });
    }

    /// The endpoints, in the order they were added.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// let world = harness::World::new(&sim, &harness::Broker::new(&sim));
    /// assert_eq!(world.endpoint_names().len(), 0);
    /// ```
    pub fn endpoint_names(&self) -> Vec<String> {
        self.steps.lock().endpoint_names()
    }

    /// Lets an endpoint handle up to `workers` messages at once (at least 1).
    /// With more than one, its handlers take turns at every fault point.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let mut world = World::new(&sim, &Broker::new(&sim));
    /// world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    /// world.set_workers("orders", 2).unwrap();
    /// let err = world.set_workers("order", 2).unwrap_err();
    /// assert_eq!(err.to_string(), "unknown endpoint `order` (known: orders)");
    /// ```
    pub fn set_workers(&mut self, endpoint: &str, workers: usize) -> Result<(), Error> {
        let mut state = self.steps.lock();
        let index = state.endpoint_index(endpoint)?;
        let endpoint = &mut state.endpoints[index];
        assert!(
            endpoint.workers.iter().all(|busy| !busy),
            "change the workers of `{}` before the world runs",
            endpoint.name
        );
        endpoint.workers = vec![false; workers.max(1)];
        Ok(())
    }

    /// Bounds every delivery: a handler may make at most `calls` calls to
    /// the simulated cloud (store, broker and HTTP calls, `send`, `publish`,
    /// `take_time`) in one delivery; the default is
    /// [`crate::DEFAULT_DELIVERY_BUDGET`]. A handler that goes past it (a
    /// loop that retries a failing write for ever) is stopped at that call:
    /// its message is dead-lettered with the reason, the world stops, and
    /// [`World::run_until_quiet`] answers [`Error::Runaway`], which names
    /// the endpoint, the message and the last call. The count is part of
    /// the run, so the bound strikes at the same call in every replay.
    ///
    /// ```
    /// use harness::{Broker, Condition, DocumentStore, Envelope, FaultRule, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let mut world = World::new(&sim, &Broker::new(&sim));
    /// let orders = DocumentStore::new(&sim, "orders");
    /// sim.inject(FaultRule::at("kv.orders.put").always().fail_before());
    /// world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
    ///     // Retries inside the delivery, for ever.
    ///     while orders.put("ola", "o-1", &"meat", Condition::Always).is_err() {}
    ///     Ok(())
    /// });
    /// world.set_delivery_budget(100);
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// let err = world.run_until_quiet(10).unwrap_err();
    /// assert!(err.to_string().starts_with(
    ///     "the handler of endpoint orders never finished AddItem(m1): it made 100 calls"
    /// ), "{err}");
    /// ```
    pub fn set_delivery_budget(&mut self, calls: u64) {
        self.steps.lock().delivery_budget = calls.max(1);
    }

    /// Subscribes an endpoint's queue to a topic.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("billing", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    /// world.subscribe("ItemAdded", "billing").unwrap();
    /// assert_eq!(broker.subscribers("ItemAdded"), ["billing"]);
    /// ```
    pub fn subscribe(&mut self, topic: &str, endpoint: &str) -> Result<(), Error> {
        let name = {
            let state = self.steps.lock();
            let index = state.endpoint_index(endpoint)?;
            state.endpoints[index].name.clone()
        };
        self.broker.subscribe(topic, &name)
    }

    fn queues(&self) -> Vec<String> {
        self.endpoint_names()
    }

    // ----- from the test -----

    /// Sends a message from the test (a client, a user). A message without a
    /// conversation id starts a conversation named after its own id.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// broker.declare_queue("orders");
    /// let mut world = World::new(&sim, &broker);
    /// world.send("orders", Envelope::new(MessageId::from_u128(1), "Ping", &())).unwrap();
    /// assert_eq!(broker.peek("orders").unwrap()[0].conversation_id(),
    ///            Some("00000000-0000-0000-0000-000000000001"));
    /// ```
    pub fn send(&mut self, queue: &str, envelope: Envelope) -> Result<(), Error> {
        self.broker.send(queue, with_conversation(envelope))
    }

    /// Publishes a message from the test.
    ///
    /// ```
    /// use harness::{Broker, Envelope, MessageId, Sim, World};
    /// let sim = Sim::new(1);
    /// let mut world = World::new(&sim, &Broker::new(&sim));
    /// world.publish("Nobody", Envelope::new(MessageId::from_u128(1), "Nobody", &())).unwrap();
    /// ```
    pub fn publish(&mut self, topic: &str, envelope: Envelope) -> Result<(), Error> {
        self.broker.publish(topic, with_conversation(envelope))
    }

    /// Sends each message, then runs until every message of its conversation
    /// has been handled (acknowledged or dead-lettered), then sends the next:
    /// a deterministic, sequential scenario.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    /// let add = Envelope::new(sim.new_message_id(), "AddItem", &"Ruskie");
    /// let remove = Envelope::new(sim.new_message_id(), "RemoveItem", &"Ruskie");
    /// world.send_in_order(&[("orders", add), ("orders", remove)]).unwrap();
    /// assert_eq!(broker.finished_log().len(), 2);
    /// ```
    pub fn send_in_order(&mut self, messages: &[(&str, Envelope)]) -> Result<(), Error> {
        let queues = self.queues();
        for (queue, envelope) in messages {
            let envelope = with_conversation(envelope.clone());
            let conversation = envelope
                .conversation_id()
                .expect("set by with_conversation")
                .to_string();
            self.broker.send(queue, envelope)?;
            let mut steps = 0;
            while self.broker.pending_in_conversation(&queues, &conversation) > 0 {
                if steps == World::CONVERSATION_STEP_LIMIT {
                    return Err(self.still_busy(steps));
                }
                if !self.try_step()? {
                    break;
                }
                steps += 1;
            }
        }
        Ok(())
    }

    // ----- running -----

    /// Takes one step: delivers one message, or lets one paused handler run
    /// to its next fault point, or (when nothing is ready) moves the clock to
    /// the moment something is. Returns false when there is nothing left to do.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// let mut world = harness::World::new(&sim, &harness::Broker::new(&sim));
    /// assert!(!world.step());
    /// ```
    ///
    /// # Panics
    ///
    /// With a report, when a delivery never finished (see
    /// [`World::set_delivery_budget`]): the world cannot go on.
    #[track_caller]
    pub fn step(&mut self) -> bool {
        match self.try_step() {
            Ok(stepped) => stepped,
            Err(reason) => Failure::new(&self.sim, reason.to_string()).panic(),
        }
    }

    /// [`World::step`], with a delivery that never finished as an error.
    fn try_step(&mut self) -> Result<bool, Error> {
        let stepped = self.run_steps(1) == 1;
        match self.halted() {
            Some(reason) => Err(reason),
            None => Ok(stepped),
        }
    }

    /// Why the world stopped, if a delivery never finished.
    fn halted(&self) -> Option<Error> {
        self.steps.lock().halted.clone()
    }

    /// Steps until there is nothing left to do; returns how many steps it
    /// took. Fails when still busy after `max_steps`, and with
    /// [`Error::Runaway`] when a delivery never finished (see
    /// [`World::set_delivery_budget`]).
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, HandlerError, Sim, World};
    /// let sim = Sim::new(1);
    /// let mut world = World::new(&sim, &Broker::new(&sim));
    /// // A handler that never gives up and a queue that never dead-letters.
    /// world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| {
    ///     Err(HandlerError::transient("database down"))
    /// });
    /// world.broker().set_max_attempts("orders", u32::MAX).unwrap();
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
    /// let err = world.run_until_quiet(50).unwrap_err();
    /// assert!(err.to_string().starts_with("still busy after 50 steps"));
    /// ```
    pub fn run_until_quiet(&mut self, max_steps: usize) -> Result<usize, Error> {
        let steps = self.run_steps(max_steps);
        if let Some(reason) = self.halted() {
            return Err(reason);
        }
        if steps < max_steps || self.is_quiet() {
            Ok(steps)
        } else {
            Err(self.still_busy(max_steps))
        }
    }

    /// True when no message is ready or will be, and no handler is paused.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// let world = harness::World::new(&sim, &harness::Broker::new(&sim));
    /// assert!(world.is_quiet());
    /// ```
    pub fn is_quiet(&self) -> bool {
        let idle = self.steps.lock().moves(&self.broker).is_empty();
        idle && self.broker.next_wake_up(&self.queues()).is_none()
    }

    fn still_busy(&self, steps: usize) -> Error {
        let mut pending: Vec<String> = self
            .broker
            .pending(&self.queues())
            .into_iter()
            .map(|(queue, count)| format!("{count} in {queue}"))
            .collect();
        let state = self.steps.lock();
        let paused = state.tasks.len();
        if paused > 0 {
            pending.push(format!("{paused} handlers paused"));
        }
        // Which delivery keeps the world busy: one far into its budget is
        // a handler that loops.
        for task in &state.tasks {
            let calls = task.calls.load(Ordering::Relaxed);
            pending.push(format!(
                "{} is on {}, {calls} calls into that delivery",
                task.actor, task.message
            ));
        }
        drop(state);
        Error::StillBusy {
            steps,
            pending: if pending.is_empty() {
                "nothing pending".to_string()
            } else {
                format!("messages pending: {}", pending.join(", "))
            },
        }
    }

    /// Takes up to `limit` steps (fewer only when there is nothing left to
    /// do) and returns how many it took. While the budget lasts, paused
    /// handlers take steps among themselves without the world's thread
    /// (see [`Steps::after`]); the world makes every other move.
    fn run_steps(&mut self, limit: usize) -> usize {
        let mut taken = 0;
        while taken < limit {
            let next = {
                let mut state = self.steps.lock();
                if state.halted.is_some() {
                    break;
                }
                match state.chosen.take() {
                    Some(chosen) => Some(chosen),
                    None => self.steps.choose(&state),
                }
            };
            let Some(next) = next else {
                if !self.wake_up() {
                    break;
                }
                taken += 1;
                continue;
            };
            taken += 1;
            let actor = self.sim.actor();
            let budget = limit - taken;
            taken += match next {
                Move::Resume(index) => self.resume(index, budget, &actor),
                Move::Deliver(endpoint) => self.deliver(endpoint, budget, &actor),
            };
            self.sim.set_actor(&actor);
        }
        taken
    }

    /// Moves the clock to the next moment a message becomes ready.
    fn wake_up(&mut self) -> bool {
        match self.broker.next_wake_up(&self.queues()) {
            Some(at) => {
                self.sim.advance(at.since(self.sim.now()));
                true
            }
            None => false,
        }
    }

    /// Delivers the next message of endpoint `index`: on this thread with one
    /// worker (nothing to interleave with), else on a handler thread of its
    /// own (see [`World::resume`]). Returns the steps handlers took on their own.
    fn deliver(&mut self, index: usize, budget: usize, actor: &str) -> usize {
        let (name, handler, worker, worker_actor, concurrent, delivery_budget) = {
            let state = self.steps.lock();
            let endpoint = &state.endpoints[index];
            let worker = endpoint
                .free_worker()
                .expect("only offered with a free worker");
            (
                endpoint.name.clone(),
                endpoint.handler.clone(),
                worker,
                endpoint.actor(worker),
                endpoint.workers.len() > 1,
                state.delivery_budget,
            )
        };
        self.sim.set_actor(&worker_actor);
        // A receive fault shows in the trace; the step is spent either way.
        let Ok(Some(delivery)) = self.broker.receive(&name) else {
            return 0;
        };
        let message = self.sim.message_ref(&delivery.envelope).to_string();
        let calls = Arc::new(AtomicU64::new(0));
        let job = Job {
            sim: self.sim.clone(),
            broker: self.broker.clone(),
            steps: self.steps.clone(),
            handler,
            endpoint: name,
            delivery,
            handling: self.next_handling,
            budget: delivery_budget,
            calls: calls.clone(),
        };
        self.next_handling += 1;
        if !concurrent {
            run(job);
            return 0;
        }
        let id = self.next_task;
        self.next_task += 1;
        let steps = self.steps.clone();
        self.steps.scheduler.spawn(id, move || {
            // A shutdown unwinds on; any other panic out of `run` (in a
            // scripted interleaving during the ack, say) ends the handling.
            let unwound = panic::catch_unwind(AssertUnwindSafe(|| run(job)));
            if let Err(payload) = unwound
                && payload.is::<Shutdown>()
            {
                panic::resume_unwind(payload);
            }
            steps.after(id, true)
        });
        let task = {
            let mut state = self.steps.lock();
            state.endpoints[index].workers[worker] = true;
            state.tasks.push(Task {
                id,
                endpoint: index,
                worker,
                actor: worker_actor,
                message,
                calls,
            });
            state.tasks.len() - 1
        };
        self.resume(task, budget, actor)
    }

    /// Lets paused handler `index` run on: the baton goes to its thread and
    /// comes back when a handler yields to the world or the budget of steps
    /// is spent. Returns how many steps handlers took among themselves.
    fn resume(&mut self, index: usize, budget: usize, actor: &str) -> usize {
        let task = {
            let mut state = self.steps.lock();
            state.actor = actor.to_string();
            state.budget = budget;
            state.taken = 0;
            let task = &state.tasks[index];
            self.sim.set_actor(&task.actor);
            task.id
        };
        self.steps.scheduler.resume(task);
        self.steps.lock().taken
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Parked handlers unwind; this waits until they have.
        self.steps.scheduler.shut_down();
        self.sim.clear_scheduler();
    }
}

/// Gives a message without a conversation id one, named after its own id.
fn with_conversation(envelope: Envelope) -> Envelope {
    if envelope.conversation_id().is_some() {
        return envelope;
    }
    let id = envelope.id.to_string();
    envelope.with_header(headers::CONVERSATION_ID, id)
}

/// Handles one delivery: the handler, then its outgoing messages, then the
/// ack (or the abandon, or the dead letter).
fn run(job: Job) {
    let Job {
        sim,
        broker,
        steps,
        handler,
        endpoint,
        delivery,
        handling,
        budget,
        calls,
    } = job;
    let halt = steps.clone();
    let message = sim.message_ref(&delivery.envelope);
    sim.record(EventKind::HandlerStarted {
        endpoint: endpoint.clone(),
        message: message.clone(),
    });
    let mut ctx = HandlerContext {
        sim: sim.clone(),
        broker: broker.clone(),
        steps,
        endpoint: endpoint.clone(),
        incoming: delivery.envelope.clone(),
        attempt: delivery.attempt,
        handling,
        outgoing: Vec::new(),
    };
    let who = format!("the handler of endpoint {endpoint}");
    let returned = panic::catch_unwind(AssertUnwindSafe(|| {
        budget::within(&who, &message.to_string(), budget, calls, || {
            handler(&mut ctx, &delivery.envelope)
        })
    }));
    let outcome = match returned {
        Ok(result) => result,
        Err(payload) if payload.is::<Shutdown>() => panic::resume_unwind(payload),
        Err(payload) => match payload.downcast::<Runaway>() {
            // The delivery never finished: dead-letter it with the reason
            // and stop the world, which answers with the same reason.
            Ok(runaway) => {
                halt.halt(runaway.to_error());
                Err(HandlerError::Unrecoverable(runaway.explain()))
            }
            // A replay that drifted (see `Sim::drift`): stop the world,
            // which answers with the reason.
            Err(_) if sim.drift().is_some() => {
                halt.halt(sim.drift().expect("checked above"));
                Err(HandlerError::Unrecoverable(
                    "stopped here: the run is not deterministic (see the headline)".to_string(),
                ))
            }
            Err(payload) => Err(HandlerError::Transient(format!(
                "the handler panicked: {}",
                panic_message(payload.as_ref())
            ))),
        },
    };
    let outcome = outcome.and_then(|()| ctx.dispatch());
    // Settlement failures (an expired lease, an injected fault) are in the
    // trace already, and the broker redelivers the message later.
    match outcome {
        Ok(()) => {
            sim.record(EventKind::HandlerSucceeded { endpoint, message });
            let _ = broker.ack(&delivery);
        }
        Err(err) => {
            sim.record(EventKind::HandlerFailed {
                endpoint,
                message,
                error: err.to_string(),
            });
            let _ = match err {
                HandlerError::Transient(reason) => broker.abandon(&delivery, &reason),
                HandlerError::Unrecoverable(reason) => broker.dead_letter(&delivery, &reason),
            };
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Condition, DEFAULT_DELIVERY_BUDGET, DEFAULT_MAX_ATTEMPTS, DocumentStore, Fault, FaultRule,
        RandomFaults,
    };
    use proptest::prelude::*;

    fn world(seed: u64) -> (Sim, Broker, World) {
        let sim = Sim::new(seed);
        let broker = Broker::new(&sim);
        let world = World::new(&sim, &broker);
        (sim, broker, world)
    }

    fn message(sim: &Sim, message_type: &str) -> Envelope {
        Envelope::new(sim.new_message_id(), message_type, &())
    }

    fn count(sim: &Sim, needle: &str) -> usize {
        sim.trace().to_string().matches(needle).count()
    }

    #[test]
    fn a_failed_handler_sends_nothing_unless_it_sent_immediately() {
        let (sim, broker, mut world) = world(1);
        broker.declare_queue("billing");
        broker.declare_queue("audit");
        broker.set_max_attempts("orders", 1).ok();
        world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
            let batched = Envelope::new(ctx.new_message_id(), "Batched", &());
            ctx.send("billing", batched)?;
            let now = Envelope::new(ctx.new_message_id(), "Immediate", &());
            ctx.send_immediately("audit", now)?;
            Err(HandlerError::transient("database down"))
        });
        broker.set_max_attempts("orders", 1).unwrap();
        world.send("orders", message(&sim, "AddItem")).unwrap();
        world.run_until_quiet(10).unwrap();
        assert!(broker.sent_to("billing").unwrap().is_empty());
        assert_eq!(broker.sent_to("audit").unwrap().len(), 1);
        assert_eq!(broker.dead_letters("orders").unwrap().len(), 1);
    }

    #[test]
    fn transient_failures_are_retried_then_dead_lettered() {
        let (sim, broker, mut world) = world(1);
        world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| {
            Err(HandlerError::transient("database down"))
        });
        world.send("orders", message(&sim, "AddItem")).unwrap();
        let steps = world.run_until_quiet(100).unwrap();
        assert_eq!(steps, DEFAULT_MAX_ATTEMPTS as usize);
        let dead = broker.dead_letters("orders").unwrap();
        assert!(
            dead[0].reason.contains("database down"),
            "{}",
            dead[0].reason
        );
    }

    #[test]
    fn a_panicking_handler_fails_with_its_message_and_the_world_goes_on() {
        let (sim, broker, mut world) = world(1);
        world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| {
            assert_eq!(1 + 1, 3, "the order must have two lines");
            Ok(())
        });
        world.set_workers("orders", 2).unwrap();
        broker.set_max_attempts("orders", 2).unwrap();
        world.send("orders", message(&sim, "AddItem")).unwrap();
        world.run_until_quiet(100).unwrap();
        assert_eq!(
            count(
                &sim,
                "failed on AddItem(m1): the handler panicked: assertion `left == right` failed: \
                 the order must have two lines"
            ),
            2
        );
        assert_eq!(broker.dead_letters("orders").unwrap().len(), 1);
    }

    #[test]
    fn outgoing_messages_carry_causation_conversation_and_sender() {
        let (sim, broker, mut world) = world(1);
        world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
            ctx.send("billing", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
            Ok(())
        });
        world.add_endpoint("billing", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
        let add = message(&sim, "AddItem").with_header(headers::CONVERSATION_ID, "c-1");
        world.send("orders", add.clone()).unwrap();
        world.run_until_quiet(10).unwrap();
        let bill = &broker.sent_to("billing").unwrap()[0];
        assert_eq!(
            bill.header(headers::CAUSATION_ID),
            Some(add.id.to_string().as_str())
        );
        assert_eq!(bill.conversation_id(), Some("c-1"));
        assert_eq!(bill.header(headers::SENDER), Some("orders"));
    }

    #[test]
    fn sending_to_an_unknown_queue_fails_clearly_in_the_handler() {
        let (sim, broker, mut world) = world(1);
        world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
            ctx.send("billng", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
            Ok(())
        });
        broker.set_max_attempts("orders", 1).unwrap();
        world.send("orders", message(&sim, "AddItem")).unwrap();
        world.run_until_quiet(10).unwrap();
        assert_eq!(
            broker.dead_letters("orders").unwrap()[0].reason,
            "delivered 1 times without success; last error: unknown queue `billng` (known: orders)"
        );
    }

    /// Exercise 04's setting: the handler takes longer than the lease.
    fn slow_orders(workers: usize) -> (Sim, Broker, World) {
        let (sim, broker, mut world) = world(3);
        world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
            if ctx.attempt() == 1 {
                ctx.take_time(Duration::from_secs(40));
            }
            Ok(())
        });
        world.set_workers("orders", workers).unwrap();
        world.send("orders", message(&sim, "SubmitOrder")).unwrap();
        world.run_until_quiet(20).unwrap();
        (sim, broker, world)
    }

    #[test]
    fn a_slow_handler_sees_its_message_handed_to_another_worker() {
        let (sim, broker, _world) = slow_orders(2);
        let events: Vec<String> = sim.trace().events().iter().map(|e| e.to_string()).collect();
        let second = events
            .iter()
            .position(|e| e.contains("(attempt 2)"))
            .unwrap();
        let first_done = events
            .iter()
            .position(|e| e.contains("orders#1: orders finished"))
            .unwrap();
        // Worker 2 got the message while worker 1 was still on it.
        assert!(events[second].contains("orders#2"), "{events:#?}");
        assert!(second < first_done, "{events:#?}");
        assert_eq!(count(&sim, "acknowledged"), 1);
        assert_eq!(count(&sim, "the lease on SubmitOrder(m1) ran out"), 1);
        assert_eq!(broker.queue_len("orders").unwrap(), 0);
    }

    #[test]
    fn with_one_worker_a_slow_handlers_message_is_redelivered_afterwards() {
        let (sim, broker, _world) = slow_orders(1);
        let events: Vec<String> = sim.trace().events().iter().map(|e| e.to_string()).collect();
        let second = events
            .iter()
            .position(|e| e.contains("(attempt 2)"))
            .unwrap();
        let first_done = events
            .iter()
            .position(|e| e.contains("orders finished"))
            .unwrap();
        assert!(first_done < second, "{events:#?}");
        assert_eq!(count(&sim, "orders finished SubmitOrder(m1)"), 2);
        assert_eq!(broker.finished_log().len(), 1);
    }

    #[test]
    fn send_in_order_finishes_each_conversation_before_the_next() {
        let (sim, _broker, mut world) = world(9);
        world.add_endpoint("orders", |ctx: &mut HandlerContext, m: &Envelope| {
            ctx.send(
                "billing",
                Envelope::new(ctx.new_message_id(), "Bill", &m.message_type),
            )?;
            Ok(())
        });
        world.add_endpoint("billing", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
        let first = message(&sim, "First");
        let second = message(&sim, "Second");
        world
            .send_in_order(&[("orders", first), ("orders", second)])
            .unwrap();
        let trace = sim.trace().to_string();
        let billed_first = trace.find("billing finished Bill(m2)").unwrap();
        let sent_second = trace.find("sent Second(m3)").unwrap();
        assert!(billed_first < sent_second, "{trace}");
    }

    #[test]
    fn a_world_dropped_with_paused_handlers_does_not_hang() {
        let (sim, _broker, mut world) = world(1);
        let store = DocumentStore::new(&sim, "orders");
        world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
            store.put("p", "k", &1, Condition::Always)?;
            Ok(())
        });
        world.set_workers("orders", 2).unwrap();
        world.send("orders", message(&sim, "A")).unwrap();
        world.send("orders", message(&sim, "B")).unwrap();
        assert!(world.step());
        assert!(world.step());
        drop(world);
    }

    #[test]
    fn a_panic_outside_the_handler_on_a_worker_thread_does_not_hang_the_world() {
        let (sim, _broker, mut world) = world(1);
        sim.inject(
            FaultRule::at("broker.orders.ack")
                .interleave(|| panic!("a scripted interleaving failed")),
        );
        world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
        world.set_workers("orders", 2).unwrap();
        world.send("orders", message(&sim, "A")).unwrap();
        world.run_until_quiet(100).unwrap();
        // Never acknowledged the first time: the lease ran out, and the second delivery was.
        assert_eq!(count(&sim, "acknowledged"), 1);
    }

    /// Two endpoints, two workers each, random faults: enough to interleave.
    fn busy_run(seed: u64) -> Vec<String> {
        let (sim, broker, mut world) = world(seed);
        sim.inject_random(
            RandomFaults::new()
                .with("broker.*.send", Fault::Duplicate, 0.2)
                .with("kv.**", Fault::FailBefore, 0.1),
        );
        let store = DocumentStore::new(&sim, "orders");
        world.add_endpoint("orders", move |ctx: &mut HandlerContext, m: &Envelope| {
            let key = m.id.to_string();
            if store.get::<u32>("p", &key)?.is_none() {
                store.put("p", &key, &1, Condition::Always)?;
            }
            ctx.send("billing", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
            Ok(())
        });
        world.add_endpoint("billing", |ctx: &mut HandlerContext, _m: &Envelope| {
            ctx.take_time(Duration::from_secs(ctx.sim().random_below(50)));
            Ok(())
        });
        world.set_workers("orders", 2).unwrap();
        world.set_workers("billing", 2).unwrap();
        for _ in 0..4 {
            world.send("orders", message(&sim, "AddItem")).unwrap();
        }
        world.run_until_quiet(1_000).unwrap();
        drop(broker);
        sim.trace().events().iter().map(|e| e.to_string()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn the_same_seed_gives_the_same_run_event_for_event(seed in 0u64..10_000) {
            prop_assert_eq!(busy_run(seed), busy_run(seed));
        }
    }

    #[test]
    fn different_seeds_give_different_runs() {
        assert_ne!(busy_run(1), busy_run(2));
    }

    /// A handler that retries a write for ever inside one delivery, on a
    /// store that always fails: the classic hang.
    fn stubborn_orders(workers: usize) -> (Sim, Broker, World) {
        let (sim, broker, mut world) = world(4);
        let store = DocumentStore::new(&sim, "orders");
        sim.inject(FaultRule::at("kv.orders.put").always().fail_before());
        world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
            while store.put("ola", "o-1", &"meat", Condition::Always).is_err() {}
            Ok(())
        });
        world.set_workers("orders", workers).unwrap();
        world.set_delivery_budget(500);
        world.send("orders", message(&sim, "AddItem")).unwrap();
        (sim, broker, world)
    }

    #[test]
    fn a_handler_retrying_a_failing_store_call_for_ever_fails_with_a_message() {
        for workers in [1, 2] {
            let (sim, broker, mut world) = stubborn_orders(workers);
            // With two workers, each call is a turn, and a turn is a step.
            let err = world.run_until_quiet(1_000).unwrap_err();
            assert_eq!(
                err,
                Error::Runaway {
                    who: "the handler of endpoint orders".into(),
                    message: "AddItem(m1)".into(),
                    calls: 500,
                    last_call: "kv.orders.put".into(),
                }
            );
            assert!(
                err.to_string().starts_with(
                    "the handler of endpoint orders never finished AddItem(m1): it made 500 \
                     calls to the simulated cloud without returning (the last at kv.orders.put) \
                     — a loop that retries for ever?"
                ),
                "{err}"
            );
            // The message is dead-lettered with the reason, and the trace says so.
            let dead = broker.dead_letters("orders").unwrap();
            assert!(
                dead[0].reason.contains("never finished"),
                "{}",
                dead[0].reason
            );
            assert_eq!(
                count(&sim, "failed on AddItem(m1): the handler of endpoint"),
                1
            );
            // The world stays stopped.
            assert_eq!(world.run_until_quiet(1_000).unwrap_err(), err);
        }
    }

    #[test]
    fn a_runaway_delivery_stops_the_world_while_other_handlers_wait() {
        let (sim, broker, mut world) = stubborn_orders(2);
        // A second message for the other worker, which takes its turns too.
        world.send("orders", message(&sim, "AddItem")).unwrap();
        let err = world.run_until_quiet(10_000).unwrap_err();
        assert!(matches!(err, Error::Runaway { .. }), "{err}");
        assert_eq!(broker.dead_letters("orders").unwrap().len(), 1);
        drop(world); // the parked handler unwinds: no hang
    }

    #[test]
    fn a_handler_that_takes_time_for_ever_fails_with_a_message() {
        let (sim, _broker, mut world) = world(1);
        world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
            loop {
                ctx.take_time(Duration::from_millis(1));
            }
        });
        world.send("orders", message(&sim, "AddItem")).unwrap();
        let err = world.run_until_quiet(100).unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "it made {DEFAULT_DELIVERY_BUDGET} calls to the simulated cloud without \
                 returning (the last at HandlerContext::take_time)"
            )),
            "{err}"
        );
    }

    #[test]
    fn stepping_a_world_whose_delivery_ran_away_panics_with_a_report() {
        let (_sim, _broker, mut world) = stubborn_orders(1);
        let stepped = panic::catch_unwind(AssertUnwindSafe(|| world.step()));
        let report = *stepped.unwrap_err().downcast::<String>().unwrap();
        assert!(
            report.starts_with("the handler of endpoint orders never finished AddItem(m1)"),
            "{report}"
        );
        assert!(report.contains("Seed:    4"), "{report}");
    }

    #[test]
    fn the_bound_strikes_at_the_same_call_in_every_replay() {
        let run = |seed| {
            let (sim, _broker, mut world) = world(seed);
            let store = DocumentStore::new(&sim, "orders");
            sim.inject_random(RandomFaults::new().with("kv.**", Fault::FailBefore, 0.5));
            world.add_endpoint("orders", move |_ctx: &mut HandlerContext, m: &Envelope| {
                let key = m.id.to_string();
                loop {
                    let _ = store.put("p", &key, &1, Condition::CreateOnly);
                }
            });
            world.set_workers("orders", 2).unwrap();
            world.set_delivery_budget(50);
            world.send("orders", message(&sim, "A")).unwrap();
            world.send("orders", message(&sim, "B")).unwrap();
            let err = world.run_until_quiet(1_000).unwrap_err();
            (err, busy_trace(&sim))
        };
        assert_eq!(run(5), run(5));
    }

    fn busy_trace(sim: &Sim) -> Vec<String> {
        sim.trace().events().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn scripted_faults_strike_inside_handlers() {
        let (sim, broker, mut world) = world(1);
        sim.inject(FaultRule::at("broker.billing.send").fail_after());
        world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
            ctx.send("billing", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
            Ok(())
        });
        broker.declare_queue("billing");
        world.send("orders", message(&sim, "AddItem")).unwrap();
        world.run_until_quiet(10).unwrap();
        // Sent, failed, retried, sent again: two bills with different ids.
        let bills = broker.sent_to("billing").unwrap();
        assert_eq!(bills.len(), 2);
        assert_ne!(bills[0].id, bills[1].id);
    }
}
