//! The pierogi shop that the workshop's exercises stand on, written once.
//!
//! Each exercise crate holds only its lesson (the file or two the attendee
//! edits) and plugs it into this shop. The shop is organised by what it is,
//! not by exercise:
//!
//! - [`front`]: carts in the shop's document store, the submit that queues
//!   `SendSubmitOrder`, and its handler that sends `SubmitOrder` (Part A);
//!   [`front::direct`]: the earlier front whose submit makes the order itself
//!   (exercises 01–02).
//! - [`http`]: the HTTP API (axum) that browsers and apps call;
//!   [`client`]: the shop's app, which calls the API and retries.
//! - [`orders`]: the Orders service on the other side of the broker, its
//!   orders in a relational database, every request through the
//!   [`outbox`] (exercises 09–11), whose middleware exercises 09 and 11
//!   write ([`outbox::Middleware`]); [`orders::documents`]: Orders on the
//!   document store (exercises 05–08).
//! - [`order_page`]: where customers change a placed order.
//! - [`shipping`]: Shipping, its labels in a blob store, claim checks, and
//!   Billing's invoice desk (Part F).
//! - [`downstream`]: Billing and Marketing; [`mailer`]: who sends their
//!   letters; [`ids`]: the ids of the messages the handlers send.
//! - [`chaos`]: the chaos monkeys between a service and the broker.
//! - [`town`], [`intent`], [`audit`], [`demo`]: all of it wired together,
//!   what the customers asked for, the consistency report, and the demo;
//!   [`town::AnyOrders`] runs them with either shape of Orders;
//!   [`serve`]: the shop's API on this machine, for `curl`.
//! - [`provider`]: the payment provider, a third party's HTTP API (Part E);
//!   [`payments`]: the shop's Payment handler that calls it (exercise 15).
//! - [`operations`]: the operator's view: which conversations are complete,
//!   parked or still in progress (Part F).
//! - [`system`]: the whole system wired once, the Orders saga at its
//!   centre, with seeded faults everywhere (exercise 17).
//! - [`testing`]: helpers for the exercises' tests.

#![warn(missing_docs)]

pub mod audit;
pub mod chaos;
pub mod client;
pub mod demo;
pub mod downstream;
pub mod front;
pub mod http;
pub mod ids;
pub mod intent;
pub mod mailer;
pub mod operations;
pub mod order_page;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod provider;
pub mod serve;
pub mod shipping;
pub mod system;
pub mod testing;
pub mod town;

pub use front::{
    CART, Cart, KeyRecord, Line, ORDERS_QUEUE, Order, Outcome, SHOP_QUEUE, SendSubmitOrder, Shop,
    SubmitError, SubmitOrder,
};
