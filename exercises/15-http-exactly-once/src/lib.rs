//! Exercise 15: exactly-once calls to a third-party HTTP API.
//!
//! Your file is `charge.rs`. The rest (the payment provider, the Payment
//! handler around your calls, the test helpers) lives in the `shop` crate:
//! `shop/src/provider.rs` and `shop/src/payments.rs`. This file plugs
//! your functions in.

pub mod charge;

use harness::Sim;
use shop::payments::{Face, Lesson};
use shop::testing::payments::PaymentDesk;

/// Your calls, as the Payment handler takes them.
pub const LESSON: Lesson = Lesson {
    charge: charge::charge,
    send_request: charge::send_request,
    execute: charge::execute,
    clean_up: charge::clean_up,
};

/// The Payment handler with `workers` workers, using the provider's `face`
/// with your calls.
pub fn desk(sim: &Sim, face: Face, workers: usize) -> PaymentDesk {
    PaymentDesk::open(sim, face, LESSON, workers)
}
