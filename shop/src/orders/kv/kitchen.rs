//! The kitchen ticket (Part D, exercise 13): when a payment is booked, the
//! kitchen must start cooking, and Orders publishes a `KitchenTicket` with
//! the order's print-out for the kitchen's printer. The print-out is big
//! (3.5 KiB): with it, the messages of one request no longer fit in the
//! order's 4 KiB item next to the order.
//!
//! Switched on per Orders ([`Orders::with_kitchen_tickets`](super::Orders::with_kitchen_tickets)):
//! exercise 12 runs without tickets, exercise 13 with them.

use harness::Error;
use serde::{Deserialize, Serialize};

use crate::Order;
use crate::orders::{BookPayment, book_payment};
use crate::outbox::Outgoing;

/// The topic `KitchenTicket` is published on (the kitchen's printer
/// subscribes in the real shop; in the tests, the broker's log reads it).
pub const KITCHEN_TICKET: &str = "KitchenTicket";

/// The size of a ticket's print-out, in bytes.
pub const PRINT_OUT_BYTES: usize = 3_584;

/// What the kitchen must cook for a paid order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KitchenTicket {
    /// The order.
    pub order_id: String,
    /// Every portion to cook: the cart's items, then the added ones.
    pub portions: Vec<String>,
    /// The print-out for the kitchen's printer ([`PRINT_OUT_BYTES`] long,
    /// or more for a very long order).
    pub print_out: String,
}

impl KitchenTicket {
    /// The ticket of `order` as it is now.
    pub fn of(order: &Order) -> KitchenTicket {
        let portions: Vec<String> = order.items.iter().chain(&order.added).cloned().collect();
        KitchenTicket {
            order_id: order.id.clone(),
            print_out: print_out(&order.id, &portions),
            portions,
        }
    }
}

/// The print-out: the order and its portions, padded with the printer's
/// blank dots to [`PRINT_OUT_BYTES`] (a bitmap, as printers take it); a
/// very long order makes a longer one.
fn print_out(order_id: &str, portions: &[String]) -> String {
    let mut text = format!("ORDER {order_id}: {}", portions.join(", "));
    while text.len() < PRINT_OUT_BYTES {
        text.push('.');
    }
    text
}

/// Handles `BookPayment` when the kitchen wants tickets: the payment is
/// booked ([`book_payment`]), and the kitchen gets the order's ticket.
pub fn book_payment_and_cook(
    order: &mut Order,
    book: &BookPayment,
    outgoing: &mut Outgoing,
) -> Result<(), Error> {
    book_payment(order, book, outgoing)?;
    outgoing.publish(KITCHEN_TICKET, &KitchenTicket::of(order));
    Ok(())
}
