use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use super::*;
use crate::{
    Condition, DEFAULT_DELIVERY_BUDGET, DEFAULT_MAX_ATTEMPTS, DocumentStore, Fault, FaultRule,
    RandomFaults,
};
use proptest::prelude::*;

fn world(seed: u64) -> (Sim, Broker, World) {
    let sim = Sim::new(seed);
    let broker = Broker::new(&sim);
    let world = World::new(&sim, &broker);
    (sim, broker, world)
}

fn message(sim: &Sim, message_type: &str) -> Envelope {
    Envelope::new(sim.new_message_id(), message_type, &())
}

fn count(sim: &Sim, needle: &str) -> usize {
    sim.trace().to_string().matches(needle).count()
}

#[test]
fn a_failed_handler_sends_nothing_unless_it_sent_immediately() {
    let (sim, broker, mut world) = world(1);
    broker.declare_queue("billing");
    broker.declare_queue("audit");
    broker.set_max_attempts("orders", 1).ok();
    world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
        let batched = Envelope::new(ctx.new_message_id(), "Batched", &());
        ctx.send("billing", batched)?;
        let now = Envelope::new(ctx.new_message_id(), "Immediate", &());
        ctx.send_immediately("audit", now)?;
        Err(HandlerError::transient("database down"))
    });
    broker.set_max_attempts("orders", 1).unwrap();
    world.send("orders", message(&sim, "AddItem")).unwrap();
    world.run_until_quiet(10).unwrap();
    assert!(broker.sent_to("billing").unwrap().is_empty());
    assert_eq!(broker.sent_to("audit").unwrap().len(), 1);
    assert_eq!(broker.dead_letters("orders").unwrap().len(), 1);
}

#[test]
fn transient_failures_are_retried_then_dead_lettered() {
    let (sim, broker, mut world) = world(1);
    world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| {
        Err(HandlerError::transient("database down"))
    });
    world.send("orders", message(&sim, "AddItem")).unwrap();
    let steps = world.run_until_quiet(100).unwrap();
    assert_eq!(steps, DEFAULT_MAX_ATTEMPTS as usize);
    let dead = broker.dead_letters("orders").unwrap();
    assert!(
        dead[0].reason.contains("database down"),
        "{}",
        dead[0].reason
    );
}

#[test]
fn a_panicking_handler_fails_with_its_message_and_the_world_goes_on() {
    let (sim, broker, mut world) = world(1);
    world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| {
        assert_eq!(1 + 1, 3, "the order must have two lines");
        Ok(())
    });
    world.set_workers("orders", 2).unwrap();
    broker.set_max_attempts("orders", 2).unwrap();
    world.send("orders", message(&sim, "AddItem")).unwrap();
    world.run_until_quiet(100).unwrap();
    assert_eq!(
        count(
            &sim,
            "failed on AddItem(m1): the handler panicked: assertion `left == right` failed: \
             the order must have two lines"
        ),
        2
    );
    assert_eq!(broker.dead_letters("orders").unwrap().len(), 1);
}

#[test]
fn outgoing_messages_carry_causation_conversation_and_sender() {
    let (sim, broker, mut world) = world(1);
    world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
        ctx.send("billing", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
        Ok(())
    });
    world.add_endpoint("billing", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    let add = message(&sim, "AddItem").with_header(headers::CONVERSATION_ID, "c-1");
    world.send("orders", add.clone()).unwrap();
    world.run_until_quiet(10).unwrap();
    let bill = &broker.sent_to("billing").unwrap()[0];
    assert_eq!(
        bill.header(headers::CAUSATION_ID),
        Some(add.id.to_string().as_str())
    );
    assert_eq!(bill.conversation_id(), Some("c-1"));
    assert_eq!(bill.header(headers::SENDER), Some("orders"));
}

#[test]
fn sending_to_an_unknown_queue_fails_clearly_in_the_handler() {
    let (sim, broker, mut world) = world(1);
    world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
        ctx.send("billng", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
        Ok(())
    });
    broker.set_max_attempts("orders", 1).unwrap();
    world.send("orders", message(&sim, "AddItem")).unwrap();
    world.run_until_quiet(10).unwrap();
    assert_eq!(
        broker.dead_letters("orders").unwrap()[0].reason,
        "delivered 1 times without success; last error: unknown queue `billng` (known: orders)"
    );
}

/// Exercise 04's setting: the handler takes longer than the lease.
fn slow_orders(workers: usize) -> (Sim, Broker, World) {
    let (sim, broker, mut world) = world(3);
    world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
        if ctx.attempt() == 1 {
            ctx.take_time(Duration::from_secs(40));
        }
        Ok(())
    });
    world.set_workers("orders", workers).unwrap();
    world.send("orders", message(&sim, "SubmitOrder")).unwrap();
    world.run_until_quiet(20).unwrap();
    (sim, broker, world)
}

