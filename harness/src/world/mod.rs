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

mod handler;
mod runner;
mod steps;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::budget;
use crate::scheduler::Scheduler;
use crate::{Broker, Envelope, Error, Failure, Sim, headers};

pub use handler::{Handler, HandlerContext, HandlerError};
use steps::{Endpoint, StepState, Steps};

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
                next_task: 1,
                next_handling: 1,
            }),
        });
        let part = Arc::downgrade(&steps);
        sim.register(part);
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
