//! EXERCISE 16: how Shipping handles `ShipOrder`, whose body, label and
//! invoice are too large for the broker (64 KiB): they travel through the
//! blob store, and every blob is a side effect of the attempt that made it.
//!
//! Prepare, commit, publish. Until the shipment is committed, nothing
//! happened: each attempt uploads under names of its own, registered in the
//! shipment before the upload; the commit (one if-match write) picks the
//! attempt whose blobs count; then its messages go out, the blobs of every
//! other attempt are deleted, and the incoming body is consumed.

use harness::{Envelope, HandlerContext, HandlerError};
use shop::shipping::{Shipment, Shipping, Uuid};

/// Where an attempt keeps the label of an order: a name no other attempt
/// uses.
pub fn label_blob(order_id: &str, attempt: Uuid) -> String {
    format!("labels/{order_id}/{attempt}.pdf")
}

/// Where an attempt keeps the body of the invoice data it sends.
pub fn invoice_blob(order_id: &str, attempt: Uuid) -> String {
    format!("bodies/{order_id}/{attempt}/invoice")
}

/// The blobs of every attempt but the committed one: garbage.
pub fn garbage(shipment: &Shipment) -> Vec<String> {
    let winner = shipment
        .committed
        .as_ref()
        .map(|committed| committed.attempt);
    shipment
        .side_effects
        .iter()
        .filter(|effect| Some(effect.attempt) != winner)
        .map(|effect| effect.blob.clone())
        .collect()
}

/// Handles one delivery of `ShipOrder`.
pub fn handle_ship_order(
    shipping: &Shipping,
    ctx: &mut HandlerContext,
    message: &Envelope,
) -> Result<(), HandlerError> {
    // 1. The body waits in the blob store. Gone: an earlier copy consumed
    //    it, so this is a copy of a message that is done. But a late
    //    attempt of it may have uploaded after the winner cleaned up, and
    //    failed to delete its own blobs: delete the order's garbage again
    //    (the ticket names the order in its correlation id).
    let Some(ship) = shipping.open_ship_order(message)? else {
        if let Some(order_id) = message.correlation_id() {
            let (shipment, _) = shipping.load(order_id)?;
            for blob in garbage(&shipment) {
                shipping.delete(&blob)?;
            }
        }
        return Ok(());
    };
    // 2. The shipment: its version guards every write below.
    let (mut shipment, mut version) = shipping.load(&ship.order_id)?;
    if shipment.committed.is_none() {
        // 3. Register, then prepare: blobs under this attempt's own names.
        let attempt = shipping.new_attempt();
        let label_at = label_blob(&ship.order_id, attempt);
        let invoice_at = invoice_blob(&ship.order_id, attempt);
        shipment.register(attempt, &label_at);
        shipment.register(attempt, &invoice_at);
        version = shipping.save(&shipment, version)?;
        let label = shipping.render_label(ctx, &ship);
        shipping.upload(&label_at, &label)?;
        let ready = shipping.label_ready(message, &ship, &label_at, &label);
        let invoice = shipping.invoice(message, &ship);
        let invoice = shipping.check_in(&invoice_at, invoice)?;
        // 4. Commit: this attempt's label and messages, if nobody wrote since.
        shipment.commit(attempt, &label_at, &label, vec![ready, invoice]);
        match shipping.save(&shipment, version) {
            Ok(_) => {}
            Err(err) if err.is_conflict() => {
                // Another attempt got there first: ours is garbage.
                shipping.delete(&label_at)?;
                shipping.delete(&invoice_at)?;
                return Err(err.into());
            }
            Err(err) => return Err(err.into()),
        }
    }
    // 5. Publish the committed attempt's messages (again, after a crash:
    //    the same ids).
    for outbound in &shipment.outbox {
        shipping.dispatch(ctx, outbound)?;
    }
    // 6. Clean up: every other attempt's blobs, then the incoming body.
    for blob in garbage(&shipment) {
        shipping.delete(&blob)?;
    }
    shipping.consume(message)?;
    Ok(())
}
