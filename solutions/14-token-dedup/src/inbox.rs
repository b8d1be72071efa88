//! EXERCISE 14: how Orders handles one request when every message in
//! flight carries a token, its proof that it is still allowed.
//!
//! The dedup store of exercise 12 forgets an id after a week (its marks
//! expire), and a copy that comes later is applied again. Tokens need no
//! window: the sender of a message creates its token before sending it,
//! the receiver handles the message only while the token exists, and
//! consumes it once its own messages are out. Missing token, copy.
//!
//! Orders is both: the receiver of the order page's requests (each came
//! with a token for `orders`), and the sender of the events Billing and
//! Marketing receive (each needs a token of its own, minted once).

use harness::{Consistency, HandlerContext, HandlerError};
use shop::ORDERS_QUEUE;
use shop::orders::kv::{DedupStore, Orders, TOKEN_HEADER, token_of};
use shop::outbox::{Delivery, Outbound};

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
/// tell, however often and however late it is delivered, and wherever a
/// crash strikes.
pub fn handle_request(
    orders: &Orders,
    ctx: &mut HandlerContext,
    request: &Delivery,
) -> Result<(), HandlerError> {
    let order_id = request.order_id();
    let Some(token) = token_of(request.message()) else {
        // Without a token a copy cannot be told from the original.
        return Err(HandlerError::unrecoverable(format!(
            "request {} carries no token (header {TOKEN_HEADER})",
            request.id()
        )));
    };
    // 1. The order first: its version guards every write below.
    let Some(found) = orders.find_order(order_id)? else {
        // SubmitOrder may still be on its way: try again later.
        return Err(HandlerError::transient(format!(
            "order {order_id} does not exist (yet)"
        )));
    };
    let mut document = found.value;
    let mut version = found.version;
    // 2. Then the token. Gone means handled: a copy, however late. A crash
    //    may have struck after the token was consumed: finish the clean-up
    //    and remove the entry.
    let Some(mut token_version) = orders.tokens().find(token, ORDERS_QUEUE)? else {
        if document.outbox.contains_key(request.id()) {
            finish_the_clean_up(orders, request, token)?;
        }
        return Ok(());
    };
    // 3. Decide once: the change and its messages in one write.
    if !document.outbox.contains_key(request.id()) {
        let outgoing = request.run_handler(ctx, &mut document.order)?;
        let messages = outgoing.messages().to_vec();
        document.outbox.insert(request.id().to_string(), messages);
        version = orders.save_order(&document, version)?;
    }
    // 4. Mint once: a token for each message, kept with the messages
    //    before any of them goes out. A retry finds them and sends the
    //    same tokens, which the receivers consumed already. The tokens are
    //    children of the request's token, made only while it is unchanged:
    //    an attempt that lost cannot make one after the clean-up in 7.
    let mut messages = document.outbox[request.id()].clone();
    let minted = messages
        .iter()
        .all(|message| token_of(&message.envelope).is_some());
    if !minted {
        token_version = orders.mint_tokens(token, token_version, &mut messages)?;
        document
            .outbox
            .insert(request.id().to_string(), messages.clone());
        version = orders.save_order(&document, version)?;
    }
    // 5. Send what is stored, with the stored tokens.
    for message in &messages {
        orders.dispatch(ctx, message)?;
    }
    // 6. Our own messages are out: consume the request's token, if it is
    //    still the one we checked. From here on no child of it can be made.
    orders
        .tokens()
        .consume(token, ORDERS_QUEUE, token_version)?;
    // 7. Clean up the tokens of attempts that lost, then the entry.
    discard_unsent_tokens(orders, token, &messages)?;
    document.outbox.remove(request.id());
    orders.save_order(&document, version)?;
    Ok(())
}

/// After a crash between consuming the request's token and removing its
/// entry: cleans up the tokens, then removes the entry. The order is read
/// again: the one read before the token was found gone may show the entry
/// before another copy saved its tokens, and its messages are not the ones
/// that went out. Now that the token is gone, nobody can mint or save
/// tokens for the request any more: what the order holds is final.
fn finish_the_clean_up(
    orders: &Orders,
    request: &Delivery,
    token: &str,
) -> Result<(), HandlerError> {
    let Some(found) = orders.find_order(request.order_id())? else {
        return Ok(());
    };
    let mut document = found.value;
    if let Some(messages) = document.outbox.remove(request.id()) {
        discard_unsent_tokens(orders, token, &messages)?;
        orders.save_order(&document, found.version)?;
    }
    Ok(())
}

/// Deletes every child of the request's `token` that none of `messages`
/// (the stored ones, which went out) carries: tokens minted by attempts
/// whose save of the order lost, or which crashed before it. Only once the
/// request's token is consumed: then no attempt can make another.
fn discard_unsent_tokens(
    orders: &Orders,
    token: &str,
    messages: &[Outbound],
) -> Result<(), HandlerError> {
    for (child, receiver) in orders.tokens().children(token)? {
        let carried = messages
            .iter()
            .any(|message| token_of(&message.envelope) == Some(child.as_str()));
        if !carried {
            orders.tokens().discard(&child, &receiver)?;
        }
    }
    Ok(())
}
