//! Exercise 12: Orders on a key-value store whose items hold 4 KiB. The
//! inline outbox of exercise 08 keeps the id of every handled request in
//! the order, one more with every request: the order outgrows the item
//! limit. The ids move to a deduplication store, outside the order, and
//! nothing spans two items any more: the order of the steps must keep every
//! handled id in at least one place, at every moment, and every write of
//! the order must be if-match.
//!
//! The tests put faults before and after every store and broker call, race
//! two copies of a request on two workers (every interleaving, with the
//! harness explorer), race different requests, send a copy late after many
//! other requests, and read what went out, not only how much.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dedup_store::{open_town, orders, orders_over};
use harness::{
    Broker, Consistency, Envelope, EventKind, Explorer, Failure, Fault, FaultPoint, FaultRule,
    MessageId, Sim, Trace, Violation, ensure,
};
use shop::orders::kv::{DedupStore, MAX_ORDER_BYTES, Orders};
use shop::orders::{AddItem, FIRST_ITEM_ADDED, ITEM_ADDED, ITEM_REMOVED, ItemAdded};
use shop::testing::kv::{
    MAX_STEPS, add_to_olas_order, book_olas_payment, booked_once, dedup_store_knows, fail,
    holds_only_messages_in_flight, no_stale_outbox_entry, olas_order,
    olas_order_one_way_after_a_failure, remove_from_olas_order, run_to_the_end,
};
use shop::testing::world::{assert_as_asked, assert_no_lost_update};
use shop::{ORDERS_QUEUE, SubmitOrder};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 12;

/// Ola's order, in every test.
const ORDER: &str = "c-1";

/// The explorer tries every option of the first eight choices of a run
/// (which worker takes the next call), and the first option after them:
/// enough for one copy to check while the other marks and cleans up.
const BRANCHING_CHOICES: usize = 8;

// ----- the order stays small -----

#[test]
fn order_stays_small_over_a_thousand_requests() {
    let test = "order_stays_small_over_a_thousand_requests";
    let scenario = "Ola put meat on her order and took it off again, 500 times: 1,000 \
                    requests, delivered 100 at a time";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let (broker, mut world) = olas_order(&sim, &orders);
    // A report shows the end of the run: the trace keeps its last steps.
    sim.set_trace_limit(2_000);
    sim.note(scenario);
    for _ in 0..10 {
        sim.set_actor("ola");
        for _ in 0..50 {
            world
                .send(ORDERS_QUEUE, add_to_olas_order(&sim, "meat"))
                .unwrap();
            world
                .send(ORDERS_QUEUE, remove_from_olas_order(&sim, "meat"))
                .unwrap();
        }
        sim.set_actor("test");
        let quiet = world.run_until_quiet(MAX_STEPS);
        ensure(quiet.is_ok(), &sim, || {
            format!("the run did not end: {quiet:?}")
        });
        let dead = broker.dead_letters(ORDERS_QUEUE).unwrap();
        if let Some(letter) = dead.first() {
            let finished = broker.finished_log();
            let handled = finished.iter().filter(|done| done.acked).count() - 1;
            let headline = if letter.reason.contains("over the limit") {
                format!(
                    "item too large: order {ORDER} outgrew the {MAX_ORDER_BYTES}-byte item limit \
                     after {handled} requests, and Orders gave up on {}",
                    sim.message_ref(&letter.envelope)
                )
            } else {
                format!(
                    "lost: Orders gave up on {}",
                    sim.message_ref(&letter.envelope)
                )
            };
            Failure::new(&sim, headline)
                .detail(scenario)
                .detail(format!("the last attempt failed with: {}", letter.reason))
                .test_name(test)
                .panic();
        }
    }
    let document = orders.find_order(ORDER).unwrap().unwrap().value;
    ensure(document.order.added.is_empty(), &sim, || {
        format!(
            "lost: Ola's last request took the meat off, but her order has {:?}",
            document.order.added
        )
    });
    ensure(document.size() <= 1_024, &sim, || {
        format!(
            "garbage: order {ORDER} takes {} bytes after 1,000 requests: it should hold the \
             order and the messages in flight only",
            document.size()
        )
    });
    for (topic, expected) in [(ITEM_ADDED, 500), (ITEM_REMOVED, 500)] {
        let ids = published_ids(&broker, topic, "meat", ORDER);
        ensure(ids.len() == expected, &sim, || {
            format!(
                "{topic}(meat) went out with {} different ids; {expected} requests asked for it",
                ids.len()
            )
        });
    }
}

