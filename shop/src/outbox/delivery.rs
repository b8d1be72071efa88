//! One delivery of a request, as the middleware sees it: which request it
//! is, which order it changes, and what its handler does, whatever the
//! request's type.

use harness::sql::Tx;
use harness::{Envelope, Error, HandlerContext, HandlerError};
use serde::de::DeserializeOwned;

use super::outgoing::Outgoing;
use crate::Order;
use crate::orders::store;

/// A message the outbox can handle: a request to change one order.
pub trait Request: DeserializeOwned {
    /// The request's id: every copy and every re-send of the request
    /// carries it, so the outbox handles it once.
    fn request_id(&self) -> String;
    /// The order it changes.
    fn order_id(&self) -> &str;
}

/// What a request does to an order, and what it sends.
type Handler = Box<dyn Fn(&mut Order, &mut Outgoing) -> Result<(), Error>>;

/// One delivery of a request: its message, its ids, and its handler, ready
/// for the [`Middleware`](super::Middleware).
pub struct Delivery {
    message: Envelope,
    request_id: String,
    order_id: String,
    handler: Handler,
}

impl Delivery {
    /// The delivery of `message`, a request of type `R` that `handler`
    /// handles. An error if the message's body is not an `R`.
    pub fn new<R: Request + 'static>(
        message: &Envelope,
        handler: fn(&mut Order, &R, &mut Outgoing) -> Result<(), Error>,
    ) -> Result<Delivery, HandlerError> {
        let request: R = message.body()?;
        Ok(Delivery {
            message: message.clone(),
            request_id: request.request_id(),
            order_id: request.order_id().to_string(),
            handler: Box::new(move |order, outgoing| handler(order, &request, outgoing)),
        })
    }

    /// The request's id: the same for every copy of it.
    pub fn id(&self) -> &str {
        &self.request_id
    }

    /// The order the request changes.
    pub fn order_id(&self) -> &str {
        &self.order_id
    }

    /// The message as it was delivered.
    pub fn message(&self) -> &Envelope {
        &self.message
    }

    /// Reads the order inside the transaction (a new, empty order if there
    /// is none yet).
    pub fn load(&self, tx: &Tx<'_>) -> Result<Order, Error> {
        store::load(tx, &self.order_id)
    }

    /// Runs the handler on `order`: it changes the order and describes the
    /// messages to send, which it returns. It stores and sends nothing.
    pub fn run_handler(&self, ctx: &HandlerContext, order: &mut Order) -> Result<Outgoing, Error> {
        let mut outgoing = Outgoing::new(ctx.sim(), &self.message, &self.order_id);
        (self.handler)(order, &mut outgoing)?;
        Ok(outgoing)
    }

    /// Writes the order back inside the transaction, with this request as
    /// the change in its history.
    pub fn save(&self, tx: &Tx<'_>, order: &Order) -> Result<(), Error> {
        store::save(tx, &self.order_id, order, &self.message)
    }
}
