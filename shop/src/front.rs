//! The shop's front: carts in the shop's document store, the submit that
//! queues `SendSubmitOrder` on the shop's own queue and answers 202, and the
//! handler of that command, which sends `SubmitOrder` to the Orders service.
//! This is Part A's shape, as its last exercise (04) leaves it.
//!
//! Each cart has its own partition (the cart id); the idempotency records
//! of its submits live in the same partition, so that one batch can write
//! them with the cart.

pub mod direct;
pub mod orders;

use harness::{
    Broker, Condition, Document, DocumentStore, Envelope, Error, HandlerContext, HandlerError, Sim,
    Version, World,
};
use serde::{Deserialize, Serialize};

/// The id of the cart item inside its partition.
pub const CART: &str = "cart";

/// The queue of the Orders service: `SubmitOrder` goes there.
pub const ORDERS_QUEUE: &str = "orders";

/// The shop's own queue: `SendSubmitOrder` goes there.
pub const SHOP_QUEUE: &str = "shop";

/// A customer's cart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// Who owns it.
    pub customer: String,
    /// The pierogi in it.
    pub lines: Vec<Line>,
    /// Where to bring the order, once the customer submitted the cart.
    pub deliver_to: String,
    /// True once the shop decided to order this cart: from then on the
    /// cart cannot change, and `SubmitOrder` is sent until it got out.
    pub accepted: bool,
    /// True once `SubmitOrder` was sent: the cart is done.
    pub submitted: bool,
    /// The `Idempotency-Key` of the submit the shop took over HTTP: set,
    /// with the key's record, before the shop answers `202 Accepted`, so
    /// that the 202 is durable. From then on the cart takes no other submit
    /// and no other line.
    #[serde(default)]
    pub submit_key: Option<String>,
}

/// One line of a cart: one item, with its own id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The line's id.
    pub id: String,
    /// What is in it: `ruskie`, `z kapustą` …
    pub name: String,
}

/// The command the shop sends to itself when a customer submits a cart:
/// "accept this cart and send `SubmitOrder` for it".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendSubmitOrder {
    /// The cart to submit.
    pub cart_id: String,
    /// Where to bring the order.
    pub deliver_to: String,
    /// The submit's `Idempotency-Key` and the answer it got, for a handler
    /// to store with the cart when it accepts it. The shop's own submit
    /// sends `None`: it stores the record itself, before it answers 202.
    pub idempotency: Option<(String, KeyRecord)>,
}

impl SendSubmitOrder {
    /// The idempotency key and record to store with the cart, if any.
    pub fn key_record(&self) -> Option<(&str, &KeyRecord)> {
        self.idempotency
            .as_ref()
            .map(|(key, record)| (key.as_str(), record))
    }
}

/// A handler of `SendSubmitOrder` on the shop's queue: [`Shop::handle`], or
/// an exercise's, plugged in with [`Shop::add_to_with`].
pub type SendSubmitOrderHandler =
    fn(&Shop, &mut HandlerContext, &Envelope) -> Result<(), HandlerError>;

/// The message that asks the Orders service to make an order from a cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmitOrder {
    /// The cart to order.
    pub cart_id: String,
    /// Who ordered.
    pub customer: String,
    /// What they ordered.
    pub items: Vec<String>,
    /// Where to bring it.
    pub deliver_to: String,
}

/// An order, made by the Orders service from a `SubmitOrder`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    /// What the customer added once the order was placed (`AddItem`) and
    /// did not remove (`RemoveItem`): one portion per filling.
    pub added: Vec<String>,
    /// True while the customer's payment is booked (`BookPayment`), false
    /// once it is cancelled (`CancelPayment`).
    pub payment_booked: bool,
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
    /// The cart was submitted: it can no longer change (HTTP 409).
    Frozen,
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
    /// The cart was accepted for delivery to this other address, and its
    /// order goes there: a `SubmitOrder` may be out already (HTTP 409).
    AcceptedForAnotherAddress(String),
    /// The store failed; nothing is known for sure, the caller may retry.
    Store(Error),
    /// The broker did not take `SubmitOrder`; the caller may retry.
    Broker(Error),
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

/// How a cart takes a new line: [`Shop::add_line`] calls it.
pub type AddLineFn = fn(&Shop, &str, Line) -> Result<Outcome, Error>;

/// How a cart is submitted: [`Shop::submit`] calls it with the cart id,
/// where to deliver, and the idempotency key and record to store, if any.
pub type SubmitFn = fn(&Shop, &str, &str, Option<(&str, &KeyRecord)>) -> Result<(), SubmitError>;

