//! The Orders service on an internet-scale key-value store (Part D,
//! exercises 12–14): the document store of Cosmos DB or DynamoDB, where a
//! write is atomic within one item (or one partition's batch) and an item
//! has a size limit, here 4 KiB ([`MAX_ORDER_BYTES`]).
//!
//! One document per order ([`OrderDocument`], `kv.orders.*`), in the
//! partition of its cart. The requests, their events and the business rules
//! are the shop's, the same as on SQL (`add_item`, `remove_item`,
//! `book_payment`, `cancel_payment` in `crate::orders`, through a
//! [`Delivery`]); what differs is how a request's change, its messages and
//! the memory of having handled it are kept, when nothing spans two items.
//! That is the lesson, a [`HandleRequest`] each exercise writes. The ids of
//! handled requests may live outside the order, in a [`DedupStore`]; the
//! messages of a request, in an outbox document of their own
//! ([`OutboxDocuments`]), with only a [`Pending`] pointer in the order; or,
//! in a town of tokens ([`Orders::with_tokens`], exercise 14), every message
//! in flight carries a token from the [`TokenStore`] instead.
//!
//! ```
//! use harness::{Consistency, Sim};
//! use shop::orders::kv::{DedupStore, Orders};
//!
//! let sim = Sim::new(1);
//! let dedup = DedupStore::new(&sim, Consistency::Strong);
//! let orders = Orders::new(&sim, dedup, |_orders, _ctx, _request| Ok(()));
//! assert!(orders.of_cart("c-1").unwrap().is_empty());
//! ```

mod cost;
mod dedup;
mod kitchen;
mod report;
mod staged;
mod tokens;

pub use cost::RoundTrips;
pub use dedup::{DEDUP_STORE, DedupStore};
pub use kitchen::{KITCHEN_TICKET, KitchenTicket, PRINT_OUT_BYTES, book_payment_and_cook};
pub use report::StoreReport;
pub use staged::{OUTBOX_STORE, OutboxDocuments};
pub use tokens::{Admission, TOKEN_HEADER, TOKEN_STORE, TokenStore, child_token, token_of};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use harness::{
    Broker, Condition, Document, DocumentStore, Envelope, Error, HandlerContext, HandlerError, Sim,
    Version, World,
};
use serde::{Deserialize, Serialize};

use crate::chaos::Chaos;
use crate::orders::{add_item, book_payment, cancel_payment, remove_item};
use crate::outbox::{Delivery, Kind, Outbound};
use crate::{ORDERS_QUEUE, Order, SubmitOrder};

/// The item size limit of the orders store in Part D: 4 KiB. Real stores
/// allow more (DynamoDB 400 KB, Cosmos DB 2 MB), and real orders are
/// bigger: the ratio is the same.
pub const MAX_ORDER_BYTES: usize = 4 * 1024;

/// The name of the orders store (fault points `kv.orders.*`).
pub const ORDERS_STORE: &str = "orders";

/// An order as the key-value store keeps it: the order, and the messaging
/// data kept with it, in one item.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderDocument {
    /// The order.
    pub order: Order,
    /// The ids of the requests applied to the order, kept in the order as
    /// exercise 08 did: one more with every request, for ever.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processed: Vec<String>,
    /// The messages in flight: for each request whose change is saved and
    /// whose messages may not be out yet, the messages it decided, complete
    /// with their ids.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outbox: BTreeMap<String, Vec<Outbound>>,
    /// The transaction whose messages are staged in an outbox document and
    /// may not be out yet (exercise 13): at most one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// The pointer an order keeps to its committed transaction (exercise 13):
/// which outbox document holds the messages, and which request decided
/// them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The id of the outbox document ([`OutboxDocuments`]).
    pub tx_id: String,
    /// The id of the request whose handling staged the messages: the one
    /// to mark processed once they are out.
    pub owner: String,
}

impl OrderDocument {
    /// How many bytes the document takes in the store (its JSON).
    pub fn size(&self) -> usize {
        serde_json::to_string(self).map_or(0, |json| json.len())
    }
}

/// How an exercise handles one request (anything but `SubmitOrder`):
/// change the order, keep the request's messages and the memory of having
/// handled it, send the messages. `Ok` acknowledges the message; an error
/// gives it back to the broker, which delivers it again.
pub type HandleRequest =
    fn(orders: &Orders, ctx: &mut HandlerContext, request: &Delivery) -> Result<(), HandlerError>;

