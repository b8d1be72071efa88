//! Exercise 09: the generic outbox. Orders' handlers only describe what a
//! request does; the middleware in `src/outbox.rs` must make that happen
//! exactly once, whatever crashes.
//!
//! The crash matrix: Ola adds meat to her order, delivered once or as two
//! physical copies, and the explorer makes one fault strike at every point
//! in turn (every statement and commit of the database, every send, the
//! acknowledgement), failing before or after. Every run must end with one
//! change of the order, every stored message sent with its stored id and
//! contents, and nothing sent that no committed transaction stored.

use harness::{
    Broker, Envelope, EventKind, Explorer, Failure, Fault, History, MessageId, MessageRef,
    SCRIPT_VARIABLE, Sim, Trace, Violation, World,
};
use serde::Deserialize;
use shop::ORDERS_QUEUE;
use shop::demo::{self, Profile};
use shop::orders::{AddItem, FIRST_ITEM_ADDED, ITEM_ADDED, Orders};
use shop::outbox::Stored;
use shop::testing::sql::{
    MAX_STEPS, ORDER, add_to_olas_order, every_stored_message_went_out, history,
    nothing_left_pending, nothing_went_out_unstored, outage_then_resend, place_olas_order,
    stored_and_sent,
};
use shop::testing::storm;

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 9;

/// How a fault strikes in the crash matrix: the operation does not happen,
/// or it happens and the caller is told it failed.
const CRASHES: [Fault; 2] = [Fault::FailBefore, Fault::FailAfter];

/// A world with Orders (through your outbox), where Ola's order is placed.
fn ola_has_an_order(sim: &Sim) -> (Broker, World, Orders) {
    let broker = Broker::new(sim);
    let mut world = World::new(sim, &broker);
    let orders = generic_outbox::orders(sim);
    orders.add_to(&mut world);
    // The same in every schedule: the explorer runs it in its first
    // schedule only, and starts the others from the world it left.
    sim.same_in_every_schedule(|| place_olas_order(sim, &mut world));
    (broker, world, orders)
}

/// One run of the crash matrix: `copies` physical copies of Ola's
/// `AddItem(meat)` (the same message id), one fault wherever the explorer
/// says, then the checks.
fn crash_run(sim: &Sim, copies: usize) -> Result<(), Violation> {
    let (broker, mut world, orders) = ola_has_an_order(sim);
    let add = add_to_olas_order(sim, "meat");
    sim.set_actor("ola");
    for _ in 0..copies {
        world.send(ORDERS_QUEUE, add.clone()).unwrap();
    }
    sim.set_actor("test");
    // From here on, at every fault point, the explorer may strike once.
    sim.explore_faults("**", &CRASHES, 1);
    if let Err(err) = world.run_until_quiet(MAX_STEPS) {
        let headline = format!("the run did not end: {err}");
        return Err(Violation::new("terminates", &headline, vec![], sim));
    }
    sim.stop_exploring_faults();
    // The run as it was, before the checks' own reads join the trace.
    let run = sim.trace();
    check_one_request(sim, &broker, &orders, &add).map_err(|mut violation| {
        violation.recording.trace = run;
        violation
    })
}

/// What exactly-once means for the request `add` after the run.
fn check_one_request(
    sim: &Sim,
    broker: &Broker,
    orders: &Orders,
    add: &Envelope,
) -> Result<(), Violation> {
    let history = history(broker, orders);
    let committed = orders.journal().committed().unwrap();
    let (stored, sent) = stored_and_sent(&committed, &history, std::slice::from_ref(add));
    let request = sim.message_ref(add);
    one_change(sim, &history, add, &request)?;
    the_order_holds_the_change(sim, orders, add, &request)?;
    stored_with_the_change(sim, &stored, &request)?;
    every_stored_message_went_out(sim, &stored, &sent)?;
    nothing_went_out_unstored(sim, &stored, &sent)?;
    harness::consistent_output(&history)?;
    nothing_left_pending(sim, orders, &stored)
}

