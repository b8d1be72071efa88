//! Exercise 02: client-chosen identity, idempotent HTTP and 202 Accepted.
//!
//! Your files are `src/app.rs` (the app names carts and lines) and
//! `src/api.rs` (the server recognises retries). Everything else — the
//! carts and their store, the HTTP API, the app — lives in the shop crate
//! (`shop/src/front/direct.rs`, `shop/src/http.rs`, `shop/src/client.rs`).

pub mod api;
pub mod app;

use shop::front::direct::ApiRules;

/// The rules the shop's API changes carts by, as `src/api.rs` writes them:
/// `shop::front::direct::router(carts, RULES)`.
pub const RULES: ApiRules = ApiRules {
    create_cart: api::create_cart,
    add_line: api::add_line,
    submit: api::submit,
};
