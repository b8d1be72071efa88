//! The front of exercises 01–02: the submit makes the order itself, while
//! the customer waits, and writes it into the cart's partition.
//!
//! Everything lives in one document store called `shop`. Each cart has its
//! own partition (the cart id), and the order made from a cart is written
//! into the same partition: the store can only write several items
//! atomically (a batch) when they share a partition.
//!
//! ```text
//! partition "cart-1":   "cart"          { customer, lines, submitted }
//!                       "order-<uuid>"  { id, cart_id, customer, items }
//! ```
//!
//! [`Carts`] is the plumbing; how a cart becomes an order is the lesson, in
//! the exercise crate.

use harness::{Condition, DocumentStore, Error, Sim};
use serde::{Deserialize, Serialize};

use crate::{Line, Order};

/// The id of the cart item inside its partition.
pub const CART: &str = "cart";

/// A customer's cart, in the front that makes the order itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// Who owns it.
    pub customer: String,
    /// The pierogi in it.
    pub lines: Vec<Line>,
    /// True once the cart became an order: it must not become another one.
    pub submitted: bool,
}

impl Cart {
    /// The names of the pierogi in the cart, one per line.
    ///
    /// ```
    /// use shop::Line;
    /// use shop::front::direct::Cart;
    /// let line = |name: &str| Line { id: name.into(), name: name.into() };
    /// let cart = Cart { lines: vec![line("ruskie"), line("z kapustą")], ..Cart::default() };
    /// assert_eq!(cart.items(), ["ruskie", "z kapustą"]);
    /// ```
    pub fn items(&self) -> Vec<String> {
        self.lines.iter().map(|line| line.name.clone()).collect()
    }
}

/// The carts and their orders, in the shop's document store. Cheap to
/// clone: clones share the store.
///
/// ```
/// use harness::Sim;
/// use shop::front::direct::Carts;
/// let carts = Carts::new(&Sim::new(1));
/// carts.create_cart("cart-1", "ola").unwrap();
/// carts.add_item("cart-1", "ruskie").unwrap();
/// assert_eq!(carts.cart("cart-1").unwrap().unwrap().items(), ["ruskie"]);
/// assert!(carts.orders("cart-1").unwrap().is_empty());
/// ```
#[derive(Clone)]
pub struct Carts {
    sim: Sim,
    store: DocumentStore,
}

impl Carts {
    /// An empty store of carts (its fault points are `kv.shop.*`).
    pub fn new(sim: &Sim) -> Carts {
        Carts {
            sim: sim.clone(),
            store: DocumentStore::new(sim, "shop"),
        }
    }

    /// The simulation the carts live in: its ids are deterministic.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The document store: one partition per cart.
    pub fn store(&self) -> &DocumentStore {
        &self.store
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

    /// Puts one more item into the cart, on a line of its own.
    pub fn add_item(&self, cart_id: &str, name: &str) -> Result<(), Error> {
        let Some(found) = self.store.get::<Cart>(cart_id, CART)? else {
            return Err(not_found(cart_id));
        };
        let mut cart = found.value;
        cart.lines.push(Line {
            id: self.sim.new_uuid().to_string(),
            name: name.to_string(),
        });
        self.store
            .put(cart_id, CART, &cart, Condition::IfMatch(found.version))?;
        Ok(())
    }

    /// The cart, if it exists.
    pub fn cart(&self, cart_id: &str) -> Result<Option<Cart>, Error> {
        let found = self.store.get::<Cart>(cart_id, CART)?;
        Ok(found.map(|document| document.value))
    }

    /// Every order made from the cart: the documents of its partition whose
    /// id starts with `order-`.
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