/// What the shop does when a customer adds a line or submits a cart: the
/// shop's own rules ([`CartRules::QUEUED`]), or an exercise's, plugged in
/// with [`Shop::with_rules`] (exercise 03 does).
#[derive(Clone, Copy)]
pub struct CartRules {
    /// Puts a line into a cart.
    pub add_line: AddLineFn,
    /// Submits a cart.
    pub submit: SubmitFn,
}

impl CartRules {
    /// The shop's own rules: a cart is frozen once accepted, and a submit
    /// queues `SendSubmitOrder` for [`Shop::handle`].
    pub const QUEUED: CartRules = CartRules {
        add_line: add_line_unless_frozen,
        submit: queue_send_submit_order,
    };
}

/// The shop's data, its own queue, and its way to the Orders service. Cheap to clone:
/// clones share the store and the broker.
#[derive(Clone)]
pub struct Shop {
    sim: Sim,
    store: DocumentStore,
    broker: Broker,
    rules: CartRules,
}

impl Shop {
    /// A shop with an empty store (its fault points are `kv.shop.*`) that
    /// queues commands to itself (`broker.shop.send`) and sends to the
    /// Orders service (`broker.orders.send`) through `broker`.
    pub fn new(sim: &Sim, broker: &Broker) -> Shop {
        broker.declare_queue(SHOP_QUEUE);
        broker.declare_queue(ORDERS_QUEUE);
        Shop {
            sim: sim.clone(),
            store: DocumentStore::new(sim, "shop"),
            broker: broker.clone(),
            rules: CartRules::QUEUED,
        }
    }

    /// The same shop with other rules for adding lines and submitting.
    ///
    /// ```
    /// use harness::{Broker, Sim};
    /// use shop::front::CartRules;
    /// use shop::{KeyRecord, Shop, SubmitError};
    /// fn refuse(_: &Shop, _: &str, _: &str, _: Option<(&str, &KeyRecord)>) -> Result<(), SubmitError> {
    ///     Err(SubmitError::NotFound)
    /// }
    /// let sim = Sim::new(1);
    /// let rules = CartRules { submit: refuse, ..CartRules::QUEUED };
    /// let shop = Shop::new(&sim, &Broker::new(&sim)).with_rules(rules);
    /// assert!(matches!(shop.submit("c-1", "Rynek 1", None), Err(SubmitError::NotFound)));
    /// ```
    pub fn with_rules(mut self, rules: CartRules) -> Shop {
        self.rules = rules;
        self
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
        // The client chose the id: the same cart again is a retry (nothing
        // to do); the id with another customer is a mistake (refuse it).
        match self.store.get::<Cart>(cart_id, CART)? {
            Some(found) if found.value.customer == customer => return Ok(Outcome::Unchanged),
            Some(_) => return Ok(Outcome::Conflict),
            None => {}
        }
        self.store
            .put(cart_id, CART, &cart, Condition::CreateOnly)?;
        Ok(Outcome::Created)
    }

    /// Puts a line into the cart, by the shop's rules.
    pub fn add_line(&self, cart_id: &str, line: Line) -> Result<Outcome, Error> {
        (self.rules.add_line)(self, cart_id, line)
    }

    /// The customer clicks "Submit", by the shop's rules: with its own, it
    /// queues a `SendSubmitOrder` command on the shop's own queue
    /// (`broker.shop.send`). That is all the customer waits for;
    /// [`Shop::handle`] does the work later, and the broker delivers the
    /// command again until it succeeds. `record`, if given, is stored under
    /// `key-<idempotency key>` when the cart is accepted.
    pub fn submit(
        &self,
        cart_id: &str,
        deliver_to: &str,
        record: Option<(&str, &KeyRecord)>,
    ) -> Result<(), SubmitError> {
        (self.rules.submit)(self, cart_id, deliver_to, record)
    }

    /// Sends `SubmitOrder` for the cart, as it is, straight to the Orders
    /// service (`broker.orders.send`), outside any handler.
    pub fn send_submit_order(&self, cart_id: &str, cart: &Cart) -> Result<(), SubmitError> {
        self.broker
            .send(ORDERS_QUEUE, self.submit_order(cart_id, cart))
            .map_err(SubmitError::Broker)
    }

