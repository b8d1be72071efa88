//! The pierogi shop's web front end: carts, and the orders made from them.
//!
//! Everything lives in one document store called `shop`. Each cart has its
//! own partition (the cart id), and the order made from a cart is written
//! into the same partition: the store can only write several items
//! atomically (a batch) when they share a partition.
//!
//! ```text
//! partition "cart-1":   "cart"          { customer, items }
//!                       "order-<uuid>"  { cart_id, customer, items }
//! ```

use harness::{Condition, DocumentStore, Error, Sim};
use serde::{Deserialize, Serialize};

/// The id of the cart item inside its partition.
pub const CART: &str = "cart";

/// A customer's cart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// Who owns it.
    pub customer: String,
    /// The pierogi in it, one entry per item.
    pub items: Vec<String>,
}

/// An order, made from a submitted cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The cart it was made from.
    pub cart_id: String,
    /// Who ordered.
    pub customer: String,
    /// What they ordered.
    pub items: Vec<String>,
}

/// Why a submit did not create an order.
#[derive(Debug)]
pub enum SubmitError {
    /// There is no such cart.
    NotFound,
    /// The cart was submitted before: its order exists already (HTTP 409).
    AlreadySubmitted,
    /// Someone changed the cart between our read and our write (HTTP 409).
    Conflict,
    /// The store failed; nothing is known for sure, the caller may retry.
    Store(Error),
}

impl From<Error> for SubmitError {
    fn from(err: Error) -> SubmitError {
        if err.is_conflict() {
            SubmitError::Conflict
        } else {
            SubmitError::Store(err)
        }
    }
}

/// The shop's web front end. Cheap to clone: clones share the store.
#[derive(Clone)]
pub struct Shop {
    sim: Sim,
    store: DocumentStore,
}

impl Shop {
    /// A shop with an empty store (its fault points are `kv.shop.*`).
    pub fn new(sim: &Sim) -> Shop {
        Shop {
            sim: sim.clone(),
            store: DocumentStore::new(sim, "shop"),
        }
    }

    /// Creates an empty cart for `customer`.
    pub fn create_cart(&self, cart_id: &str, customer: &str) -> Result<(), Error> {
        let cart = Cart {
            customer: customer.to_string(),
            ..Cart::default()
        };
        self.store
            .put(cart_id, CART, &cart, Condition::CreateOnly)?;
        Ok(())
    }

    /// Puts one more item into the cart.
    pub fn add_item(&self, cart_id: &str, item: &str) -> Result<(), Error> {
        let Some(found) = self.store.get::<Cart>(cart_id, CART)? else {
            return Err(not_found(cart_id));
        };
        let mut cart = found.value;
        cart.items.push(item.to_string());
        self.store
            .put(cart_id, CART, &cart, Condition::IfMatch(found.version))?;
        Ok(())
    }

    /// The customer clicks "Submit": turn the cart into an order.
    /// Returns the new order's id.
    pub fn submit(&self, cart_id: &str) -> Result<String, SubmitError> {
        let Some(found) = self.store.get::<Cart>(cart_id, CART)? else {
            return Err(SubmitError::NotFound);
        };
        let cart = found.value;
        let order_id = format!("order-{}", self.sim.new_uuid());
        let order = Order {
            cart_id: cart_id.to_string(),
            customer: cart.customer.clone(),
            items: cart.items.clone(),
        };

        // EXERCISE: a second click, a second tab or a retry runs this again
        // and makes a second order. Mark the cart as submitted, refuse to
        // submit it twice, and make sure nobody changed the cart since we
        // read it. The cart and the order must change together or not at all.
        self.store
            .put(cart_id, &order_id, &order, Condition::Always)?;
        Ok(order_id)
    }

    /// The cart, if it exists.
    pub fn cart(&self, cart_id: &str) -> Result<Option<Cart>, Error> {
        let found = self.store.get::<Cart>(cart_id, CART)?;
        Ok(found.map(|document| document.value))
    }

    /// Every order made from the cart.
    pub fn orders(&self, cart_id: &str) -> Result<Vec<Order>, Error> {
        let mut orders = Vec::new();
        for (id, document) in self.store.list::<serde_json::Value>(cart_id)? {
            if id.starts_with("order-") {
                orders.push(decode_order(&id, document.value)?);
            }
        }
        Ok(orders)
    }
}

fn not_found(cart_id: &str) -> Error {
    Error::NotFound {
        store: "shop".to_string(),
        key: format!("{cart_id}/{CART}"),
    }
}

fn decode_order(id: &str, value: serde_json::Value) -> Result<Order, Error> {
    serde_json::from_value(value).map_err(|err| Error::BadBody {
        message_type: format!("order {id}"),
        reason: err.to_string(),
    })
}