/// The Orders service on the key-value store. Cheap to clone: clones share
/// the stores and the monkeys.
#[derive(Clone)]
pub struct Orders {
    sim: Sim,
    store: DocumentStore,
    dedup: DedupStore,
    outbox: OutboxDocuments,
    kitchen_tickets: bool,
    monkeys: Chaos,
    handle_request: HandleRequest,
    tokens: TokenStore,
    /// Whether the town around Orders works with tokens.
    with_tokens: bool,
    /// The broker of the world Orders was added to: who subscribes to what.
    broker: Arc<Mutex<Option<Broker>>>,
}

impl Orders {
    /// An Orders service with an empty orders store (items up to
    /// [`MAX_ORDER_BYTES`]) and `dedup`, that handles requests with
    /// `handle_request`.
    pub fn new(sim: &Sim, dedup: DedupStore, handle_request: HandleRequest) -> Orders {
        Orders {
            sim: sim.clone(),
            store: DocumentStore::new(sim, ORDERS_STORE).with_max_item_bytes(MAX_ORDER_BYTES),
            dedup,
            outbox: OutboxDocuments::new(sim),
            kitchen_tickets: false,
            monkeys: Chaos::new(sim),
            handle_request,
            tokens: TokenStore::new(sim),
            with_tokens: false,
            broker: Arc::default(),
        }
    }

    /// The same Orders, that also publishes a 3.5 KiB [`KitchenTicket`] with
    /// every `PaymentBooked` (exercise 13).
    pub fn with_kitchen_tickets(mut self) -> Orders {
        self.kitchen_tickets = true;
        self
    }

    /// The same Orders in a town of tokens (exercise 14): the order page
    /// mints a token for every request it sends, and Billing and Marketing
    /// handle a message only while its token exists.
    pub fn with_tokens(self) -> Orders {
        Orders {
            with_tokens: true,
            ..self
        }
    }

    /// Whether the town around Orders works with tokens.
    pub fn uses_tokens(&self) -> bool {
        self.with_tokens
    }

    /// The token store: the tokens of the messages in flight.
    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// Who receives `message`: its queue, or the subscribers of its topic
    /// in the world Orders was added to (nobody before that).
    pub fn receivers_of(&self, message: &Outbound) -> Vec<String> {
        match message.kind {
            Kind::Send => vec![message.destination.clone()],
            Kind::Publish => {
                let broker = self
                    .broker
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                broker
                    .as_ref()
                    .map(|broker| broker.subscribers(&message.destination))
                    .unwrap_or_default()
            }
        }
    }

    /// Mints a token for `message`: a new token id, created in the token
    /// store for every receiver of the message (one create-only write), and
    /// put in the message's [`TOKEN_HEADER`]. Returns the token id.
    pub fn mint_token(&self, message: &mut Outbound) -> Result<String, Error> {
        let token = self.sim.new_uuid().to_string();
        self.tokens.create(&token, &self.receivers_of(message))?;
        message
            .envelope
            .headers
            .insert(TOKEN_HEADER.to_string(), token.clone());
        Ok(token)
    }

    /// Mints a token for each of `messages` as a child of `request_token`
    /// (Orders' token of the request that decided them, read at `version`),
    /// all in one fenced write ([`TokenStore::create_children`]): refused
    /// once the request's token is consumed or moved on, so that no attempt
    /// can make a token after the clean-up. Each message gets its token in
    /// its [`TOKEN_HEADER`] (a new id every attempt: a token that a receiver
    /// consumed is never made again). Returns the request token's new
    /// version. No message, no write. (On an error the headers are set all
    /// the same: drop those messages, their tokens may not exist.)
    pub fn mint_tokens(
        &self,
        request_token: &str,
        version: Version,
        messages: &mut [Outbound],
    ) -> Result<Version, Error> {
        if messages.is_empty() {
            return Ok(version);
        }
        let mut children = Vec::new();
        for message in messages.iter_mut() {
            let child = child_token(request_token, &self.sim.new_uuid().to_string());
            children.push((child.clone(), self.receivers_of(message)));
            message
                .envelope
                .headers
                .insert(TOKEN_HEADER.to_string(), child);
        }
        self.tokens
            .create_children(request_token, ORDERS_QUEUE, version, &children)
    }

    /// Tells Orders the broker it publishes through: who subscribes to what,
    /// the receivers a token is minted for ([`Orders::add_to`] does it).
    pub fn publish_through(&self, broker: &Broker) {
        *self
            .broker
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(broker.clone());
    }

