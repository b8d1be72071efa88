//! Exercise 11: every interleaving of the real code. Orders has two
//! workers now, and the outbox middleware of `src/outbox.rs` works in short
//! steps: load, run the handler, write, send, mark. Two copies of one
//! request can run at the same time, one step each in turn.
//!
//! The harness explorer runs every order in which the workers can take
//! their steps (a worker takes a turn before each store and broker call; a
//! SQL transaction is one step) and, in the crash tests, a crash at those
//! calls too. After each run the checks below say what exactly-once means:
//! one change per request, every stored message sent with its stored id,
//! nothing sent that was not stored, no request lost.
//!
//! A failing test prints the shortest run that breaks a check, with what
//! each worker did, and writes its sequence diagram. To replay it, copy its
//! `Replay:` line (it sets `HARNESS_SCRIPT`, the schedule).
//!
//! The bigger configurations (`big_…`: a crash at every statement with
//! every interleaving after it; three copies) run in release mode:
//!
//! ```sh
//! cargo test -p ex11-interleavings --release --test interleavings -- --ignored --nocapture
//! ```

use harness::{
    Broker, Envelope, EventKind, Exploration, Explorer, Fault, HandlerContext, History, MessageRef,
    SCRIPT_VARIABLE, Sim, Trace, Violation, World,
};
use shop::ORDERS_QUEUE;
use shop::orders::{
    AddItem, COUPON_AT, COUPON_EARNED, FIRST_ITEM_ADDED, ITEM_ADDED, Orders, PORTION_PRICE,
};
use shop::outbox::Stored;
use shop::testing::sql::{
    MAX_STEPS, ORDER, add_to_olas_order, every_stored_message_went_out, history,
    nothing_left_pending, nothing_went_out_unstored, outage_then_resend, place_olas_order,
    stored_and_sent, worker_report,
};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 11;

/// Where a crash may strike in the crash test: after each call that is a
/// step of its own, the commit of a transaction (a load, a write, a mark)
/// and each send. (A fault inside a transaction rolls it back, as a failed
/// commit does.)
const STEPS: &str = "sql.orders.commit|broker.*.publish";

/// More schedules than the biggest configuration has.
const MAX_SCHEDULES: usize = 10_000_000;

