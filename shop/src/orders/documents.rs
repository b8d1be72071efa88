//! The Orders service on the document store (exercises 05–08): one
//! document per order (`kv.orders.*`), in the partition of its cart, and
//! no transaction across the store and the broker.
//!
//! The requests and events are the shop's ([`AddItem`], [`ItemAdded`] …,
//! in `crate::orders`); what differs from Orders on SQL is how a request
//! changes an order and what goes out with it. The exercises of Part B plug
//! their lesson in here:
//!
//! - exercise 05 writes the handler of `AddItem` ([`Orders::growing_only`]);
//! - exercises 06 and 08 write [`ChangeOrder`], how every handler changes an
//!   order ([`Orders::changing_with`]);
//! - exercise 07 writes [`OutgoingId`], the ids of what Orders publishes
//!   ([`Orders::naming_with`]).
//!
//! ```
//! use harness::{Broker, Sim, World};
//! use shop::orders::documents::Orders;
//!
//! let sim = Sim::new(1);
//! let broker = Broker::new(&sim);
//! let mut world = World::new(&sim, &broker);
//! let orders = Orders::new(&sim);
//! orders.add_to(&mut world);
//! assert!(orders.of_cart("c-1").unwrap().is_empty());
//! ```

mod change;
mod handlers;

pub use change::{Change, ChangeOrder, Events, change_order};

use harness::{
    Condition, Document, DocumentStore, Envelope, Error, HandlerContext, HandlerError, MessageId,
    Sim, Version, World,
};
use serde::{Deserialize, Serialize};

use crate::chaos::Chaos;
use crate::ids::{OutgoingId, outgoing_id};
use crate::{ORDERS_QUEUE, Order};

/// How a lesson handles one request: exercise 05's `add_item`.
pub type HandleRequest = fn(&Orders, &mut HandlerContext, &Envelope) -> Result<(), HandlerError>;

/// An order as the document store keeps it: the order, and what Orders
/// remembers with it, in the same document, so that one write keeps all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredOrder {
    /// The order.
    pub order: Order,
    /// The ids of the requests that changed the order, or were applied to
    /// it (exercise 06): a request seen before is a duplicate, however late
    /// it comes.
    pub processed: Vec<String>,
    /// The messages the requests decided to publish and that may not be
    /// out yet (exercise 08): saved with the change that decided them,
    /// cleared once published.
    pub outbox: Vec<Envelope>,
}

/// Which requests Orders takes once an order is placed.
#[derive(Clone, Copy)]
enum Requests {
    /// `AddItem` only (exercise 05: a placed order can only grow).
    AddItemOnly(HandleRequest),
    /// `AddItem`, `RemoveItem`, `BookPayment` and `CancelPayment`.
    All,
}

/// Whether `AddItem` tells Marketing of the order's moments:
/// `FirstItemAdded` and `CouponEarned` (exercise 08's story).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moments {
    /// Marketing has not asked for them yet (exercises 05–07).
    NotAnnounced,
    /// `AddItem` publishes them when it is their moment (exercise 08).
    Announced,
}

/// The Orders service on the document store. Cheap to clone: clones share
/// the store and the monkeys.
#[derive(Clone)]
pub struct Orders {
    sim: Sim,
    store: DocumentStore,
    /// The monkeys between Orders and the broker.
    monkeys: Chaos,
    requests: Requests,
    change_order: ChangeOrder,
    outgoing_id: OutgoingId,
    moments: Moments,
}

impl Orders {
    /// An Orders service with an empty store, the shop's own
    /// [`change_order`] and [`outgoing_id`], taking every request; it does
    /// not announce moments.
    pub fn new(sim: &Sim) -> Orders {
        Orders {
            sim: sim.clone(),
            store: DocumentStore::new(sim, "orders"),
            monkeys: Chaos::new(sim),
            requests: Requests::All,
            change_order,
            outgoing_id,
            moments: Moments::NotAnnounced,
        }
    }

    /// Exercise 05's Orders: it takes `SubmitOrder` and `AddItem` only, and
    /// handles `AddItem` with `add_item`.
    pub fn growing_only(sim: &Sim, add_item: HandleRequest) -> Orders {
        Orders {
            requests: Requests::AddItemOnly(add_item),
            ..Orders::new(sim)
        }
    }

    /// The same Orders, changing orders with `change_order` (exercises 06
    /// and 08).
    pub fn changing_with(self, change_order: ChangeOrder) -> Orders {
        Orders {
            change_order,
            ..self
        }
    }

    /// The same Orders, naming what it publishes with `outgoing_id`
    /// (exercise 07).
    pub fn naming_with(self, outgoing_id: OutgoingId) -> Orders {
        Orders {
            outgoing_id,
            ..self
        }
    }

