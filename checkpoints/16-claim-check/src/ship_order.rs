//! EXERCISE 16: how Shipping handles `ShipOrder`, whose body, label and
//! invoice are too large for the broker (64 KiB): they travel through the
//! blob store, and every blob is a side effect of the attempt that made it.
//!
//! As it stands, Shipping renders the label and uploads it first, then
//! commits the shipment with its messages (one if-match write, Part D's
//! outbox in the document), then sends them. Read the failing tests: the
//! blobs are the trouble, not the messages.

use harness::{Envelope, HandlerContext, HandlerError};
use shop::shipping::Shipping;

/// Where the label of an order is kept.
pub fn label_blob(order_id: &str) -> String {
    format!("labels/{order_id}.pdf")
}

/// Handles one delivery of `ShipOrder`.
pub fn handle_ship_order(
    shipping: &Shipping,
    ctx: &mut HandlerContext,
    message: &Envelope,
) -> Result<(), HandlerError> {
    // 1. The body waits in the blob store.
    let Some(ship) = shipping.open_ship_order(message)? else {
        return Err(HandlerError::transient(
            "the body of ShipOrder is not in the blob store",
        ));
    };
    // 2. The label: render it, and put it where the courier will find it.
    let label = shipping.render_label(ctx, &ship);
    let label_at = label_blob(&ship.order_id);
    shipping.upload(&label_at, &label)?;
    // 3. The shipment: its version guards the write below.
    let (mut shipment, version) = shipping.load(&ship.order_id)?;
    if shipment.committed.is_none() {
        // 4. Commit: the label and the messages, if nobody wrote since.
        let attempt = shipping.new_attempt();
        let ready = shipping.label_ready(message, &ship, &label_at, &label);
        let invoice = shipping.invoice(message, &ship);
        shipment.commit(attempt, &label_at, &label, vec![ready, invoice]);
        shipping.save(&shipment, version)?;
    }
    // 5. Publish the committed messages (again, after a crash: the same
    //    ids).
    for outbound in &shipment.outbox {
        shipping.dispatch(ctx, outbound)?;
    }
    Ok(())
}
