//! How the world decides its next step: the endpoints and their workers,
//! the paused handlers, and the moves among them, chosen by the
//! simulation's chooser on whichever thread holds the baton.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Handler;
use crate::scheduler::{Scheduler, Turn};
use crate::sim::{Restore, Saved};
use crate::{Broker, Error, Sim};

pub(super) struct Endpoint {
    pub(super) name: String,
    pub(super) handler: Handler,
    /// One flag per worker: busy or free.
    pub(super) workers: Vec<bool>,
}

impl Endpoint {
    pub(super) fn free_worker(&self) -> Option<usize> {
        self.workers.iter().position(|busy| !busy)
    }

    /// The actor name of a worker in the trace: the endpoint's name, with
    /// `#n` when it has several workers.
    pub(super) fn actor(&self, worker: usize) -> String {
        if self.workers.len() == 1 {
            self.name.clone()
        } else {
            format!("{}#{}", self.name, worker + 1)
        }
    }
}

/// A handler running on its own thread, paused at a fault point.
pub(super) struct Task {
    pub(super) id: u64,
    pub(super) endpoint: usize,
    pub(super) worker: usize,
    pub(super) actor: String,
    /// The message it handles, as the trace labels it.
    pub(super) message: String,
    /// The calls its delivery made so far (see the `budget` module).
    pub(super) calls: Arc<AtomicU64>,
}

/// What the world can do next.
#[derive(Clone, Copy, Debug)]
pub(super) enum Move {
    /// Let a paused handler run on (index into `tasks`).
    Resume(usize),
    /// Deliver the next message of an endpoint's queue.
    Deliver(usize),
}

/// How the world decides its next step. The thread holding the baton uses
/// it: the world's own thread, or a paused handler's thread at a fault point,
/// which then hands the baton straight to the handler that goes on (see the
/// scheduler module). Every step, on whichever thread, is decided by
/// [`Steps::choose`] in the same order, so the run is the same as if the
/// world's thread had decided them all.
pub(super) struct Steps {
    pub(super) sim: Sim,
    pub(super) broker: Broker,
    pub(super) scheduler: Arc<Scheduler>,
    pub(super) state: Mutex<StepState>,
}

pub(super) struct StepState {
    pub(super) endpoints: Vec<Endpoint>,
    /// Paused handlers, oldest first.
    pub(super) tasks: Vec<Task>,
    /// Who acts between steps (usually the test): every step ends by making
    /// it the actor again.
    pub(super) actor: String,
    /// How many more steps handlers may take among themselves before the
    /// baton goes back to the world's thread (`step` takes one step only).
    pub(super) budget: usize,
    /// How many steps they took since the world's thread handed the baton over.
    pub(super) taken: usize,
    /// A delivery that a handler's thread chose, for the world's thread to make.
    pub(super) chosen: Option<Move>,
    /// The calls one delivery may make (see [`super::World::set_delivery_budget`]).
    pub(super) delivery_budget: u64,
    /// Why the world stopped: a delivery that never finished. Nothing runs
    /// after that.
    pub(super) halted: Option<Error>,
    /// The id of the next handler thread's task.
    pub(super) next_task: u64,
    /// The number of the next delivery (see [`crate::SentRecord::handling`]).
    pub(super) next_handling: u64,
}

impl StepState {
    /// Numbers a new delivery.
    pub(super) fn next_handling(&mut self) -> u64 {
        self.next_handling += 1;
        self.next_handling - 1
    }

    /// Numbers a new handler thread's task.
    pub(super) fn next_task(&mut self) -> u64 {
        self.next_task += 1;
        self.next_task - 1
    }

    /// The possible moves, in a stable order: paused handlers oldest first,
    /// then endpoints in the order they were added.
    pub(super) fn moves(&self, broker: &Broker) -> Vec<Move> {
        let mut moves: Vec<Move> = (0..self.tasks.len()).map(Move::Resume).collect();
        for (index, endpoint) in self.endpoints.iter().enumerate() {
            if endpoint.free_worker().is_some() && broker.has_ready(&endpoint.name) {
                moves.push(Move::Deliver(index));
            }
        }
        moves
    }

