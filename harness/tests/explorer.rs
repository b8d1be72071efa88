//! The explorer over real worlds: it finds planted bugs, reports the shortest
//! counterexample, and covers every interleaving of two copies of a message.

use harness::{
    Broker, Condition, DocumentStore, Envelope, Explorer, Fault, FaultRule, HandlerContext,
    History, Sim, Violation, World,
};

/// An Orders endpoint that adds an item and announces it. With
/// `publish_first`, it publishes immediately and stores afterwards: the
/// classic ghost-message bug.
fn add_item_scenario(sim: &Sim, publish_first: bool) -> Result<(), Violation> {
    let broker = Broker::new(sim);
    let orders = DocumentStore::new(sim, "orders");
    let mut world = World::new(sim, &broker);
    let store = orders.clone();
    world.add_endpoint("orders", move |ctx: &mut HandlerContext, m: &Envelope| {
        let added = Envelope::new(m.id.derived("ItemAdded"), "ItemAdded", &m.body);
        if publish_first {
            ctx.publish_immediately("ItemAdded", added)?;
            store.put("o-1", &m.id.to_string(), &m.body, Condition::Always)?;
        } else {
            store.put("o-1", &m.id.to_string(), &m.body, Condition::Always)?;
            ctx.publish("ItemAdded", added)?;
        }
        Ok(())
    });
    // Give up at the first failure, as the TLA+ model's MaxFailures = 1 does.
    broker.set_max_attempts("orders", 1).unwrap();
    sim.explore_faults("kv.orders.put", &[Fault::FailBefore], 1);
    let add = Envelope::new(sim.new_message_id(), "AddItem", &"Ruskie");
    world.send("orders", add).unwrap();
    world
        .run_until_quiet(100)
        .map_err(|err| Violation::new("terminates", &err.to_string(), vec![], sim))?;

    let mut history = History::of_endpoint(&broker, "orders");
    for (key, _) in orders.list::<String>("o-1").unwrap() {
        let id = uuid::Uuid::parse_str(&key).unwrap();
        history.record_change(harness::MessageId::from_uuid(id), "put");
    }
    history.check_all()
}

#[test]
fn the_explorer_finds_a_ghost_message_when_the_handler_publishes_before_it_stores() {
    let explorer = Explorer::new(|sim: &Sim| add_item_scenario(sim, true));
    let report = explorer.run();
    assert!(report.exhausted);
    // One store call: it succeeds, or it fails.
    assert_eq!(report.schedules, 2);
    let violation = report.counterexample.expect("a ghost message");
    assert_eq!(violation.invariant, "no ghost messages");
    assert_eq!(
        violation.headline,
        "ItemAdded(m2) was sent for AddItem(m1), but the store holds no change for AddItem(m1): \
         a ghost message"
    );
    assert_eq!(violation.recording.script, [1]);
    // The script replays the counterexample.
    let replayed = explorer.replay(&violation.recording.script).unwrap_err();
    assert_eq!(replayed.headline, violation.headline);
    assert_eq!(
        replayed.recording.trace.to_string(),
        violation.recording.trace.to_string()
    );
}

#[test]
fn the_explorer_passes_the_handler_that_stores_before_it_publishes() {
    let report = Explorer::new(|sim: &Sim| add_item_scenario(sim, false)).run();
    report.assert_no_violation();
    assert!(report.exhausted);
}

/// Among several violating schedules, the report picks the one with the
/// fewest events.
#[test]
fn the_reported_counterexample_is_the_shortest() {
    let scenario = |sim: &Sim| -> Result<(), Violation> {
        let broker = Broker::new(sim);
        let mut world = World::new(sim, &broker);
        let store = DocumentStore::new(sim, "orders");
        let handler_store = store.clone();
        world.add_endpoint("orders", move |ctx: &mut HandlerContext, m: &Envelope| {
            ctx.publish_immediately("Noise", m.clone().with_id(ctx.new_message_id()))?;
            ctx.publish_immediately("Noise", m.clone().with_id(ctx.new_message_id()))?;
            ctx.publish_immediately("ItemAdded", m.clone().with_id(ctx.new_message_id()))?;
            handler_store.put("o-1", "item", &m.id, Condition::Always)?;
            Ok(())
        });
        // Any one publish may fail after it took effect: the handler gives
        // up before it stores, leaving a ghost behind; the earliest failure
        // gives the shortest trace.
        sim.explore_faults("broker.*.publish", &[Fault::FailAfter], 1);
        broker.set_max_attempts("orders", 1).unwrap();
        world
            .send(
                "orders",
                Envelope::new(sim.new_message_id(), "AddItem", &()),
            )
            .unwrap();
        world.run_until_quiet(100).unwrap();
        let mut history = History::of_endpoint(&broker, "orders");
        if let Some(item) = store.get::<harness::MessageId>("o-1", "item").unwrap() {
            history.record_change(item.value, "put");
        }
        harness::no_ghost_messages(&history)
    };
    let explorer = Explorer::new(scenario);
    let report = explorer.run();
    assert_eq!(report.schedules, 4);
    assert_eq!(report.violations, 3);
    let shortest = report.counterexample.unwrap();
    // The first publish fails: nothing else is sent.
    assert_eq!(shortest.recording.script, [1]);
    let lengths: Vec<usize> = [vec![0, 1], vec![0, 0, 1], vec![1]]
        .iter()
        .map(|script| {
            explorer
                .replay(script)
                .unwrap_err()
                .recording
                .trace
                .events()
                .len()
        })
        .collect();
    assert_eq!(
        shortest.recording.trace.events().len(),
        *lengths.iter().min().unwrap()
    );
}

