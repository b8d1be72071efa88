//! Sometimes-conditions and coverage: an exploration counts what its runs
//! reached, and fails when what the test is about never happened.

use std::panic::{self, AssertUnwindSafe};

use harness::{
    Broker, Condition, DocumentStore, Envelope, EventKind, Explorer, Fault, HandlerContext, Sim,
    Trace, Violation, World,
};

/// Where the handler writes the order.
#[derive(Clone, Copy)]
enum Writes {
    /// To the orders store, as the test expects.
    Orders,
    /// To another store: the handler no longer reaches `kv.orders.put`.
    Elsewhere,
}

/// Two copies of one `AddItem` on two workers: each reads the order and
/// creates it if absent. A write may fail after it took effect, once.
fn two_copies(sim: &Sim, writes: Writes) -> Result<(), Violation> {
    let broker = Broker::new(sim);
    let orders = DocumentStore::new(sim, "orders");
    let archive = DocumentStore::new(sim, "archive");
    let mut world = World::new(sim, &broker);
    world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
        if orders.get::<String>("o-1", "order")?.is_some() {
            return Ok(());
        }
        let store = match writes {
            Writes::Orders => &orders,
            Writes::Elsewhere => &archive,
        };
        match store.put("o-1", "order", &"ruskie", Condition::CreateOnly) {
            Err(err) if err.is_conflict() => Ok(()),
            written => written.map(|_| ()).map_err(Into::into),
        }
    });
    world.set_workers("orders", 2).unwrap();
    sim.explore_faults("kv.orders.put", &[Fault::FailAfter], 1);
    let add = Envelope::new(sim.new_message_id(), "AddItem", &"ruskie");
    world.send("orders", add.clone()).unwrap();
    world.send("orders", add).unwrap();
    world
        .run_until_quiet(100)
        .map_err(|err| Violation::new("terminates", &err.to_string(), vec![], sim))?;
    Ok(())
}

/// Both copies read the order before either wrote it.
fn both_read_before_a_write(trace: &Trace) -> bool {
    let mut readers = Vec::new();
    for event in trace.events() {
        match &event.kind {
            EventKind::Read { key, .. } if key == "o-1/order" => readers.push(&event.actor),
            EventKind::Wrote { .. } => break,
            _ => {}
        }
    }
    readers.len() == 2 && readers[0] != readers[1]
}

/// A write to the orders store failed after it took effect.
fn a_crash_struck_after_the_write(trace: &Trace) -> bool {
    trace.events().iter().any(|event| {
        matches!(&event.kind, EventKind::FaultInjected { point, fault }
            if point == "kv.orders.put" && fault.contains("after"))
    })
}

fn explorer(writes: Writes) -> Explorer {
    Explorer::new(move |sim: &Sim| two_copies(sim, writes))
        .sometimes(
            "both copies read before either wrote",
            both_read_before_a_write,
        )
        .sometimes(
            "a crash struck after the write",
            a_crash_struck_after_the_write,
        )
}

#[test]
fn an_exploration_counts_points_preemptions_and_conditions() {
    let report = explorer(Writes::Orders).run();
    report.assert_no_violation();
    let coverage = &report.coverage;
    assert_eq!(coverage.runs, report.schedules);
    let put = coverage.points["kv.orders.put"];
    let get = coverage.points["kv.orders.get"];
    assert!(put.reached > 0 && put.struck > 0, "{coverage}");
    assert!(get.reached >= 2 * report.schedules as u64, "{coverage}");
    assert_eq!(get.struck, 0, "{coverage}");
    assert!(coverage.preempted["orders#1"] > 0, "{coverage}");
    assert!(coverage.preempted["orders#2"] > 0, "{coverage}");
    for condition in &coverage.sometimes {
        // Sometimes, not always.
        assert!(
            condition.held() && condition.runs < report.schedules,
            "{coverage}"
        );
    }
    let summary = coverage.summary();
    assert!(
        // The broker's points count too: receive, ack, abandon …
        summary.starts_with(&format!(
            "{} schedules · 6 fault points reached",
            report.schedules
        )),
        "{summary}"
    );
    assert!(
        summary.ends_with("2/2 sometimes-conditions held"),
        "{summary}"
    );
}

#[test]
fn a_handler_that_no_longer_reaches_the_point_fails_the_exploration() {
    let report = explorer(Writes::Elsewhere).run();
    // No invariant broke: without the condition, this would pass.
    assert!(report.counterexample.is_none() && report.exhausted);
    let failed = panic::catch_unwind(AssertUnwindSafe(|| report.assert_no_violation()));
    let text = *failed.unwrap_err().downcast::<String>().unwrap();
    assert!(
        text.starts_with(&format!(
            "the test did not explore what it is about: in none of its {} schedules did \"a \
             crash struck after the write\" hold",
            report.schedules
        )),
        "{text}"
    );
    // The counts say why: the handler writes elsewhere.
    assert!(text.contains("kv.archive.put"), "{text}");
    assert!(!text.contains("kv.orders.put"), "{text}");
}

#[test]
fn one_worker_is_never_preempted() {
    let report = Explorer::new(|sim: &Sim| {
        let broker = Broker::new(sim);
        let orders = DocumentStore::new(sim, "orders");
        let mut world = World::new(sim, &broker);
        world.add_endpoint("orders", move |_ctx: &mut HandlerContext, m: &Envelope| {
            orders.put("o-1", &m.id.to_string(), &"ruskie", Condition::Always)?;
            Ok(())
        });
        sim.explore_faults("kv.orders.put", &[Fault::FailBefore], 1);
        for _ in 0..2 {
            let add = Envelope::new(sim.new_message_id(), "AddItem", &"ruskie");
            world.send("orders", add).unwrap();
        }
        world.run_until_quiet(100).unwrap();
        Ok(())
    })
    .run();
    report.assert_no_violation();
    assert!(report.coverage.preempted.is_empty(), "{report}");
    assert_eq!(report.coverage.points["kv.orders.put"].struck, 2);
}
