//! The baton that lets handlers run "concurrently" yet deterministically.
//!
//! A handler that must be interleaved with another one (two workers of one
//! endpoint handling two copies of a message) runs on its own OS thread, but
//! only the thread holding the baton runs: the world, or exactly one task.
//! A task hands the baton back to the world at every fault point (the
//! [`crate::Sim`] scheduler hook) and when it finishes; the world then decides,
//! with the simulation's chooser, who runs next. Threads therefore never race:
//! the order of everything they do is the chooser's order, so a seed or an
//! explorer script replays a run exactly.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

/// Tells a parked task that its world is gone: it unwinds quietly.
pub(crate) struct Shutdown;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Holder {
    World,
    Task(u64),
}

struct Baton {
    holder: Holder,
    shutdown: bool,
    /// Tasks that finished since the world last asked.
    finished: Vec<u64>,
}

pub(crate) struct Scheduler {
    /// Tells this scheduler's tasks apart from another world's.
    id: u64,
    baton: Mutex<Baton>,
    turn: Condvar,
}

thread_local! {
    /// On a task thread: (scheduler id, task id).
    static CURRENT: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

static NEXT_SCHEDULER: AtomicU64 = AtomicU64::new(1);

impl Scheduler {
    pub(crate) fn new() -> Arc<Scheduler> {
        Arc::new(Scheduler {
            id: NEXT_SCHEDULER.fetch_add(1, Ordering::Relaxed),
            baton: Mutex::new(Baton {
                holder: Holder::World,
                shutdown: false,
                finished: Vec::new(),
            }),
            turn: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Baton> {
        self.baton
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts `work` as task `task` on a new thread; it waits for its first
    /// turn (see [`Scheduler::resume`]) before doing anything.
    pub(crate) fn spawn(
        self: &Arc<Scheduler>,
        task: u64,
        work: impl FnOnce() + Send + 'static,
    ) -> JoinHandle<()> {
        let scheduler = self.clone();
        thread::Builder::new()
            .name(format!("harness-worker-{task}"))
            .spawn(move || {
                CURRENT.with(|current| current.set(Some((scheduler.id, task))));
                if scheduler.wait_for_turn(task) {
                    // A shutdown unwinds out of `work`; nothing else can.
                    let _ = panic::catch_unwind(AssertUnwindSafe(work));
                }
                scheduler.finish(task);
            })
            .expect("the operating system refused to start a worker thread")
    }

    /// Lets `task` run until it yields or finishes; returns true when it
    /// finished.
    pub(crate) fn resume(&self, task: u64) -> bool {
        let mut baton = self.lock();
        baton.holder = Holder::Task(task);
        self.turn.notify_all();
        while baton.holder != Holder::World {
            baton = self
                .turn
                .wait(baton)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        match baton.finished.iter().position(|&done| done == task) {
            Some(index) => {
                baton.finished.remove(index);
                true
            }
            None => false,
        }
    }

    /// Called on any thread at every fault point: on a task thread of this
    /// scheduler, hands the baton to the world and waits for the next turn.
    pub(crate) fn yield_now(&self) {
        let Some(task) = self.current_task() else {
            return;
        };
        let mut baton = self.lock();
        if baton.shutdown {
            drop(baton);
            unwind_on_shutdown();
            return;
        }
        baton.holder = Holder::World;
        self.turn.notify_all();
        drop(baton);
        if !self.wait_for_turn(task) {
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

    /// Waits until `task` holds the baton (true) or the world shut down (false).
    fn wait_for_turn(&self, task: u64) -> bool {
        let mut baton = self.lock();
        loop {
            if baton.shutdown {
                return false;
            }
            if baton.holder == Holder::Task(task) {
                return true;
            }
            baton = self
                .turn
                .wait(baton)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn finish(&self, task: u64) {
        let mut baton = self.lock();
        baton.finished.push(task);
        if baton.holder == Holder::Task(task) {
            baton.holder = Holder::World;
        }
        self.turn.notify_all();
    }

    /// Wakes every parked task so that it unwinds; called when the world is dropped.
    pub(crate) fn shut_down(&self) {
        self.lock().shutdown = true;
        self.turn.notify_all();
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

    #[test]
    fn tasks_run_one_at_a_time_in_the_order_the_world_chooses() {
        let scheduler = Scheduler::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for task in [1, 2] {
            let log = log.clone();
            let me = scheduler.clone();
            handles.push(scheduler.spawn(task, move || {
                for step in 0..3 {
                    log.lock().unwrap().push((task, step));
                    me.yield_now();
                }
            }));
        }
        // B, A, A, B, A, B, B, A: each resume runs one task to its next yield.
        let order = [2, 1, 1, 2, 1, 2, 2, 1];
        let finished: Vec<bool> = order.iter().map(|&task| scheduler.resume(task)).collect();
        handles
            .into_iter()
            .for_each(|handle| handle.join().unwrap());
        assert_eq!(
            *log.lock().unwrap(),
            [(2, 0), (1, 0), (1, 1), (2, 1), (1, 2), (2, 2)]
        );
        assert_eq!(
            finished,
            [false, false, false, false, false, false, true, true]
        );
    }

    #[test]
    fn a_shut_down_scheduler_releases_parked_tasks() {
        let scheduler = Scheduler::new();
        let me = scheduler.clone();
        let ran_past_the_yield = Arc::new(Mutex::new(false));
        let flag = ran_past_the_yield.clone();
        let parked = scheduler.spawn(1, move || {
            me.yield_now();
            *flag.lock().unwrap() = true;
        });
        let never_started = scheduler.spawn(2, || panic!("must not run"));
        scheduler.resume(1);
        scheduler.shut_down();
        parked.join().unwrap();
        never_started.join().unwrap();
        assert!(!*ran_past_the_yield.lock().unwrap());
    }

    #[test]
    fn yielding_outside_a_task_does_nothing() {
        Scheduler::new().yield_now();
    }
}
