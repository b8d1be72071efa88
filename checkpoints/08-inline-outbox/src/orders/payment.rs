//! `BookPayment` and `CancelPayment`: the payment service books the
//! customer's payment for an order, or cancels it. Orders keeps a flag and
//! publishes `PaymentBooked` or `PaymentCancelled`. Booking a booked
//! payment, or cancelling a cancelled one, changes nothing.

use harness::{Envelope, Error, HandlerContext, HandlerError};
use serde::{Deserialize, Serialize};

use super::Orders;

/// The topic `PaymentBooked` is published on.
pub const PAYMENT_BOOKED: &str = "PaymentBooked";

/// The topic `PaymentCancelled` is published on.
pub const PAYMENT_CANCELLED: &str = "PaymentCancelled";

/// The message that books the payment of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BookPayment {
    /// The request's id: every copy and every re-send carries it.
    pub id: String,
    /// The order.
    pub order_id: String,
    /// How much, in grosze.
    pub amount: u64,
}

/// The message that cancels the payment of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CancelPayment {
    /// The request's id: every copy and every re-send carries it.
    pub id: String,
    /// The order.
    pub order_id: String,
}

/// The event that tells the world an order's payment is booked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentBooked {
    /// The order.
    pub order_id: String,
    /// How much, in grosze.
    pub amount: u64,
}

/// The event that tells the world an order's payment is cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentCancelled {
    /// The order.
    pub order_id: String,
}

impl Orders {
    /// Handles one `BookPayment`: the payment is booked.
    pub(crate) fn book_payment(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let book: BookPayment = message.body()?;
        self.change_order(ctx, &book.order_id, &book.id, |order, events| {
            order.payment_booked = true;
            let booked = PaymentBooked {
                order_id: book.order_id.clone(),
                amount: book.amount,
            };
            events.publish(PAYMENT_BOOKED, &booked);
        })?;
        Ok(())
    }

    /// Handles one `CancelPayment`: the payment is cancelled.
    pub(crate) fn cancel_payment(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let cancel: CancelPayment = message.body()?;
        self.change_order(ctx, &cancel.order_id, &cancel.id, |order, events| {
            order.payment_booked = false;
            let cancelled = PaymentCancelled {
                order_id: cancel.order_id.clone(),
            };
            events.publish(PAYMENT_CANCELLED, &cancelled);
        })?;
        Ok(())
    }

    /// Whether the order's payment is booked (false if there is no such
    /// order).
    pub fn payment_booked(&self, order_id: &str) -> Result<bool, Error> {
        let found = self.find_order(order_id)?;
        Ok(found.is_some_and(|document| document.value.payment_booked))
    }
}