    /// The same Orders, telling Marketing of first items and coupons
    /// (exercise 08).
    pub fn announcing(self, moments: Moments) -> Orders {
        Orders { moments, ..self }
    }

    /// Whether `AddItem` publishes `FirstItemAdded` and `CouponEarned`.
    pub fn moments(&self) -> Moments {
        self.moments
    }

    /// How Orders names what it publishes; the town's other services use
    /// the same.
    pub fn outgoing_ids(&self) -> OutgoingId {
        self.outgoing_id
    }

    /// Whether Orders takes requests of `message_type`.
    pub fn takes(&self, message_type: &str) -> bool {
        match self.requests {
            Requests::AddItemOnly(_) => matches!(message_type, "SubmitOrder" | "AddItem"),
            Requests::All => matches!(
                message_type,
                "SubmitOrder" | "AddItem" | "RemoveItem" | "BookPayment" | "CancelPayment"
            ),
        }
    }

    /// The store of the orders (for the tests).
    pub fn store(&self) -> &DocumentStore {
        &self.store
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
            move |ctx: &mut HandlerContext, message: &Envelope| orders.handle(ctx, message),
        );
    }

    /// Handles one request.
    pub fn handle(&self, ctx: &mut HandlerContext, message: &Envelope) -> Result<(), HandlerError> {
        let kind = message.message_type.as_str();
        if !self.takes(kind) {
            return Err(HandlerError::unrecoverable(format!(
                "Orders does not handle {kind}"
            )));
        }
        match (kind, self.requests) {
            ("SubmitOrder", _) => self.place_order(message),
            ("AddItem", Requests::AddItemOnly(add_item)) => add_item(self, ctx, message),
            ("AddItem", Requests::All) => self.add_item(ctx, message),
            ("RemoveItem", _) => self.remove_item(ctx, message),
            ("BookPayment", _) => self.book_payment(ctx, message),
            _ => self.cancel_payment(ctx, message),
        }
    }

    /// The order, with its version, if Orders made it.
    pub fn find_order(&self, order_id: &str) -> Result<Option<Document<StoredOrder>>, Error> {
        self.store.get::<StoredOrder>(order_id, order_id)
    }

    /// Writes the order if nobody wrote it since `version`: of two copies
    /// of one message handled at once, only one can save its change.
    /// Returns the order's new version.
    pub fn save_order(&self, stored: &StoredOrder, version: Version) -> Result<Version, Error> {
        let order = &stored.order;
        self.store.put(
            &order.cart_id,
            &order.id,
            stored,
            Condition::IfMatch(version),
        )
    }

    /// The id of the message of type `message_type` that Orders publishes
    /// for the request `request_id`.
    pub fn outgoing_id(&self, ctx: &HandlerContext, request_id: &str, topic: &str) -> MessageId {
        (self.outgoing_id)(ctx, request_id, topic)
    }

    /// Publishes `envelope` on the topic named by its type, at once (not
    /// when the handler returns), through the monkeys.
    pub fn publish(&self, ctx: &mut HandlerContext, envelope: &Envelope) -> Result<(), Error> {
        let topic = envelope.message_type.clone();
        self.monkeys.send(envelope, &mut |message: &Envelope| {
            ctx.publish_immediately(&topic, message.clone())
        })
    }

    /// Publishes `event` on `topic`, as the message Orders sends for the
    /// request `request_id`.
    pub fn publish_event<T: Serialize>(
        &self,
        ctx: &mut HandlerContext,
        request_id: &str,
        topic: &str,
        event: &T,
    ) -> Result<(), Error> {
        let envelope = Envelope::new(self.outgoing_id(ctx, request_id, topic), topic, event);
        self.publish(ctx, &envelope)
    }

    /// Every order made from the cart.
    pub fn of_cart(&self, cart_id: &str) -> Result<Vec<Order>, Error> {
        let found = self.store.list::<StoredOrder>(cart_id)?;
        Ok(found
            .into_iter()
            .map(|(_, document)| document.value.order)
            .collect())
    }

    /// What was added to the order after it was placed and not removed
    /// (nothing if there is no such order).
    pub fn added_to(&self, order_id: &str) -> Result<Vec<String>, Error> {
        let found = self.find_order(order_id)?;
        Ok(found
            .map(|document| document.value.order.added)
            .unwrap_or_default())
    }

    /// Whether the order's payment is booked (false if there is no such
    /// order).
    pub fn payment_booked(&self, order_id: &str) -> Result<bool, Error> {
        let found = self.find_order(order_id)?;
        Ok(found.is_some_and(|document| document.value.order.payment_booked))
    }
}
