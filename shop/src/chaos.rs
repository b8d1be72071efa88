//! Chaos monkeys: middlewares that stand between an endpoint and the
//! broker and break things on purpose, the way production will one day.
//!
//! Every message an endpoint sends or publishes goes through its [`Chaos`]
//! pipeline, a list of middlewares. Each middleware gets the message and
//! `next`, the rest of the way to the broker: calling `next(message)` once
//! passes the message on, twice sends it twice, and not at all sends
//! nothing. What the middleware returns is what the endpoint is told.
//!
//! The pipeline writes what a monkey did into the run's trace (`⚡`), so a
//! failing test's report shows where the monkey struck.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use harness::{Envelope, Error, EventKind, Sim};

/// The rest of the way to the broker: sends the message, or fails.
pub type Next<'a> = &'a mut dyn FnMut(&Envelope) -> Result<(), Error>;

/// Which messages a monkey picks: a predicate on the message.
pub type Matches = Box<dyn Fn(&Envelope) -> bool + Send + Sync>;

/// A middleware on the way out of an endpoint.
pub trait Middleware: Send + Sync {
    /// Handles one outgoing message: pass it on with `next(message)`, or
    /// do something else with it.
    fn call(&self, message: &Envelope, next: Next<'_>) -> Result<(), Error>;
}

/// A monkey that sends every matching message twice: the broker gets two
/// copies with the same id, as when a sender retries after a timeout.
pub struct DuplicateWhen {
    predicate: Matches,
}

impl DuplicateWhen {
    /// Duplicates the messages for which `predicate` is true.
    pub fn new(predicate: impl Fn(&Envelope) -> bool + Send + Sync + 'static) -> DuplicateWhen {
        DuplicateWhen {
            predicate: Box::new(predicate),
        }
    }

    /// True for a message this monkey duplicates.
    pub fn matches(&self, message: &Envelope) -> bool {
        (self.predicate)(message)
    }
}

impl Middleware for DuplicateWhen {
    fn call(&self, message: &Envelope, next: Next<'_>) -> Result<(), Error> {
        next(message)?;
        if self.matches(message) {
            next(message)?;
        }
        Ok(())
    }
}

/// When a [`FailOnce`] monkey strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// The broker never gets the message, and the sender is told it failed.
    Before,
    /// The broker gets the message, but the sender is told it failed (the
    /// answer was lost on the way back).
    After,
}

/// A monkey that makes the first matching send fail, once: a broker hiccup.
pub struct FailOnce {
    predicate: Matches,
    moment: Moment,
    struck: AtomicBool,
}

impl FailOnce {
    /// Fails the first matching send before the broker gets the message.
    pub fn before(matches: impl Fn(&Envelope) -> bool + Send + Sync + 'static) -> FailOnce {
        FailOnce::new(Moment::Before, matches)
    }

    /// Fails the first matching send after the broker got the message.
    pub fn after(matches: impl Fn(&Envelope) -> bool + Send + Sync + 'static) -> FailOnce {
        FailOnce::new(Moment::After, matches)
    }

    fn new(
        moment: Moment,
        predicate: impl Fn(&Envelope) -> bool + Send + Sync + 'static,
    ) -> FailOnce {
        FailOnce {
            predicate: Box::new(predicate),
            moment,
            struck: AtomicBool::new(false),
        }
    }

    /// True for the first matching message this monkey sees, false for
    /// every other message (and for that one's later copies).
    pub fn first_match(&self, message: &Envelope) -> bool {
        // `swap` sets the flag and says what it was, in one step.
        (self.predicate)(message) && !self.struck.swap(true, Ordering::SeqCst)
    }

    /// When this monkey strikes.
    pub fn moment(&self) -> Moment {
        self.moment
    }

    /// The error the sender is told when the monkey strikes.
    pub fn failure(&self, message: &Envelope) -> Error {
        Error::Injected {
            point: format!("monkey.{}", message.message_type),
            effect_applied: self.moment == Moment::After,
        }
    }
}

impl Middleware for FailOnce {
    fn call(&self, message: &Envelope, next: Next<'_>) -> Result<(), Error> {
        if !self.first_match(message) {
            return next(message);
        }
        match self.moment() {
            Moment::Before => Err(self.failure(message)),
            Moment::After => {
                next(message)?;
                Err(self.failure(message))
            }
        }
    }
}

/// An endpoint's middlewares, outermost first. Cheap to clone: clones
/// share the list, so a monkey added later applies to every clone.
#[derive(Clone)]
pub struct Chaos {
    sim: Sim,
    monkeys: Arc<Mutex<Vec<Arc<dyn Middleware>>>>,
}

impl Chaos {
    /// No monkeys: every message goes straight to the broker.
    pub fn new(sim: &Sim) -> Chaos {
        Chaos {
            sim: sim.clone(),
            monkeys: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Lets `monkey` loose on every message sent from now on.
    pub fn add(&self, monkey: impl Middleware + 'static) {
        self.monkeys.lock().unwrap().push(Arc::new(monkey));
    }

    /// Sends `message` through the monkeys, then with `send`.
    pub fn send(&self, message: &Envelope, send: Next<'_>) -> Result<(), Error> {
        let monkeys = self.monkeys.lock().unwrap().clone();
        self.through(&monkeys, message, send)
    }

    fn through(
        &self,
        monkeys: &[Arc<dyn Middleware>],
        message: &Envelope,
        send: Next<'_>,
    ) -> Result<(), Error> {
        let Some((monkey, rest)) = monkeys.split_first() else {
            return send(message);
        };
        // Count what the monkey does with `next`, to tell the trace.
        let mut calls = 0;
        let mut next_failed = false;
        let result = monkey.call(message, &mut |passed: &Envelope| {
            calls += 1;
            let sent = self.through(rest, passed, &mut *send);
            next_failed |= sent.is_err();
            sent
        });
        let fault = match (&result, calls) {
            (Err(_), 0) => Some("fail before"),
            (Err(_), _) if !next_failed => Some("fail after"),
            (_, 2..) => Some("duplicate"),
            _ => None,
        };
        if let Some(fault) = fault {
            self.sim.record(EventKind::FaultInjected {
                point: format!("monkey.{}", message.message_type),
                fault: fault.to_string(),
            });
        }
        result
    }
}
