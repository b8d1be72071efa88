//! Test helpers for Orders on the key-value store (Part D): a small world
//! with Orders alone, Ola's requests, and the checks of what an order
//! document may keep, each a [`Violation`] in the course's words.

use harness::{Broker, Envelope, Failure, HandlerContext, Sim, Violation, World};

use crate::ORDERS_QUEUE;

use crate::orders::kv::{MAX_ORDER_BYTES, Orders};
use crate::orders::{BookPayment, RemoveItem};
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

/// Fails the test `test` with `violation`'s report, and `scenario`.
#[track_caller]
pub fn fail(violation: Violation, test: &str, scenario: &str) -> ! {
    let failure: Failure = violation.to_failure();
    failure.detail(scenario).test_name(test).panic()
}
