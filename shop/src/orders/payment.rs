//! `BookPayment` and `CancelPayment`: the payment service books the
//! customer's payment for an order, or cancels it. Orders keeps a flag and
//! publishes `PaymentBooked` or `PaymentCancelled`. Booking a booked
//! payment, or cancelling a cancelled one, changes nothing.

use harness::Error;
use serde::{Deserialize, Serialize};

use super::must_be_placed;
use crate::Order;
use crate::outbox::{Outgoing, Request};

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
    /// The payment provider's authorisation code, when a provider took the
    /// money (Part E: `crate::payments`); empty before.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_code: String,
}

/// The event that tells the world an order's payment is cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentCancelled {
    /// The order.
    pub order_id: String,
}

impl Request for BookPayment {
    fn request_id(&self) -> String {
        self.id.clone()
    }

    fn order_id(&self) -> &str {
        &self.order_id
    }
}

impl Request for CancelPayment {
    fn request_id(&self) -> String {
        self.id.clone()
    }

    fn order_id(&self) -> &str {
        &self.order_id
    }
}

/// Handles `BookPayment`: the payment is booked.
pub fn book_payment(
    order: &mut Order,
    book: &BookPayment,
    outgoing: &mut Outgoing,
) -> Result<(), Error> {
    must_be_placed(order, &book.order_id)?;
    order.payment_booked = true;
    let booked = PaymentBooked {
        order_id: book.order_id.clone(),
        amount: book.amount,
        auth_code: String::new(),
    };
    outgoing.publish(PAYMENT_BOOKED, &booked);
    Ok(())
}

/// Handles `CancelPayment`: the payment is cancelled.
pub fn cancel_payment(
    order: &mut Order,
    cancel: &CancelPayment,
    outgoing: &mut Outgoing,
) -> Result<(), Error> {
    must_be_placed(order, &cancel.order_id)?;
    order.payment_booked = false;
    let cancelled = PaymentCancelled {
        order_id: cancel.order_id.clone(),
    };
    outgoing.publish(PAYMENT_CANCELLED, &cancelled);
    Ok(())
}