#[test]
fn a_slow_handler_sees_its_message_handed_to_another_worker() {
    let (sim, broker, _world) = slow_orders(2);
    let events: Vec<String> = sim.trace().events().iter().map(|e| e.to_string()).collect();
    let second = events
        .iter()
        .position(|e| e.contains("(attempt 2)"))
        .unwrap();
    let first_done = events
        .iter()
        .position(|e| e.contains("orders#1: orders finished"))
        .unwrap();
    // Worker 2 got the message while worker 1 was still on it.
    assert!(events[second].contains("orders#2"), "{events:#?}");
    assert!(second < first_done, "{events:#?}");
    assert_eq!(count(&sim, "acknowledged"), 1);
    assert_eq!(count(&sim, "the lease on SubmitOrder(m1) ran out"), 1);
    assert_eq!(broker.queue_len("orders").unwrap(), 0);
}

#[test]
fn with_one_worker_a_slow_handlers_message_is_redelivered_afterwards() {
    let (sim, broker, _world) = slow_orders(1);
    let events: Vec<String> = sim.trace().events().iter().map(|e| e.to_string()).collect();
    let second = events
        .iter()
        .position(|e| e.contains("(attempt 2)"))
        .unwrap();
    let first_done = events
        .iter()
        .position(|e| e.contains("orders finished"))
        .unwrap();
    assert!(first_done < second, "{events:#?}");
    assert_eq!(count(&sim, "orders finished SubmitOrder(m1)"), 2);
    assert_eq!(broker.finished_log().len(), 1);
}

#[test]
fn send_in_order_finishes_each_conversation_before_the_next() {
    let (sim, _broker, mut world) = world(9);
    world.add_endpoint("orders", |ctx: &mut HandlerContext, m: &Envelope| {
        ctx.send(
            "billing",
            Envelope::new(ctx.new_message_id(), "Bill", &m.message_type),
        )?;
        Ok(())
    });
    world.add_endpoint("billing", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    let first = message(&sim, "First");
    let second = message(&sim, "Second");
    world
        .send_in_order(&[("orders", first), ("orders", second)])
        .unwrap();
    let trace = sim.trace().to_string();
    let billed_first = trace.find("billing finished Bill(m2)").unwrap();
    let sent_second = trace.find("sent Second(m3)").unwrap();
    assert!(billed_first < sent_second, "{trace}");
}

#[test]
fn a_world_dropped_with_paused_handlers_does_not_hang() {
    let (sim, _broker, mut world) = world(1);
    let store = DocumentStore::new(&sim, "orders");
    world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
        store.put("p", "k", &1, Condition::Always)?;
        Ok(())
    });
    world.set_workers("orders", 2).unwrap();
    world.send("orders", message(&sim, "A")).unwrap();
    world.send("orders", message(&sim, "B")).unwrap();
    assert!(world.step());
    assert!(world.step());
    drop(world);
}

#[test]
fn a_panic_outside_the_handler_on_a_worker_thread_does_not_hang_the_world() {
    let (sim, _broker, mut world) = world(1);
    sim.inject(
        FaultRule::at("broker.orders.ack").interleave(|| panic!("a scripted interleaving failed")),
    );
    world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    world.set_workers("orders", 2).unwrap();
    world.send("orders", message(&sim, "A")).unwrap();
    world.run_until_quiet(100).unwrap();
    // Never acknowledged the first time: the lease ran out, and the second delivery was.
    assert_eq!(count(&sim, "acknowledged"), 1);
}

/// Two endpoints, two workers each, random faults: enough to interleave.
fn busy_run(seed: u64) -> Vec<String> {
    let (sim, broker, mut world) = world(seed);
    sim.inject_random(
        RandomFaults::new()
            .with("broker.*.send", Fault::Duplicate, 0.2)
            .with("kv.**", Fault::FailBefore, 0.1),
    );
    let store = DocumentStore::new(&sim, "orders");
    world.add_endpoint("orders", move |ctx: &mut HandlerContext, m: &Envelope| {
        let key = m.id.to_string();
        if store.get::<u32>("p", &key)?.is_none() {
            store.put("p", &key, &1, Condition::Always)?;
        }
        ctx.send("billing", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
        Ok(())
    });
    world.add_endpoint("billing", |ctx: &mut HandlerContext, _m: &Envelope| {
        ctx.take_time(Duration::from_secs(ctx.sim().random_below(50)));
        Ok(())
    });
    world.set_workers("orders", 2).unwrap();
    world.set_workers("billing", 2).unwrap();
    for _ in 0..4 {
        world.send("orders", message(&sim, "AddItem")).unwrap();
    }
    world.run_until_quiet(1_000).unwrap();
    drop(broker);
    sim.trace().events().iter().map(|e| e.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn the_same_seed_gives_the_same_run_event_for_event(seed in 0u64..10_000) {
        prop_assert_eq!(busy_run(seed), busy_run(seed));
    }
}

#[test]
fn different_seeds_give_different_runs() {
    assert_ne!(busy_run(1), busy_run(2));
}

/// A handler that retries a write for ever inside one delivery, on a
/// store that always fails: the classic hang.
fn stubborn_orders(workers: usize) -> (Sim, Broker, World) {
    let (sim, broker, mut world) = world(4);
    let store = DocumentStore::new(&sim, "orders");
    sim.inject(FaultRule::at("kv.orders.put").always().fail_before());
    world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
        while store.put("ola", "o-1", &"meat", Condition::Always).is_err() {}
        Ok(())
    });
    world.set_workers("orders", workers).unwrap();
    world.set_delivery_budget(500);
    world.send("orders", message(&sim, "AddItem")).unwrap();
    (sim, broker, world)
}

