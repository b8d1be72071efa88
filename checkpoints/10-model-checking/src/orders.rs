//! The Orders service, on the other side of the broker: it reads its queue
//! (`orders`) and makes an order from each `SubmitOrder` it receives. It
//! keeps its orders in its own store (`kv.orders.*`), one partition per cart.
//!
//! It does not deduplicate yet: two copies of `SubmitOrder` make two orders.
//! That is exercise 04.

use harness::{
    Condition, DocumentStore, Envelope, Error, HandlerContext, HandlerError, Sim, World,
};

use crate::{ORDERS_QUEUE, Order, SubmitOrder};

/// The Orders service's data. Cheap to clone: clones share the store.
#[derive(Clone)]
pub struct Orders {
    sim: Sim,
    store: DocumentStore,
}

impl Orders {
    /// An Orders service with an empty store.
    pub fn new(sim: &Sim) -> Orders {
        Orders {
            sim: sim.clone(),
            store: DocumentStore::new(sim, "orders"),
        }
    }

    /// Adds the service to the world as the endpoint that reads the
    /// `orders` queue.
    pub fn add_to(&self, world: &mut World) {
        let orders = self.clone();
        world.add_endpoint(
            ORDERS_QUEUE,
            move |_ctx: &mut HandlerContext, message: &Envelope| orders.handle(message),
        );
    }

    /// Handles one `SubmitOrder`: makes the order.
    pub fn handle(&self, message: &Envelope) -> Result<(), HandlerError> {
        let submit: SubmitOrder = message.body()?;
        let order = Order {
            id: format!("order-{}", self.sim.new_uuid()),
            cart_id: submit.cart_id.clone(),
            customer: submit.customer,
            items: submit.items,
            deliver_to: submit.deliver_to,
        };
        self.store
            .put(&submit.cart_id, &order.id, &order, Condition::CreateOnly)?;
        Ok(())
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
