//! Test helpers for Orders on the key-value store (Part D): a small world
//! with Orders alone, Ola's requests, and the checks of what an order
//! document may keep, each a [`Violation`] in the course's words.

use harness::{Broker, Envelope, Failure, HandlerContext, MessageRef, Sim, Violation, World};

use crate::ORDERS_QUEUE;

use crate::orders::kv::{MAX_ORDER_BYTES, Orders, token_of};
use crate::orders::{BookPayment, PAYMENT_BOOKED, PaymentBooked, RemoveItem};
use crate::testing::sql::{ORDER, place_olas_order};

pub use crate::testing::sql::add_to_olas_order;

/// Enough steps for a few thousand requests with their retries.
pub const MAX_STEPS: usize = 1_000_000;

/// A world with Orders alone (no Billing, no Marketing: the tests read what
/// Orders published from the broker), where Ola's order `c-1` is placed.
pub fn olas_order(sim: &Sim, orders: &Orders) -> (Broker, World) {
    let broker = Broker::new(sim);
    let mut world = World::new(sim, &broker);
    orders.add_to(&mut world);
    place_olas_order(sim, &mut world);
    (broker, world)
}

/// The same world, for the explorer: once a handler fails (a refused
/// write, a crash), the run finishes one way (every later choice takes its
/// first option). The interleavings up to the first failure are all tried;
/// after it, one is enough to see where the run ends.
pub fn olas_order_one_way_after_a_failure(sim: &Sim, orders: &Orders) -> (Broker, World) {
    let broker = Broker::new(sim);
    let mut world = World::new(sim, &broker);
    orders.publish_through(&broker);
    let handler = orders.clone();
    world.add_endpoint(
        ORDERS_QUEUE,
        move |ctx: &mut HandlerContext, message: &Envelope| {
            let handled = handler.handle(ctx, message);
            if handled.is_err() {
                ctx.sim().stop_branching();
            }
            handled
        },
    );
    place_olas_order(sim, &mut world);
    (broker, world)
}

/// Runs `world` until nothing is left to do; a run that does not end
/// within [`MAX_STEPS`] (a handler that retries for ever, say) is a
/// violation that says so.
pub fn run_to_the_end(sim: &Sim, world: &mut World) -> Result<(), Violation> {
    match world.run_until_quiet(MAX_STEPS) {
        Ok(_) => Ok(()),
        Err(err) => {
            let headline = format!("the run did not end: {err}");
            Err(Violation::new(
                "every delivery ends",
                &headline,
                vec![],
                sim,
            ))
        }
    }
}

/// Ola's request to take `filling` off her order, with a new request id.
pub fn remove_from_olas_order(sim: &Sim, filling: &str) -> Envelope {
    let remove = RemoveItem {
        id: sim.new_uuid().to_string(),
        order_id: ORDER.to_string(),
        filling: filling.to_string(),
    };
    Envelope::new(sim.new_message_id(), "RemoveItem", &remove)
}

/// The payment service's request to book 45 zł for Ola's order.
pub fn book_olas_payment(sim: &Sim) -> Envelope {
    let book = BookPayment {
        id: sim.new_uuid().to_string(),
        order_id: ORDER.to_string(),
        amount: 4_500,
    };
    Envelope::new(sim.new_message_id(), "BookPayment", &book)
}

/// The request id in a request's body.
pub fn request_id(request: &Envelope) -> String {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    request.body::<Id>().map(|body| body.id).unwrap_or_default()
}

/// A violation if the order keeps an outbox entry once everything is
/// delivered: the messages of a finished request that nobody will clean.
pub fn no_stale_outbox_entry(sim: &Sim, orders: &Orders, order_id: &str) -> Result<(), Violation> {
    let Some(found) = orders.find_order(order_id).ok().flatten() else {
        return Ok(());
    };
    let Some((request, messages)) = found.value.outbox.iter().next() else {
        return Ok(());
    };
    let types: Vec<&str> = messages
        .iter()
        .map(|message| message.envelope.message_type.as_str())
        .collect();
    let headline = format!(
        "garbage: order {order_id} still holds a stale outbox entry for request {request} \
         ({types:?}) when every request is done: the next copy must clean it up"
    );
    Err(Violation::new(
        "no stale outbox entry",
        &headline,
        vec![],
        sim,
    ))
}

/// A violation unless the order holds messages in flight only: no outbox
/// entry of a finished request, no processed ids (they belong in the dedup
/// store), and it is well under the item limit.
pub fn holds_only_messages_in_flight(
    sim: &Sim,
    orders: &Orders,
    order_id: &str,
) -> Result<(), Violation> {
    no_stale_outbox_entry(sim, orders, order_id)?;
    let Some(found) = orders.find_order(order_id).ok().flatten() else {
        return Ok(());
    };
    let kept = &found.value.processed;
    if !kept.is_empty() {
        let headline = format!(
            "garbage: order {order_id} keeps the ids of processed requests ({} of them, {} of its {} \
             bytes, limit {MAX_ORDER_BYTES}): one more with every request, so it will outgrow \
             the item limit; keep them in the dedup store",
            kept.len(),
            serde_json::to_string(kept).map_or(0, |json| json.len()),
            found.value.size()
        );
        return Err(Violation::new(
            "the order holds messages in flight only",
            &headline,
            vec![],
            sim,
        ));
    }
    Ok(())
}

