//! Exercise 13: Orders on a key-value store whose items hold 4 KiB, and
//! the kitchen wants a 3.5 KiB ticket with every booked payment. A request's
//! messages no longer fit in the order: they go to an outbox document of
//! their own, and the order keeps one pointer (transaction id, owner
//! request). The order's if-match write of that pointer is the only
//! commit; whoever finds a pointer finishes that transaction first, and
//! marks its OWNER processed.
//!
//! The tests put faults before and after every store and broker call (with
//! one delivery of each request, and with a physical duplicate), race two
//! copies of a request on two workers (every interleaving, with the harness
//! explorer), race different requests, leave a committed transaction for
//! another request to finish, and read what went out: the ids, the
//! payment, the kitchen ticket's portions.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use document_outbox::{open_town, orders};
use harness::{
    Broker, Envelope, EventKind, Explorer, Failure, Fault, FaultPoint, FaultRule, MessageId, Sim,
    Trace, Violation, World, ensure, headers,
};
use shop::orders::kv::{KITCHEN_TICKET, KitchenTicket, MAX_ORDER_BYTES, Orders, PRINT_OUT_BYTES};
use shop::orders::{ITEM_ADDED, PAYMENT_BOOKED};
use shop::testing::kv::{
    MAX_STEPS, add_to_olas_order, book_olas_payment, booked_once, dedup_store_knows, fail,
    holds_only_messages_in_flight, olas_order, olas_order_one_way_after_a_failure,
    remove_from_olas_order, request_id, run_to_the_end,
};
use shop::testing::world::{assert_as_asked, assert_no_lost_update};
use shop::{ORDERS_QUEUE, Order, SubmitOrder};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 13;

/// Ola's order, in every test.
const ORDER: &str = "c-1";

/// The explorer tries every option of the first choices of a run (which
/// worker takes the next call), and the first option after them: enough
/// for one copy to load the order while the other commits and finishes.
const BRANCHING_CHOICES: usize = 7;

// ----- the order keeps one pointer -----

#[test]
fn order_holds_only_the_pending_pointer() {
    let test = "order_holds_only_the_pending_pointer";
    let scenario = "fifty times, Ola added meat and mushrooms and took them off, and the payment \
                    service booked her payment (each with a 3.5 KiB kitchen ticket) and cancelled \
                    it; the five requests of a round came at once";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let (broker, mut world) = olas_order(&sim, &orders);
    sim.set_trace_limit(2_000);
    sim.note(scenario);
    let mut bookings = 0;
    for _ in 0..50 {
        sim.set_actor("ola");
        let round = [
            add_to_olas_order(&sim, "meat"),
            add_to_olas_order(&sim, "mushrooms"),
            book_olas_payment(&sim),
            remove_from_olas_order(&sim, "meat"),
            remove_from_olas_order(&sim, "mushrooms"),
        ];
        for request in round {
            world.send(ORDERS_QUEUE, request).unwrap();
        }
        bookings += 1;
        sim.set_actor("test");
        run_until_quiet(&sim, &mut world);
        no_dead_letter(&sim, &broker, test, scenario);
    }
    let document = orders.find_order(ORDER).unwrap().unwrap().value;
    ensure(document.order.added.is_empty(), &sim, || {
        format!(
            "lost: Ola took everything off again, but her order has {:?}",
            document.order.added
        )
    });
    let checks = holds_only_messages_in_flight(&sim, &orders, ORDER)
        .and_then(|()| finished_cleanly(&sim, &orders, &broker, ORDER));
    if let Err(violation) = checks {
        fail(violation, test, scenario);
    }
    ensure(document.size() <= 1_024, &sim, || {
        format!(
            "garbage: order {ORDER} takes {} bytes after 250 requests: it should hold the order \
             and one pointer at most",
            document.size()
        )
    });
    let tickets = tickets(&broker);
    ensure(tickets.len() == bookings, &sim, || {
        format!(
            "the kitchen got {} different tickets; the payment was booked {bookings} times",
            tickets.len()
        )
    });
}

