//! Exercise 03: asynchronous submission without lost or ghost messages.
//!
//! Your file is `src/submit.rs`. Everything else — carts, the HTTP API,
//! the app, the Orders service — lives in the shop crate (`shop/src/front.rs`,
//! `shop/src/front/orders.rs`, `shop/src/http.rs`, `shop/src/client.rs`).

pub mod submit;

use shop::front::CartRules;

/// The shop's rules for adding lines and submitting carts, as
/// `src/submit.rs` writes them: `Shop::new(..).with_rules(RULES)`.
pub const RULES: CartRules = CartRules {
    add_line: submit::add_line,
    submit: submit::submit,
};
