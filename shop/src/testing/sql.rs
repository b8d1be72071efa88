//! Test helpers for Orders on SQL with the outbox (exercises 09 and 11):
//! Ola's order, her requests, and the checks of what exactly-once means
//! for the messages an outbox stored and sent.
//!
//! Each check returns the harness's [`Violation`], whose headline names the
//! failure (**lost**, **ghost**, **duplicate**, **inconsistent output**) and
//! which the explorer turns into a report with the shortest run, its replay
//! command and its sequence diagram.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use harness::{Broker, Envelope, EventKind, History, MessageRef, Output, Sim, Trace, Violation};
use harness::{Failure, FaultRule, World};

use crate::orders::{AddItem, Orders};
use crate::outbox::{Outbound, Stored};
use crate::{ORDERS_QUEUE, SubmitOrder};

/// Ola's order (its id is her cart's).
pub const ORDER: &str = "c-1";

/// Enough steps for a few requests with their retries.
pub const MAX_STEPS: usize = 1_000;

/// The shop sends `SubmitOrder` for Ola's cart, and the world delivers it:
/// her order is placed (with `ruskie`).
pub fn place_olas_order(sim: &Sim, world: &mut World) {
    let submit = SubmitOrder {
        cart_id: ORDER.to_string(),
        customer: "Ola".to_string(),
        items: vec!["ruskie".to_string()],
        deliver_to: "Rynek 1, Kraków".to_string(),
    };
    sim.set_actor("shop");
    let message = Envelope::new(sim.new_message_id(), "SubmitOrder", &submit);
    world.send(ORDERS_QUEUE, message).unwrap();
    sim.set_actor("test");
    world.run_until_quiet(MAX_STEPS).unwrap();
}

/// Ola's request to add `filling` to her order, with a new request id.
pub fn add_to_olas_order(sim: &Sim, filling: &str) -> Envelope {
    let add = AddItem {
        id: sim.new_uuid().to_string(),
        order_id: ORDER.to_string(),
        filling: filling.to_string(),
    };
    Envelope::new(sim.new_message_id(), "AddItem", &add)
}

/// What happened at Orders' endpoint, with each change of an order that
/// Orders committed (`version N`, and the message that made it).
pub fn history(broker: &Broker, orders: &Orders) -> History {
    let mut history = History::of_endpoint(broker, ORDERS_QUEUE);
    for change in orders.changes().unwrap() {
        history.record_change(change.message_id, format!("version {}", change.version));
    }
    history
}

/// Of the messages the outbox stored in committed transactions
/// (`committed`, from `orders.journal().committed()`), those for `requests`
/// (`AddItem`s); and what went out while handling them. The caller reads
/// the journal once: an explored test checks every schedule, and a second
/// read was a tenth of exercise 11's schedules.
pub fn stored_and_sent<'a>(
    committed: &[Stored],
    history: &'a History,
    requests: &[Envelope],
) -> (Vec<Stored>, Vec<&'a Output>) {
    let request_ids: Vec<String> = requests.iter().map(request_id).collect();
    let stored = committed
        .iter()
        .filter(|stored| request_ids.contains(&stored.request_id))
        .cloned()
        .collect();
    let sent = history
        .outputs
        .iter()
        .filter(|output| requests.iter().any(|add| add.id == output.causation))
        .collect();
    (stored, sent)
}

/// The request id of an `AddItem`.
pub fn request_id(add: &Envelope) -> String {
    add.body::<AddItem>().unwrap().id
}

/// Every stored message went out at least once, with its stored id,
/// destination, type, headers and body. A lost one is named with the
/// message that went out in its place, if one did (same contents, new id).
pub fn every_stored_message_went_out(
    sim: &Sim,
    stored: &[Stored],
    sent: &[&Output],
) -> Result<(), Violation> {
    for Stored { outbound, .. } in stored {
        let kept = sim.message_ref(&outbound.envelope);
        let copies: Vec<&&Output> = sent
            .iter()
            .filter(|output| output.envelope.id == outbound.envelope.id)
            .collect();
        if copies.is_empty() {
            let headline = never_sent(sim, outbound, sent, &kept);
            let points = vec![kept];
            return Err(Violation::new(
                "every stored message is dispatched",
                &headline,
                points,
                sim,
            ));
        }
        if let Some(difference) = copies.iter().find_map(|copy| differs(outbound, copy)) {
            let headline = format!(
                "inconsistent output: {kept} went out with another {difference} than the \
                 outbox stored"
            );
            return Err(Violation::new(
                "dispatched as stored",
                &headline,
                vec![kept],
                sim,
            ));
        }
    }
    Ok(())
}

