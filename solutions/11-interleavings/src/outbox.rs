//! EXERCISE 11: the outbox middleware of exercise 09, in short steps, so
//! that it never holds the database while a handler runs. Two workers of
//! Orders may now run copies of one request, or two requests for one order,
//! at the same time, one step each in turn.
//!
//! 1. **Load**, in one short read (`steps::load`): the order, its version,
//!    whether the request was handled, and the messages its outbox still
//!    holds.
//! 2. Unless it was handled: run the handler (nothing held), then
//!    **write** in one short transaction the order, the request as
//!    processed (its next version) and the outgoing messages.
//! 3. **Dispatch** the request's messages, as stored; 4. **mark** them
//!    dispatched; 5. return `Ok`: the world acknowledges the request.
//!
//! Another worker may run between any two steps: a write must never land on
//! top of a change its load did not see. The tables and their statements:
//! `table` in `shop/src/outbox/table.rs`; the steps' plumbing:
//! `shop/src/outbox/steps.rs`.

use harness::{Error, HandlerContext, HandlerError};
use shop::Order;
use shop::outbox::steps::{self, Loaded};
use shop::outbox::{Delivery, Outbox, Outgoing, table};

/// Handles one delivery of `request` through the outbox, in short steps.
pub fn handle(
    outbox: &Outbox,
    ctx: &mut HandlerContext,
    request: &Delivery,
) -> Result<(), HandlerError> {
    let to_send = loop {
        // 1. One short read: the order, its version, and the request's
        //    outbox.
        let loaded: Loaded = steps::load(outbox, ctx, request)?;
        if loaded.processed {
            // Handled before, by an earlier attempt or by a copy: send what
            // its outbox still holds.
            break loaded.pending;
        }
        // 2. The handler, with nothing held; then one short write, which
        //    makes the version after the one loaded, or fails.
        let mut order = loaded.order;
        let outgoing = request.run_handler(ctx, &mut order)?;
        let next = loaded.version + 1;
        match write(outbox, ctx, request, next, &order, &outgoing) {
            Ok(()) => break outgoing.messages().to_vec(),
            // Someone made that version since the load: a copy of this
            // request, or another request. What the handler decided is out
            // of date: load again and decide again.
            Err(err) if err.is_conflict() => continue,
            Err(err) => return Err(err.into()),
        }
    };
    // 3. Send them, as stored.
    for outbound in &to_send {
        outbox.dispatch(ctx, outbound)?;
    }
    // 4. Only once everything is out: nothing left to send.
    table::mark_dispatched(outbox.database(), request.id())?;
    // 5. Ok: the world acknowledges the message.
    Ok(())
}

/// Step 2's write: the order, the request as the change that made
/// `version`, and its outgoing messages, in one short transaction. A
/// conflict (`is_conflict()`) if `version` exists already.
fn write(
    outbox: &Outbox,
    ctx: &HandlerContext,
    request: &Delivery,
    version: i64,
    order: &Order,
    outgoing: &Outgoing,
) -> Result<(), Error> {
    outbox.database().transaction(|tx| {
        request.save(tx, order)?;
        table::mark_version(tx, request, version)?;
        table::store(tx, request.id(), outgoing)
    })?;
    steps::wrote(ctx, request, outgoing);
    Ok(())
}