/// Fails the test if Orders gave up on a request: "item too large" when
/// the order outgrew its item.
#[track_caller]
fn no_dead_letter(sim: &Sim, broker: &Broker, test: &str, scenario: &str) {
    let dead = broker.dead_letters(ORDERS_QUEUE).unwrap();
    let Some(letter) = dead.first() else {
        return;
    };
    let headline = if letter.reason.contains("over the limit") {
        format!(
            "item too large: {} does not fit in its order's {MAX_ORDER_BYTES}-byte item with its \
             messages (a kitchen ticket alone takes {PRINT_OUT_BYTES} bytes), and Orders \
             gave up on it",
            sim.message_ref(&letter.envelope)
        )
    } else {
        format!(
            "lost: Orders gave up on {}",
            sim.message_ref(&letter.envelope)
        )
    };
    Failure::new(sim, headline)
        .detail(scenario)
        .detail(format!("the last attempt failed with: {}", letter.reason))
        .test_name(test)
        .panic();
}

// ----- finishing someone else's transaction -----

#[test]
fn pending_transaction_of_another_request_is_finished_first() {
    // BookPayment commits, and Orders crashes before its messages are out;
    // it is dead-lettered (one attempt only). Then AddItem(meat) comes: it
    // must send the payment's messages, mark the BOOKING processed, and
    // still add the meat. The operator then replays the booking: a copy.
    let test = "pending_transaction_of_another_request_is_finished_first";
    let scenario = "Orders committed Ola's BookPayment and crashed before PaymentBooked went \
                    out (the booking was dead-lettered); then Ola added meat; then the operator \
                    replayed the booking";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let (broker, mut world) = olas_order(&sim, &orders);
    broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    sim.note("PaymentBooked cannot be published, once");
    sim.inject(FaultRule::at("broker.PaymentBooked.publish").fail_before());
    let book = book_olas_payment(&sim);
    sim.set_actor("payments");
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    sim.set_actor("test");
    run_until_quiet(&sim, &mut world);
    let pending = orders.find_order(ORDER).unwrap().unwrap().value.pending;
    if pending.is_none() {
        no_dead_letter(&sim, &broker, test, scenario);
    }
    ensure(
        pending.is_some_and(|pending| pending.owner == request_id(&book)),
        &sim,
        || {
            format!(
                "not reached: after the crash, order {ORDER} should point to the booking's \
                 committed transaction (owner {}), and it does not",
                request_id(&book)
            )
        },
    );
    let size = orders.find_order(ORDER).unwrap().unwrap().value.size();
    ensure(size <= 1_024, &sim, || {
        format!(
            "garbage: while the booking's transaction is in flight, order {ORDER} takes {size} \
             bytes: it should hold the order and one pointer, the messages live elsewhere"
        )
    });
    sim.note("Ola adds meat");
    let add = add_to_olas_order(&sim, "meat");
    sim.set_actor("ola");
    world.send(ORDERS_QUEUE, add.clone()).unwrap();
    sim.set_actor("test");
    run_until_quiet(&sim, &mut world);
    let added = orders.added_to(ORDER).unwrap();
    ensure(added == ["meat"], &sim, || {
        format!(
            "lost: {} was acknowledged while finishing the booking's transaction, and never \
             applied: the order has {added:?}. Mark the transaction's OWNER processed, not the \
             request at hand",
            sim.message_ref(&add)
        )
    });
    let checks = one_id_each(&sim, &broker, &[(PAYMENT_BOOKED, 1), (ITEM_ADDED, 1)])
        .and_then(|()| dedup_store_knows(&sim, &orders, ORDER, &[book.clone(), add]))
        .and_then(|()| finished_cleanly(&sim, &orders, &broker, ORDER));
    if let Err(violation) = checks {
        fail(violation, test, scenario);
    }
    sim.note("the operator replays the dead-lettered BookPayment");
    broker.replay_dead_letter(ORDERS_QUEUE, book.id).unwrap();
    run_until_quiet(&sim, &mut world);
    let checks = one_id_each(&sim, &broker, &[(PAYMENT_BOOKED, 1), (KITCHEN_TICKET, 1)])
        .and_then(|()| finished_cleanly(&sim, &orders, &broker, ORDER));
    if let Err(violation) = checks {
        fail(violation, test, scenario);
    }
    let ticket = tickets(&broker)
        .into_iter()
        .next()
        .map(|(_, ticket)| ticket);
    ensure(
        ticket.is_some_and(|ticket| ticket.portions == ["ruskie"]),
        &sim,
        || "the kitchen's ticket is not the one the booking staged: ruskie alone",
    );
}