/// The headline of a stored message that never went out.
fn never_sent(sim: &Sim, outbound: &Outbound, sent: &[&Output], kept: &MessageRef) -> String {
    let headline = format!("lost: {kept} was stored with its change, but it never went out");
    let lookalike = sent.iter().find(|output| {
        output.envelope.message_type == outbound.envelope.message_type
            && output.envelope.body == outbound.envelope.body
    });
    match lookalike {
        Some(other) => format!(
            "{headline} — {} went out instead, with the same contents under a new id: whoever \
             receives two copies of it cannot tell that they are one message",
            sim.message_ref(&other.envelope)
        ),
        None => format!(
            "{headline}: nothing sent what the outbox stored, and the outbox no longer holds it \
             as pending, so nothing ever will"
        ),
    }
}

/// What a sent copy changed of the stored message, if anything.
fn differs(stored: &Outbound, sent: &Output) -> Option<&'static str> {
    if sent.destination != stored.destination {
        return Some("destination");
    }
    if sent.envelope.message_type != stored.envelope.message_type {
        return Some("type");
    }
    if sent.envelope.body != stored.envelope.body {
        return Some("body");
    }
    let headers_kept = stored
        .envelope
        .headers
        .iter()
        .all(|(name, value)| sent.envelope.header(name) == Some(value.as_str()));
    if !headers_kept {
        return Some("set of headers");
    }
    None
}

/// Nothing went out that no committed transaction stored: whatever an
/// attempt sent before its transaction rolled back (or instead of what was
/// stored) is a ghost.
pub fn nothing_went_out_unstored(
    sim: &Sim,
    stored: &[Stored],
    sent: &[&Output],
) -> Result<(), Violation> {
    for output in sent {
        let known = stored
            .iter()
            .any(|stored| stored.outbound.envelope.id == output.envelope.id);
        if known {
            continue;
        }
        let ghost = sim.message_ref(&output.envelope);
        let headline = format!(
            "ghost: {ghost} went out, but no committed transaction stored it — it was sent by \
             an attempt whose write did not happen"
        );
        return Err(Violation::new(
            "nothing sent that was not stored",
            &headline,
            vec![ghost],
            sim,
        ));
    }
    Ok(())
}

/// Once everything was delivered, the outbox holds nothing it still means
/// to send: the next copy of its request would send it all again.
pub fn nothing_left_pending(
    sim: &Sim,
    orders: &Orders,
    stored: &[Stored],
) -> Result<(), Violation> {
    let pending = orders.journal().pending().unwrap();
    let Some(first) = stored
        .iter()
        .find(|stored| pending.contains(&stored.outbound.envelope.id.to_string()))
    else {
        return Ok(());
    };
    let label = sim.message_ref(&first.outbound.envelope);
    let headline = format!(
        "duplicate: {label} went out, but the outbox still holds it as not dispatched — every \
         later copy of its request would send it again: mark what went out as dispatched"
    );
    Err(Violation::new(
        "nothing pending at the end",
        &headline,
        vec![label],
        sim,
    ))
}

/// What each worker of Orders did in a run, in the order it did it, with
/// the step numbers of "What happened": the call histories of concurrent
/// workers, side by side. (The SQL statements are left out: the outbox's
/// notes say what its loads and writes found and did.)
pub fn worker_histories(trace: &Trace) -> String {
    let mut workers: Vec<(String, Vec<String>)> = Vec::new();
    for event in trace.events() {
        if !event.actor.starts_with(ORDERS_QUEUE) {
            continue;
        }
        let Some(said) = worker_line(event) else {
            continue;
        };
        let line = format!("      {:>3}  {said}", event.seq);
        match workers.iter_mut().find(|(name, _)| *name == event.actor) {
            Some((_, lines)) => lines.push(line),
            None => workers.push((event.actor.clone(), vec![line])),
        }
    }
    let mut text = String::from("what each worker did (numbered as below):");
    for (name, lines) in workers {
        text.push_str(&format!("\n    {name}:\n"));
        text.push_str(&lines.join("\n"));
    }
    text
}