/// A violation unless the dedup store knows every one of `requests`: the id
/// of a handled request must be kept somewhere, at all times.
pub fn dedup_store_knows(
    sim: &Sim,
    orders: &Orders,
    order_id: &str,
    requests: &[Envelope],
) -> Result<(), Violation> {
    for request in requests {
        let id = request_id(request);
        if orders.dedup().has_been_processed(order_id, &id) != Ok(true) {
            let label = sim.message_ref(request);
            let headline = format!(
                "lost: {label} was handled, but the dedup store does not know it (request \
                 {id}): a late copy would be applied again"
            );
            return Err(Violation::new(
                "processed ids kept",
                &headline,
                vec![label],
                sim,
            ));
        }
    }
    Ok(())
}

/// A violation unless the payment `book` (a `BookPayment`) asked for was
/// booked once: every `PaymentBooked` that went out is for its order and its
/// amount (else a ghost), they are all one message — one id, and in a town
/// of tokens one token — however often it was published (two ids or two
/// tokens: Billing books it twice), none is missing, Orders gave up on no
/// request (no dead letter: an order over the item limit is named so) and
/// the order is paid. For a world where `book`
/// is the only payment.
///
/// ```
/// use harness::{Consistency, Sim};
/// use shop::ORDERS_QUEUE;
/// use shop::orders::kv::{DedupStore, Orders};
/// use shop::testing::kv::{book_olas_payment, booked_once, olas_order, run_to_the_end};
///
/// let sim = Sim::new(12);
/// // Orders that forget every request: nothing is booked.
/// let orders = Orders::new(&sim, DedupStore::new(&sim, Consistency::Strong), |_, _, _| Ok(()));
/// let (broker, mut world) = olas_order(&sim, &orders);
/// let book = book_olas_payment(&sim);
/// world.send(ORDERS_QUEUE, book.clone()).unwrap();
/// run_to_the_end(&sim, &mut world).unwrap();
/// let violation = booked_once(&sim, &broker, &orders, &book).unwrap_err();
/// assert!(violation.headline.starts_with("lost: "), "{}", violation.headline);
/// ```
pub fn booked_once(
    sim: &Sim,
    broker: &Broker,
    orders: &Orders,
    book: &Envelope,
) -> Result<(), Violation> {
    let request = sim.message_ref(book);
    let asked: BookPayment = book.body().expect("a BookPayment request");
    let broken = |headline: String, messages: Vec<MessageRef>| {
        Err(Violation::new("booked once", &headline, messages, sim))
    };
    let mut sent: Vec<(MessageRef, Option<String>)> = Vec::new();
    for record in broker.sent_log() {
        if !record.published || record.destination != PAYMENT_BOOKED {
            continue;
        }
        let label = sim.message_ref(&record.envelope);
        let booked: PaymentBooked = record.envelope.body().expect("a PaymentBooked event");
        if booked.order_id != asked.order_id || booked.amount != asked.amount {
            let headline =
                format!("ghost: {label} is not the payment {request} booked: {booked:?}");
            return broken(headline, vec![label, request]);
        }
        let token = token_of(&record.envelope).map(str::to_string);
        if !sent.contains(&(label.clone(), token.clone())) {
            sent.push((label, token));
        }
    }
    let mut marked: Vec<MessageRef> = sent.iter().map(|(label, _)| label.clone()).collect();
    marked.push(request.clone());
    match sent.as_slice() {
        [_] => {}
        [] => {
            let headline = format!("lost: {request} was handled, but no PaymentBooked went out");
            return broken(headline, marked);
        }
        [(first, _), others @ ..] => {
            let labels: Vec<String> = sent.iter().map(|(label, _)| label.to_string()).collect();
            let how = if others.iter().all(|(other, _)| other.id == first.id) {
                format!("as {first}, each time with a token of its own")
            } else {
                format!("with different ids ({})", labels.join(", "))
            };
            let headline = format!(
                "duplicate: {request} was applied {} times: PaymentBooked went out {how}: \
                 Billing books the payment twice",
                sent.len()
            );
            return broken(headline, marked);
        }
    }
    let given_up = broker.dead_letters(ORDERS_QUEUE).unwrap_or_default();
    if let Some(letter) = given_up.first() {
        let what = if letter.reason.contains("over the limit") {
            "item too large"
        } else {
            "lost"
        };
        let headline = format!("{what}: Orders gave up on {request}: {}", letter.reason);
        return broken(headline, vec![request]);
    }
    if orders.payment_booked(&asked.order_id) != Ok(true) {
        let headline = format!(
            "lost: {request} was handled, but order {} is not paid",
            asked.order_id
        );
        return broken(headline, vec![request]);
    }
    Ok(())
}

/// Fails the test `test` with `violation`'s report, and `scenario`.
#[track_caller]
pub fn fail(violation: Violation, test: &str, scenario: &str) -> ! {
    let failure: Failure = violation.to_failure();
    failure.detail(scenario).test_name(test).panic()
}