    /// Adds the service to the world as the endpoint that reads the
    /// `orders` queue.
    pub fn add_to(&self, world: &mut World) {
        self.publish_through(world.broker());
        let orders = self.clone();
        world.add_endpoint(
            ORDERS_QUEUE,
            move |ctx: &mut HandlerContext, message: &Envelope| orders.handle(ctx, message),
        );
    }

    /// Handles one message of the `orders` queue.
    pub fn handle(&self, ctx: &mut HandlerContext, message: &Envelope) -> Result<(), HandlerError> {
        let request = match message.message_type.as_str() {
            "SubmitOrder" => return self.place_order(message),
            "AddItem" => Delivery::new(message, add_item)?,
            "RemoveItem" => Delivery::new(message, remove_item)?,
            "BookPayment" if self.kitchen_tickets => Delivery::new(message, book_payment_and_cook)?,
            "BookPayment" => Delivery::new(message, book_payment)?,
            "CancelPayment" => Delivery::new(message, cancel_payment)?,
            other => {
                let refused = format!("Orders does not handle {other}");
                return Err(HandlerError::unrecoverable(refused));
            }
        };
        (self.handle_request)(self, ctx, &request)
    }

    /// Handles `SubmitOrder`: makes the order with a create-only write (its
    /// id is the cart's: every copy names the same order).
    fn place_order(&self, message: &Envelope) -> Result<(), HandlerError> {
        let submit: SubmitOrder = message.body()?;
        let order = Order {
            id: submit.cart_id.clone(),
            cart_id: submit.cart_id.clone(),
            customer: submit.customer,
            items: submit.items,
            deliver_to: submit.deliver_to,
            ..Order::default()
        };
        let document = OrderDocument {
            order,
            ..OrderDocument::default()
        };
        let id = &submit.cart_id;
        match self.store.put(id, id, &document, Condition::CreateOnly) {
            Ok(_) => Ok(()),
            Err(err) if err.is_conflict() => Ok(()), // made already, by another copy
            Err(err) => Err(err.into()),
        }
    }

    /// The order's document, with its version, if the order was placed.
    pub fn find_order(&self, order_id: &str) -> Result<Option<Document<OrderDocument>>, Error> {
        self.store.get::<OrderDocument>(order_id, order_id)
    }

    /// Writes the order's document if nobody wrote it since `version` (an
    /// if-match write). Returns its new version. A document over
    /// [`MAX_ORDER_BYTES`] is refused: `Error::TooLarge`.
    pub fn save_order(&self, document: &OrderDocument, version: Version) -> Result<Version, Error> {
        let order = &document.order;
        let condition = Condition::IfMatch(version);
        self.store
            .put(&order.cart_id, &order.id, document, condition)
    }

    /// The deduplication store: which requests were handled.
    pub fn dedup(&self) -> &DedupStore {
        &self.dedup
    }

    /// The outbox documents: the staged messages of transactions.
    pub fn outbox(&self) -> &OutboxDocuments {
        &self.outbox
    }

    /// Sends one stored message now (not when the handler returns), through
    /// the monkeys, with the id, headers and body it has.
    pub fn dispatch(&self, ctx: &mut HandlerContext, outbound: &Outbound) -> Result<(), Error> {
        self.monkeys.send(
            &outbound.envelope,
            &mut |message: &Envelope| match outbound.kind {
                Kind::Publish => ctx.publish_immediately(&outbound.destination, message.clone()),
                Kind::Send => ctx.send_immediately(&outbound.destination, message.clone()),
            },
        )
    }

    /// The orders store (for the tests and the reports).
    pub fn store(&self) -> &DocumentStore {
        &self.store
    }

    /// The chaos monkeys on what Orders sends (none at first).
    pub fn monkeys(&self) -> &Chaos {
        &self.monkeys
    }

    /// The simulation Orders runs in.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// Every order made from the cart (one at most).
    pub fn of_cart(&self, cart_id: &str) -> Result<Vec<Order>, Error> {
        let found = self.store.list::<OrderDocument>(cart_id)?;
        Ok(found.into_iter().map(|(_, doc)| doc.value.order).collect())
    }

    /// What was added to the order after it was placed and not removed.
    pub fn added_to(&self, order_id: &str) -> Result<Vec<String>, Error> {
        let found = self.find_order(order_id)?;
        Ok(found.map(|doc| doc.value.order.added).unwrap_or_default())
    }

    /// Whether the order's payment is booked (false if there is no such
    /// order).
    pub fn payment_booked(&self, order_id: &str) -> Result<bool, Error> {
        let found = self.find_order(order_id)?;
        Ok(found.is_some_and(|doc| doc.value.order.payment_booked))
    }
}