    pub(super) fn describe(&self, moves: &[Move]) -> String {
        let names: Vec<String> = moves
            .iter()
            .map(|next| match *next {
                Move::Resume(index) => format!("resume {}", self.tasks[index].actor),
                Move::Deliver(index) => format!("deliver from {}", self.endpoints[index].name),
            })
            .collect();
        format!("next: {}", names.join(" | "))
    }

    pub(super) fn endpoint_names(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.name.clone()).collect()
    }

    pub(super) fn endpoint_index(&self, name: &str) -> Result<usize, Error> {
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
    pub(super) fn lock(&self) -> MutexGuard<'_, StepState> {
        // A failing assertion (say, in `add_endpoint`) must not poison the world.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides the next move, with the simulation's chooser when there are
    /// several; `None` when there is nothing to do.
    pub(super) fn choose(&self, state: &StepState) -> Option<Move> {
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
    pub(super) fn halt(&self, reason: Error) {
        self.lock().halted.get_or_insert(reason);
    }

    /// At every fault point: on a paused handler's thread, its step ends and
    /// the baton moves on (see [`Steps::after`]); elsewhere nothing happens.
    pub(super) fn yield_now(&self) {
        self.scheduler.yield_now(|task| self.after(task, false));
    }

    /// On the thread of handler `task`, holding the baton, when the handler
    /// yields or finishes: its step is over, so this thread decides the next
    /// one. Handlers resume one another while the budget lasts; anything else
    /// (a delivery, moving the clock, returning from `step`) is the world's.
    pub(super) fn after(&self, task: u64, finished: bool) -> Turn {
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

/// What a setup leaves in a world (see [`Sim::same_in_every_schedule`]):
/// its endpoints' workers and its counters. The handlers are the closures
/// the scenario added before the setup, the same in every schedule.
#[derive(Clone, PartialEq, Debug)]
struct SavedSteps {
    workers: Vec<(String, usize)>,
    actor: String,
    budget: usize,
    taken: usize,
    delivery_budget: u64,
    next_task: u64,
    next_handling: u64,
}

impl StepState {
    fn saved(&self) -> SavedSteps {
        SavedSteps {
            workers: self
                .endpoints
                .iter()
                .map(|endpoint| (endpoint.name.clone(), endpoint.workers.len()))
                .collect(),
            actor: self.actor.clone(),
            budget: self.budget,
            taken: self.taken,
            delivery_budget: self.delivery_budget,
            next_task: self.next_task,
            next_handling: self.next_handling,
        }
    }
}

impl Restore for Steps {
    fn describe(&self) -> String {
        "the world".to_string()
    }

    fn save(&self) -> Result<Saved, String> {
        let state = self.lock();
        if !state.tasks.is_empty() || state.chosen.is_some() || state.halted.is_some() {
            return Err("the world is not quiet".to_string());
        }
        Ok(Box::new(state.saved()))
    }

    fn restore(&self, saved: &Saved) {
        let saved: &SavedSteps = saved.downcast_ref().expect("a world's saved state");
        let mut state = self.lock();
        let names: Vec<&String> = saved.workers.iter().map(|(name, _)| name).collect();
        assert_eq!(
            state.endpoint_names().iter().collect::<Vec<_>>(),
            names,
            "this schedule added other endpoints before its setup than the first one"
        );
        for (endpoint, (_, workers)) in state.endpoints.iter_mut().zip(&saved.workers) {
            endpoint.workers = vec![false; *workers];
        }
        state.actor.clone_from(&saved.actor);
        state.budget = saved.budget;
        state.taken = saved.taken;
        state.delivery_budget = saved.delivery_budget;
        state.next_task = saved.next_task;
        state.next_handling = saved.next_handling;
    }

    fn is_as(&self, saved: &Saved) -> bool {
        saved.downcast_ref::<SavedSteps>() == Some(&self.lock().saved())
    }
}