/// One event of a worker's history, in a few words (`None`: left out).
fn worker_line(event: &harness::Event) -> Option<String> {
    let said = match &event.kind {
        EventKind::Statement { .. }
        | EventKind::Committed { .. }
        | EventKind::HandlerStarted { .. }
        | EventKind::HandlerSucceeded { .. } => return None,
        EventKind::Note { text } => text.clone(),
        EventKind::Delivered {
            message, attempt, ..
        } => format!("received {message} (attempt {attempt})"),
        EventKind::Published { message, .. } => format!("published {message}"),
        EventKind::Acked { message, .. } => format!("acknowledged {message}"),
        EventKind::FaultInjected { point, fault } => format!("⚡ crash at {point} ({fault})"),
        EventKind::HandlerFailed { error, .. } => format!("failed: {error}"),
        EventKind::RolledBack { .. } => "rolled back its transaction".to_string(),
        _ => {
            // The event as the trace prints it, without "#seq time actor: ".
            let prefix = format!("#{} {} {}: ", event.seq, event.at, event.actor);
            let text = event.to_string();
            text.strip_prefix(&prefix).unwrap_or(&text).to_string()
        }
    };
    Some(said)
}

/// The full report of a counterexample of concurrent workers: what broke,
/// how often (if known), each worker's history, and the run, with the
/// workers' notes kept in view.
pub fn worker_report(violation: &Violation, how_often: Option<String>) -> Failure {
    let mut failure = violation.to_failure();
    if let Some(line) = how_often {
        failure = failure.detail(line);
    }
    failure = failure.detail(worker_histories(&violation.recording.trace));
    for event in violation.recording.trace.events() {
        let noted = matches!(event.kind, EventKind::Note { .. });
        if noted && event.actor.starts_with(ORDERS_QUEUE) {
            failure = failure.highlight(event.seq);
        }
    }
    failure
}

/// A failure that lasts until the test ends it: from [`Outage::begin`] to
/// [`Outage::end`], every call matching `calls` (a fault-point pattern such
/// as `sql.orders.execute` or `broker.*.publish`) fails before it does
/// anything. Longer than the broker's patience, so a handler cannot wait it
/// out: it must give the message back, and the message is dead-lettered.
pub struct Outage {
    calls: &'static str,
    on: Arc<AtomicBool>,
}

impl Outage {
    /// Starts the outage of `calls`.
    pub fn begin(sim: &Sim, calls: &'static str) -> Outage {
        let on = Arc::new(AtomicBool::new(true));
        let down = on.clone();
        let rule = FaultRule::at(calls).always();
        sim.inject(
            rule.when(move |_| down.load(Ordering::Relaxed))
                .fail_before(),
        );
        sim.note(&format!("{calls} is down from now on"));
        Outage { calls, on }
    }

    /// Ends it: the calls work again.
    pub fn end(&self, sim: &Sim) {
        self.on.store(false, Ordering::Relaxed);
        sim.note(&format!("{} works again", self.calls));
    }
}

