//! The model and its checker on handlers whose verdicts are known: the
//! handler exercise 10 starts from, the handler it ends with, and the
//! classic wrong fixes (the exercise's mutants). Each broken invariant must
//! come with a shortest counterexample: no shorter run breaks it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use handler_model::{
    Attempt, Config, HandlerModel, HandlerSteps, Invariant, Step, check_all, check_shortest,
    expect_invariant,
};
use stateright::{Checker, Model};

fn save(attempt: &mut Attempt) {
    attempt.save_change();
}

fn save_once(attempt: &mut Attempt) {
    if attempt.stored_change().is_none() {
        attempt.save_change();
    }
}

fn send_new(attempt: &mut Attempt) {
    let event = attempt.new_event();
    attempt.send(event);
}

fn send_stored(attempt: &mut Attempt) {
    if let Some(change) = attempt.stored_change() {
        attempt.send(change.event());
    }
}

fn send_stored_or_new(attempt: &mut Attempt) {
    let event = match attempt.stored_change() {
        Some(change) => change.event(),
        None => attempt.new_event(),
    };
    attempt.send(event);
}

fn send_first_attempt_only(attempt: &mut Attempt) {
    match attempt.stored_change() {
        Some(change) if change.attempt == attempt.number() => attempt.send(change.event()),
        Some(_) | None => {}
    }
}

/// Where exercise 10 starts: send, then update the store, no guard.
const STARTING: HandlerSteps = HandlerSteps {
    order: &[Step::Send, Step::UpdateStore, Step::Ack],
    update_store: save,
    send: send_new,
};

/// Update, then send what the store recorded; the update is guarded.
const SOLVED: HandlerSteps = HandlerSteps {
    order: &[Step::UpdateStore, Step::Send, Step::Ack],
    update_store: save_once,
    send: send_stored,
};

/// Every invariant the model checks, with the length of its shortest
/// counterexample for `steps` (`None`: it holds in every run).
fn verdicts(steps: HandlerSteps) -> Vec<(Invariant, Option<usize>)> {
    Invariant::ALL
        .into_iter()
        .map(|invariant| (invariant, shortest(steps, invariant)))
        .collect()
}

/// The length of the shortest run of `steps` that breaks `invariant`, after
/// checking that no shorter run breaks it.
fn shortest(steps: HandlerSteps, invariant: Invariant) -> Option<usize> {
    let model = HandlerModel::only(steps, Config::DEFAULT, invariant);
    let counterexample = check_shortest(model.clone(), invariant.name()).err()?;
    let length = counterexample.steps.len();
    assert_eq!(counterexample.path.len(), length + 1, "{counterexample}");
    // A state at depth d is d - 1 steps from the start; the checker skips
    // states at depth `target_max_depth` and beyond.
    let shorter = model
        .checker()
        .target_max_depth(length + 1)
        .spawn_bfs()
        .join();
    assert!(
        shorter.discovery(invariant.name()).is_none(),
        "a run shorter than {length} steps breaks {}",
        invariant.name()
    );
    Some(length)
}

#[test]
fn the_solved_handler_keeps_every_invariant_in_720_states() {
    assert!(
        verdicts(SOLVED).iter().all(|(_, broken)| broken.is_none()),
        "{:?}",
        verdicts(SOLVED)
    );
    let (stats, broken) = check_all(HandlerModel::new(SOLVED, Config::DEFAULT), 1);
    assert_eq!((stats.states, broken), (720, vec![]), "{stats}");
}

#[test]
fn the_starting_handler_breaks_three_invariants_and_keeps_no_lost_messages() {
    assert_eq!(
        verdicts(STARTING),
        [
            (Invariant::NoGhostMessages, Some(3)),
            (Invariant::NoLostMessages, None),
            (Invariant::NoDuplicateProcessing, Some(7)),
            (Invariant::ConsistentOutput, Some(5)),
        ]
    );
}

#[test]
fn a_counterexample_is_told_step_by_step_in_the_course_s_words() {
    let model = HandlerModel::only(STARTING, Config::DEFAULT, Invariant::NoGhostMessages);
    let counterexample = check_shortest(model, Invariant::NoGhostMessages.name()).unwrap_err();
    assert_eq!(
        counterexample.to_string(),
        "no ghost messages: ItemAdded(m1, data of attempt 1) is out, but the store has no \
         change for m1 (and no handler is working on it)\n\
         Shortest counterexample (3 steps):\n  \
         1. handler 1 receives m1 (attempt 1)\n  \
         2. handler 1 sends ItemAdded(m1, data of attempt 1)\n  \
         3. handler 1's store update fails: m1 goes back to the queue (attempt 2 next)\n"
    );
    assert_eq!(counterexample.explorer_path, "0/0/0/1");
}