#[test]
fn a_copy_that_finds_a_pending_transaction_finishes_it() {
    // As above, but the request that finds the booking's pointer is a
    // copy of a request handled before: it must finish the booking's
    // transaction all the way (the pointer cleared) before it is dropped.
    let test = "a_copy_that_finds_a_pending_transaction_finishes_it";
    let scenario = "Ola added meat; Orders committed her BookPayment and crashed before \
                    PaymentBooked went out (the booking was dead-lettered); then a copy of \
                    AddItem(meat) came";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let (broker, mut world) = olas_order(&sim, &orders);
    broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    let add = add_to_olas_order(&sim, "meat");
    sim.set_actor("ola");
    world.send(ORDERS_QUEUE, add.clone()).unwrap();
    sim.set_actor("test");
    run_until_quiet(&sim, &mut world);
    sim.note("PaymentBooked cannot be published, once");
    sim.inject(FaultRule::at("broker.PaymentBooked.publish").fail_before());
    let book = book_olas_payment(&sim);
    sim.set_actor("payments");
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    sim.note("the order page sends AddItem(meat) again");
    sim.set_actor("ola");
    world.send(ORDERS_QUEUE, add.clone()).unwrap();
    sim.set_actor("test");
    run_until_quiet(&sim, &mut world);
    let checks = one_id_each(&sim, &broker, &[(PAYMENT_BOOKED, 1), (ITEM_ADDED, 1)])
        .and_then(|()| dedup_store_knows(&sim, &orders, ORDER, &[book.clone(), add]))
        .and_then(|()| finished_cleanly(&sim, &orders, &broker, ORDER));
    if let Err(violation) = checks {
        fail(violation, test, scenario);
    }
}

#[test]
fn late_copy_of_a_booking_after_many_requests_changes_nothing() {
    let test = "late_copy_of_a_booking_after_many_requests_changes_nothing";
    let scenario = "the payment service booked Ola's payment; Ola put mushrooms on and off twenty \
                    times; then a late copy of the booking came";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let mut town = open_town(&sim, &orders);
    let order = town.place_order(ORDER, "Ola", &["ruskie"]).unwrap();
    let book = town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    sim.note("Ola puts mushrooms on and off twenty times");
    for _ in 0..20 {
        town.add_item("Ola", &order, "mushrooms").unwrap();
        town.remove_item("Ola", &order, "mushrooms").unwrap();
        town.deliver().unwrap();
    }
    sim.note("the payment service sends its BookPayment again, late");
    town.resend("payments", &book).unwrap();
    town.deliver().unwrap();
    no_dead_letter(&sim, &town.broker, test, scenario);
    assert_as_asked(&town, test, scenario);
    let checks = one_id_each(
        &sim,
        &town.broker,
        &[(PAYMENT_BOOKED, 1), (KITCHEN_TICKET, 1)],
    )
    .and_then(|()| finished_cleanly(&sim, &orders, &town.broker, ORDER));
    if let Err(violation) = checks {
        fail(violation, test, scenario);
    }
}

