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
    // EXERCISE: a first try. It passes with one worker; with two, the
    // copies of a request race. Run `cargo xtask verify 11` and read the
    // shortest run. Then make the write refuse to make a version that
    // someone made since the load (see `write`), and when it is refused,
    // load again and start over: everything the load said is out of date.
    // 1. One short read: the order, its version, and the request's outbox.
    let loaded: Loaded = steps::load(outbox, ctx, request)?;
    let mut to_send = loaded.pending;
    if !loaded.processed {
        // 2. The handler, with nothing held; then one short write.
        let mut order = loaded.order;
        let outgoing = request.run_handler(ctx, &mut order)?;
        write(outbox, ctx, request, &order, &outgoing)?;
        to_send = outgoing.messages().to_vec();
    }
    // 3. Send them, as stored.
    for outbound in &to_send {
        outbox.dispatch(ctx, outbound)?;
    }
    // 4. Only once everything is out: nothing left to send.
    table::mark_dispatched(outbox.database(), request.id())?;
    // 5. Ok: the world acknowledges the message.
    Ok(())
}

/// Step 2's write: the order, the request as processed (the order's next
/// version) and its outgoing messages, in one short transaction.
fn write(
    outbox: &Outbox,
    ctx: &HandlerContext,
    request: &Delivery,
    order: &Order,
    outgoing: &Outgoing,
) -> Result<(), Error> {
    outbox.database().transaction(|tx| {
        request.save(tx, order)?;
        table::mark_processed(tx, request)?;
        table::store(tx, request.id(), outgoing)
    })?;
    steps::wrote(ctx, request, outgoing);
    Ok(())
}
