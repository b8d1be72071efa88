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
//! [`Carts`] is the plumbing; how a cart becomes an order is exercise 01's
//! lesson, and how its HTTP API recognises a retry is exercise 02's
//! ([`router`] plugs that lesson in).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use harness::{Condition, DocumentStore, Error, Sim};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{
    self, ApiError, ApiPath, App, Front, HeaderMap, InFlight, JsonBody, NewCart, NewLine,
    SubmitRequest, SubmitRoute,
};
use crate::{KeyRecord, Line, Order, Outcome, SubmitError};

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

    /// The customer clicks "Submit": turn the cart into an order, once
    /// (exercise 01's solution). If `record` is given, it is stored under
    /// `key-<idempotency key>` in the same batch.
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
            items: cart.items(),
            deliver_to: deliver_to.to_string(),
            ..Order::default()
        };
        // One atomic batch in the cart's partition: the flag, the order and
        // the idempotency record are written together or not at all.
        let mut batch = self.store.batch(cart_id);
        batch.put(CART, &cart, Condition::IfMatch(found.version));
        batch.put(&order.id, &order, Condition::CreateOnly);
        if let Some((key, record)) = record {
            batch.put(&format!("key-{key}"), record, Condition::CreateOnly);
        }
        batch.commit()?;
        Ok(order)
    }

    /// The record of a submit sent with this idempotency key, if any.
    pub fn key_record(&self, cart_id: &str, key: &str) -> Result<Option<KeyRecord>, Error> {
        let found = self
            .store
            .get::<KeyRecord>(cart_id, &format!("key-{key}"))?;
        Ok(found.map(|document| document.value))
    }

    /// How many documents the store holds (carts, orders, records). For tests.
    pub fn document_count(&self) -> usize {
        self.store.len()
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

/// How the API of exercise 02 changes carts: the functions it calls for
/// `PUT /carts/{id}` and `PUT /carts/{id}/items/{line_id}`, and how it
/// answers a submit.
#[derive(Clone, Copy)]
pub struct ApiRules {
    /// Creates a cart for a customer under the given id.
    pub create_cart: fn(&Carts, &str, &str) -> Result<Outcome, Error>,
    /// Puts a line into a cart.
    pub add_line: fn(&Carts, &str, Line) -> Result<Outcome, Error>,
    /// Answers `POST /carts/{id}/submit`, given the carts, the keys in
    /// flight, the cart id, the headers and the body.
    pub submit:
        fn(&Carts, &InFlight, &str, &HeaderMap, &SubmitRequest) -> Result<Response, ApiError>,
}

/// The carts, with the rules the API changes them by, as a [`Front`].
struct DirectFront {
    carts: Carts,
    rules: ApiRules,
}

impl Front for DirectFront {
    fn sim(&self) -> &Sim {
        self.carts.sim()
    }

    fn create_cart(&self, cart_id: &str, customer: &str) -> Result<Outcome, Error> {
        (self.rules.create_cart)(&self.carts, cart_id, customer)
    }

    fn add_line(&self, cart_id: &str, line: Line) -> Result<Outcome, Error> {
        (self.rules.add_line)(&self.carts, cart_id, line)
    }

    fn cart_view(&self, cart_id: &str) -> Result<Option<Value>, Error> {
        let cart = self.carts.cart(cart_id)?;
        Ok(cart.map(|cart| http::cart_view(cart_id, &cart.customer, &cart.lines, cart.submitted)))
    }

    fn submit(
        &self,
        cart_id: &str,
        deliver_to: &str,
        record: Option<(&str, &KeyRecord)>,
    ) -> Result<(), SubmitError> {
        self.carts.submit(cart_id, deliver_to, record)?;
        Ok(())
    }

    fn key_record(&self, cart_id: &str, key: &str) -> Result<Option<KeyRecord>, Error> {
        self.carts.key_record(cart_id, key)
    }

    fn order_of(&self, cart_id: &str) -> Result<Option<Order>, Error> {
        Ok(self.carts.orders(cart_id)?.into_iter().next())
    }
}

/// The HTTP API of exercise 02 over `carts`, changing them by `rules`. It
/// serves the shop's API ([`crate::http::api`]) and, for apps that do not
/// name their carts and lines yet, `POST /carts` and
/// `POST /carts/{id}/items`, where the server makes up the id.
pub fn router(carts: Carts, rules: ApiRules) -> Router {
    let older = Router::new()
        .route("/carts", post(post_cart))
        .route("/carts/{cart_id}/items", post(post_line));
    let answer = rules.submit;
    let submit_carts = carts.clone();
    let submit: SubmitRoute = Arc::new(move |app, cart_id, headers, request| {
        answer(&submit_carts, &app.in_flight, cart_id, headers, request)
    });
    http::routes(DirectFront { carts, rules }, submit, older)
}

/// `POST /carts`: the server makes up the cart's id.
async fn post_cart(
    State(app): State<App>,
    JsonBody(request): JsonBody<NewCart>,
) -> Result<Response, ApiError> {
    let cart_id = app.front.sim().new_uuid().to_string();
    app.front.create_cart(&cart_id, &request.customer)?;
    let cart = app.front.cart_view(&cart_id)?.unwrap_or_default();
    let headers = [(header::LOCATION, format!("/carts/{cart_id}"))];
    Ok((StatusCode::CREATED, headers, Json(cart)).into_response())
}

/// `POST /carts/{id}/items`: the server makes up the line's id.
async fn post_line(
    State(app): State<App>,
    ApiPath(cart_id): ApiPath<String>,
    JsonBody(request): JsonBody<NewLine>,
) -> Result<Response, ApiError> {
    let line = Line {
        id: app.front.sim().new_uuid().to_string(),
        name: request.name,
    };
    app.front.add_line(&cart_id, line.clone())?;
    Ok((StatusCode::CREATED, Json(line)).into_response())
}

/// The error for a cart that does not exist.
pub fn no_such_cart(cart_id: &str) -> Error {
    not_found(cart_id)
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