    /// A retry of a submit the shop took (same cart, same key): queues its
    /// `SendSubmitOrder` again, unless the cart is submitted. The first
    /// attempt may have recorded the request and then failed to queue the
    /// command (the broker refused it); a command queued twice is harmless,
    /// the handler acknowledges a copy whose work is done.
    pub fn resume_submit(
        &self,
        cart_id: &str,
        key: &str,
        deliver_to: &str,
    ) -> Result<(), SubmitError> {
        let Some(found) = self.find_cart(cart_id)? else {
            return Err(SubmitError::NotFound);
        };
        let cart = found.value;
        if cart.submitted || cart.submit_key.as_deref() != Some(key) {
            return Ok(());
        }
        self.enqueue_send_submit_order(cart_id, deliver_to)
    }

    /// Puts `SendSubmitOrder` for the cart on the shop's own queue.
    fn enqueue_send_submit_order(
        &self,
        cart_id: &str,
        deliver_to: &str,
    ) -> Result<(), SubmitError> {
        let command = SendSubmitOrder {
            cart_id: cart_id.to_string(),
            deliver_to: deliver_to.to_string(),
            idempotency: None,
        };
        let envelope = Envelope::new(self.sim.new_message_id(), "SendSubmitOrder", &command);
        self.broker
            .send(SHOP_QUEUE, envelope)
            .map_err(SubmitError::Broker)
    }

    /// Adds the shop to the world as the endpoint that reads its own queue
    /// (`shop`) and handles `SendSubmitOrder` with [`Shop::handle`].
    pub fn add_to(&self, world: &mut World) {
        self.add_to_with(world, Shop::handle);
    }

    /// Adds the shop to the world with another handler of `SendSubmitOrder`:
    /// an exercise's (exercise 04 plugs its lesson in here).
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, HandlerError, Sim, World};
    /// use shop::Shop;
    /// fn acknowledge(_: &Shop, _: &mut HandlerContext, _: &Envelope) -> Result<(), HandlerError> {
    ///     Ok(())
    /// }
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// Shop::new(&sim, &broker).add_to_with(&mut world, acknowledge);
    /// ```
    pub fn add_to_with(&self, world: &mut World, handler: SendSubmitOrderHandler) {
        let shop = self.clone();
        world.add_endpoint(
            SHOP_QUEUE,
            move |ctx: &mut HandlerContext, message: &Envelope| handler(&shop, ctx, message),
        );
    }

    /// Handles one `SendSubmitOrder`: accept the cart, send `SubmitOrder`,
    /// mark the cart submitted. An error gives the command back to the
    /// broker, which delivers it again: the retries are automatic.
    pub fn handle(&self, ctx: &mut HandlerContext, message: &Envelope) -> Result<(), HandlerError> {
        let command: SendSubmitOrder = message.body()?;
        let cart_id = command.cart_id.as_str();
        let Some(found) = self.find_cart(cart_id)? else {
            return Err(HandlerError::unrecoverable(format!(
                "there is no cart {cart_id}"
            )));
        };
        let mut cart = found.value;
        if cart.submitted {
            // Done before: this command is a duplicate. Nothing is wrong and
            // nothing is left to do, so acknowledge it.
            return Ok(());
        }
        let mut version = found.version;
        // Step 1: decide, durably, before anything leaves. From now on the
        // cart is frozen, and a retry knows it must send.
        if !cart.accepted {
            cart.accepted = true;
            cart.deliver_to = command.deliver_to.clone();
            version = self.save(cart_id, &cart, version, command.key_record())?;
        }
        // Step 2: send, now: `ctx.send` would hold the message back until
        // this handler returns, after step 3 said it was sent.
        ctx.send_immediately(ORDERS_QUEUE, self.submit_order(cart_id, &cart))?;
        // Step 3: done. If this write fails, the retry sends a second copy.
        cart.submitted = true;
        self.save(cart_id, &cart, version, None)?;
        Ok(())
    }

    /// The cart and its version, if it exists.
    pub fn find_cart(&self, cart_id: &str) -> Result<Option<Document<Cart>>, Error> {
        self.store.get::<Cart>(cart_id, CART)
    }

    /// Writes the cart if nobody wrote it since `version`, with the
    /// idempotency record if there is one, in one batch. Returns the cart's
    /// new version.
    pub fn save(
        &self,
        cart_id: &str,
        cart: &Cart,
        version: Version,
        record: Option<(&str, &KeyRecord)>,
    ) -> Result<Version, Error> {
        let mut batch = self.store.batch(cart_id);
        batch.put(CART, cart, Condition::IfMatch(version));
        if let Some((key, record)) = record {
            batch.put(&key_id(key), record, Condition::CreateOnly);
        }
        let versions = batch.commit()?;
        Ok(versions[0].unwrap_or(version))
    }

    /// `SubmitOrder` for the cart, as it is, in an envelope with a new id.
    pub fn submit_order(&self, cart_id: &str, cart: &Cart) -> Envelope {
        let message = SubmitOrder {
            cart_id: cart_id.to_string(),
            customer: cart.customer.clone(),
            items: cart.lines.iter().map(|line| line.name.clone()).collect(),
            deliver_to: cart.deliver_to.clone(),
        };
        // The conversation's correlation id is minted here, at the edge:
        // the cart's id, which every later message of the order carries.
        Envelope::new(self.sim.new_message_id(), "SubmitOrder", &message)
            .with_header(harness::headers::CORRELATION_ID, cart_id)
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

    /// How many documents the store holds (carts and records). For tests.
    pub fn document_count(&self) -> usize {
        self.store.len()
    }
}

