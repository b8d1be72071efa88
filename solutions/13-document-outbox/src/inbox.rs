//! EXERCISE 13: how Orders handles one request on a key-value store whose
//! items are limited to 4 KiB, when one request's messages alone may not
//! fit in the order: they go to an outbox document of their own, and the
//! order keeps only a pointer to them.
//!
//! Nothing spans two items, and no batch spans two containers. The order
//! of the steps is what makes it safe: the messages are staged before
//! anything points to them; the order's pointer, written if-match, is the
//! one commit; and whoever finds a pointer finishes that transaction
//! first: sends its messages, marks its OWNER processed, clears the
//! pointer.

use harness::{Consistency, HandlerContext, HandlerError, Version};
use shop::orders::kv::{DedupStore, OrderDocument, Orders, Pending};
use shop::outbox::Delivery;

/// Which stores may keep the ids of handled requests: `Ok` gives `dedup`
/// back for Orders to use, `Err` says why not.
pub fn trust(dedup: DedupStore) -> Result<DedupStore, String> {
    match dedup.consistency() {
        Consistency::Strong => Ok(dedup),
        // A stale read says "never seen" right after a mark: the next copy
        // is applied again.
        Consistency::Stale { lag } => Err(format!(
            "a dedup store must read its own writes, and this one may answer with what it \
             held up to {lag:?} ago: a copy checked right after the mark would be applied \
             again"
        )),
    }
}

/// Handles one delivery of `request`, exactly once as far as anyone can
/// tell, however often it is delivered and wherever a crash strikes.
pub fn handle_request(
    orders: &Orders,
    ctx: &mut HandlerContext,
    request: &Delivery,
) -> Result<(), HandlerError> {
    let order_id = request.order_id();
    // 1. The order first: its version guards every write below.
    let Some(found) = orders.find_order(order_id)? else {
        // SubmitOrder may still be on its way: try again later.
        return Err(HandlerError::transient(format!(
            "order {order_id} does not exist (yet)"
        )));
    };
    let mut document = found.value;
    let mut version = found.version;
    // 2. A committed transaction, of this request or another one: finish
    //    it before anything else (there is room for one pointer only).
    if let Some(pending) = document.pending.clone() {
        version = finish(orders, ctx, &mut document, version, &pending)?;
    }
    // 3. Then the dedup store (after the load: see exercise 12).
    if orders.dedup().has_been_processed(order_id, request.id())? {
        return Ok(());
    }
    // 4. Decide, and stage the messages where nobody sees them yet.
    let outgoing = request.run_handler(ctx, &mut document.order)?;
    let tx_id = orders.outbox().new_transaction_id();
    orders
        .outbox()
        .stage(order_id, &tx_id, outgoing.messages())?;
    // 5. The commit: the change and the pointer, in one if-match write.
    let pending = Pending {
        tx_id,
        owner: request.id().to_string(),
    };
    document.pending = Some(pending.clone());
    version = orders.save_order(&document, version)?;
    // 6. Finish it now, as the next request would.
    finish(orders, ctx, &mut document, version, &pending)?;
    Ok(())
}

/// Finishes the committed transaction `pending` of the order: sends its
/// staged messages (again, after a crash: the same ids), deletes them,
/// marks the request that staged them processed, and clears the pointer
/// (if-match). Returns the order's new version.
fn finish(
    orders: &Orders,
    ctx: &mut HandlerContext,
    document: &mut OrderDocument,
    version: Version,
    pending: &Pending,
) -> Result<Version, HandlerError> {
    let order_id = document.order.id.clone();
    // No document: its messages are out already, and it was deleted.
    if let Some(messages) = orders.outbox().load(&order_id, &pending.tx_id)? {
        for message in &messages {
            orders.dispatch(ctx, message)?;
        }
        orders.outbox().delete(&order_id, &pending.tx_id)?;
    }
    // The owner: the request that staged them, perhaps not this one.
    orders.dedup().mark_processed(&order_id, &pending.owner)?;
    document.pending = None;
    Ok(orders.save_order(document, version)?)
}
