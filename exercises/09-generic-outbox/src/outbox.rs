//! EXERCISE 09: the outbox middleware, which makes every request of Orders
//! happen exactly once, however often it is delivered and wherever a crash
//! strikes.
//!
//! A handler (`add_item`, `book_payment` …, in the shop) only *describes*
//! what a request does: it changes the order and lists the messages to
//! send. `handle` does everything else:
//!
//! 1. In **one transaction**: unless the request was handled before, load
//!    the order, run the handler, save the order, remember the request as
//!    processed, and store the outgoing messages. All of it, or none of it.
//! 2. **Dispatch** the request's stored messages that have not gone out,
//!    with the stored ids and bodies: a retry or a copy of the request sends
//!    the very same messages again, never new ones.
//! 3. **Mark** them dispatched, so that a later copy sends nothing.
//! 4. Return `Ok`: the world acknowledges the request.
//!
//! A crash anywhere leaves the request in the queue; its next delivery
//! either does the whole of step 1 (nothing was committed) or skips it and
//! goes on with step 2. The tables and their statements: `table` in
//! `shop/src/outbox/table.rs`; `request`: `shop/src/outbox/delivery.rs`.

use harness::{HandlerContext, HandlerError};
use shop::outbox::{Delivery, Outbox, table};

/// Handles one delivery of `request` through the outbox.
pub fn handle(
    outbox: &Outbox,
    ctx: &mut HandlerContext,
    request: &Delivery,
) -> Result<(), HandlerError> {
    // EXERCISE: a first try. The messages are stored with the change, then
    // sent from memory and marked dispatched; a copy of a handled request is
    // done. Run the crash matrix and read its shortest run. Then make every
    // delivery send what the outbox stored and has not sent yet
    // (`table::pending`), whether or not it made the change.
    let sent_now = outbox.database().transaction(|tx| {
        if table::is_processed(tx, request.id())? {
            return Ok(Vec::new()); // handled before: nothing to do
        }
        let mut order = request.load(tx)?;
        let outgoing = request.run_handler(ctx, &mut order)?;
        request.save(tx, &order)?;
        table::mark_processed(tx, request)?;
        table::store(tx, request.id(), &outgoing)?;
        Ok(outgoing.messages().to_vec())
    })?;
    for outbound in &sent_now {
        outbox.dispatch(ctx, outbound)?;
    }
    table::mark_dispatched(outbox.database(), request.id())?;
    // 4. Ok: the world acknowledges the message.
    Ok(())
}
