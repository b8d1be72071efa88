//! The short steps of exercise 11's middleware, which never holds the
//! database while a handler runs:
//!
//! 1. [`load`], in one short read: the order, its version, whether the
//!    request was handled, and the messages its outbox still holds.
//! 2. Unless it was handled: run the handler (nothing held), then write in
//!    one short transaction the order, the request as processed and the
//!    outgoing messages (the lesson's `write`), and say so ([`wrote`]).
//! 3. Dispatch the request's messages, as stored; 4. mark them dispatched;
//!    5. return `Ok`.
//!
//! Another worker may run between any two steps, with another request for
//! the same order or a copy of the same one. Each step notes in the run's
//! trace what it found or did, so that a failing run reads as a story.

use harness::{Error, HandlerContext};

use super::delivery::Delivery;
use super::outgoing::{Outbound, Outgoing};
use super::{Outbox, table};
use crate::Order;

/// What one load found.
pub struct Loaded {
    /// The order, as the handler will see it.
    pub order: Order,
    /// Its version: how many changes it has had.
    pub version: i64,
    /// Whether the request was handled before.
    pub processed: bool,
    /// The request's stored messages that have not been dispatched.
    pub pending: Vec<Outbound>,
}

/// Step 1: the request's order, its version, and the request's outbox, in
/// one short read transaction (one consistent view).
pub fn load(outbox: &Outbox, ctx: &HandlerContext, request: &Delivery) -> Result<Loaded, Error> {
    let loaded = outbox.database().transaction(|tx| {
        Ok(Loaded {
            order: request.load(tx)?,
            version: table::version(tx, request.order_id())?,
            processed: table::is_processed(tx, request.id())?,
            pending: table::pending_in(tx, request.id())?,
        })
    })?;
    let found = if loaded.processed {
        let count = messages(loaded.pending.len());
        format!("handled already, {count} to send")
    } else {
        "not handled yet".to_string()
    };
    let key = request.order_id();
    let version = loaded.version;
    let message = ctx.sim().message_ref(request.message());
    note(
        ctx,
        format!("loaded {key} at version {version}: {message} {found}"),
    );
    Ok(loaded)
}

/// Says in the trace that the write of step 2 committed.
pub fn wrote(ctx: &HandlerContext, request: &Delivery, outgoing: &Outgoing) {
    let key = request.order_id();
    let message = ctx.sim().message_ref(request.message());
    let sending = messages(outgoing.messages().len());
    note(
        ctx,
        format!("wrote {key} for {message}, with {sending} to send"),
    );
}

fn note(ctx: &HandlerContext, text: String) {
    ctx.sim().note(&text);
}

/// "1 message", "2 messages", "no message".
fn messages(count: usize) -> String {
    match count {
        0 => "no message".to_string(),
        1 => "1 message".to_string(),
        n => format!("{n} messages"),
    }
}
