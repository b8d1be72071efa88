//! Running deliveries: the world's loop of steps, each delivery on the
//! world's thread or on a handler thread of its own, and the run of one
//! delivery (the handler, its outgoing messages, then the settlement).

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::handler::HandlerContext;
use super::steps::{Move, Steps, Task};
use super::{Handler, HandlerError, World};
use crate::budget::{self, Runaway};
use crate::scheduler::Shutdown;
use crate::{Broker, Delivery, EventKind, Sim};

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

impl World {
    /// Takes up to `limit` steps (fewer only when there is nothing left to
    /// do) and returns how many it took. While the budget lasts, paused
    /// handlers take steps among themselves without the world's thread
    /// (see [`Steps::after`]); the world makes every other move.
    pub(super) fn run_steps(&mut self, limit: usize) -> usize {
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
        let handling = self.steps.lock().next_handling();
        let job = Job {
            sim: self.sim.clone(),
            broker: self.broker.clone(),
            steps: self.steps.clone(),
            handler,
            endpoint: name,
            delivery,
            handling,
            budget: delivery_budget,
            calls: calls.clone(),
        };
        if !concurrent {
            run(job);
            return 0;
        }
        let id = self.steps.lock().next_task();
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
            let told = err.to_string();
            let _ = match err {
                HandlerError::Transient(reason) => broker.abandon(&delivery, &reason),
                HandlerError::Unrecoverable(reason) => broker.dead_letter(&delivery, &reason),
                // The trace says why it waits: "retry after 2 s: …".
                HandlerError::RetryAfter { delay, .. } => {
                    broker.abandon_for(&delivery, delay, &told)
                }
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