/// An outage of `calls` while Ola's requests (one per filling) are handled,
/// then, once it is over, Ola's page sends each request again, one after
/// the other (the same request id in a new message, as a page does when it
/// never got an answer). Each handler must give its message back during the outage
/// (never loop inside one delivery: the harness stops a delivery that never
/// finishes), and in the end every request changed the order once and
/// every message its change stored went out, as stored.
pub fn outage_then_resend(
    sim: &Sim,
    world: &mut World,
    broker: &Broker,
    orders: &Orders,
    calls: &'static str,
    fillings: &[&str],
) -> Result<(), Violation> {
    let outage = Outage::begin(sim, calls);
    let requests: Vec<Envelope> = fillings
        .iter()
        .map(|filling| add_to_olas_order(sim, filling))
        .collect();
    sim.set_actor("ola");
    for request in &requests {
        world.send(ORDERS_QUEUE, request.clone()).unwrap();
    }
    sim.set_actor("test");
    run_to_the_end(sim, world)?;
    let during = history(broker, orders);
    for request in &requests {
        given_back_during_the_outage(sim, &during, request, calls)?;
    }
    outage.end(sim);
    // One after the other: the race of two requests is another test's.
    let resent: Vec<Envelope> = requests
        .iter()
        .map(|request| send_again(sim, request))
        .collect();
    let in_order: Vec<(&str, Envelope)> = resent
        .iter()
        .map(|request| (ORDERS_QUEUE, request.clone()))
        .collect();
    sim.set_actor("ola");
    let sent = world.send_in_order(&in_order);
    sim.set_actor("test");
    sent.map_err(|err| did_not_end(sim, err))?;
    run_to_the_end(sim, world)?;
    let run = sim.trace();
    let all: Vec<Envelope> = requests.iter().chain(&resent).cloned().collect();
    let history = history(broker, orders);
    let checked = requests
        .iter()
        .zip(&resent)
        .try_for_each(|(first, again)| changed_once(sim, &history, first, again))
        .and_then(|()| {
            let committed = orders.journal().committed().unwrap();
            let (stored, sent) = stored_and_sent(&committed, &history, &all);
            every_stored_message_went_out(sim, &stored, &sent)?;
            nothing_went_out_unstored(sim, &stored, &sent)?;
            nothing_left_pending(sim, orders, &stored)
        });
    checked.map_err(|mut violation| {
        violation.recording.trace = run;
        violation
    })
}

/// Runs the world until nothing is left to do; a delivery that never
/// finishes (or a run that never ends) is a violation that says so.
pub fn run_to_the_end(sim: &Sim, world: &mut World) -> Result<(), Violation> {
    match world.run_until_quiet(MAX_STEPS) {
        Ok(_) => Ok(()),
        Err(err) => Err(did_not_end(sim, err)),
    }
}

fn did_not_end(sim: &Sim, err: harness::Error) -> Violation {
    let headline = format!("the run did not end: {err}");
    Violation::new("every delivery ends", &headline, vec![], sim)
}

/// The same request (its id and contents) in a new message.
fn send_again(sim: &Sim, request: &Envelope) -> Envelope {
    let add: AddItem = request.body().unwrap();
    Envelope::new(sim.new_message_id(), "AddItem", &add)
}

/// During an outage nothing a request must do can be done: its handler
/// must give it back every time (it is dead-lettered in the end), never
/// acknowledge it.
fn given_back_during_the_outage(
    sim: &Sim,
    history: &History,
    request: &Envelope,
    calls: &str,
) -> Result<(), Violation> {
    let acked = history
        .processed
        .iter()
        .any(|processed| processed.envelope.id == request.id && processed.acked);
    if !acked {
        return Ok(());
    }
    let label = sim.message_ref(request);
    let headline = format!(
        "lost: {label} was acknowledged while {calls} was down, although what it must do \
         (change the order, then send its messages) could not all be done: a handler that \
         cannot finish must fail, so that the broker keeps the message"
    );
    Err(Violation::new(
        "given back during an outage",
        &headline,
        vec![label],
        sim,
    ))
}

/// The request (sent first, and again after the outage) changed the order
/// exactly once.
fn changed_once(
    sim: &Sim,
    history: &History,
    first: &Envelope,
    again: &Envelope,
) -> Result<(), Violation> {
    let changes: Vec<&str> = history
        .changes
        .iter()
        .filter(|change| change.message == first.id || change.message == again.id)
        .map(|change| change.transaction.as_str())
        .collect();
    let label = sim.message_ref(first);
    let resent = sim.message_ref(again);
    let headline = match changes.len() {
        1 => return Ok(()),
        0 => format!(
            "lost: neither {label} nor {resent}, the same request sent again after the \
             outage, ever changed order {ORDER}"
        ),
        n => format!(
            "duplicate effect: {label} and {resent} (the same request, sent again after the \
             outage) changed order {ORDER} {n} times ({})",
            changes.join(", ")
        ),
    };
    Err(Violation::new(
        "one change per request",
        &headline,
        vec![label, resent],
        sim,
    ))
}
