//! Replay drift: a handler whose run changes from one run to the next (a
//! `HashMap`'s order, the wall clock) is caught, with a message that says
//! the run is not deterministic, where, and what usually causes it.

use std::collections::{BTreeMap, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::time::{SystemTime, UNIX_EPOCH};

use harness::{
    Broker, Condition, DocumentStore, Envelope, Error, Exploration, Explorer, Fault,
    HandlerContext, Sim, Violation, World,
};

/// How a handler picks the keys it writes.
#[derive(Clone, Copy)]
enum Keys {
    /// Eight line ids from a `HashMap`, in its order (changes from run to run).
    HashMapOrder,
    /// The same ids from a `BTreeMap`, in key order (the fix).
    BTreeMapOrder,
    /// One id made from the wall clock (changes from run to run).
    WallClock,
}

fn line_ids() -> Vec<(String, u32)> {
    (1..=8).map(|n| (format!("line-{n}"), n)).collect()
}

fn keys(keys: Keys) -> Vec<String> {
    match keys {
        Keys::HashMapOrder => {
            let lines: HashMap<String, u32> = line_ids().into_iter().collect();
            lines.into_keys().collect()
        }
        Keys::BTreeMapOrder => {
            let lines: BTreeMap<String, u32> = line_ids().into_iter().collect();
            lines.into_keys().collect()
        }
        Keys::WallClock => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            vec![format!("order-{}", now.as_nanos())]
        }
    }
}

/// Two `AddItem`s on one worker; the handler writes its keys; a write may
/// fail before it takes effect, once per run.
fn scenario(sim: &Sim, how: Keys) -> Result<(), Violation> {
    let broker = Broker::new(sim);
    let orders = DocumentStore::new(sim, "orders");
    let mut world = World::new(sim, &broker);
    world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
        for key in keys(how) {
            orders.put("o-1", &key, &"ruskie", Condition::Always)?;
        }
        Ok(())
    });
    sim.explore_faults("kv.orders.put", &[Fault::FailBefore], 1);
    for _ in 0..2 {
        let add = Envelope::new(sim.new_message_id(), "AddItem", &"ruskie");
        world.send("orders", add).unwrap();
    }
    world
        .run_until_quiet(100)
        .map_err(|err| Violation::new("terminates", &err.to_string(), vec![], sim))?;
    Ok(())
}

fn explore(how: Keys) -> Exploration {
    Explorer::new(move |sim: &Sim| scenario(sim, how)).run()
}

/// What `assert_no_violation` panics with.
fn failure_of(report: &Exploration) -> String {
    let failed = panic::catch_unwind(AssertUnwindSafe(|| report.assert_no_violation()));
    let payload = failed.expect_err("the exploration fails");
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload.downcast_ref::<&str>().unwrap().to_string(),
    }
}

fn assert_caught(report: &Exploration) {
    let drift = report.drift.as_ref().expect("the drift is reported");
    assert!(
        drift
            .headline
            .starts_with("the run is not deterministic: at choice"),
        "{}",
        drift.headline
    );
    assert!(!report.exhausted, "{report}");
    let text = failure_of(report);
    for needle in [
        "the run is not deterministic",
        "HashMap",
        "Uuid::new_v4",
        "SystemTime::now",
        "threads outside the world",
        "the explorer stopped after",
        "stopped here: the run is not deterministic",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn a_handler_that_iterates_a_hash_map_of_ids_is_caught() {
    let report = explore(Keys::HashMapOrder);
    assert_caught(&report);
    // Its steps differ, not its questions: every write asks the same one.
    let headline = &report.drift.as_ref().unwrap().headline;
    assert!(
        headline.contains("steps that are not the same"),
        "{headline}"
    );
}

#[test]
fn a_handler_that_reads_the_wall_clock_is_caught() {
    assert_caught(&explore(Keys::WallClock));
}

#[test]
fn the_same_ids_in_key_order_explore_every_schedule() {
    let report = explore(Keys::BTreeMapOrder);
    report.assert_no_violation();
    assert!(report.exhausted && report.drift.is_none());
    // No fault, or one at any of the 16 writes.
    assert_eq!(report.schedules, 17);
}

/// A bare script (`HARNESS_SCRIPT`) knows only its picks: one that is not an
/// option where it lands stops the world, which answers with the reason.
#[test]
fn a_replayed_pick_that_is_not_an_option_stops_the_world() {
    let sim = Sim::scripted(0, vec![0, 3]);
    let broker = Broker::new(&sim);
    let orders = DocumentStore::new(&sim, "orders");
    let mut world = World::new(&sim, &broker);
    world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
        orders.put("o-1", "line-1", &"ruskie", Condition::Always)?;
        orders.put("o-1", "line-2", &"ruskie", Condition::Always)?;
        Ok(())
    });
    sim.explore_faults("kv.orders.put", &[Fault::FailBefore], 1);
    let add = Envelope::new(sim.new_message_id(), "AddItem", &"ruskie");
    world.send("orders", add).unwrap();
    let err = world.run_until_quiet(100).unwrap_err();
    assert!(
        matches!(err, Error::NotDeterministic { choice: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "the replay expected a question with option 3 (the schedule picks it), but found \
             \"fault at kv.orders.put\" (2 options)"
        ),
        "{err}"
    );
    assert_eq!(sim.drift(), Some(err));
}

/// The check costs the explorer no schedule: a deterministic scenario
/// explores exactly as many as before (the original workshop's count).
#[test]
fn a_deterministic_scenario_is_never_taken_for_drift() {
    let report = Explorer::new(|sim: &Sim| {
        for n in 0..11 {
            sim.note(&format!("step {n}"));
            sim.choose("A or B", 2);
        }
        Ok(())
    })
    .run();
    assert_eq!(report.schedules, 2048);
    assert!(report.exhausted && report.drift.is_none());
}
