//! The pierogi shop's web front end, now behind a real HTTP API.
//!
//! - `lib.rs` (this file): carts and orders in the document store — exercise
//!   01's solution, with cart lines that have ids.
//! - `http.rs`: the HTTP API (axum) that browsers and apps call.
//! - `client.rs`: the shop's app, which calls the API and retries when an
//!   answer does not come back.
//!
//! Each cart has its own partition (the cart id); its order and the
//! idempotency records of its submits live in the same partition, so that
//! one batch can write them together.

pub mod client;
pub mod http;

use harness::{Condition, DocumentStore, Error, Sim};
use serde::{Deserialize, Serialize};

/// The id of the cart item inside its partition.
pub const CART: &str = "cart";

/// A customer's cart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// Who owns it.
    pub customer: String,
    /// The pierogi in it.
    pub lines: Vec<Line>,
    /// True once the cart became an order: it must not become another one.
    pub submitted: bool,
}

/// One line of a cart: one item, with its own id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The line's id.
    pub id: String,
    /// What is in it: `ruskie`, `z kapustą` …
    pub name: String,
}

/// An order, made from a submitted cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    pub id: String,
    /// The cart it was made from.
    pub cart_id: String,
    /// Who ordered.
    pub customer: String,
    /// What they ordered.
    pub items: Vec<String>,
    /// Where to bring it.
    pub deliver_to: String,
}

/// What remembers a request sent with an `Idempotency-Key`: which request it
/// was, and the answer it got, so that a retry gets the same answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Method, path and body of the request, as one string.
    pub fingerprint: String,
    /// The answer's status code.
    pub status: u16,
    /// The answer's `Location` header.
    pub location: String,
    /// The answer's JSON body.
    pub body: serde_json::Value,
}

/// What a `PUT` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It created the resource (HTTP 201).
    Created,
    /// The same resource was there already: a retry, nothing to do (HTTP 200).
    Unchanged,
    /// Something else has this id: the client reused it by mistake (HTTP 409).
    Conflict,
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

/// The shop's data. Cheap to clone: clones share the store.
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

    /// The simulation this shop runs in.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// Creates an empty cart for `customer` under `cart_id`.
    pub fn create_cart(&self, cart_id: &str, customer: &str) -> Result<Outcome, Error> {
        let cart = Cart {
            customer: customer.to_string(),
            ..Cart::default()
        };
        // EXERCISE: the client may send the same PUT twice (a retry) or reuse
        // an id by mistake. Tell the two apart instead of failing both.
        self.store
            .put(cart_id, CART, &cart, Condition::CreateOnly)?;
        Ok(Outcome::Created)
    }

    /// Puts a line into the cart.
    pub fn add_line(&self, cart_id: &str, line: Line) -> Result<Outcome, Error> {
        let Some(found) = self.store.get::<Cart>(cart_id, CART)? else {
            return Err(not_found(cart_id));
        };
        let mut cart = found.value;
        // EXERCISE: a retried request adds the same line again.
        cart.lines.push(line);
        self.store
            .put(cart_id, CART, &cart, Condition::IfMatch(found.version))?;
        Ok(Outcome::Created)
    }

    /// The customer clicks "Submit": turn the cart into an order. If `record`
    /// is given, it is stored under `key-<idempotency key>` in the same batch.
    pub fn submit(
        &self,
        cart_id: &str,
        deliver_to: &str,
        record: Option<(&str, &KeyRecord)>,
    ) -> Result<Order, SubmitError> {
        let Some(found) = self.store.get::<Cart>(cart_id, CART)? else {
            return Err(SubmitError::NotFound);
        };
        let mut cart = found.value;
        if cart.submitted {
            return Err(SubmitError::AlreadySubmitted);
        }
        cart.submitted = true;
        let order = Order {
            id: format!("order-{}", self.sim.new_uuid()),
            cart_id: cart_id.to_string(),
            customer: cart.customer.clone(),
            items: cart.lines.iter().map(|line| line.name.clone()).collect(),
            deliver_to: deliver_to.to_string(),
        };

        // One atomic batch in the cart's partition: the flag, the order and
        // the idempotency record are written together or not at all.
        let mut batch = self.store.batch(cart_id);
        batch.put(CART, &cart, Condition::IfMatch(found.version));
        batch.put(&order.id, &order, Condition::CreateOnly);
        if let Some((key, record)) = record {
            batch.put(&key_id(key), record, Condition::CreateOnly);
        }
        batch.commit()?;
        Ok(order)
    }

    /// The record of a submit sent with this idempotency key, if any.
    pub fn key_record(&self, cart_id: &str, key: &str) -> Result<Option<KeyRecord>, Error> {
        let found = self.store.get::<KeyRecord>(cart_id, &key_id(key))?;
        Ok(found.map(|document| document.value))
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

    /// How many documents the store holds (carts, orders, records). For tests.
    pub fn document_count(&self) -> usize {
        self.store.len()
    }
}

fn key_id(key: &str) -> String {
    format!("key-{key}")
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
