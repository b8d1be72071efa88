//! Exercise 04: a submit only puts a `SendSubmitOrder` command on the shop's
//! own queue, and the broker retries its handler until it succeeds. A
//! duplicate command, a `SubmitOrder` sent again, a lost acknowledgement and
//! a redelivery after the lease ran out must all end in exactly one order,
//! and nothing in a dead-letter queue. (What the HTTP API promised in
//! exercises 02 and 03 is tested with the shop: `shop/tests/front_http.rs`.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{
    Broker, Condition, EventKind, Explorer, Failure, Fault, FaultRule, SCRIPT_VARIABLE, Sim, Trace,
    Violation, World, ensure,
};
use retry_and_dedup::add_handlers;
use shop::front::CartRules;
use shop::front::orders::Orders;
use shop::testing::front::{
    HttpResponse, Storefront, error_message, is_write, labels_of, olas_submit_order_envelope,
    other_tab_adds_an_item, pointing_at_orders, status_text, submit_with_key,
};
use shop::{ORDERS_QUEUE, Order, SHOP_QUEUE};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 4;

/// A fresh storefront, with this exercise's handlers.
fn open_shop(sim: &Sim) -> Storefront {
    Storefront::open(sim, CartRules::QUEUED, add_handlers)
}

// ----- exercise 04: retries are automatic, duplicates are harmless -----

#[test]
fn duplicate_command_is_acked_not_dead_lettered() {
    let sim = Sim::from_env_or(SEED);
    let mut front = open_shop(&sim);
    let cart_id = front.olas_cart(&sim);
    sim.note("the broker takes SendSubmitOrder, but its answer is lost: the app retries");
    sim.inject(FaultRule::at("broker.shop.send").fail_after());
    sim.set_actor("Ola's app");
    let submitted = front.app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    front.deliver();
    let orders = front.orders.of_cart(&cart_id).unwrap().len();
    let dead = front.dead_letters(&sim);
    if submitted.is_ok() && dead.is_empty() && orders == 1 {
        return;
    }
    let commands = labels_of(&sim, &front.broker, SHOP_QUEUE);
    let dead_text: Vec<String> = dead
        .iter()
        .map(|(what, reason)| format!("{what}: {reason}"))
        .collect();
    let mut failure = Failure::new(
        &sim,
        format!(
            "a duplicate command was dead-lettered: the shop's queue got SendSubmitOrder \
             {} times ({}) because the app retried a submit whose answer was lost; the \
             first copy made the order (Orders has {orders} for the cart), and the handler \
             failed the next one for good ({}). A duplicate is not an error — its work is done. \
             Acknowledge it and do nothing: a dead-letter queue is for messages someone \
             must look at, and replaying this one would be wrong (Ola's app was told {})",
            commands.len(),
            commands.join(", "),
            dead_text.join("; "),
            status_text(&submitted)
        ),
    );
    for (what, _) in &dead {
        failure = failure.highlight_message(&what.label);
    }
    failure.panic();
}

#[test]
fn flag_persisted_only_after_send_left() {
    let sim = Sim::from_env_or(SEED);
    let mut front = open_shop(&sim);
    let cart_id = front.olas_cart(&sim);
    sim.note("the broker refuses the first SubmitOrder");
    sim.inject(FaultRule::at("broker.orders.send").fail_before());
    sim.set_actor("Ola's app");
    let submitted = front.app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    front.deliver();
    let sent = front.submit_orders(&cart_id).len();
    let orders = front.orders.of_cart(&cart_id).unwrap().len();
    let cart = front.shop.cart(&cart_id).unwrap().unwrap_or_default();
    ensure(submitted.is_ok() && sent >= 1 && orders >= 1, &sim, || {
        format!(
            "lost submission: Ola's app was told {}, the cart says submitted = {}, yet \
             {sent} SubmitOrder reached the broker and Orders made {orders} orders. The \
             handler saved `submitted` and returned; only then did the world send the \
             SubmitOrder it had held back — and that send failed. The broker gave the \
             command back, and the retry found the cart submitted and did not send again. \
             A flag that says \"sent\" may only be saved once the message has left",
            status_text(&submitted),
            cart.submitted
        )
    });
}