/// The ids of the messages published on `topic` about `filling` in
/// `order`.
fn published_ids(broker: &Broker, topic: &str, filling: &str, order: &str) -> HashSet<MessageId> {
    let mut ids = HashSet::new();
    for sent in broker.sent_log() {
        // ItemAdded, ItemRemoved and FirstItemAdded: an order and a filling.
        let about = sent.envelope.body::<ItemAdded>();
        let ours = about.is_ok_and(|about| about.order_id == order && about.filling == filling);
        if sent.published && sent.destination == topic && ours {
            ids.insert(sent.envelope.id);
        }
    }
    ids
}

// ----- a crash between the dedup store and the order -----

#[test]
fn crash_after_mark_processed_cleans_up_the_outbox_entry() {
    let test = "crash_after_mark_processed_cleans_up_the_outbox_entry";
    let crashes = [
        (
            "the dedup store takes the mark of AddItem(meat), but Orders never hears back: it \
             crashes right after the mark",
            FaultRule::at("kv.processed.put").fail_after(),
        ),
        (
            "the write that takes AddItem(meat)'s messages out of the order fails",
            FaultRule::at("kv.orders.put").nth(2).fail_before(),
        ),
    ];
    for (crash, rule) in crashes {
        let sim = Sim::from_env_or(SEED);
        let orders = orders(&sim);
        let mut town = open_town(&sim, &orders);
        let order = town.place_order(ORDER, "Ola", &["ruskie"]).unwrap();
        sim.note(crash);
        sim.inject(rule);
        let add = town.add_item("Ola", &order, "meat").unwrap();
        town.deliver().unwrap();
        let scenario = format!("Ola added meat, her order's first added item; {crash}");
        assert_as_asked(&town, test, &scenario);
        let checks = holds_only_messages_in_flight(&sim, &orders, &order)
            .and_then(|()| dedup_store_knows(&sim, &orders, &order, &[add]));
        if let Err(violation) = checks {
            fail(violation, test, &scenario);
        }
    }
}

#[test]
fn every_crash_point_tells_one_story() {
    // A fault before or after each call to the stores and the broker, at
    // the first, second or third such call: Orders retries, and the order,
    // Billing and Marketing must still agree, with nothing left behind.
    let test = "every_crash_point_tells_one_story";
    let calls = [
        "kv.orders.get",
        "kv.orders.put",
        "kv.processed.get",
        "kv.processed.put",
        "broker.*.publish",
    ];
    for call in calls {
        for fault in [Fault::FailBefore, Fault::FailAfter] {
            for nth in 1..=3 {
                let sim = Sim::from_env_or(SEED);
                let orders = orders(&sim);
                let mut town = open_town(&sim, &orders);
                let order = town.place_order(ORDER, "Ola", &["ruskie"]).unwrap();
                sim.note(&format!("call #{nth} to {call} fails ({fault})"));
                // Only while Orders works: the checks' own reads come after.
                let running = Arc::new(AtomicBool::new(true));
                let during_the_run = running.clone();
                let only_during_the_run =
                    move |_: &FaultPoint| during_the_run.load(Ordering::SeqCst);
                let rule = FaultRule::at(call).when(only_during_the_run).nth(nth);
                sim.inject(rule.inject(fault));
                town.add_item("Ola", &order, "meat").unwrap();
                town.book_payment(&order, 4_500).unwrap();
                town.deliver().unwrap();
                running.store(false, Ordering::SeqCst);
                let scenario = format!(
                    "Ola added meat and the payment service booked her payment; call #{nth} to \
                     {call} failed ({fault}), and Orders tried again"
                );
                assert_as_asked(&town, test, &scenario);
                if let Err(violation) = no_stale_outbox_entry(&sim, &orders, &order) {
                    fail(violation, test, &scenario);
                }
            }
        }
    }
}

// ----- two at once -----