/// The shop's own way to put a line into a cart: refused once the cart
/// is accepted.
fn add_line_unless_frozen(shop: &Shop, cart_id: &str, line: Line) -> Result<Outcome, Error> {
    let Some(found) = shop.find_cart(cart_id)? else {
        return Err(no_such_cart(cart_id));
    };
    let mut cart = found.value;
    // Once accepted, the cart is what `SubmitOrder` says: every copy of
    // the message, sent now or later, must carry the same items. A submit
    // answered 202 freezes it already: the 202 took the cart as it was.
    if cart.accepted || cart.submit_key.is_some() {
        return Ok(Outcome::Frozen);
    }
    // The same line id again is a retry, or a mistake if the item differs.
    if let Some(existing) = cart.lines.iter().find(|old| old.id == line.id) {
        if existing.name == line.name {
            return Ok(Outcome::Unchanged);
        }
        return Ok(Outcome::Conflict);
    }
    cart.lines.push(line);
    shop.store
        .put(cart_id, CART, &cart, Condition::IfMatch(found.version))?;
    Ok(Outcome::Created)
}

/// The shop's own submit: record the request with its key, then queue
/// `SendSubmitOrder` for [`Shop::handle`].
///
/// The answer is `202 Accepted`, a promise: the request is captured. So
/// the key's record is written first, in one batch with the cart (which
/// remembers the key, and takes no other submit from now on), and only
/// then is the command queued. If queueing fails the caller answers 503,
/// and a retry with the same key queues it again ([`Shop::resume_submit`]).
/// A submit without a key (no HTTP, as in the town) only queues.
fn queue_send_submit_order(
    shop: &Shop,
    cart_id: &str,
    deliver_to: &str,
    record: Option<(&str, &KeyRecord)>,
) -> Result<(), SubmitError> {
    let Some(found) = shop.find_cart(cart_id)? else {
        return Err(SubmitError::NotFound);
    };
    let mut cart = found.value;
    // Another submit got there first. (A retry of that submit, with its
    // key, was answered from the key's record before it got here.)
    if cart.accepted || cart.submit_key.is_some() {
        // That submit may have been recorded and then answered 503 (its
        // command was not queued), and never retried. The answer below says
        // the order is on its way: queue the command again to make it true
        // (a copy is harmless, the handler acknowledges it).
        if !cart.accepted {
            shop.enqueue_send_submit_order(cart_id, &cart.deliver_to)?;
        }
        if cart.deliver_to != deliver_to {
            return Err(SubmitError::AcceptedForAnotherAddress(cart.deliver_to));
        }
        return Err(SubmitError::AlreadySubmitted);
    }
    if let Some((key, record)) = record {
        cart.submit_key = Some(key.to_string());
        // Where the recorded submit delivers, for a command queued again.
        cart.deliver_to = deliver_to.to_string();
        // `IfMatch`: of two submits racing with different keys, one wins.
        shop.save(cart_id, &cart, found.version, Some((key, record)))?;
    }
    shop.enqueue_send_submit_order(cart_id, deliver_to)
}

fn key_id(key: &str) -> String {
    format!("key-{key}")
}

/// The error for a cart that does not exist.
pub fn no_such_cart(cart_id: &str) -> Error {
    Error::NotFound {
        store: "shop".to_string(),
        key: format!("{cart_id}/{CART}"),
    }
}
