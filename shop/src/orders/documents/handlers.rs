//! The requests Orders on documents takes, each in a few lines: what it
//! does to the order and what it publishes. How the change is kept and
//! published is the [`ChangeOrder`](super::ChangeOrder)'s job.
//!
//! The kitchen's rule: one portion per filling. Adding a filling the order
//! has, or removing one it does not have, changes nothing; but the event
//! goes out regardless, as on the first attempt (exercise 05: a retry may
//! follow an attempt that saved the change and could not publish).

use harness::{Condition, Envelope, HandlerContext, HandlerError};

use super::{Moments, Orders, StoredOrder};
use crate::orders::{
    AddItem, BookPayment, COUPON_AT, COUPON_EARNED, CancelPayment, CouponEarned, FIRST_ITEM_ADDED,
    FirstItemAdded, ITEM_ADDED, ITEM_REMOVED, ItemAdded, ItemRemoved, PAYMENT_BOOKED,
    PAYMENT_CANCELLED, PaymentBooked, PaymentCancelled, RemoveItem,
};
use crate::{Order, SubmitOrder};

impl Orders {
    /// Handles one `SubmitOrder`: makes the order.
    pub(super) fn place_order(&self, message: &Envelope) -> Result<(), HandlerError> {
        let submit: SubmitOrder = message.body()?;
        // The cart's id is the order's id: every copy of SubmitOrder names
        // the same order, and a create-only write makes it once.
        let order = Order {
            id: submit.cart_id.clone(),
            cart_id: submit.cart_id.clone(),
            customer: submit.customer,
            items: submit.items,
            deliver_to: submit.deliver_to,
            ..Order::default()
        };
        let stored = StoredOrder {
            order,
            ..StoredOrder::default()
        };
        let created = self.store.put(
            &submit.cart_id,
            &submit.cart_id,
            &stored,
            Condition::CreateOnly,
        );
        match created {
            Ok(_) => Ok(()),
            // Made already, by another copy: acknowledge this one.
            Err(err) if err.is_conflict() => {
                self.sim
                    .note(&format!("order {} exists: a duplicate", submit.cart_id));
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Handles one `AddItem`: adds the filling to the order, and publishes
    /// `ItemAdded`; and `FirstItemAdded` and `CouponEarned` when it is their
    /// moment, if Orders announces moments.
    pub(super) fn add_item(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let add: AddItem = message.body()?;
        let moments = self.moments;
        (self.change_order)(self, ctx, &add.order_id, &add.id, &|order, events| {
            let value_before = order.value();
            let added_now = !order.added.contains(&add.filling);
            if added_now {
                order.added.push(add.filling.clone());
            }
            let added = ItemAdded {
                order_id: add.order_id.clone(),
                filling: add.filling.clone(),
            };
            events.publish(ITEM_ADDED, &added);
            if moments == Moments::NotAnnounced {
                return;
            }
            // This request gave the order its first added item.
            if added_now && order.added.len() == 1 {
                let first = FirstItemAdded {
                    order_id: add.order_id.clone(),
                    filling: add.filling.clone(),
                };
                events.publish(FIRST_ITEM_ADDED, &first);
            }
            // This request took the order to 100 zł.
            if value_before < COUPON_AT && order.value() >= COUPON_AT {
                let coupon = CouponEarned {
                    order_id: add.order_id.clone(),
                };
                events.publish(COUPON_EARNED, &coupon);
            }
        })
    }

    /// Handles one `RemoveItem`: removes the filling from the order, and
    /// publishes `ItemRemoved`.
    pub(super) fn remove_item(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let remove: RemoveItem = message.body()?;
        (self.change_order)(self, ctx, &remove.order_id, &remove.id, &|order, events| {
            order.added.retain(|filling| *filling != remove.filling);
            let removed = ItemRemoved {
                order_id: remove.order_id.clone(),
                filling: remove.filling.clone(),
            };
            events.publish(ITEM_REMOVED, &removed);
        })
    }

    /// Handles one `BookPayment`: the payment is booked.
    pub(super) fn book_payment(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let book: BookPayment = message.body()?;
        (self.change_order)(self, ctx, &book.order_id, &book.id, &|order, events| {
            order.payment_booked = true;
            let booked = PaymentBooked {
                order_id: book.order_id.clone(),
                amount: book.amount,
                auth_code: String::new(),
            };
            events.publish(PAYMENT_BOOKED, &booked);
        })
    }

    /// Handles one `CancelPayment`: the payment is cancelled.
    pub(super) fn cancel_payment(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let cancel: CancelPayment = message.body()?;
        (self.change_order)(self, ctx, &cancel.order_id, &cancel.id, &|order, events| {
            order.payment_booked = false;
            let cancelled = PaymentCancelled {
                order_id: cancel.order_id.clone(),
            };
            events.publish(PAYMENT_CANCELLED, &cancelled);
        })
    }
}