#[test]
fn two_copies_at_once_apply_once() {
    // Two copies of one BookPayment, two workers, every interleaving of
    // their calls to the stores and the broker.
    let test = "two_copies_at_once_apply_once";
    let explorer = Explorer::new(two_copies)
        .seed(SEED)
        .max_depth(BRANCHING_CHOICES)
        .sometimes("two workers handled BookPayment at once", |trace| {
            trace.handled_at_once("BookPayment")
        })
        .sometimes(
            "a write of the order was refused (the copies raced, and the writes are if-match)",
            a_write_of_the_order_was_refused,
        );
    let report = explorer.run();
    if let Some(violation) = &report.counterexample {
        let how_often = format!(
            "{} of {} schedules break it; this is the shortest",
            report.violations, report.schedules
        );
        violation
            .to_failure()
            .detail("two copies of BookPayment, two workers of Orders, every interleaving")
            .detail(how_often)
            .test_name(test)
            .panic();
    }
    report.assert_explored();
}

/// A write of Ola's order was refused: it had changed since it was read.
fn a_write_of_the_order_was_refused(trace: &Trace) -> bool {
    let refused = |event: &harness::Event| matches!(&event.kind, EventKind::Conflict { store, .. } if store == "orders");
    !trace.matching(refused).is_empty()
}