#[test]
fn sender_side_duplicates_create_one_order() {
    let sim = Sim::from_env_or(SEED);
    let mut front = open_shop(&sim);
    // The test plays the shop: it sends SubmitOrder, is told the send
    // failed although the broker took it, and sends it again — a new
    // message with a new id, for the same cart.
    sim.set_actor("shop");
    sim.note("sends SubmitOrder for cart c-1; the broker takes it, but its answer is lost");
    sim.inject(FaultRule::at("broker.orders.send").fail_after());
    let mut attempts = 0;
    loop {
        attempts += 1;
        let copy = olas_submit_order_envelope(&sim);
        if front.broker.send(ORDERS_QUEUE, copy).is_ok() || attempts == 3 {
            break;
        }
        sim.note("no answer from the broker: sends SubmitOrder again");
    }
    sim.set_actor("test");
    let orders = front.order_count("c-1");
    if orders == 1 {
        a_late_copy_changes_nothing(&sim, &mut front);
        return;
    }
    let copies = labels_of(&sim, &front.broker, ORDERS_QUEUE);
    let headline = format!(
        "duplicate order: the shop sent SubmitOrder for cart c-1 {} times ({}: two \
         messages with different ids, because the broker's answer to the first was \
         lost), and Orders made {orders} orders from them. Ola gets her ruskie twice, \
         and pays twice. Both copies name the same cart: let that decide which order \
         they make, so that the second one finds it made",
        copies.len(),
        copies.join(" and ")
    );
    pointing_at_orders(&sim, headline).panic();
}

/// The second half of `sender_side_duplicates_create_one_order`: Ola
/// changes her order, then one more copy of SubmitOrder, sent long ago,
/// arrives. It must change nothing.
fn a_late_copy_changes_nothing(sim: &Sim, front: &mut Storefront) {
    let moved = ola_moves_her_order(sim, front, "c-1");
    sim.set_actor("shop");
    sim.note("one more copy of SubmitOrder, sent long ago, arrives only now");
    let late_copy = olas_submit_order_envelope(sim);
    front.broker.send(ORDERS_QUEUE, late_copy).unwrap();
    sim.set_actor("test");
    front.deliver();
    let orders = front.orders.of_cart("c-1").unwrap();
    ensure(
        orders == [moved.clone()] && front.dead_letters(sim).is_empty(),
        sim,
        || {
            format!(
                "a late copy undid a change: Ola moved her order to Floriańska 3 ({moved:?}), \
                 then a copy of SubmitOrder sent long ago arrived, and Orders now holds \
                 {orders:?}. A copy of a message whose work is done must change nothing: \
                 writing the order again (an upsert) puts back what the first copy said, and \
                 the pierogi go to the old address. Create the order only if it is not there"
            )
        },
    );
}

/// Orders on two workers, and a slow database: its first call takes 40 s,
/// longer than the 30 s lease on the message. The broker hands the same
/// `SubmitOrder` to the second worker while the first is still on it.
fn slow_database_scenario(sim: &Sim) -> Result<(), Violation> {
    let broker = Broker::new(sim);
    let orders = Orders::new(sim);
    let mut world = World::new(sim, &broker);
    orders.add_to_with(&mut world, retry_and_dedup::handlers::handle_submit_order);
    world.set_workers(ORDERS_QUEUE, 2).unwrap();
    sim.note("the orders database is slow: its first call takes 40 s, the lease lasts 30 s");
    sim.inject(FaultRule::at("kv.orders.*").delay(Duration::from_secs(40)));
    sim.set_actor("shop");
    let submit = olas_submit_order_envelope(sim);
    let label = sim.message_ref(&submit);
    world.send(ORDERS_QUEUE, submit).unwrap();
    sim.set_actor("test");
    if let Err(err) = world.run_until_quiet(1_000) {
        let headline = format!("the world did not settle: {err}");
        return Err(Violation::new("terminates", &headline, vec![label], sim));
    }
    let made = orders.of_cart("c-1").unwrap();
    let dead = broker.dead_letters(ORDERS_QUEUE).unwrap();
    if made.len() == 1 && dead.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = made.iter().map(|order| order.id.as_str()).collect();
    let mut headline = format!(
        "{}: one message, {label}, was handled twice — the first handling waited 40 s for the \
         slow database, its 30 s lease ran out, and the broker handed the same message out \
         again, to whichever worker was free (maybe while the first was still running) — and \
         Orders made {} orders {ids:?}. Two handlings at the same time can both find \"no \
         order yet\": only the store's own write can refuse the second",
        if made.is_empty() {
            "lost order"
        } else {
            "duplicate order"
        },
        made.len()
    );
    if let Some(letter) = dead.first() {
        headline = format!(
            "the redelivered {label} was dead-lettered ({}) — Orders made {} orders {ids:?}. \
             A copy of a message that is done already must be acknowledged, not given up",
            letter.reason,
            made.len()
        );
    }
    Err(Violation::new(
        "one order per cart, nothing dead-lettered",
        &headline,
        vec![label],
        sim,
    ))
}