#[test]
fn the_classic_wrong_fixes_are_each_caught() {
    let ack_before_send = HandlerSteps {
        order: &[Step::UpdateStore, Step::Ack, Step::Send],
        ..SOLVED
    };
    let guard_in_send_only = HandlerSteps {
        update_store: save,
        send: send_first_attempt_only,
        ..SOLVED
    };
    let output_from_incoming_message = HandlerSteps {
        send: send_new,
        ..SOLVED
    };
    let publish_before_store_update = HandlerSteps {
        order: &[Step::Send, Step::UpdateStore, Step::Ack],
        send: send_stored_or_new,
        ..SOLVED
    };
    let broken = |steps| -> Vec<(Invariant, usize)> {
        verdicts(steps)
            .into_iter()
            .filter_map(|(invariant, length)| Some((invariant, length?)))
            .collect()
    };
    assert_eq!(broken(ack_before_send), [(Invariant::NoLostMessages, 4)]);
    assert_eq!(
        broken(guard_in_send_only),
        [
            (Invariant::NoLostMessages, 7),
            (Invariant::NoDuplicateProcessing, 5),
        ]
    );
    assert_eq!(
        broken(output_from_incoming_message),
        [(Invariant::ConsistentOutput, 6)]
    );
    assert_eq!(
        broken(publish_before_store_update),
        [
            (Invariant::NoGhostMessages, 3),
            (Invariant::ConsistentOutput, 5),
        ]
    );
}

#[test]
fn a_broken_invariant_fails_the_test_with_the_report_link_and_diagram() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        expect_invariant(STARTING, Invariant::NoGhostMessages, "update first.")
    }))
    .expect_err("the starting handler sends ghosts");
    let message = panic
        .downcast_ref::<String>()
        .expect("the report is the panic's message");
    for part in [
        "no ghost messages: ItemAdded(m1, data of attempt 1) is out",
        "a shortest one, 3 steps",
        "Where to look in src/model/handler.rs: update first.",
        "Seed:    none: the model checker tried every run",
        "run `cargo xtask explore 10`, then open http://127.0.0.1:3000/#/steps/0/0/0/1",
        "received AddItem(m1) from queue in",
        "sent ItemAdded(m1, data of attempt 1) to queue out",
        "(its store update failed)",
        "Diagram: file://",
    ] {
        assert!(
            message.contains(part),
            "{part:?} is missing from:\n{message}"
        );
    }
    assert!(
        !message.contains("HARNESS_SEED"),
        "a seed replays nothing here:\n{message}"
    );
}

#[test]
fn a_kept_invariant_returns_the_state_counts() {
    let stats = expect_invariant(SOLVED, Invariant::NoLostMessages, "unused");
    assert_eq!(stats.states, 720, "{stats}");
}

fn save_and_send(attempt: &mut Attempt) {
    save_once(attempt);
    send_stored(attempt);
}

fn send_nothing(_attempt: &mut Attempt) {}

#[test]
fn a_step_that_saves_and_sends_breaks_every_invariant_and_says_why() {
    // Saving and sending in one step passes every invariant in a model that
    // lets a step write the store and send at once: a distributed
    // transaction, which no real store and queue share.
    let in_one_step = HandlerSteps {
        update_store: save_and_send,
        send: send_nothing,
        ..SOLVED
    };
    assert!(
        verdicts(in_one_step)
            .iter()
            .all(|(_, broken)| *broken == Some(2)),
        "{:?}",
        verdicts(in_one_step)
    );
    let model = HandlerModel::only(in_one_step, Config::DEFAULT, Invariant::NoLostMessages);
    let counterexample = check_shortest(model, Invariant::NoLostMessages.name()).unwrap_err();
    assert_eq!(
        counterexample.headline,
        "no lost messages: update_store sent ItemAdded(m1, data of attempt 1): a step may only \
         do its own kind of effect. The store and the queue share no transaction, so writing \
         and sending in one step is not atomic in a real system: save in update_store, send in \
         send, and order the steps"
    );
    // And the other way round.
    let saves_in_send = HandlerSteps {
        order: &[Step::Send, Step::Ack],
        update_store: send_nothing,
        send: save_and_send,
    };
    let model = HandlerModel::only(saves_in_send, Config::DEFAULT, Invariant::NoGhostMessages);
    let counterexample = check_shortest(model, Invariant::NoGhostMessages.name()).unwrap_err();
    assert!(
        counterexample.headline.starts_with(
            "no ghost messages: send wrote m1's change, made by attempt 1 to the store"
        ),
        "{}",
        counterexample.headline
    );
}