#[test]
fn booking_before_its_order_is_applied_once_the_order_exists() {
    // BookPayment for an order whose SubmitOrder comes after it: Orders
    // gives up on it (one attempt), the order is placed, the operator
    // replays the dead letter: it is applied once, with its ticket.
    let test = "booking_before_its_order_is_applied_once_the_order_exists";
    let scenario = "the BookPayment of order c-2 arrived before its SubmitOrder; Orders gave up \
                    on it, then the operator replayed it";
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let (broker, mut world) = olas_order(&sim, &orders);
    broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    let book = shop::orders::BookPayment {
        id: sim.new_uuid().to_string(),
        order_id: "c-2".to_string(),
        amount: 4_500,
    };
    sim.set_actor("payments");
    let book = Envelope::new(sim.new_message_id(), "BookPayment", &book);
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    sim.set_actor("test");
    run_until_quiet(&sim, &mut world);
    let submit = SubmitOrder {
        cart_id: "c-2".to_string(),
        customer: "Zosia".to_string(),
        items: vec!["meat".to_string()],
        deliver_to: "Floriańska 3, Kraków".to_string(),
    };
    sim.set_actor("shop");
    world
        .send(
            ORDERS_QUEUE,
            Envelope::new(sim.new_message_id(), "SubmitOrder", &submit),
        )
        .unwrap();
    run_until_quiet(&sim, &mut world);
    sim.note("the operator replays the dead-lettered BookPayment");
    broker.replay_dead_letter(ORDERS_QUEUE, book.id).unwrap();
    run_until_quiet(&sim, &mut world);
    no_dead_letter(&sim, &broker, test, scenario);
    ensure(orders.payment_booked("c-2") == Ok(true), &sim, || {
        format!(
            "lost: {} came before its order, was replayed, and order c-2 is not paid",
            sim.message_ref(&book)
        )
    });
    let tickets: Vec<KitchenTicket> = tickets(&broker).into_iter().map(|(_, t)| t).collect();
    ensure(
        tickets.len() == 1 && tickets[0].portions == ["meat"],
        &sim,
        || {
            format!(
                "the kitchen should get one ticket for order c-2 (meat), and got {:?}",
                tickets
                    .iter()
                    .map(|ticket| (&ticket.order_id, &ticket.portions))
                    .collect::<Vec<_>>()
            )
        },
    );
    if let Err(violation) = finished_cleanly(&sim, &orders, &broker, "c-2") {
        fail(violation, test, scenario);
    }
}

/// Lets the world deliver everything; fails the test if it never ends.
#[track_caller]
fn run_until_quiet(sim: &Sim, world: &mut World) {
    if let Err(err) = world.run_until_quiet(MAX_STEPS) {
        Failure::new(sim, format!("the run did not end: {err}")).panic();
    }
}

// ----- failed commits -----

#[test]
fn messages_staged_by_a_failed_commit_are_never_sent() {
    let test = "messages_staged_by_a_failed_commit_are_never_sent";
    for (how, fault) in [
        ("fails (the store is down)", Fault::FailBefore),
        ("is slow, and its answer lost", Fault::FailAfter),
    ] {
        let sim = Sim::from_env_or(SEED);
        let orders = orders(&sim);
        let mut town = open_town(&sim, &orders);
        let order = town.place_order(ORDER, "Ola", &["ruskie"]).unwrap();
        // The first write of the order while the booking is handled: the
        // commit of its transaction (whatever was staged before it).
        sim.note(&format!(
            "the first write of order {ORDER} for the booking {how}"
        ));
        sim.inject(FaultRule::at("kv.orders.put").inject(fault));
        town.book_payment(&order, 4_500).unwrap();
        town.deliver().unwrap();
        let scenario = format!(
            "the payment service booked Ola's payment; the commit of its transaction {how}, and \
             Orders tried again"
        );
        no_dead_letter(&sim, &town.broker, test, &scenario);
        assert_as_asked(&town, test, &scenario);
        let checks = one_id_each(
            &sim,
            &town.broker,
            &[(PAYMENT_BOOKED, 1), (KITCHEN_TICKET, 1)],
        )
        .and_then(|()| finished_cleanly(&sim, &orders, &town.broker, ORDER));
        if let Err(violation) = checks {
            fail(violation, test, &scenario);
        }
    }
}

