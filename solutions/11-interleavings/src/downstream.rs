//! Billing and Marketing, downstream of Orders: both subscribe to
//! `ItemAdded`. Billing charges the customer for each item added to an
//! order; Marketing counts which fillings people add. Each keeps, per
//! order, the fillings it heard of, in its own store.
//!
//! Both are naturally idempotent: hearing of the same item twice changes
//! nothing, so a duplicate `ItemAdded` is harmless here.

use harness::{
    Condition, DocumentStore, Envelope, Error, HandlerContext, HandlerError, Sim, World,
};
use serde::{Deserialize, Serialize};

use crate::orders::{ITEM_ADDED, ItemAdded};

/// The id of the document that holds, in an order's partition, what a
/// subscriber heard of the order.
const HEARD: &str = "heard";

/// What a subscriber heard of one order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Heard {
    /// The fillings added to the order, each once.
    pub items: Vec<String>,
}

/// A service downstream of Orders that listens to `ItemAdded`. Cheap to
/// clone: clones share the store.
#[derive(Clone)]
pub struct Subscriber {
    name: String,
    store: DocumentStore,
}

impl Subscriber {
    /// Billing: charges for every item added to an order.
    pub fn billing(sim: &Sim) -> Subscriber {
        Subscriber::new(sim, "billing")
    }

    /// Marketing: counts which fillings people add.
    pub fn marketing(sim: &Sim) -> Subscriber {
        Subscriber::new(sim, "marketing")
    }

    fn new(sim: &Sim, name: &str) -> Subscriber {
        Subscriber {
            name: name.to_string(),
            store: DocumentStore::new(sim, name),
        }
    }

    /// The service's name, which is also its queue's and its store's.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds the service to the world and subscribes it to `ItemAdded`.
    pub fn add_to(&self, world: &mut World) {
        let subscriber = self.clone();
        world.add_endpoint(
            &self.name,
            move |_ctx: &mut HandlerContext, message: &Envelope| subscriber.handle(message),
        );
        world
            .subscribe(ITEM_ADDED, &self.name)
            .expect("the endpoint was just added");
    }

    /// Handles one `ItemAdded`: remembers the item, once.
    pub fn handle(&self, message: &Envelope) -> Result<(), HandlerError> {
        let added: ItemAdded = message.body()?;
        let found = self.store.get::<Heard>(&added.order_id, HEARD)?;
        let (mut heard, condition) = match found {
            Some(document) => (document.value, Condition::IfMatch(document.version)),
            None => (Heard::default(), Condition::CreateOnly),
        };
        if heard.items.contains(&added.filling) {
            return Ok(()); // heard of it already: a duplicate
        }
        heard.items.push(added.filling);
        self.store.put(&added.order_id, HEARD, &heard, condition)?;
        Ok(())
    }

    /// The fillings the service heard were added to the order.
    pub fn heard_of(&self, order_id: &str) -> Result<Vec<String>, Error> {
        let found = self.store.get::<Heard>(order_id, HEARD)?;
        Ok(found
            .map(|document| document.value.items)
            .unwrap_or_default())
    }
}