#[test]
fn a_handler_retrying_a_failing_store_call_for_ever_fails_with_a_message() {
    for workers in [1, 2] {
        let (sim, broker, mut world) = stubborn_orders(workers);
        // With two workers, each call is a turn, and a turn is a step.
        let err = world.run_until_quiet(1_000).unwrap_err();
        assert_eq!(
            err,
            Error::Runaway {
                who: "the handler of endpoint orders".into(),
                message: "AddItem(m1)".into(),
                calls: 500,
                last_call: "kv.orders.put".into(),
            }
        );
        assert!(
            err.to_string().starts_with(
                "the handler of endpoint orders never finished AddItem(m1): it made 500 \
                 calls to the simulated cloud without returning (the last at kv.orders.put) \
                 — a loop that retries for ever?"
            ),
            "{err}"
        );
        // The message is dead-lettered with the reason, and the trace says so.
        let dead = broker.dead_letters("orders").unwrap();
        assert!(
            dead[0].reason.contains("never finished"),
            "{}",
            dead[0].reason
        );
        assert_eq!(
            count(&sim, "failed on AddItem(m1): the handler of endpoint"),
            1
        );
        // The world stays stopped.
        assert_eq!(world.run_until_quiet(1_000).unwrap_err(), err);
    }
}

#[test]
fn a_runaway_delivery_stops_the_world_while_other_handlers_wait() {
    let (sim, broker, mut world) = stubborn_orders(2);
    // A second message for the other worker, which takes its turns too.
    world.send("orders", message(&sim, "AddItem")).unwrap();
    let err = world.run_until_quiet(10_000).unwrap_err();
    assert!(matches!(err, Error::Runaway { .. }), "{err}");
    assert_eq!(broker.dead_letters("orders").unwrap().len(), 1);
    drop(world); // the parked handler unwinds: no hang
}

#[test]
fn a_handler_that_takes_time_for_ever_fails_with_a_message() {
    let (sim, _broker, mut world) = world(1);
    world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
        loop {
            ctx.take_time(Duration::from_millis(1));
        }
    });
    world.send("orders", message(&sim, "AddItem")).unwrap();
    let err = world.run_until_quiet(100).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "it made {DEFAULT_DELIVERY_BUDGET} calls to the simulated cloud without \
             returning (the last at HandlerContext::take_time)"
        )),
        "{err}"
    );
}

#[test]
fn stepping_a_world_whose_delivery_ran_away_panics_with_a_report() {
    let (_sim, _broker, mut world) = stubborn_orders(1);
    let stepped = panic::catch_unwind(AssertUnwindSafe(|| world.step()));
    let report = *stepped.unwrap_err().downcast::<String>().unwrap();
    assert!(
        report.starts_with("the handler of endpoint orders never finished AddItem(m1)"),
        "{report}"
    );
    assert!(report.contains("Seed:    4"), "{report}");
}

#[test]
fn the_bound_strikes_at_the_same_call_in_every_replay() {
    let run = |seed| {
        let (sim, _broker, mut world) = world(seed);
        let store = DocumentStore::new(&sim, "orders");
        sim.inject_random(RandomFaults::new().with("kv.**", Fault::FailBefore, 0.5));
        world.add_endpoint("orders", move |_ctx: &mut HandlerContext, m: &Envelope| {
            let key = m.id.to_string();
            loop {
                let _ = store.put("p", &key, &1, Condition::CreateOnly);
            }
        });
        world.set_workers("orders", 2).unwrap();
        world.set_delivery_budget(50);
        world.send("orders", message(&sim, "A")).unwrap();
        world.send("orders", message(&sim, "B")).unwrap();
        let err = world.run_until_quiet(1_000).unwrap_err();
        (err, busy_trace(&sim))
    };
    assert_eq!(run(5), run(5));
}

fn busy_trace(sim: &Sim) -> Vec<String> {
    sim.trace().events().iter().map(|e| e.to_string()).collect()
}

#[test]
fn scripted_faults_strike_inside_handlers() {
    let (sim, broker, mut world) = world(1);
    sim.inject(FaultRule::at("broker.billing.send").fail_after());
    world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
        ctx.send("billing", Envelope::new(ctx.new_message_id(), "Bill", &()))?;
        Ok(())
    });
    broker.declare_queue("billing");
    world.send("orders", message(&sim, "AddItem")).unwrap();
    world.run_until_quiet(10).unwrap();
    // Sent, failed, retried, sent again: two bills with different ids.
    let bills = broker.sent_to("billing").unwrap();
    assert_eq!(bills.len(), 2);
    assert_ne!(bills[0].id, bills[1].id);
}