#[test]
fn three_tabs_at_once_keep_every_item() {
    // Three different requests at once, three workers: their commits race
    // and some are refused. Each seed interleaves them another way.
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
        let scenario = "Ola's order had ruskie and sauerkraut; she added meat and mushrooms and \
                        booked her payment at once, from three tabs, and three workers of Orders \
                        handled them side by side";
        no_dead_letter(&sim, &town.broker, test, scenario);
        assert_no_lost_update(&town, &order, test, scenario);
        assert_as_asked(&town, test, scenario);
        let checks = one_id_each(&sim, &town.broker, &[(KITCHEN_TICKET, 1), (ITEM_ADDED, 3)])
            .and_then(|()| finished_cleanly(&sim, &orders, &town.broker, ORDER));
        if let Err(violation) = checks {
            fail(violation, test, scenario);
        }
    }
}

// ----- the crash matrix -----

#[test]
fn every_crash_point_tells_one_story() {
    // A fault before or after each call to the stores and the broker, at
    // the first, second or third such call; each request delivered once,
    // or twice (a physical duplicate). Orders retries, and the order, the
    // kitchen, Billing and Marketing must agree, with nothing left behind.
    let test = "every_crash_point_tells_one_story";
    let calls = [
        "kv.orders.get",
        "kv.orders.put",
        "kv.outbox.put",
        "kv.outbox.get",
        "kv.outbox.delete",
        "kv.processed.get",
        "kv.processed.put",
        "broker.*.publish",
    ];
    for duplicated in [false, true] {
        for call in calls {
            for fault in [Fault::FailBefore, Fault::FailAfter] {
                for nth in 1..=3 {
                    crash_once(test, call, fault, nth, duplicated);
                }
            }
        }
    }
}

/// One run of the crash matrix: Ola adds meat, then her payment is booked.
fn crash_once(test: &str, call: &str, fault: Fault, nth: u32, duplicated: bool) {
    let sim = Sim::from_env_or(SEED);
    let orders = orders(&sim);
    let mut town = open_town(&sim, &orders);
    let order = town.place_order(ORDER, "Ola", &["ruskie"]).unwrap();
    sim.note(&format!("call #{nth} to {call} fails ({fault})"));
    // Only while Orders works: the checks' own reads come after.
    let running = Arc::new(AtomicBool::new(true));
    let during_the_run = running.clone();
    let only_during_the_run = move |_: &FaultPoint| during_the_run.load(Ordering::SeqCst);
    let rule = FaultRule::at(call).when(only_during_the_run).nth(nth);
    sim.inject(rule.inject(fault));
    if duplicated {
        sim.note("the broker delivers every request twice");
        sim.inject(FaultRule::at("broker.orders.send").always().duplicate());
    }
    let add = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    let book = town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    running.store(false, Ordering::SeqCst);
    // The first call to each point is made in every run: the fault struck.
    ensure(nth > 1 || struck(&sim.trace(), call), &sim, || {
        format!("not explored: no call to {call} was made, so the fault ({fault}) never struck")
    });
    let copies = if duplicated { "twice" } else { "once" };
    let scenario = format!(
        "Ola added meat, then the payment service booked her payment, each delivered {copies}; \
         call #{nth} to {call} failed ({fault}), and Orders tried again"
    );
    no_dead_letter(&sim, &town.broker, test, &scenario);
    assert_as_asked(&town, test, &scenario);
    let checks = one_id_each(
        &sim,
        &town.broker,
        &[(KITCHEN_TICKET, 1), (PAYMENT_BOOKED, 1)],
    )
    .and_then(|()| dedup_store_knows(&sim, &orders, ORDER, &[add, book]))
    .and_then(|()| finished_cleanly(&sim, &orders, &town.broker, ORDER))
    .and_then(|()| ticket_of_the_order(&sim, &town.broker, &orders));
    if let Err(violation) = checks {
        fail(violation, test, &scenario);
    }
}

