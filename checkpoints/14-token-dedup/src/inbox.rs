//! EXERCISE 14: how Orders handles one request, as exercise 12 left it:
//! the order holds only the messages in flight, and the ids of handled
//! requests live in a deduplication store next to it. But that store now
//! forgets: its marks expire a week after they are written (`RETENTION` in
//! `lib.rs`), and a copy that comes later is applied again.
//!
//! Your task: tokens instead of ids. Every request comes with a token for
//! Orders (`token_of(request.message())`); a request whose token is gone
//! is a copy. Every message Orders sends needs a token of its own
//! (`orders.mint_tokens`), minted once and saved with the messages before
//! they go out; the request's token is consumed once they are out, and the
//! tokens of attempts that lost are deleted after that: none is left.
//!
//! Nothing spans two items: each write to the order is atomic on its own,
//! and so is each write to the dedup store. The order of the steps is what
//! makes it safe: the id of a handled request is always in at least one
//! place (the order's outbox, or the dedup store), and every write of the
//! order is if-match.

use harness::{Consistency, HandlerContext, HandlerError};
use shop::orders::kv::{DedupStore, Orders};
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
    // 2. Then the dedup store. Checked before the load, the answer could
    //    be out of date by the time the order is read.
    if orders.dedup().has_been_processed(order_id, request.id())? {
        // Done before: a crash may have struck after the mark and before
        // the outbox entry was removed. Clean it up.
        if document.outbox.remove(request.id()).is_some() {
            orders.save_order(&document, version)?;
        }
        return Ok(());
    }
    // 3. Decide once: the change and its messages in one write.
    if !document.outbox.contains_key(request.id()) {
        let outgoing = request.run_handler(ctx, &mut document.order)?;
        let messages = outgoing.messages().to_vec();
        document.outbox.insert(request.id().to_string(), messages);
        version = orders.save_order(&document, version)?;
    }
    // 4. Send what is stored (again, after a crash: the same ids).
    let messages = document.outbox[request.id()].clone();
    for message in &messages {
        orders.dispatch(ctx, message)?;
    }
    // 5. The id into the dedup store: now it is in both places.
    orders.dedup().mark_processed(order_id, request.id())?;
    // 6. And out of the order, if nobody wrote it since.
    document.outbox.remove(request.id());
    orders.save_order(&document, version)?;
    Ok(())
}