/// (i) One state change per logical message: the request changed the order
/// once, not twice, and not never.
fn one_change(
    sim: &Sim,
    history: &History,
    add: &Envelope,
    request: &MessageRef,
) -> Result<(), Violation> {
    let changes: Vec<&str> = history
        .changes
        .iter()
        .filter(|change| change.message == add.id)
        .map(|change| change.transaction.as_str())
        .collect();
    let acked = history
        .processed
        .iter()
        .any(|processed| processed.envelope.id == add.id && processed.acked);
    let headline = match changes.len() {
        1 if acked => return Ok(()),
        1 => format!(
            "{request} was given up (dead-lettered) although one crash should only delay it"
        ),
        0 if acked => format!(
            "lost: {request} was acknowledged, but order {ORDER} never changed for it — it was \
             marked processed in a transaction that did not hold its change"
        ),
        0 => format!("lost: {request} was given up (dead-lettered) and never changed the order"),
        n => format!(
            "duplicate effect: {request} changed order {ORDER} {n} times ({}) — a retry \
             handled it again although its change was committed: the processed mark must be \
             committed in the same transaction as the change",
            changes.join(", ")
        ),
    };
    Err(Violation::new(
        "one state change per request",
        &headline,
        vec![request.clone()],
        sim,
    ))
}

/// Content, not only a count: the change kept is the one the handler made
/// (the order holds the filling the request added).
fn the_order_holds_the_change(
    sim: &Sim,
    orders: &Orders,
    add: &Envelope,
    request: &MessageRef,
) -> Result<(), Violation> {
    let filling = add.body::<AddItem>().unwrap().filling;
    let added = orders.added_to(ORDER).unwrap();
    if added.contains(&filling) {
        return Ok(());
    }
    let headline = format!(
        "lost: order {ORDER} changed for {request}, but it holds {added:?}, without the \
         {filling}: the order saved is not the one the handler changed"
    );
    Err(Violation::new(
        "the change kept is the handler's",
        &headline,
        vec![request.clone()],
        sim,
    ))
}

/// The handler's two messages are stored with the change (both are about
/// the meat; `FirstItemAdded` because it is the order's first item).
fn stored_with_the_change(
    sim: &Sim,
    stored: &[Stored],
    request: &MessageRef,
) -> Result<(), Violation> {
    let count = |message_type: &str| {
        stored
            .iter()
            .filter(|stored| stored.outbound.envelope.message_type == message_type)
            .count()
    };
    for expected in [ITEM_ADDED, FIRST_ITEM_ADDED] {
        let headline = match count(expected) {
            1 => continue,
            0 => format!(
                "lost: {request} changed the order, but no committed transaction stored its \
                 {expected} in the outbox — after a crash nothing could send it again"
            ),
            n => format!(
                "duplicate: the outbox holds {n} {expected} messages for {request} — its \
                 handler ran and committed more than once"
            ),
        };
        return Err(Violation::new(
            "outgoing messages stored with the change",
            &headline,
            vec![request.clone()],
            sim,
        ));
    }
    Ok(())
}

/// Runs `copies` copies under every crash the matrix holds and fails with
/// the shortest run that breaks a check. With `HARNESS_SCRIPT` set (the
/// replay command of a failure), runs that one schedule only.
fn crash_matrix(copies: usize) {
    let sim = Sim::from_env_or(SEED);
    if std::env::var(SCRIPT_VARIABLE).is_ok() {
        if let Err(violation) = crash_run(&sim, copies) {
            violation.panic();
        }
        return;
    }
    let report = Explorer::new(move |sim: &Sim| crash_run(sim, copies))
        .seed(sim.seed())
        .sometimes(
            "a transaction that wrote committed, and the worker was told it failed",
            Trace::commit_struck_after_a_write,
        )
        .sometimes(
            "a message went out, and the worker was told the send failed",
            |trace| trace.struck("broker.*.publish|broker.*.send", Fault::FailAfter),
        )
        .sometimes(
            "the acknowledgement failed: the request came back",
            |trace| trace.struck("broker.orders.ack", Fault::FailBefore),
        )
        .run();
    println!(
        "crash matrix, {copies} copies of the request: {} schedules",
        report.schedules
    );
    assert!(report.exhausted, "{report}");
    report.assert_no_violation();
    // Every one of the request's fault points, twice (before, after).
    assert!(
        report.schedules > 2 * 10 * copies,
        "the crash matrix explored only {} schedules: the faults did not strike",
        report.schedules
    );
}

#[test]
fn crash_matrix_single_delivery() {
    crash_matrix(1);
}

#[test]
fn crash_matrix_physical_duplicate() {
    crash_matrix(2);
}

