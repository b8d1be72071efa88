//! Exercise 17: the whole system, its saga, dead letters and end-to-end
//! chaos.
//!
//! Your file is `runbook.rs`. The system itself (the front over HTTP, the
//! Orders saga and its state machine, Payment, Shipping, the kitchen,
//! Marketing, the fault profiles, the consistency report and the demo)
//! lives in the `shop` crate, `shop/src/system.rs` and `shop/src/system/`;
//! this file plugs your three functions into it.

pub mod runbook;

use harness::Sim;
use shop::system::chaos::Profile;
use shop::system::{Lesson, Running, System};

/// Your functions, as the system takes them.
pub const LESSON: Lesson = Lesson {
    classify: runbook::classify,
    on_declined: runbook::on_declined,
    restore: runbook::restore,
};

/// The whole system with your runbook, and the faults of `profile` loose.
pub fn open(sim: &Sim, profile: Profile) -> Running {
    System::open(sim, LESSON, profile)
}