fn binomial(n: u64, k: u64) -> u64 {
    (1..=k).fold(1, |acc, i| acc * (n + 1 - i) / i)
}

/// Two copies of one message race on two workers, each making `calls` store
/// calls on keys of its own (so nothing depends on the interleaving). Each
/// copy yields before every store call and before its ack: `calls + 2`
/// segments; the first copy's first segment always comes first.
#[test]
fn every_interleaving_of_two_copies_is_explored_exactly_once() {
    let calls = 4;
    let explorer = Explorer::new(move |sim: &Sim| {
        let broker = Broker::new(sim);
        let store = DocumentStore::new(sim, "counters");
        let mut world = World::new(sim, &broker);
        let handler_store = store.clone();
        world.add_endpoint("orders", move |ctx: &mut HandlerContext, _m: &Envelope| {
            let copy = ctx.sim().new_uuid().to_string();
            for call in 0..calls {
                handler_store.put(&copy, &call.to_string(), &call, Condition::Always)?;
            }
            Ok(())
        });
        world.set_workers("orders", 2).unwrap();
        sim.inject(FaultRule::at("broker.orders.send").duplicate());
        world
            .send(
                "orders",
                Envelope::new(sim.new_message_id(), "AddItem", &()),
            )
            .unwrap();
        world.run_until_quiet(100).unwrap();
        assert_eq!(store.len(), 2 * calls as usize);
        Ok(())
    });
    let report = explorer.run();
    report.assert_no_violation();
    assert!(report.exhausted);
    let segments = calls + 2;
    assert_eq!(
        report.schedules as u64,
        binomial(2 * segments - 1, segments - 1)
    );
}

/// The original's concurrency test in spirit: two copies of a message
/// increment a counter with optimistic concurrency and retry on conflict;
/// in every interleaving the counter ends at 2 (each copy counted once,
/// since nothing deduplicates) and never loses an update.
#[test]
fn optimistic_concurrency_never_loses_an_update_in_any_interleaving() {
    let explorer = Explorer::new(|sim: &Sim| {
        let broker = Broker::new(sim);
        let store = DocumentStore::new(sim, "counters");
        store
            .put("p", "counter", &0u32, Condition::CreateOnly)
            .unwrap();
        let mut world = World::new(sim, &broker);
        let handler_store = store.clone();
        world.add_endpoint("orders", move |_ctx: &mut HandlerContext, _m: &Envelope| {
            loop {
                let counter = handler_store.get::<u32>("p", "counter")?.unwrap();
                let write = handler_store.put(
                    "p",
                    "counter",
                    &(counter.value + 1),
                    Condition::IfMatch(counter.version),
                );
                match write {
                    Err(err) if err.is_conflict() => continue,
                    other => return other.map(|_| ()).map_err(Into::into),
                }
            }
        });
        world.set_workers("orders", 2).unwrap();
        sim.inject(FaultRule::at("broker.orders.send").duplicate());
        world
            .send(
                "orders",
                Envelope::new(sim.new_message_id(), "Increment", &()),
            )
            .unwrap();
        world.run_until_quiet(100).unwrap();
        let counter = store.get::<u32>("p", "counter").unwrap().unwrap().value;
        if counter != 2 {
            return Err(Violation::new(
                "no lost update",
                &format!("the counter is {counter}, not 2"),
                vec![],
                sim,
            ));
        }
        Ok(())
    });
    let report = explorer.run();
    report.assert_no_violation();
    assert!(report.exhausted);
    assert!(report.schedules > 20, "{report}");
}
