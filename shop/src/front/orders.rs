//! The Orders service of exercises 03–04, on the other side of the broker:
//! it reads its queue (`orders`) and makes an order from each `SubmitOrder`
//! it receives. It keeps its orders in its own document store
//! (`kv.orders.*`), one partition per cart. (Parts B–C replace it with
//! [`crate::orders::Orders`], on a relational database.)
//!
//! Orders is told about each cart at least once, not exactly once: the
//! shop may send `SubmitOrder` again (a sender-side duplicate, with a new
//! message id), and the broker may deliver one message again (when its lease
//! ran out before the acknowledgement).

use harness::{
    Condition, DocumentStore, Envelope, Error, HandlerContext, HandlerError, Sim, World,
};

use crate::{ORDERS_QUEUE, Order, SubmitOrder};

/// A handler of `SubmitOrder` on the Orders queue: [`Orders::handle`], or
/// an exercise's, plugged in with [`Orders::add_to_with`].
pub type SubmitOrderHandler = fn(&Orders, &Envelope) -> Result<(), HandlerError>;

/// The Orders service's data. Cheap to clone: clones share the store.
///
/// ```
/// use harness::{Broker, Envelope, Sim, World};
/// use shop::SubmitOrder;
/// use shop::front::orders::Orders;
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// let orders = Orders::new(&sim);
/// let mut world = World::new(&sim, &broker);
/// orders.add_to(&mut world);
/// let submit = SubmitOrder {
///     cart_id: "c-1".into(),
///     customer: "ola".into(),
///     items: vec!["ruskie".into()],
///     deliver_to: "Rynek 1".into(),
/// };
/// world.send("orders", Envelope::new(sim.new_message_id(), "SubmitOrder", &submit)).unwrap();
/// world.run_until_quiet(100).unwrap();
/// assert_eq!(orders.of_cart("c-1").unwrap()[0].items, ["ruskie"]);
/// ```
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

    /// The simulation the service runs in.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The service's document store: one partition per cart.
    pub fn store(&self) -> &DocumentStore {
        &self.store
    }

    /// Adds the service to the world as the endpoint that reads the
    /// `orders` queue, with [`Orders::handle`].
    pub fn add_to(&self, world: &mut World) {
        self.add_to_with(world, Orders::handle);
    }

    /// Adds the service to the world with another handler of `SubmitOrder`:
    /// an exercise's (exercise 04 plugs its lesson in here).
    pub fn add_to_with(&self, world: &mut World, handler: SubmitOrderHandler) {
        let orders = self.clone();
        world.add_endpoint(
            ORDERS_QUEUE,
            move |_ctx: &mut HandlerContext, message: &Envelope| handler(&orders, message),
        );
    }

    /// Handles one `SubmitOrder`: makes the order, once, whatever the
    /// number of copies.
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
            Err(err) if err.is_conflict() => Ok(()),
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
