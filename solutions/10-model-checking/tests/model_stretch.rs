//! Stretch: your handler at the original workshop's size, 3 messages,
//! 2 retries and 2 handlers at once. It needs a solved
//! `src/model/handler.rs`, and a release build:
//! `cargo test -p ex10-model-checking --release --test model_stretch -- --ignored --nocapture`
//!
//! The other half of the stretch, the port of the original's
//! `exactly_once.tla` (two handlers, optimistic concurrency, the diet),
//! lives with the model: `handler-model/src/exactly_once.rs`, run by
//! `cargo test -p handler-model --test exactly_once -- --nocapture`.

use handler_model::{Config, HandlerModel, check_all};
use model_checking::HANDLER;

#[test]
#[ignore = "big: run in release (see the top of this file); needs a solved handler.rs"]
fn big_handler_model_keeps_every_invariant() {
    let (stats, broken) = check_all(HandlerModel::new(HANDLER, Config::BIG), 2);
    println!("the handler model, 3 messages, 2 retries, 2 handlers: {stats}");
    assert!(broken.is_empty(), "broken: {broken:?} ({stats})");
}