/// Whether and where a crash strikes, once per run.
#[derive(Clone, Copy, Debug)]
enum Crash {
    /// No crash.
    Never,
    /// At any call matching the pattern: the call does not happen, or it
    /// happens and the worker is told it failed. The explorer tries every
    /// interleaving after the crash too.
    Anywhere(&'static str),
    /// Right after any call matching the pattern took effect: the worker
    /// fails before it learns the outcome (the message goes back to the
    /// queue). After the crash the run finishes one way: the other copy
    /// first, then the crashed one's retry.
    AfterEach(&'static str),
}

/// One configuration of the explorer's runs.
#[derive(Clone, Copy, Debug)]
struct Setup {
    /// How many of Orders' workers handle messages at the same time.
    workers: usize,
    /// What Ola adds to her order: one `AddItem` request per filling.
    fillings: &'static [&'static str],
    /// How many physical copies (one message id) of each request arrive.
    copies: usize,
    /// Whether and where a crash strikes.
    crash: Crash,
}

/// A world with Orders, where Ola's order is placed and holds an item she
/// added; Orders then gets the workers of `setup`.
fn ola_has_an_order(sim: &Sim, setup: Setup) -> (Broker, World, Orders) {
    let broker = Broker::new(sim);
    let mut world = World::new(sim, &broker);
    let orders = interleavings::orders(sim);
    let handler = orders.clone();
    world.add_endpoint(
        ORDERS_QUEUE,
        move |ctx: &mut HandlerContext, message: &Envelope| {
            let handled = handler.handle(ctx, message);
            if handled.is_err() && matches!(setup.crash, Crash::AfterEach(_)) && crashed(ctx.sim())
            {
                // The crash struck: from here on the run goes one way only.
                ctx.sim().stop_branching();
            }
            handled
        },
    );
    // The same in every schedule: the explorer runs it in its first
    // schedule only, and starts the others from the world it left.
    sim.same_in_every_schedule(|| place_olas_order_with_mushrooms(sim, &mut world, setup.workers));
    (broker, world, orders)
}

/// Ola places her order and adds mushrooms to it, through the real
/// handler; then Orders gets its `workers`.
fn place_olas_order_with_mushrooms(sim: &Sim, world: &mut World, workers: usize) {
    place_olas_order(sim, world);
    sim.set_actor("ola");
    world
        .send(ORDERS_QUEUE, add_to_olas_order(sim, "mushrooms"))
        .unwrap();
    sim.set_actor("test");
    world.run_until_quiet(MAX_STEPS).unwrap();
    world.set_workers(ORDERS_QUEUE, workers).unwrap();
    // A report shows the scenario, not how it was set up: the setup's
    // steps are let go, but for this one.
    sim.note(&format!(
        "Ola's order {ORDER} is placed and holds the mushrooms she added; Orders has {workers} workers"
    ));
    sim.set_trace_limit(1);
    sim.set_trace_limit(Trace::DEFAULT_LIMIT);
}

/// Whether a crash struck in this run (a handler may fail for other
/// reasons: say, a solution that lets the broker retry after a conflict).
fn crashed(sim: &Sim) -> bool {
    let trace = sim.trace();
    let mut events = trace.events().iter();
    events.any(|event| matches!(event.kind, EventKind::FaultInjected { .. }))
}

/// One run: Ola's requests arrive (each in `copies` copies), the workers
/// take their steps in the order the explorer says, a crash strikes where
/// it says; then the checks.
fn run(sim: &Sim, setup: Setup) -> Result<(), Violation> {
    let (broker, mut world, orders) = ola_has_an_order(sim, setup);
    let requests: Vec<Envelope> = setup
        .fillings
        .iter()
        .map(|filling| add_to_olas_order(sim, filling))
        .collect();
    sim.set_actor("ola");
    for request in &requests {
        for _ in 0..setup.copies {
            world.send(ORDERS_QUEUE, request.clone()).unwrap();
        }
    }
    sim.set_actor("test");
    // From here on, at every matching call, the explorer may strike once.
    match setup.crash {
        Crash::Never => {}
        Crash::Anywhere(calls) => {
            sim.explore_faults(calls, &[Fault::FailBefore, Fault::FailAfter], 1)
        }
        Crash::AfterEach(calls) => sim.explore_faults(calls, &[Fault::FailAfter], 1),
    }
    if let Err(err) = world.run_until_quiet(MAX_STEPS) {
        let headline = format!("the run did not end: {err}");
        return Err(Violation::new("terminates", &headline, vec![], sim));
    }
    sim.stop_exploring_faults();
    // The run as it was, before the checks' own reads join the trace.
    let trace = sim.trace();
    check(sim, &broker, &orders, &requests).map_err(|mut violation| {
        violation.recording.trace = trace;
        violation
    })
}

/// What exactly-once means for Ola's requests after the run.
fn check(
    sim: &Sim,
    broker: &Broker,
    orders: &Orders,
    requests: &[Envelope],
) -> Result<(), Violation> {
    let history = history(broker, orders);
    let all_stored: Vec<Stored> = orders.journal().committed().unwrap();
    let (stored, outputs) = stored_and_sent(&all_stored, &history, requests);
    for request in requests {
        one_change(sim, &history, request)?;
    }
    no_item_lost(sim, orders, requests)?;
    for request in requests {
        item_added_stored_once(sim, &stored, request)?;
    }
    one_first_item(sim, &all_stored)?;
    coupon_once_earned(sim, orders, &all_stored)?;
    every_stored_message_went_out(sim, &stored, &outputs)?;
    nothing_went_out_unstored(sim, &stored, &outputs)?;
    harness::consistent_output(&history)?;
    nothing_left_pending(sim, orders, &stored)
}

/// One state change per request: the request changed the order once, not
/// twice, and not never; and every copy of it was acknowledged.
fn one_change(sim: &Sim, history: &History, add: &Envelope) -> Result<(), Violation> {
    let request = sim.message_ref(add);
    let changes: Vec<&str> = history
        .changes
        .iter()
        .filter(|change| change.message == add.id)
        .map(|change| change.transaction.as_str())
        .collect();
    let copies: Vec<bool> = history
        .processed
        .iter()
        .filter(|processed| processed.envelope.id == add.id)
        .map(|processed| processed.acked)
        .collect();
    let all_acked = !copies.is_empty() && copies.iter().all(|acked| *acked);
    let headline = match changes.len() {
        1 if all_acked => return Ok(()),
        1 => format!(
            "a copy of {request} was given up (dead-lettered) although its request was \
             handled: a copy must be acknowledged, not sent to a person"
        ),
        0 if all_acked => {
            format!("lost: {request} was acknowledged, but order {ORDER} never changed for it")
        }
        0 => format!("lost: {request} was given up (dead-lettered) and never changed the order"),
        n => format!(
            "duplicate: {request} changed order {ORDER} {n} times ({}) — two copies both \
             found it not handled yet, and both wrote: the second write must be refused, \
             because the order changed since it was loaded",
            changes.join(", ")
        ),
    };
    Err(Violation::new(
        "one state change per request",
        &headline,
        vec![request],
        sim,
    ))
}

/// Every filling Ola added is in the order: no write replaced the order
/// with a copy loaded before another request changed it.
fn no_item_lost(sim: &Sim, orders: &Orders, requests: &[Envelope]) -> Result<(), Violation> {
    let added = orders.added_to(ORDER).unwrap();
    for request in requests {
        let add: AddItem = request.body().unwrap();
        if added.contains(&add.filling) {
            continue;
        }
        let cause = sim.message_ref(request);
        let headline = format!(
            "lost: order {ORDER} holds {added:?} without the {}, although {cause} was \
             acknowledged — a write saved an order loaded before {cause} changed it (a lost \
             update)",
            add.filling
        );
        return Err(Violation::new(
            "no request lost",
            &headline,
            vec![cause],
            sim,
        ));
    }
    Ok(())
}

/// The request's `ItemAdded` was stored once, with its change.
fn item_added_stored_once(sim: &Sim, stored: &[Stored], add: &Envelope) -> Result<(), Violation> {
    let request: AddItem = add.body().unwrap();
    let count = stored
        .iter()
        .filter(|stored| {
            stored.request_id == request.id && stored.outbound.envelope.message_type == ITEM_ADDED
        })
        .count();
    let cause = sim.message_ref(add);
    let headline = match count {
        1 => return Ok(()),
        0 => format!(
            "lost: {cause} changed the order, but no committed transaction stored its \
             {ITEM_ADDED} in the outbox"
        ),
        n => format!(
            "duplicate: the outbox holds {n} {ITEM_ADDED} messages for {cause}, each with \
             its own id — Billing will charge for the {} {n} times",
            request.filling
        ),
    };
    Err(Violation::new(
        "outgoing messages stored once, with the change",
        &headline,
        vec![cause],
        sim,
    ))
}

/// The order's first item was announced once (`FirstItemAdded` is derived
/// from the order as a request found it).
fn one_first_item(sim: &Sim, stored: &[Stored]) -> Result<(), Violation> {
    let firsts: Vec<&Stored> = stored
        .iter()
        .filter(|stored| stored.outbound.envelope.message_type == FIRST_ITEM_ADDED)
        .collect();
    if firsts.len() == 1 {
        return Ok(());
    }
    let labels: Vec<MessageRef> = firsts
        .iter()
        .map(|stored| sim.message_ref(&stored.outbound.envelope))
        .collect();
    let headline = if firsts.is_empty() {
        format!("lost: no {FIRST_ITEM_ADDED} was stored for order {ORDER}")
    } else {
        let names: Vec<String> = labels.iter().map(|label| label.to_string()).collect();
        format!(
            "inconsistent output: order {ORDER} got {} first items ({}) — each request \
             decided from an order that no other request had changed yet",
            firsts.len(),
            names.join(", ")
        )
    };
    Err(Violation::new(
        "one first item per order",
        &headline,
        labels,
        sim,
    ))
}

/// A coupon was stored once if the order reached 100 zł, and not at all if
/// it did not (`CouponEarned` is derived from the order's value as a
/// request found it).
fn coupon_once_earned(sim: &Sim, orders: &Orders, stored: &[Stored]) -> Result<(), Violation> {
    let order = &orders.of_cart(ORDER).unwrap()[0];
    let portions = (order.items.len() + order.added.len()) as u64;
    let earned = portions * PORTION_PRICE >= COUPON_AT;
    let coupons: Vec<MessageRef> = stored
        .iter()
        .filter(|stored| stored.outbound.envelope.message_type == COUPON_EARNED)
        .map(|stored| sim.message_ref(&stored.outbound.envelope))
        .collect();
    let headline = match (earned, coupons.len()) {
        (true, 1) | (false, 0) => return Ok(()),
        (true, 0) => format!(
            "lost: order {ORDER} is worth {} zł, but no {COUPON_EARNED} was stored — each \
             request decided from an order worth less",
            portions * PORTION_PRICE / 100
        ),
        (false, n) => format!(
            "inconsistent output: order {ORDER} is worth {} zł, yet {n} {COUPON_EARNED} were \
             stored",
            portions * PORTION_PRICE / 100
        ),
        (true, n) => format!("duplicate: order {ORDER} earned {n} coupons instead of one"),
    };
    Err(Violation::new(
        "one coupon per order that reached 100 zł",
        &headline,
        coupons,
        sim,
    ))
}

/// Two workers each read the order, in a transaction of their own, before
/// either committed a change: both decided on the same version of it.
fn both_loaded_before_either_wrote(trace: &Trace) -> bool {
    let mut loaded: Vec<&str> = Vec::new();
    let mut writing: Vec<&str> = Vec::new();
    for event in trace.events() {
        let worker = event.actor.as_str();
        match &event.kind {
            EventKind::Statement { sql, .. } if !sql.starts_with("select") => writing.push(worker),
            EventKind::Committed { .. } if writing.contains(&worker) => break,
            EventKind::Committed { .. } if !loaded.contains(&worker) => loaded.push(worker),
            _ => {}
        }
    }
    loaded.len() >= 2
}

/// A message went out, and the worker was told the send failed.
fn a_send_failed_after_it_went_out(trace: &Trace) -> bool {
    trace.struck("broker.*.publish", Fault::FailAfter)
}

/// Something a run may do, named, and how to tell it from the run's trace.
type Condition = (&'static str, fn(&Trace) -> bool);

/// What a run of `setup` is about: each must happen in at least one
/// explored run, or the test did not explore it.
fn about(setup: Setup) -> Vec<Condition> {
    let mut about: Vec<Condition> = Vec::new();
    if setup.workers > 1 && setup.copies * setup.fillings.len() > 1 {
        about.push((
            "two workers loaded the order before either wrote it",
            both_loaded_before_either_wrote,
        ));
    }
    match setup.crash {
        Crash::Never => {}
        Crash::Anywhere(_) | Crash::AfterEach(_) => {
            about.push((
                "a write committed, and the worker was told it failed",
                Trace::commit_struck_after_a_write,
            ));
            about.push((
                "a message went out, and the worker was told the send failed",
                a_send_failed_after_it_went_out,
            ));
        }
    }
    about
}

/// Explores every schedule of `setup` and fails with the shortest run that
/// breaks a check, or when what the setup is about never happened. With
/// `HARNESS_SCRIPT` set (the replay command of a failure), runs that one
/// schedule only. Returns the report.
fn explore(name: &str, setup: Setup) -> Exploration {
    let sim = Sim::from_env_or(SEED);
    if std::env::var(SCRIPT_VARIABLE).is_ok() {
        if let Err(violation) = run(&sim, setup) {
            worker_report(&violation, None).panic();
        }
        return Exploration {
            schedules: 1,
            ..Exploration::default()
        };
    }
    let mut explorer = Explorer::new(move |sim: &Sim| run(sim, setup))
        .seed(sim.seed())
        .max_schedules(MAX_SCHEDULES);
    for (what, condition) in about(setup) {
        explorer = explorer.sometimes(what, condition);
    }
    let explored = explorer.run();
    println!("{name}: {} schedules", explored.schedules);
    assert!(explored.exhausted, "{explored}");
    if let Some(violation) = &explored.counterexample {
        let how_often = format!(
            "{} of {} schedules break it; this is the shortest",
            explored.violations, explored.schedules
        );
        worker_report(violation, Some(how_often)).panic();
    }
    explored.assert_explored();
    explored
}

/// The ordinary test: one copy of Ola's request, and a crash before or
/// after any call. The first try passes it.
#[test]
fn a_single_copy_with_one_crash_applies_once() {
    let setup = Setup {
        workers: 2,
        fillings: &["meat"],
        copies: 1,
        crash: Crash::Anywhere("**"),
    };
    let explored = explore("one copy, one crash anywhere", setup);
    assert!(
        explored.schedules > 20,
        "the crashes did not strike: {explored}"
    );
}

/// Two copies of Ola's `AddItem(meat)` at once (a lease ran out, or the
/// sender sent it twice), in every order their steps can take.
#[test]
fn all_schedules_of_two_copies_apply_once() {
    let setup = Setup {
        workers: 2,
        fillings: &["meat"],
        copies: 2,
        crash: Crash::Never,
    };
    let explored = explore("two copies", setup);
    assert!(
        explored.schedules > 50,
        "the two copies did not interleave: {explored}"
    );
}

/// The same, and a crash after any step of either copy.
#[test]
fn all_schedules_with_one_crash_apply_once() {
    let setup = Setup {
        workers: 2,
        fillings: &["meat"],
        copies: 2,
        crash: Crash::AfterEach(STEPS),
    };
    let explored = explore("two copies, one crash after any step", setup);
    assert!(
        explored.schedules > 200,
        "the crashes did not strike: {explored}"
    );
}

/// Ola adds meat from her phone and sauerkraut from her laptop at the same
/// time: two different requests for one order, in every order.
#[test]
fn all_schedules_of_two_requests_apply_both() {
    let setup = Setup {
        workers: 2,
        fillings: &["meat", "sauerkraut"],
        copies: 1,
        crash: Crash::Never,
    };
    let explored = explore("two requests", setup);
    assert!(
        explored.schedules > 50,
        "the two requests did not interleave: {explored}"
    );
}

/// The disk is full: the database reads, but refuses every write, for
/// longer than the broker's patience, while Ola adds meat and sauerkraut on
/// two workers; then her page sends both requests again. A handler must
/// give a request back when it cannot write (one that loads and tries again
/// for ever inside one delivery is stopped and named), and in the end each
/// request changed the order once and its messages went out.
#[test]
fn a_write_outage_gives_the_requests_back_and_loses_nothing() {
    let sim = Sim::from_env_or(SEED);
    let broker = Broker::new(&sim);
    let mut world = World::new(&sim, &broker);
    let orders = interleavings::orders(&sim);
    orders.add_to(&mut world);
    place_olas_order(&sim, &mut world);
    world.set_workers(ORDERS_QUEUE, 2).unwrap();
    let fillings = ["meat", "sauerkraut"];
    let outage = "sql.orders.execute";
    if let Err(violation) =
        outage_then_resend(&sim, &mut world, &broker, &orders, outage, &fillings)
    {
        worker_report(&violation, None).panic();
    }
}

/// Two copies, a crash before or after any call (every statement too),
/// and every interleaving after the crash.
#[test]
#[ignore = "big: run in release (see the top of this file)"]
fn big_two_copies_with_one_crash_anywhere_apply_once() {
    let setup = Setup {
        workers: 2,
        fillings: &["meat"],
        copies: 2,
        crash: Crash::Anywhere("**"),
    };
    explore("two copies, one crash anywhere", setup);
}

/// Three copies on two workers (the third starts as soon as a worker is
/// free), and a crash after any step.
#[test]
#[ignore = "big: run in release (see the top of this file)"]
fn big_three_copies_with_one_crash_apply_once() {
    let setup = Setup {
        workers: 2,
        fillings: &["meat"],
        copies: 3,
        crash: Crash::AfterEach(STEPS),
    };
    explore("three copies, one crash after any step", setup);
}