/// True if a fault struck at a point `call` names (`*`: any one part).
fn struck(trace: &Trace, call: &str) -> bool {
    let (head, tail) = call.split_once('*').unwrap_or((call, ""));
    trace.events().iter().any(|event| match &event.kind {
        EventKind::FaultInjected { point, .. } => {
            point.starts_with(head) && point.ends_with(tail) && point.len() >= call.len() - 1
        }
        _ => false,
    })
}

/// A violation unless the kitchen's ticket lists the order's portions,
/// with the whole print-out.
fn ticket_of_the_order(sim: &Sim, broker: &Broker, orders: &Orders) -> Result<(), Violation> {
    let order: Order = orders.find_order(ORDER).unwrap().unwrap().value.order;
    let expected = KitchenTicket::of(&order);
    for (_, ticket) in tickets(broker) {
        if ticket != expected {
            let headline = format!(
                "ghost: the kitchen got a ticket for {:?} ({} bytes of print-out); order \
                 {ORDER} has {:?}",
                ticket.portions,
                ticket.print_out.len(),
                expected.portions
            );
            return Err(Violation::new(
                "the kitchen cooks the order",
                &headline,
                vec![],
                sim,
            ));
        }
    }
    Ok(())
}

// ----- two copies at once -----

#[test]
fn two_copies_at_once_apply_once() {
    // Two copies of one BookPayment, two workers, every interleaving of
    // their calls to the stores and the broker. What must be reached at
    // least once: a commit refused (the copies raced), and a copy that
    // finished the transaction the other copy committed.
    let test = "two_copies_at_once_apply_once";
    let report = Explorer::new(two_copies)
        .seed(SEED)
        .max_depth(BRANCHING_CHOICES)
        .sometimes("a write of the order was refused", a_commit_was_refused)
        .sometimes(
            "one copy finished the transaction the other committed",
            finished_by_the_other,
        )
        .run();
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

/// One schedule: two copies of Ola's BookPayment, two workers.
fn two_copies(sim: &Sim) -> Result<(), Violation> {
    let orders = orders(sim);
    let (broker, mut world) = olas_order_one_way_after_a_failure(sim, &orders);
    world.set_workers(ORDERS_QUEUE, 2).unwrap();
    sim.note("Ola's order c-1 is placed; two copies of one BookPayment arrive, two workers");
    // The report shows the race, not the placing of the order.
    sim.set_trace_limit(1);
    sim.set_trace_limit(Trace::DEFAULT_LIMIT);
    let book = book_olas_payment(sim);
    sim.set_actor("payments");
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    world.send(ORDERS_QUEUE, book.clone()).unwrap();
    sim.set_actor("test");
    run_to_the_end(sim, &mut world)?;
    booked_once(sim, &broker, &orders, &book)?;
    one_id_each(sim, &broker, &[(PAYMENT_BOOKED, 1), (KITCHEN_TICKET, 1)])?;
    dedup_store_knows(sim, &orders, ORDER, &[book])?;
    finished_cleanly(sim, &orders, &broker, ORDER)
}

/// True if the trace shows a write of the order refused by its condition.
fn a_commit_was_refused(trace: &Trace) -> bool {
    trace
        .events()
        .iter()
        .any(|event| matches!(&event.kind, EventKind::Conflict { store, .. } if store == "orders"))
}

/// True if one worker staged a transaction and another deleted it.
fn finished_by_the_other(trace: &Trace) -> bool {
    let mut staged_by = std::collections::BTreeMap::new();
    for event in trace.events() {
        let EventKind::Wrote {
            store,
            key,
            version,
        } = &event.kind
        else {
            continue;
        };
        if store != "outbox" {
            continue;
        }
        match version {
            Some(_) => {
                staged_by.insert(key.clone(), event.actor.clone());
            }
            None => {
                let stager = staged_by.get(key);
                if stager.is_some_and(|stager| *stager != event.actor) {
                    return true;
                }
            }
        }
    }
    false
}

// ----- what went out, and what is left -----

/// A violation unless each topic's messages about Ola's order went out
/// with exactly the expected number of different ids (each perhaps more
/// than once: a physical duplicate, which the receivers drop).
fn one_id_each(sim: &Sim, broker: &Broker, expected: &[(&str, usize)]) -> Result<(), Violation> {
    for (topic, count) in expected {
        let ids = published_ids(broker, topic);
        let headline = match ids.len() {
            n if n == *count => continue,
            n if n < *count => format!(
                "lost: {topic} went out with {n} different ids for order {ORDER}; {count} \
                 expected"
            ),
            n => format!(
                "duplicate: {topic} went out with {n} different ids for order {ORDER}; \
                 {count} expected: messages of a transaction that did not commit went out, or \
                 a request was applied twice"
            ),
        };
        return Err(Violation::new("one message each", &headline, vec![], sim));
    }
    Ok(())
}

/// The ids of the messages published on `topic` about Ola's order.
fn published_ids(broker: &Broker, topic: &str) -> BTreeSet<MessageId> {
    let mut ids = BTreeSet::new();
    for sent in broker.sent_log() {
        // Orders names the order in every message's correlation id.
        let about = sent.envelope.headers.get(headers::CORRELATION_ID);
        let ours = about.is_some_and(|order| order == ORDER);
        if sent.published && sent.destination == *topic && ours {
            ids.insert(sent.envelope.id);
        }
    }
    ids
}

/// The kitchen tickets published, each id once.
fn tickets(broker: &Broker) -> Vec<(MessageId, KitchenTicket)> {
    let mut found: Vec<(MessageId, KitchenTicket)> = Vec::new();
    for sent in broker.sent_log() {
        if !sent.published || sent.destination != KITCHEN_TICKET {
            continue;
        }
        let known = found.iter().any(|(id, _)| *id == sent.envelope.id);
        if !known && let Ok(ticket) = sent.envelope.body::<KitchenTicket>() {
            found.push((sent.envelope.id, ticket));
        }
    }
    found
}

/// A violation unless every transaction of the order is finished: no
/// pointer left in the order, and no outbox document left whose messages
/// went out (a document left by a commit that failed may stay: nobody
/// sends it, a TTL removes it).
fn finished_cleanly(
    sim: &Sim,
    orders: &Orders,
    broker: &Broker,
    order_id: &str,
) -> Result<(), Violation> {
    let found = orders.find_order(order_id).unwrap();
    if let Some(pending) = found.and_then(|document| document.value.pending) {
        let headline = format!(
            "lost: order {order_id} still points to transaction {} of request {} when every \
             request is done: nobody finished it",
            pending.tx_id, pending.owner
        );
        return Err(Violation::new("finished", &headline, vec![], sim));
    }
    let sent: BTreeSet<MessageId> = broker.sent_log().iter().map(|s| s.envelope.id).collect();
    for (tx_id, messages) in orders.outbox().staged(order_id).unwrap() {
        let out = messages
            .iter()
            .filter(|message| sent.contains(&message.envelope.id));
        let types: Vec<&str> = out.map(|m| m.envelope.message_type.as_str()).collect();
        if !types.is_empty() {
            let headline = format!(
                "garbage: outbox document {tx_id} of order {order_id} is still stored, and its \
                 messages ({types:?}) went out: delete it once they are sent"
            );
            return Err(Violation::new("finished", &headline, vec![], sim));
        }
    }
    Ok(())
}
