//! EXERCISE 05 (part 1): the chaos monkeys, middlewares that stand between
//! an endpoint and the broker and break things on purpose.
//!
//! Every message an endpoint sends or publishes goes through its `Chaos`
//! pipeline (`shop/src/chaos.rs`), a list of middlewares. Each middleware
//! gets the message and `next`, the rest of the way to the broker: calling
//! `next(message)` once passes the message on, twice sends it twice, and
//! not at all sends nothing. What the middleware returns is what the
//! endpoint is told.

use std::sync::atomic::{AtomicBool, Ordering};

use harness::{Envelope, Error};
use shop::chaos::{Matches, Middleware, Moment, Next};

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