/// Ola adds meat while `calls` is down for longer than the broker's
/// patience; once it works again, her page sends the request again. Every
/// delivery must end (a handler that retries for ever inside one delivery
/// is stopped and named), the request must be given back during the outage,
/// and in the end it changed the order once and its messages went out.
fn outage(calls: &'static str) {
    let sim = Sim::from_env_or(SEED);
    let (broker, mut world, orders) = ola_has_an_order(&sim);
    let fillings = ["meat"];
    if let Err(violation) = outage_then_resend(&sim, &mut world, &broker, &orders, calls, &fillings)
    {
        violation.panic();
    }
}

#[test]
fn a_database_outage_gives_the_request_back_and_loses_nothing() {
    // The disk is full: reads work, every write fails.
    outage("sql.orders.execute");
}

#[test]
fn a_broker_outage_gives_the_request_back_and_loses_nothing() {
    outage("broker.*.publish");
}

#[test]
fn chaos_storm_tells_one_story() {
    // Forty orders, items added to each, and every monkey loose: copies,
    // database failures, broker failures. The broker retries.
    // A failing storm is shrunk to the fewest orders that still fail.
    let seed = Sim::from_env_or(SEED).seed();
    let storm = |orders| {
        let sim = Sim::new(seed);
        let ran = demo::run(&sim, Profile::All, orders, generic_outbox::orders).unwrap();
        let outbox = ran
            .outbox
            .as_ref()
            .expect("Orders on SQL reports on its outbox");
        let clean = ran.audit.is_consistent() && outbox.is_clean();
        (!clean).then_some((sim, ran))
    };
    let Some(shrunk) = storm::shrink(40, storm) else {
        return;
    };
    let shrunk_line = shrunk.describe();
    let (sim, ran) = shrunk.run;
    let run = sim.trace();
    let audit = &ran.audit;
    let outbox = ran.outbox.as_ref().expect("checked above");
    let anomaly = [&audit.ghosts, &audit.lost, &audit.duplicates]
        .into_iter()
        .find_map(|anomalies| anomalies.first());
    let headline = if let Some(ghost) = audit.ghosts.first() {
        format!("ghost: {}", ghost.what)
    } else if let Some(lost) = audit.lost.first() {
        format!("lost: {}", lost.what)
    } else if let Some(duplicate) = audit.duplicates.first() {
        format!("duplicate: {}", duplicate.what)
    } else if outbox.never_sent > 0 {
        format!(
            "lost: {} messages were stored with their changes but never went out with their \
             stored ids",
            outbox.never_sent
        )
    } else if outbox.never_stored > 0 {
        format!(
            "ghost: {} messages went out that no committed transaction stored",
            outbox.never_stored
        )
    } else {
        format!(
            "duplicate: {} messages went out but are still pending in the outbox: the next \
             copy of their request sends them again",
            outbox.pending
        )
    };
    let mut failure = Failure::from_trace(sim.seed(), run.clone(), headline)
        .detail(shrunk_line)
        .detail(format!("the consistency report:\n{audit}{outbox}"));
    // Point at the requests about that item, where they failed, and at
    // the events announcing it; and tell their story in a few lines (the
    // storm is too long to show whole).
    if let Some(anomaly) = anomaly {
        let about: Vec<MessageId> = ran
            .town
            .broker
            .sent_log()
            .into_iter()
            .filter(|sent| {
                sent.envelope.body::<About>().is_ok_and(|about| {
                    about.order_id == anomaly.order_id && about.filling == anomaly.filling
                })
            })
            .map(|sent| sent.envelope.id)
            .collect();
        let mut story = Vec::new();
        for event in run.events() {
            if let EventKind::Sent { message, .. }
            | EventKind::Published { message, .. }
            | EventKind::HandlerFailed { message, .. }
            | EventKind::Acked { message, .. } = &event.kind
                && about.contains(&message.id)
            {
                failure = failure.highlight(event.seq);
                story.push(format!("  {event}"));
            }
        }
        failure = failure.detail(format!(
            "the story of {} in order {}:\n{}",
            anomaly.filling,
            anomaly.order_id,
            story.join("\n")
        ));
    }
    failure.panic();
}

/// What the storm's check reads of a request or an event: its order and
/// its filling.
#[derive(Deserialize)]
struct About {
    order_id: String,
    filling: String,
}
