//! The baton that lets handlers run "concurrently" yet deterministically.
//!
//! A handler that must be interleaved with another one (two workers of one
//! endpoint handling two copies of a message) runs on its own OS thread, but
//! only the thread holding the baton runs: the world's, or exactly one task's.
//! Threads therefore never race: the order of everything they do is the
//! chooser's order, so a seed or an explorer script replays a run exactly.
//!
//! How the baton moves:
//!
//! - The world's thread lets a task run with [`Scheduler::resume`]: it hands
//!   the baton over and sleeps until the baton comes back to it.
//! - A task gives the baton up only at a fault point (the [`crate::Sim`]
//!   scheduler hook, and `take_time`) and when it finishes. There the task's
//!   own thread, still holding the baton, asks the world's step logic who
//!   runs next ([`Scheduler::yield_now`] takes that decision as a closure;
//!   a finishing task's work returns it). If the same task goes on, nothing
//!   moves; if another task goes on, the baton goes straight to its thread;
//!   only what a task cannot do (deliver a message, move the clock, return
//!   from the world's `step`) sends the baton back to the world's thread.
//! - Each waiting thread sleeps on its own condition variable, so a hand-over
//!   wakes exactly the thread that runs next.
//! - Dropping the world shuts the scheduler down: every parked task unwinds
//!   (with [`Shutdown`]) and the world waits until all have.
//!
//! Why the yielding thread decides: a hand-over between threads costs a
//! wake-up, which on a busy machine means waiting for a time slice. With the
//! world in the middle, every resume of a task cost two (world → task →
//! world); this way a switch between tasks costs one and "the same task goes
//! on" none. The decision is the same function either way, made in the same
//! order, so the run is the same.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

/// Tells a parked task that its world is gone: it unwinds quietly.
pub(crate) struct Shutdown;

/// Who holds the baton, or is to run next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Turn {
    World,
    Task(u64),
}

struct Baton {
    holder: Turn,
    shutdown: bool,
    /// Each live task waits on its own condition variable, so that a hand-over
    /// wakes exactly one thread.
    turns: BTreeMap<u64, Arc<Condvar>>,
}

pub(crate) struct Scheduler {
    /// Tells this scheduler's tasks apart from another world's.
    id: u64,
    baton: Mutex<Baton>,
    world_turn: Condvar,
}

