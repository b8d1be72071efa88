//! The order page of the shop's app: once an order is placed, the customer
//! can still add pierogi to it or take some off, and the payment service
//! books and cancels its payment. Each click sends a request to Orders,
//! through the page's chaos monkeys. Every request has its own id, in its
//! body; a request sent again carries the same id.
//!
//! In a town of tokens (exercise 14) the page is where a request's token is
//! born: before it sends a request, it creates a token for Orders and puts
//! its id in the request's header. Every copy of the request carries it.

use harness::{Broker, Envelope, Error, Sim};
use serde::Serialize;

use crate::ORDERS_QUEUE;
use crate::chaos::Chaos;
use crate::orders::kv::{TOKEN_HEADER, TokenStore};
use crate::orders::{AddItem, BookPayment, CancelPayment, RemoveItem};

/// The order page. Cheap to clone: clones share the broker and the monkeys.
#[derive(Clone)]
pub struct OrderPage {
    sim: Sim,
    broker: Broker,
    monkeys: Chaos,
    /// Where the tokens of the requests are created, in a town of tokens.
    tokens: Option<TokenStore>,
}

impl OrderPage {
    /// A page that sends to Orders through `broker`, with no monkeys yet.
    pub fn new(sim: &Sim, broker: &Broker) -> OrderPage {
        broker.declare_queue(ORDERS_QUEUE);
        OrderPage {
            sim: sim.clone(),
            broker: broker.clone(),
            monkeys: Chaos::new(sim),
            tokens: None,
        }
    }

    /// The same page, which creates a token in `tokens` for every request
    /// before it sends it (exercise 14).
    pub fn with_tokens(self, tokens: TokenStore) -> OrderPage {
        OrderPage {
            tokens: Some(tokens),
            ..self
        }
    }

    /// The chaos monkeys on what the page sends.
    pub fn monkeys(&self) -> &Chaos {
        &self.monkeys
    }

    /// The customer adds `filling` to the order. Returns the request sent.
    pub fn add_item(&self, order_id: &str, filling: &str) -> Result<Envelope, Error> {
        let add = AddItem {
            id: self.new_request_id(),
            order_id: order_id.to_string(),
            filling: filling.to_string(),
        };
        self.send("AddItem", &add)
    }

    /// The customer takes `filling` off the order. Returns the request sent.
    pub fn remove_item(&self, order_id: &str, filling: &str) -> Result<Envelope, Error> {
        let remove = RemoveItem {
            id: self.new_request_id(),
            order_id: order_id.to_string(),
            filling: filling.to_string(),
        };
        self.send("RemoveItem", &remove)
    }

    /// The payment of `amount` grosze for the order is booked. Returns the
    /// request sent.
    pub fn book_payment(&self, order_id: &str, amount: u64) -> Result<Envelope, Error> {
        let book = BookPayment {
            id: self.new_request_id(),
            order_id: order_id.to_string(),
            amount,
        };
        self.send("BookPayment", &book)
    }

    /// The payment for the order is cancelled. Returns the request sent.
    pub fn cancel_payment(&self, order_id: &str) -> Result<Envelope, Error> {
        let cancel = CancelPayment {
            id: self.new_request_id(),
            order_id: order_id.to_string(),
        };
        self.send("CancelPayment", &cancel)
    }

    /// Sends a request again, as a page does when the answer to it never
    /// came: the same request (the same id in its body), in a new message
    /// with a new message id. It may arrive long after later requests.
    /// Returns the message sent.
    pub fn resend(&self, request: &Envelope) -> Result<Envelope, Error> {
        let again = request.clone().with_id(self.sim.new_message_id());
        self.monkeys.send(&again, &mut |copy: &Envelope| {
            self.broker.send(ORDERS_QUEUE, copy.clone())
        })?;
        Ok(again)
    }

    fn new_request_id(&self) -> String {
        self.sim.new_uuid().to_string()
    }

    fn send<T: Serialize>(&self, message_type: &str, request: &T) -> Result<Envelope, Error> {
        let mut message = Envelope::new(self.sim.new_message_id(), message_type, request);
        if let Some(tokens) = &self.tokens {
            // The token first: a request must never be out without it.
            let token = self.sim.new_uuid().to_string();
            tokens.create(&token, &[ORDERS_QUEUE.to_string()])?;
            message = message.with_header(TOKEN_HEADER, token);
        }
        self.monkeys.send(&message, &mut |copy: &Envelope| {
            self.broker.send(ORDERS_QUEUE, copy.clone())
        })?;
        Ok(message)
    }
}
