use std::panic::{self, AssertUnwindSafe};

use super::env::{parse_script, parse_seed};
use super::*;
use crate::drift;
use crate::{Fault, FaultPoint, FaultRule, MessageId};

#[test]
fn scripts_parse_as_comma_separated_choices() {
    assert_eq!(parse_script("1,0,2"), Some(vec![1, 0, 2]));
    assert_eq!(parse_script(" 3 , 1 "), Some(vec![3, 1]));
    assert_eq!(parse_script(""), Some(vec![]));
    assert_eq!(parse_script("1,x"), None);
}

/// A run: a choice, a note (the replay may change it), then two choices.
fn noted_run(sim: &Sim, note: &str) -> Vec<u32> {
    let mut picks = vec![sim.choose("coin", 2)];
    sim.note(note);
    picks.extend((0..2).map(|_| sim.choose("coin", 2)));
    picks
}

/// A replay of `script` that checks the fingerprint of `first`'s run.
fn replay_of(first: &Sim, script: Vec<u32>) -> Sim {
    let fingerprint = drift::fingerprint(&first.choices()).unwrap();
    let replay = Sim::scripted(1, script);
    replay.expect_fingerprint(drift::parse_fingerprint(&fingerprint));
    replay
}

#[test]
fn a_replay_with_the_runs_fingerprint_stops_where_the_run_differs() {
    let first = Sim::scripted(1, vec![1, 0, 1]);
    noted_run(&first, "ola adds meat");
    // The same run replays.
    let same = replay_of(&first, vec![1, 0, 1]);
    assert_eq!(noted_run(&same, "ola adds meat"), [1, 0, 1]);
    // Another one stops at the first choice after the note that differs:
    // the second, not the last.
    let other = replay_of(&first, vec![1, 0, 1]);
    let stopped = panic::catch_unwind(AssertUnwindSafe(|| noted_run(&other, "ola adds fish")));
    assert!(stopped.is_err());
    let drift = other.drift().unwrap();
    assert!(
        matches!(
            drift,
            crate::Error::NotDeterministic {
                choice: 2,
                step: 1,
                ..
            }
        ),
        "{drift}"
    );
    assert!(
        drift
            .to_string()
            .contains("after steps that are not the same"),
        "{drift}"
    );
}

#[test]
fn a_replay_that_meets_other_options_or_more_choices_stops_there() {
    let first = Sim::scripted(1, vec![1, 1]);
    first.choose("coin", 2);
    first.choose("coin", 2);
    // A question with three options where the run had two.
    let other = replay_of(&first, vec![1, 1]);
    other.choose("coin", 2);
    let stopped = panic::catch_unwind(AssertUnwindSafe(|| other.choose("coin", 3)));
    assert!(stopped.is_err());
    let drift = other.drift().unwrap().to_string();
    assert!(
        drift.contains("at choice 2")
            && drift.contains("a question with 2 options, as the replayed run met here"),
        "{drift}"
    );
    // A third choice the run never made.
    let longer = replay_of(&first, vec![1, 1]);
    longer.choose("coin", 2);
    longer.choose("coin", 2);
    let stopped = panic::catch_unwind(AssertUnwindSafe(|| longer.choose("coin", 2)));
    assert!(stopped.is_err());
    let drift = longer.drift().unwrap().to_string();
    assert!(drift.contains("the replayed run made 2"), "{drift}");
}

#[test]
fn a_scripted_run_knows_it_is_scripted() {
    assert!(Sim::scripted(1, vec![1]).is_scripted());
    assert!(!Sim::new(1).is_scripted());
}

#[test]
fn seeds_parse_in_decimal_and_hex() {
    assert_eq!(parse_seed("42"), Some(42));
    assert_eq!(parse_seed("0x2a"), Some(42));
    assert_eq!(parse_seed("nope"), None);
}

#[test]
fn the_same_seed_gives_the_same_choices() {
    let run = |seed| {
        let sim = Sim::new(seed);
        (0..20).map(|_| sim.choose("x", 5)).collect::<Vec<_>>()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn labels_and_choices_stay_within_the_trace_limit() {
    let sim = Sim::new(1);
    sim.set_trace_limit(3);
    for n in 0..10 {
        sim.label(MessageId::from_u128(n));
        sim.choose("x", 2);
    }
    assert_eq!(sim.choices().len(), 3);
    assert_eq!(sim.lock().record.labels.len(), 3);
    // The newest labels survive, and numbering never reuses a label.
    assert_eq!(sim.label(MessageId::from_u128(9)), "m10");
    assert_eq!(sim.label(MessageId::from_u128(0)), "m11");
}

#[test]
fn a_scripted_fault_is_recorded_in_the_trace() {
    let sim = Sim::new(1);
    sim.inject(FaultRule::at("kv.carts.batch").fail_after());
    assert_eq!(
        sim.fault_at(&FaultPoint::new("kv", "carts", "batch")),
        Some(Fault::FailAfter)
    );
    let trace = sim.trace().to_string();
    assert!(
        trace.contains("fault: fail after at kv.carts.batch"),
        "{trace}"
    );
}
