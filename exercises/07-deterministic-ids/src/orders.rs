//! The Orders service, on the other side of the broker: it reads its queue
//! (`orders`) and makes an order from each `SubmitOrder` it receives. It
//! keeps its orders in its own store (`kv.orders.*`), one partition per cart.
//!
//! Orders is told about each cart at least once, not exactly once: the
//! shop may send `SubmitOrder` again (a sender-side duplicate, with a new
//! message id), and the broker may deliver one message again (when its lease
//! ran out before the acknowledgement).
//!
//! A placed order can still change: `AddItem` and `RemoveItem` add and
//! remove pierogi, `BookPayment` and `CancelPayment` book and cancel the
//! payment. Each handler publishes what it did (`ItemAdded` …).

mod add_item;
mod change;
mod payment;
mod remove_item;

pub use add_item::{AddItem, ITEM_ADDED, ItemAdded};
pub use payment::{
    BookPayment, CancelPayment, PAYMENT_BOOKED, PAYMENT_CANCELLED, PaymentBooked, PaymentCancelled,
};
pub use remove_item::{ITEM_REMOVED, ItemRemoved, RemoveItem};

use harness::{
    Condition, DocumentStore, Envelope, Error, HandlerContext, HandlerError, Sim, World,
};

use crate::chaos::Chaos;
use crate::{ORDERS_QUEUE, Order, SubmitOrder};

/// The Orders service's data. Cheap to clone: clones share the store.
#[derive(Clone)]
pub struct Orders {
    sim: Sim,
    store: DocumentStore,
    /// The monkeys between Orders and the broker.
    monkeys: Chaos,
}

impl Orders {
    /// An Orders service with an empty store.
    pub fn new(sim: &Sim) -> Orders {
        Orders {
            sim: sim.clone(),
            store: DocumentStore::new(sim, "orders"),
            monkeys: Chaos::new(sim),
        }
    }

    /// The chaos monkeys on what Orders publishes (none at first).
    pub fn monkeys(&self) -> &Chaos {
        &self.monkeys
    }

    /// Adds the service to the world as the endpoint that reads the
    /// `orders` queue.
    pub fn add_to(&self, world: &mut World) {
        let orders = self.clone();
        world.add_endpoint(
            ORDERS_QUEUE,
            move |ctx: &mut HandlerContext, message: &Envelope| match message.message_type.as_str()
            {
                "AddItem" => orders.add_item(ctx, message),
                "RemoveItem" => orders.remove_item(ctx, message),
                "BookPayment" => orders.book_payment(ctx, message),
                "CancelPayment" => orders.cancel_payment(ctx, message),
                _ => orders.handle(message),
            },
        );
    }

    /// Handles one `SubmitOrder`: makes the order.
    pub fn handle(&self, message: &Envelope) -> Result<(), HandlerError> {
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
        let created = self
            .store
            .put(&submit.cart_id, &order.id, &order, Condition::CreateOnly);
        match created {
            Ok(_) => Ok(()),
            // Made already, by another copy: acknowledge this one.
            Err(err) if err.is_conflict() => {
                self.sim
                    .note(&format!("order {} exists: a duplicate", order.id));
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Every order made from the cart.
    pub fn of_cart(&self, cart_id: &str) -> Result<Vec<Order>, Error> {
        let found = self.store.list::<Order>(cart_id)?;
        Ok(found
            .into_iter()
            .map(|(_, document)| document.value)
            .collect())
    }
}
