//! Stretch: a second handler, and optimistic concurrency. The original
//! workshop's `exactly_once.tla`, ported to `src/model/exactly_once.rs`:
//! two handlers share one store document, a log of versioned changes with
//! an outbox inside. These tests do not depend on `src/model/handler.rs`.
//!
//! The bigger configurations take longer; run them in release mode:
//! `cargo test -p sol10-model-checking --release --test model_stretch -- --ignored --nocapture`

use model_checking::model::exactly_once::{CONSISTENT_STATE_AND_OUTPUT, ExactlyOnce};
use model_checking::model::{Config, HandlerModel, check_all, check_shortest};
use stateright::{Checker, Model};

/// Checks every property of `model` and fails with the names of the broken ones.
fn holds(model: ExactlyOnce, threads: usize) -> model_checking::model::Stats {
    let (stats, broken) = check_all(model, threads);
    assert!(
        broken.is_empty(),
        "{model:?} breaks {broken:?} ({stats}); see `check_shortest` for a counterexample"
    );
    stats
}

#[test]
fn two_handlers_with_optimistic_concurrency_change_the_state_once() {
    let before = holds(ExactlyOnce::SMALL, 1);
    let after = holds(
        ExactlyOnce {
            reduced: true,
            ..ExactlyOnce::SMALL
        },
        1,
    );
    println!("2 messages, 1 retry, 2 handlers: before the diet {before}; after {after}");
    assert!(
        after.states * 2 < before.states,
        "the diet should at least halve the states: before {before}, after {after}"
    );
}

#[test]
fn without_the_version_check_a_processed_message_loses_its_state_change() {
    for reduced in [false, true] {
        let model = ExactlyOnce {
            version_check: false,
            reduced,
            ..ExactlyOnce::SMALL
        };
        let counterexample = check_shortest(model, CONSISTENT_STATE_AND_OUTPUT)
            .expect_err("without the version check, a concurrent commit overwrites another");
        println!("{counterexample}");
        assert!(
            counterexample
                .headline
                .contains("the log has no change for it"),
            "{counterexample}"
        );
        // Shortest: no run with one step fewer breaks the property. (A
        // state at depth d is d - 1 steps from the start; the checker skips
        // states at depth `target_max_depth` and beyond.)
        let steps = counterexample.steps.len();
        let shorter = model
            .checker()
            .target_max_depth(steps + 1)
            .spawn_bfs()
            .join();
        assert!(
            shorter.discovery(CONSISTENT_STATE_AND_OUTPUT).is_none(),
            "a run shorter than {steps} steps breaks it too"
        );
        // What stateright reports by itself: the last violation it saw.
        let own = model.checker().spawn_bfs().join();
        if let Some(path) = own.discovery(CONSISTENT_STATE_AND_OUTPUT) {
            println!(
                "(stateright's own report of the same run: {} steps)\n",
                path.into_actions().len()
            );
        }
    }
}

#[test]
#[ignore = "big: minutes and gigabytes; run in release (see the top of this file)"]
fn big_original_configuration_before_and_after_the_diet() {
    let after = holds(
        ExactlyOnce {
            reduced: true,
            ..ExactlyOnce::ORIGINAL
        },
        2,
    );
    println!("3 messages, 2 retries, 2 handlers, after the diet: {after}");
    let before = holds(ExactlyOnce::ORIGINAL, 2);
    println!("3 messages, 2 retries, 2 handlers, before the diet: {before}");
}

#[test]
#[ignore = "big: run in release (see the top of this file); needs a solved handler.rs"]
fn big_handler_model_keeps_every_invariant() {
    let (stats, broken) = check_all(HandlerModel::new(Config::BIG), 2);
    println!("the handler model, 3 messages, 2 retries, 2 handlers: {stats}");
    assert!(broken.is_empty(), "broken: {broken:?} ({stats})");
}
