//! EXERCISE 12: how Orders handles one request on a key-value store whose
//! items are limited to 4 KiB, so that the order holds only the messages
//! in flight and the ids of handled requests live in a deduplication store
//! (an inbox) next to it.
//!
//! This is where exercise 08 left it: the inline outbox. The order keeps
//! the id of every request it handled (`processed`) and the messages of the
//! requests in flight (`outbox`), all in one item. The dedup store
//! (`orders.dedup()`) is there, unused.

use harness::{HandlerContext, HandlerError};
use shop::orders::kv::{DedupStore, Orders};
use shop::outbox::Delivery;

/// Which stores may keep the ids of handled requests: `Ok` gives `dedup`
/// back for Orders to use, `Err` says why not.
pub fn trust(dedup: DedupStore) -> Result<DedupStore, String> {
    // Any store will do for now: the order keeps its own processed ids.
    Ok(dedup)
}

/// Handles one delivery of `request`, exactly once as far as anyone can
/// tell, however often it is delivered and wherever a crash strikes.
pub fn handle_request(
    orders: &Orders,
    ctx: &mut HandlerContext,
    request: &Delivery,
) -> Result<(), HandlerError> {
    let order_id = request.order_id();
    let Some(found) = orders.find_order(order_id)? else {
        // SubmitOrder may still be on its way: try again later.
        return Err(HandlerError::transient(format!(
            "order {order_id} does not exist (yet)"
        )));
    };
    let mut document = found.value;
    let mut version = found.version;
    // Decide once: the change, the mark and the messages in one write.
    if !document.processed.iter().any(|id| id == request.id()) {
        let outgoing = request.run_handler(ctx, &mut document.order)?;
        let messages = outgoing.messages().to_vec();
        document.outbox.insert(request.id().to_string(), messages);
        document.processed.push(request.id().to_string());
        version = orders.save_order(&document, version)?;
    }
    // Send what is stored for this request (again, after a crash: the
    // same ids), then forget the messages; the mark stays, for ever.
    let Some(messages) = document.outbox.remove(request.id()) else {
        return Ok(());
    };
    for message in &messages {
        orders.dispatch(ctx, message)?;
    }
    orders.save_order(&document, version)?;
    Ok(())
}
