//! The Orders service, on the other side of the broker: it reads its queue
//! (`orders`), makes an order from each `SubmitOrder`, and changes placed
//! orders on request (`AddItem`, `RemoveItem`, `BookPayment`,
//! `CancelPayment`). Its orders live in a relational database
//! (`sql.orders.*`, see `store.rs`).
//!
//! Every request goes through the outbox (`crate::outbox`): the handlers in
//! `add_item.rs`, `remove_item.rs` and `payment.rs` only say what a request
//! does to an order and which messages go out. Loading, saving, recognising
//! copies of a request and sending belong to the middleware, once for all
//! (exercises 09 and 11 bring their own: [`Orders::with_middleware`]).
//!
//! The other shapes of Orders: [`documents`], on the document store (Part
//! B, exercises 05–08), and [`kv`], on an internet-scale key-value store
//! with an item size limit (Part D, exercises 12–14).

mod add_item;
pub mod documents;
pub mod kv;
mod payment;
mod remove_item;
pub(crate) mod store;

pub use add_item::{
    AddItem, COUPON_AT, COUPON_EARNED, CouponEarned, FIRST_ITEM_ADDED, FirstItemAdded, ITEM_ADDED,
    ItemAdded, PORTION_PRICE, add_item,
};
pub use payment::{
    BookPayment, CancelPayment, PAYMENT_BOOKED, PAYMENT_CANCELLED, PaymentBooked, PaymentCancelled,
    book_payment, cancel_payment,
};
pub use remove_item::{ITEM_REMOVED, ItemRemoved, RemoveItem, remove_item};
pub use store::{Change, SCHEMA};

use harness::sql::SqlStore;
use harness::{Broker, Envelope, Error, HandlerContext, HandlerError, Sim, World};

use crate::chaos::Chaos;
use crate::outbox::{
    Delivery, Journal, Middleware, Outbox, OutboxReport, Outgoing, Request, in_one_transaction,
    table,
};
use crate::{ORDERS_QUEUE, Order, SubmitOrder};

/// The Orders service: its database and its outbox. Cheap to clone: clones
/// share the database.
#[derive(Clone)]
pub struct Orders {
    db: SqlStore,
    outbox: Outbox,
    /// Handles each request through the outbox.
    middleware: Middleware,
    /// Records what the outbox stores, for the consistency report.
    journal: Journal,
    /// The monkeys between Orders and the broker.
    monkeys: Chaos,
}

impl Orders {
    /// An Orders service with an empty database, and the shop's own outbox
    /// middleware ([`in_one_transaction`]).
    ///
    /// ```
    /// use harness::Sim;
    /// use shop::orders::Orders;
    ///
    /// let orders = Orders::new(&Sim::new(1));
    /// assert!(orders.of_cart("c-1").unwrap().is_empty());
    /// ```
    pub fn new(sim: &Sim) -> Orders {
        Orders::with_middleware(sim, in_one_transaction)
    }

    /// An Orders service with an empty database, whose requests go through
    /// `middleware`: an exercise's own.
    pub fn with_middleware(sim: &Sim, middleware: Middleware) -> Orders {
        let db = SqlStore::in_memory(sim, "orders");
        db.execute_batch(SCHEMA)
            .expect("the orders tables can be created in a new database");
        table::create_tables(&db).expect("the outbox tables can be created in a new database");
        let journal = Journal::install(&db).expect("the journal can be added to a new database");
        let monkeys = Chaos::new(sim);
        Orders {
            journal,
            outbox: Outbox::new(&db, &monkeys),
            middleware,
            db,
            monkeys,
        }
    }

    /// The chaos monkeys on what Orders sends (none at first).
    pub fn monkeys(&self) -> &Chaos {
        &self.monkeys
    }

    /// The database (for the consistency report and the tests).
    pub fn database(&self) -> &SqlStore {
        &self.db
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

    /// Handles one request: its handler, through the outbox middleware.
    pub fn handle(&self, ctx: &mut HandlerContext, message: &Envelope) -> Result<(), HandlerError> {
        let request = match message.message_type.as_str() {
            "SubmitOrder" => Delivery::new(message, place_order)?,
            "AddItem" => Delivery::new(message, add_item)?,
            "RemoveItem" => Delivery::new(message, remove_item)?,
            "BookPayment" => Delivery::new(message, book_payment)?,
            "CancelPayment" => Delivery::new(message, cancel_payment)?,
            other => {
                let refused = format!("Orders does not handle {other}");
                return Err(HandlerError::unrecoverable(refused));
            }
        };
        (self.middleware)(&self.outbox, ctx, &request)
    }

    /// Every order made from the cart (one at most: the order's id is the
    /// cart's).
    pub fn of_cart(&self, cart_id: &str) -> Result<Vec<Order>, Error> {
        Ok(store::find(&self.db, cart_id)?.into_iter().collect())
    }

    /// What was added to the order after it was placed and not removed
    /// (nothing if there is no such order).
    pub fn added_to(&self, order_id: &str) -> Result<Vec<String>, Error> {
        let found = store::find(&self.db, order_id)?;
        Ok(found.map(|order| order.added).unwrap_or_default())
    }

    /// Whether the order's payment is booked (false if there is no such
    /// order).
    pub fn payment_booked(&self, order_id: &str) -> Result<bool, Error> {
        let found = store::find(&self.db, order_id)?;
        Ok(found.is_some_and(|order| order.payment_booked))
    }

    /// The outbox's flight recorder: every message it stored in a committed
    /// transaction.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// What the outbox stored, compared with what Orders sent through `broker`.
    pub fn outbox_report(&self, broker: &Broker) -> Result<OutboxReport, Error> {
        self.journal.report(broker, ORDERS_QUEUE)
    }

    /// Every change made to any order, oldest first: which message made it.
    pub fn changes(&self) -> Result<Vec<Change>, Error> {
        store::changes(&self.db)
    }
}

/// `SubmitOrder` makes the order; its id is the cart's, so a second
/// `SubmitOrder` for the cart is the same request.
impl Request for SubmitOrder {
    fn request_id(&self) -> String {
        format!("submit-{}", self.cart_id)
    }

    fn order_id(&self) -> &str {
        &self.cart_id
    }
}

/// Handles `SubmitOrder`: the order is placed, as the cart was.
pub fn place_order(
    order: &mut Order,
    submit: &SubmitOrder,
    _outgoing: &mut Outgoing,
) -> Result<(), Error> {
    if is_placed(order) {
        return Ok(()); // placed already
    }
    *order = Order {
        id: submit.cart_id.clone(),
        cart_id: submit.cart_id.clone(),
        customer: submit.customer.clone(),
        items: submit.items.clone(),
        deliver_to: submit.deliver_to.clone(),
        ..Order::default()
    };
    Ok(())
}

/// True once `SubmitOrder` made the order (a new, empty state has no id).
fn is_placed(order: &Order) -> bool {
    !order.id.is_empty()
}

/// An error, unless the order was placed: a request for an order whose
/// `SubmitOrder` is still on its way is tried again later.
fn must_be_placed(order: &Order, order_id: &str) -> Result<(), Error> {
    if is_placed(order) {
        return Ok(());
    }
    Err(Error::NotFound {
        store: "orders".to_string(),
        key: order_id.to_string(),
    })
}