/// A read returned another version of an item than its store's last write
/// made: a stale read.
fn a_read_was_stale(trace: &Trace) -> bool {
    let mut written: Vec<(&str, &str, Option<u64>)> = Vec::new();
    for event in trace.events() {
        match &event.kind {
            EventKind::Wrote {
                store,
                key,
                version,
            } => {
                written.retain(|(old_store, old_key, _)| (*old_store, *old_key) != (store, key));
                written.push((store, key, *version));
            }
            EventKind::Read {
                store,
                key,
                version,
            } => {
                let last = written
                    .iter()
                    .find(|(old_store, old_key, _)| (*old_store, *old_key) == (store, key));
                if last.is_some_and(|(_, _, last_version)| last_version != version) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// One schedule: two copies of Ola's BookPayment, two workers.
fn two_copies(sim: &Sim) -> Result<(), Violation> {
    let orders = orders(sim);
    let (broker, mut world) = olas_order_one_way_after_a_failure(sim, &orders);
    world.set_workers(ORDERS_QUEUE, 2).unwrap();
    sim.note("Ola's order c-1 is placed; two copies of one BookPayment arrive, two workers");
    sim.set_trace_limit(1);
    sim.set_trace_limit(Trace::DEFAULT_LIMIT);
    let book = book_olas_payment(sim);
    sim.set_actor("payments");
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    sim.set_actor("test");
    run_to_the_end(sim, &mut world)?;
    booked_once(sim, &broker, &orders, &book)?;
    holds_only_messages_in_flight(sim, &orders, ORDER)?;
    dedup_store_knows(sim, &orders, ORDER, &[book])
}

#[test]
fn three_tabs_at_once_keep_every_item() {
    // Three different requests at once, three workers; each seed
    // interleaves their steps another way.
    let test = "three_tabs_at_once_keep_every_item";
    for schedule in 0..20 {
        let sim = Sim::from_env_or(SEED + schedule);
        let orders = orders(&sim);
        let mut town = open_town(&sim, &orders);
        let order = town.place_order(ORDER, "Ola", &["ruskie"]).unwrap();
        town.add_item("Ola", &order, "sauerkraut").unwrap();
        town.deliver().unwrap();
        town.world.set_workers(ORDERS_QUEUE, 3).unwrap();
        sim.note("Ola adds meat and mushrooms, and books her payment, from three tabs at once");
        town.add_item("Ola", &order, "meat").unwrap();
        town.add_item("Ola", &order, "mushrooms").unwrap();
        town.book_payment(&order, 4_500).unwrap();
        town.deliver().unwrap();
        let scenario = "Ola's order had ruskie and sauerkraut (50 zł); she added meat and \
                        mushrooms and booked her payment at once, from three tabs, and three \
                        workers of Orders handled them side by side";
        assert_no_lost_update(&town, &order, test, scenario);
        assert_as_asked(&town, test, scenario);
        if let Err(violation) = no_stale_outbox_entry(&sim, &orders, &order) {
            fail(violation, test, scenario);
        }
    }
}

#[test]
fn an_unsent_entry_survives_the_other_requests() {
    // Two requests stop half-way and wait in the dead-letter queue: one
    // after its mark (its entry is stale), one before its send (its entry
    // holds messages nobody sent). Then the first is replayed, a third
    // request comes, and the second is replayed: only each request's own
    // entry may leave the order.
    let test = "an_unsent_entry_survives_the_other_requests";
    let scenario = "Ola added meat (Orders crashed after marking it processed) and mushrooms \
                    (the send failed); the operator replayed AddItem(meat), Ola added cabbage, \
                    and the operator replayed AddItem(mushrooms)";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let mut town = open_town(&sim, &orders);
    let order = town.place_order(ORDER, "Ola", &["ruskie"]).unwrap();
    town.broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    sim.note("the dedup store takes the mark of AddItem(meat), but Orders crashes right after");
    sim.inject(FaultRule::at("kv.processed.put").fail_after());
    let meat = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("AddItem(mushrooms) is saved in the order, and its first send fails");
    sim.inject(FaultRule::at("broker.*.publish").fail_before());
    let mushrooms = town.add_item("Ola", &order, "mushrooms").unwrap();
    town.deliver().unwrap();
    sim.note("the operator replays AddItem(meat); Ola adds cabbage");
    replay_if_given_up(&town.broker, &meat);
    town.add_item("Ola", &order, "cabbage").unwrap();
    town.deliver().unwrap();
    sim.note("the operator replays AddItem(mushrooms)");
    replay_if_given_up(&town.broker, &mushrooms);
    town.deliver().unwrap();
    assert_as_asked(&town, test, scenario);
    if let Err(violation) = no_stale_outbox_entry(&sim, &orders, &order) {
        fail(violation, test, scenario);
    }
}

/// Puts `request` back on Orders' queue if Orders gave up on it (the
/// inline outbox of the checkpoint never calls the dedup store, so the
/// crash there never happens to it).
fn replay_if_given_up(broker: &Broker, request: &Envelope) {
    let dead = broker.dead_letters(ORDERS_QUEUE).unwrap();
    if dead.iter().any(|letter| letter.envelope.id == request.id) {
        broker.replay_dead_letter(ORDERS_QUEUE, request.id).unwrap();
    }
}

// ----- late copies -----

#[test]
fn late_copy_after_many_requests_changes_nothing() {
    let test = "late_copy_after_many_requests_changes_nothing";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let mut town = open_town(&sim, &orders);
    let order = town.place_order(ORDER, "Ola", &["ruskie"]).unwrap();
    let meat = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("Ola puts mushrooms on and off twenty times, then takes the meat off");
    for _ in 0..20 {
        town.add_item("Ola", &order, "mushrooms").unwrap();
        town.remove_item("Ola", &order, "mushrooms").unwrap();
        town.deliver().unwrap();
    }
    town.remove_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the order page sends Ola's first AddItem(meat) again, late");
    town.resend("Ola", &meat).unwrap();
    town.deliver().unwrap();
    let scenario = "Ola added meat, changed her order 41 more times, and took the meat off; \
                    then a late copy of her AddItem(meat) came";
    assert_as_asked(&town, test, scenario);
    if let Err(violation) = no_stale_outbox_entry(&sim, &orders, &order) {
        fail(violation, test, scenario);
    }
}

#[test]
fn request_before_its_order_is_applied_once_the_order_exists() {
    // AddItem for an order whose SubmitOrder comes after it: Orders gives
    // up on it (one attempt), the order is placed, the operator replays the
    // dead letter: it is applied once.
    let test = "request_before_its_order_is_applied_once_the_order_exists";
    let scenario = "Ola's AddItem(meat) for order c-2 arrived before the SubmitOrder of c-2; \
                    Orders gave up on it, then the operator replayed it";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let (broker, mut world) = olas_order(&sim, &orders);
    let add = AddItem {
        id: sim.new_uuid().to_string(),
        order_id: "c-2".to_string(),
        filling: "meat".to_string(),
    };
    let submit = SubmitOrder {
        cart_id: "c-2".to_string(),
        customer: "Ola".to_string(),
        items: vec!["ruskie".to_string()],
        deliver_to: "Rynek 1, Kraków".to_string(),
    };
    broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    sim.set_actor("ola");
    let add = Envelope::new(sim.new_message_id(), "AddItem", &add);
    world.send(ORDERS_QUEUE, add.clone()).unwrap();
    sim.set_actor("test");
    world.run_until_quiet(MAX_STEPS).unwrap();
    sim.set_actor("shop");
    let submit = Envelope::new(sim.new_message_id(), "SubmitOrder", &submit);
    world.send(ORDERS_QUEUE, submit).unwrap();
    world.run_until_quiet(MAX_STEPS).unwrap();
    sim.note("the operator replays the dead-lettered AddItem(meat)");
    sim.set_actor("test");
    broker.replay_dead_letter(ORDERS_QUEUE, add.id).unwrap();
    let quiet = world.run_until_quiet(MAX_STEPS);
    ensure(quiet.is_ok(), &sim, || {
        format!("the run did not end: {quiet:?}")
    });
    let added = orders.added_to("c-2").unwrap();
    ensure(added == ["meat"], &sim, || {
        format!(
            "lost: {} came before its order; the order has {added:?}",
            sim.message_ref(&add)
        )
    });
    for topic in [ITEM_ADDED, FIRST_ITEM_ADDED] {
        let ids = published_ids(&broker, topic, "meat", "c-2");
        ensure(ids.len() == 1, &sim, || {
            format!(
                "{topic}(meat) of order c-2 went out with {} different ids, not 1",
                ids.len()
            )
        });
    }
    if let Err(violation) = no_stale_outbox_entry(&sim, &orders, "c-2") {
        fail(violation, test, scenario);
    }
}

// ----- which stores can keep the ids -----

#[test]
fn a_stale_dedup_store_is_refused() {
    let test = "a_stale_dedup_store_is_refused";
    let sim = Sim::from_env_or(SEED);
    let strong = DedupStore::new(&sim, Consistency::Strong);
    if let Err(refused) = orders_over(&sim, strong) {
        let headline = format!("`trust` refused a strongly consistent dedup store: {refused}");
        Failure::new(&sim, headline).test_name(test).panic();
    }
    // However small the lag: a retry can come within a millisecond.
    for lag in [Duration::from_secs(5), Duration::from_millis(1)] {
        let stale = DedupStore::new(&sim, Consistency::Stale { lag });
        match orders_over(&sim, stale) {
            Ok(_) => Failure::new(
                &sim,
                format!(
                    "duplicate ahead: `trust` accepted a dedup store whose reads may be {lag:?} \
                     stale; it can say \"never seen\" right after the mark, and the next copy \
                     is applied again"
                ),
            )
            .detail("a_stale_dedup_store_would_apply_a_copy_twice shows the run")
            .test_name(test)
            .panic(),
            Err(why) => ensure(
                !why.trim().is_empty(),
                &sim,
                || "`trust` refused the stale store without saying why",
            ),
        }
    }
}

#[test]
fn a_stale_dedup_store_would_apply_a_copy_twice() {
    // Why `trust` refuses: the same handler over a dedup store whose reads
    // may lag (built here without `trust`). The explorer tries every
    // answer a stale read may give; one of them applies the copy again.
    // Its report and diagram are written to target/harness-traces/.
    let test = "a_stale_dedup_store_would_apply_a_copy_twice";
    let report = Explorer::new(stale_copies)
        .seed(SEED)
        .sometimes("a read of the dedup store was stale", a_read_was_stale)
        .run();
    let sim = Sim::from_env_or(SEED);
    let Some(violation) = &report.counterexample else {
        Failure::new(
            &sim,
            format!(
                "not shown: over a dedup store with stale reads, none of {} schedules applied a \
                 copy of BookPayment twice; this test shows why `trust` refuses such a store, \
                 once `handle_request` relies on the dedup store instead of the order",
                report.schedules
            ),
        )
        .test_name(test)
        .panic();
    };
    let shown = violation.to_failure().test_name(test).finish();
    ensure(violation.headline.starts_with("duplicate"), &sim, || {
        format!("expected a duplicate over a stale dedup store, found:\n{shown}")
    });
    report.assert_explored();
}

/// One schedule: two copies of Ola's BookPayment, one after the other,
/// over a dedup store whose reads may be 10 s stale.
fn stale_copies(sim: &Sim) -> Result<(), Violation> {
    let lag = Duration::from_secs(10);
    let dedup = DedupStore::new(sim, Consistency::Stale { lag });
    let orders = Orders::new(sim, dedup, dedup_store::inbox::handle_request);
    let (broker, mut world) = olas_order(sim, &orders);
    sim.note("the dedup store's reads may be up to 10 s stale; two copies of one BookPayment");
    let book = book_olas_payment(sim);
    sim.set_actor("payments");
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    sim.set_actor("test");
    run_to_the_end(sim, &mut world)?;
    booked_once(sim, &broker, &orders, &book)
}