thread_local! {
    /// On a task thread: (scheduler id, task id).
    static CURRENT: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

static NEXT_SCHEDULER: AtomicU64 = AtomicU64::new(1);

type Work = Box<dyn FnOnce() + Send>;

/// Idle worker threads, reused across worlds: the explorer builds a world per
/// schedule, and starting a thread costs more than a whole schedule's steps.
static IDLE: Mutex<Vec<Sender<Work>>> = Mutex::new(Vec::new());

/// Runs `work` on an idle pooled thread, or on a new one.
fn run_pooled(work: Work) {
    let idle = IDLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .pop();
    let work = match idle {
        Some(worker) => match worker.send(work) {
            Ok(()) => return,
            Err(mpsc::SendError(work)) => work,
        },
        None => work,
    };
    let (sender, receiver) = mpsc::channel::<Work>();
    thread::Builder::new()
        .name("harness-worker".to_string())
        .spawn(move || {
            let mut next = Some(work);
            while let Some(work) = next.take() {
                // The work catches its own panics; this keeps the thread alive regardless.
                let _ = panic::catch_unwind(AssertUnwindSafe(work));
                IDLE.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(sender.clone());
                next = receiver.recv().ok();
            }
        })
        .expect("the operating system refused to start a worker thread");
}

impl Scheduler {
    pub(crate) fn new() -> Arc<Scheduler> {
        Arc::new(Scheduler {
            id: NEXT_SCHEDULER.fetch_add(1, Ordering::Relaxed),
            baton: Mutex::new(Baton {
                holder: Turn::World,
                shutdown: false,
                turns: BTreeMap::new(),
            }),
            world_turn: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Baton> {
        self.baton
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts `work` as task `task` on a worker thread; it waits for its
    /// first turn (see [`Scheduler::resume`]) before doing anything. When it
    /// finishes, it says who runs next, and the baton goes there.
    pub(crate) fn spawn(
        self: &Arc<Scheduler>,
        task: u64,
        work: impl FnOnce() -> Turn + Send + 'static,
    ) {
        self.lock().turns.insert(task, Arc::new(Condvar::new()));
        let scheduler = self.clone();
        run_pooled(Box::new(move || {
            CURRENT.with(|current| current.set(Some((scheduler.id, task))));
            let mut next = Turn::World;
            if scheduler.wait_for_turn(scheduler.lock(), task) {
                // A shutdown unwinds out of `work`; nothing else can.
                if let Ok(after) = panic::catch_unwind(AssertUnwindSafe(work)) {
                    next = after;
                }
            }
            CURRENT.with(|current| current.set(None));
            scheduler.finish(task, next);
        }));
    }

    /// On the world's thread: lets `task` run; returns once the baton is
    /// back with the world (the task, or the tasks it handed the baton to,
    /// yielded to the world or finished).
    pub(crate) fn resume(&self, task: u64) {
        let mut baton = self.lock();
        self.hand_over(&mut baton, Turn::Task(task));
        while baton.holder != Turn::World {
            baton = self
                .world_turn
                .wait(baton)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Called on any thread at every fault point. On a task thread of this
    /// scheduler (which holds the baton), `next` decides who runs next, and
    /// the task waits for its next turn unless that is itself.
    pub(crate) fn yield_now(&self, next: impl FnOnce(u64) -> Turn) {
        let Some(task) = self.current_task() else {
            return;
        };
        if self.lock().shutdown {
            // Only while unwinding from a shutdown (a drop that calls a store).
            unwind_on_shutdown();
            return;
        }
        let next = next(task);
        if next == Turn::Task(task) {
            return;
        }
        let mut baton = self.lock();
        self.hand_over(&mut baton, next);
        if !self.wait_for_turn(baton, task) {
            unwind_on_shutdown();
        }
    }

    /// Whether the calling thread is one of this scheduler's tasks.
    pub(crate) fn current_task(&self) -> Option<u64> {
        CURRENT
            .with(Cell::get)
            .filter(|(scheduler, _)| *scheduler == self.id)
            .map(|(_, task)| task)
    }

    /// Gives the baton to `next` and wakes its thread.
    fn hand_over(&self, baton: &mut Baton, next: Turn) {
        baton.holder = next;
        match next {
            Turn::World => self.world_turn.notify_one(),
            Turn::Task(task) => {
                if let Some(turn) = baton.turns.get(&task) {
                    turn.notify_one();
                }
            }
        }
    }

    /// Waits until `task` holds the baton (true) or the world shut down (false).
    fn wait_for_turn(&self, mut baton: MutexGuard<'_, Baton>, task: u64) -> bool {
        let Some(turn) = baton.turns.get(&task).cloned() else {
            return false;
        };
        loop {
            if baton.shutdown {
                return false;
            }
            if baton.holder == Turn::Task(task) {
                return true;
            }
            baton = turn
                .wait(baton)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn finish(&self, task: u64, next: Turn) {
        let mut baton = self.lock();
        baton.turns.remove(&task);
        if baton.shutdown {
            // The world waits in `shut_down` until every task is gone.
            self.world_turn.notify_one();
        } else if baton.holder == Turn::Task(task) {
            self.hand_over(&mut baton, next);
        }
    }

    /// Wakes every parked task so that it unwinds, and waits until all have
    /// finished; called when the world is dropped.
    pub(crate) fn shut_down(&self) {
        let mut baton = self.lock();
        baton.shutdown = true;
        for turn in baton.turns.values() {
            turn.notify_one();
        }
        while !baton.turns.is_empty() {
            baton = self
                .world_turn
                .wait(baton)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// Unwinds a parked task whose world is gone, unless it is unwinding already
/// (a second panic would abort the process).
fn unwind_on_shutdown() {
    if !thread::panicking() {
        panic::resume_unwind(Box::new(Shutdown));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Two tasks of three steps each; at every yield and finish the next turn
    /// is read off `order` (as the world's chooser would decide it), and the
    /// world gets the baton back when `order` runs out.
    fn run_in_order(order: &[Turn]) -> Vec<(u64, u32)> {
        let scheduler = Scheduler::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let order = Arc::new(Mutex::new(VecDeque::from(order.to_vec())));
        let next = move || order.lock().unwrap().pop_front().unwrap_or(Turn::World);
        for task in [1, 2] {
            let log = log.clone();
            let me = scheduler.clone();
            let next = next.clone();
            scheduler.spawn(task, move || {
                for step in 0..3 {
                    log.lock().unwrap().push((task, step));
                    me.yield_now(|_| next());
                }
                next()
            });
        }
        let Turn::Task(first) = next() else {
            panic!("the order starts with a task")
        };
        scheduler.resume(first);
        scheduler.shut_down();
        log.lock().unwrap().clone()
    }

    #[test]
    fn tasks_hand_the_baton_to_each_other_in_the_order_chosen() {
        use Turn::Task;
        // B, A, A, B, A, B, B, A: each turn runs one task to its next yield.
        let order = [
            Task(2),
            Task(1),
            Task(1),
            Task(2),
            Task(1),
            Task(2),
            Task(2),
            Task(1),
        ];
        assert_eq!(
            run_in_order(&order),
            [(2, 0), (1, 0), (1, 1), (2, 1), (1, 2), (2, 2)]
        );
    }

    #[test]
    fn the_world_gets_the_baton_back_when_a_task_gives_it_up() {
        use Turn::{Task, World};
        // Task 1 runs one step, then gives the baton to the world: `resume`
        // returns, and shutting down unwinds both tasks.
        assert_eq!(run_in_order(&[Task(1), World]), [(1, 0)]);
    }

    #[test]
    fn a_shut_down_scheduler_releases_parked_tasks() {
        let scheduler = Scheduler::new();
        let me = scheduler.clone();
        let ran_past_the_yield = Arc::new(Mutex::new(false));
        let flag = ran_past_the_yield.clone();
        scheduler.spawn(1, move || {
            me.yield_now(|_| Turn::World);
            *flag.lock().unwrap() = true;
            Turn::World
        });
        scheduler.spawn(2, || panic!("must not run"));
        scheduler.resume(1);
        // Returns once both tasks have finished.
        scheduler.shut_down();
        assert!(!*ran_past_the_yield.lock().unwrap());
    }

    #[test]
    fn yielding_outside_a_task_does_nothing() {
        Scheduler::new().yield_now(|_| panic!("not asked outside a task"));
    }
}