/// The lease on the message ran out while a worker was on it.
fn a_lease_ran_out(trace: &Trace) -> bool {
    let expired = |event: &harness::Event| matches!(event.kind, EventKind::LeaseExpired { .. });
    !trace.matching(expired).is_empty()
}

/// The same SubmitOrder was handled a second time: the broker handed it out again.
fn handled_again(trace: &Trace) -> bool {
    let handles = |event: &harness::Event| {
        matches!(&event.kind, EventKind::HandlerStarted { message, .. }
            if message.message_type == "SubmitOrder")
    };
    trace.matching(handles).len() >= 2
}

/// What the test is about: each must happen in at least one schedule, or
/// the test did not explore it.
type About = [(&'static str, fn(&Trace) -> bool)];

/// Runs `scenario` under every schedule the world can take (the explorer)
/// and fails with the shortest that breaks it, or when what it is about
/// never happened. A replay command names one schedule (`HARNESS_SCRIPT`);
/// then only that one runs.
fn explore(scenario: fn(&Sim) -> Result<(), Violation>, about: &About) {
    let sim = Sim::from_env_or(SEED);
    if std::env::var(SCRIPT_VARIABLE).is_ok() {
        if let Err(violation) = scenario(&sim) {
            violation.panic();
        }
        return;
    }
    let mut explorer = Explorer::new(scenario).seed(sim.seed());
    for &(name, condition) in about {
        explorer = explorer.sometimes(name, condition);
    }
    let report = explorer.run();
    assert!(report.exhausted, "{report}");
    report.assert_no_violation();
}

#[test]
fn lease_expiry_redelivery_creates_one_order() {
    let about: &About = &[
        ("the lease on SubmitOrder ran out", a_lease_ran_out),
        (
            "the redelivered SubmitOrder was handled again",
            handled_again,
        ),
    ];
    explore(slow_database_scenario, about);
}

#[test]
fn automatic_retries_converge() {
    // Eight customers submit while the broker or a store fails, one way per
    // customer; how often (once or twice) is drawn from the seed. The broker
    // retries whatever failed. Every cart must end with exactly one order,
    // holding what the cart holds, and nothing in a dead-letter queue.
    let sim = Sim::from_env_or(SEED);
    let mut front = open_shop(&sim);
    let storms = [
        ("broker.shop.send", Fault::FailBefore),
        ("kv.shop.batch", Fault::FailBefore),
        ("broker.orders.send", Fault::Duplicate),
        ("kv.orders.put", Fault::FailAfter),
        ("broker.shop.send", Fault::FailAfter),
        ("broker.orders.send", Fault::FailBefore),
        ("broker.orders.send", Fault::FailAfter),
        ("kv.shop.batch", Fault::FailAfter),
    ];
    let customers = ["ola", "bob", "ewa", "jan", "ala", "tom", "iza", "max"];
    let mut story = Vec::new();
    for (customer, (point, fault)) in customers.into_iter().zip(storms) {
        sim.set_actor(&format!("{customer}'s app"));
        let cart_id = front.app.create_cart(customer).unwrap();
        front.app.add_item(&cart_id, "ruskie").unwrap();
        let times = 1 + sim.random_below(2) as u32;
        // The faults strike only while this customer's submit is handled.
        let storm = Arc::new(AtomicBool::new(true));
        let during = storm.clone();
        sim.note(&format!("{point} fails {times} times ({fault:?})"));
        sim.inject(
            FaultRule::at(point)
                .when(move |_| during.load(Ordering::SeqCst))
                .times(times)
                .inject(fault),
        );
        let submitted = front.app.submit(&cart_id, "Rynek 1");
        sim.set_actor("test");
        front.deliver();
        storm.store(false, Ordering::SeqCst);
        let told = status_text(&submitted);
        story.push((
            customer,
            cart_id,
            format!("{point} {fault:?} ×{times}"),
            told,
        ));
    }
    let mut wrong = Vec::new();
    for (customer, cart_id, faults, told) in &story {
        let orders = front.orders.of_cart(cart_id).unwrap();
        let cart = front.shop.cart(cart_id).unwrap().unwrap_or_default();
        let items: Vec<String> = cart.lines.iter().map(|line| line.name.clone()).collect();
        let failure = match orders.len() {
            0 => "lost submission: no order",
            1 if orders[0].items == items => continue,
            1 => "the order holds other pierogi than the cart",
            _ => "duplicate order",
        };
        wrong.push(format!(
            "{customer} ({faults}; the app was told {told}): {failure} — {} orders",
            orders.len()
        ));
    }
    for (message, reason) in front.dead_letters(&sim) {
        wrong.push(format!(
            "{message} was dead-lettered: {reason} — a retried or duplicate message must \
             be handled or acknowledged, never given up"
        ));
    }
    ensure(wrong.is_empty(), &sim, || {
        format!(
            "after the broker retried everything, {} things are wrong:\n      {}",
            wrong.len(),
            wrong.join("\n      ")
        )
    });
}

#[test]
fn lost_acknowledgement_of_submit_order_creates_one_order() {
    // The broker takes the first SubmitOrder but the shop's handler is told
    // the send failed: the handler fails and the broker runs it again.
    let sim = Sim::from_env_or(SEED);
    let mut front = open_shop(&sim);
    let cart_id = front.olas_cart(&sim);
    sim.note("the broker takes the first SubmitOrder, but its answer is lost");
    sim.inject(FaultRule::at("broker.orders.send").fail_after());
    sim.set_actor("Ola's app");
    let submitted = front.app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    let orders = front.order_count(&cart_id);
    if submitted.is_ok() && orders == 1 {
        return;
    }
    let copies = labels_of(&sim, &front.broker, ORDERS_QUEUE);
    let headline = format!(
        "{} order: the broker took SubmitOrder but the shop's handler was told the \
         send failed, so the broker ran the handler again and it sent SubmitOrder \
         again — {} copies ({}) — and Orders made {orders} orders. A sender that \
         cannot tell \"lost\" from \"sent\" sends again: the receiver must make the \
         second copy harmless",
        if orders == 0 { "no" } else { "duplicate" },
        copies.len(),
        copies.join(", ")
    );
    pointing_at_orders(&sim, headline).panic();
}

// ----- still true from exercise 03: no ghost, a frozen cart -----

#[test]
fn no_ghost_submit_order() {
    // The store fails each write of the shop's handler in turn. Whenever a
    // SubmitOrder leaves, the cart must be durably accepted: frozen.
    for nth in 1..=3 {
        let sim = Sim::from_env_or(SEED);
        let mut front = open_shop(&sim);
        let cart_id = front.olas_cart(&sim);
        let first = submit_with_key(&front.http, &cart_id, "k-1", "Rynek 1").unwrap();
        // Counted from here: the writes of the shop's handler.
        sim.note(&format!(
            "the store fails write #{nth} of the shop's handler"
        ));
        sim.inject(
            FaultRule::at("kv.shop.*")
                .when(is_write)
                .nth(nth)
                .fail_before(),
        );
        // A probe at every send of SubmitOrder: is the cart accepted now?
        let seen: Arc<Mutex<Vec<bool>>> = Arc::default();
        let (probe, shop, probed_cart) = (seen.clone(), front.shop.clone(), cart_id.clone());
        sim.inject(
            FaultRule::at("broker.orders.send")
                .always()
                .interleave(move || {
                    let cart = shop.cart(&probed_cart).ok().flatten();
                    let accepted = cart.is_some_and(|cart| cart.accepted);
                    probe.lock().unwrap().push(accepted);
                }),
        );
        front.deliver();
        let seen = seen.lock().unwrap().clone();
        ensure(
            first.status == 202 && !seen.is_empty() && seen.iter().all(|accepted| *accepted),
            &sim,
            || {
                format!(
                    "ghost SubmitOrder: with write #{nth} of the shop's handler failing (the \
                     submit answered {}), SubmitOrder left {} times; the cart was accepted in the \
                     store at those moments: {seen:?}. A SubmitOrder for a cart that is not \
                     accepted orders something the shop never decided: save the decision \
                     before the message leaves",
                    first.status,
                    seen.len()
                )
            },
        );
    }
}

#[test]
fn cart_is_frozen_once_accepted() {
    let sim = Sim::from_env_or(SEED);
    let mut front = open_shop(&sim);
    let cart_id = front.olas_cart(&sim);
    // Ola's other tab adds z kapustą just as the shop sends SubmitOrder.
    let added: Arc<Mutex<Option<HttpResponse>>> = Arc::default();
    let (slot, tab_sim, tab_http, tab_cart) = (
        added.clone(),
        sim.clone(),
        front.http.clone(),
        cart_id.clone(),
    );
    sim.inject(FaultRule::at("broker.orders.send").interleave(move || {
        *slot.lock().unwrap() = Some(other_tab_adds_an_item(&tab_sim, &tab_http, &tab_cart));
    }));
    let first = submit_with_key(&front.http, &cart_id, "k-1", "Rynek 1").unwrap();
    front.deliver();
    let added = added.lock().unwrap().take();
    let sent = front.submit_orders(&cart_id);
    let orders = front.orders.of_cart(&cart_id).unwrap();
    let refused = added
        .as_ref()
        .is_some_and(|added| added.status == 409 && error_message(added).is_some());
    ensure(
        first.status == 202
            && refused
            && !sent.is_empty()
            && sent.iter().all(|copy| copy.items == ["ruskie"])
            && orders.iter().all(|order| order.items == ["ruskie"]),
        &sim,
        || {
            format!(
                "the cart changed after it was accepted: while the shop sent SubmitOrder, \
                 Ola's other tab added z kapustą and got {}. The shop sent {sent:?} and \
                 Orders made {orders:?}. A copy sent before the change and one sent after \
                 would order different pierogi — once accepted, the cart must refuse changes \
                 with 409 and a JSON error",
                added
                    .as_ref()
                    .map(|added| format!("{} {}", added.status, added.text()))
                    .unwrap_or_else(|| "no chance to try".to_string())
            )
        },
    );
}

// ----- a copy changes nothing, whenever it comes -----

/// Ola changes where her order goes, on the order page: the order changes
/// after it was made. Returns the order as it is now.
fn ola_moves_her_order(sim: &Sim, front: &Storefront, cart_id: &str) -> Order {
    sim.set_actor("Ola's order page");
    sim.note("Ola changes the delivery address of her order to Floriańska 3");
    let orders = front.orders.of_cart(cart_id).unwrap();
    let id = orders
        .first()
        .map(|order| order.id.clone())
        .unwrap_or_default();
    let found = front.orders.store().get::<Order>(cart_id, &id).unwrap();
    let found = found.expect("Ola's order, made before she changes it");
    let mut moved = found.value;
    moved.deliver_to = "Floriańska 3".to_string();
    let condition = Condition::IfMatch(found.version);
    front
        .orders
        .store()
        .put(cart_id, &id, &moved, condition)
        .unwrap();
    sim.set_actor("test");
    moved
}

#[test]
fn a_failed_order_write_is_retried_not_acknowledged() {
    // The store refuses Orders' first write: nothing was written. (The
    // other direction, written and then an error, is in
    // `automatic_retries_converge`.)
    let sim = Sim::from_env_or(SEED);
    let mut front = open_shop(&sim);
    let cart_id = front.olas_cart(&sim);
    sim.note("the orders store refuses its first write");
    sim.inject(FaultRule::at("kv.orders.*").when(is_write).fail_before());
    sim.set_actor("Ola's app");
    let submitted = front.app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    front.deliver();
    let orders = front.orders.of_cart(&cart_id).unwrap();
    let dead = front.dead_letters(&sim);
    ensure(
        submitted.is_ok() && orders.len() == 1 && dead.is_empty(),
        &sim,
        || {
            format!(
                "{}: the orders store refused its first write, and Orders now holds {orders:?} \
                 ({} dead letters). Only a conflict of the create-only write says \"made \
                 already\"; any other error says the order was not written, so the message \
                 must be retried, not acknowledged",
                if orders.is_empty() {
                    "lost submission"
                } else {
                    "wrong outcome"
                },
                dead.len()
            )
        },
    );
}
