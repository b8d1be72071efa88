//! Billing and Marketing, downstream of Orders. Both subscribe to
//! `ItemAdded`: Billing charges the customer for each item added to an
//! order; Marketing counts which fillings people add. Each keeps, per
//! order, the fillings it heard of, in its own store. Hearing of the same
//! item twice changes nothing, so a duplicate `ItemAdded` is harmless here.
//!
//! Both subscribe to `PaymentBooked` too. Billing asks the mailer to send
//! the customer a receipt and an invoice. Marketing adds the amount to what
//! the order's bookings came to, and asks the mailer to thank the customer.
//! A sum is not idempotent: Marketing remembers the id of every
//! `PaymentBooked` it counted, in the same write as the sum.
//!
//! Marketing alone subscribes to `FirstItemAdded`, and keeps the first
//! items it heard of (remembering each event's id), and to `CouponEarned`:
//! it grants the order's customer a coupon, once (a create-only write).
//!
//! In a town of tokens (exercise 14) each goes through a gate first: a
//! message whose token is gone is a copy, and is dropped.

use harness::{
    Condition, DocumentStore, Envelope, Error, HandlerContext, HandlerError, Sim, World,
};
use serde::{Deserialize, Serialize};

use crate::ids::{OutgoingId, outgoing_id};
use crate::mailer::{MAILER_QUEUE, SEND_EMAIL, SEND_INVOICE, SendEmail, SendInvoice};
use crate::orders::kv::TokenStore;
use crate::orders::{
    COUPON_EARNED, CouponEarned, FIRST_ITEM_ADDED, FirstItemAdded, ITEM_ADDED, ItemAdded,
    PAYMENT_BOOKED, PaymentBooked,
};

/// The id of the document that holds, in an order's partition, what a
/// subscriber heard of the order.
const HEARD: &str = "heard";

/// Billing's name (its queue's and its store's).
const BILLING: &str = "billing";

/// Marketing's name (its queue's and its store's).
pub const MARKETING: &str = "marketing";

/// The id of the document that holds, in an order's partition, what
/// Marketing counted of the order's bookings.
const BOOKINGS: &str = "bookings";

/// The id of the document that holds, in an order's partition, the first
/// items Marketing heard of.
const FIRST_ITEMS: &str = "first-items";

/// The id of the coupon document, in an order's partition.
const COUPON: &str = "coupon";

/// What a subscriber heard of one order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Heard {
    /// The fillings added to the order, each once.
    pub items: Vec<String>,
}

/// What Marketing counted of one order's bookings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bookings {
    /// What the bookings came to, in grosze.
    pub total: u64,
    /// The ids of the `PaymentBooked` events counted: one seen before is a
    /// copy.
    pub counted: Vec<String>,
}

/// The first items Marketing heard were added to one order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FirstItems {
    /// The fillings, in the order heard.
    pub fillings: Vec<String>,
    /// The ids of the `FirstItemAdded` events counted: one seen before is a
    /// copy.
    pub counted: Vec<String>,
}

/// A coupon Marketing granted the customer of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coupon {
    /// The order that earned it.
    pub order_id: String,
}

/// A service downstream of Orders that listens to `ItemAdded` and
/// `PaymentBooked`. Cheap to clone: clones share the store.
#[derive(Clone)]
pub struct Subscriber {
    name: String,
    store: DocumentStore,
    /// How it names the letters it asks the mailer to send.
    outgoing_id: OutgoingId,
    /// The gate of a town of tokens.
    tokens: Option<TokenStore>,
}

impl Subscriber {
    /// Billing: charges for every item added to an order, sends receipts
    /// and invoices for payments.
    pub fn billing(sim: &Sim) -> Subscriber {
        Subscriber::new(sim, BILLING)
    }

    /// Marketing: counts which fillings people add and what their bookings
    /// come to.
    pub fn marketing(sim: &Sim) -> Subscriber {
        Subscriber::new(sim, MARKETING)
    }

    fn new(sim: &Sim, name: &str) -> Subscriber {
        Subscriber {
            name: name.to_string(),
            store: DocumentStore::new(sim, name),
            outgoing_id,
            tokens: None,
        }
    }

    /// The same service, which handles a message only while its token
    /// exists in `tokens`, and then consumes it (exercise 14).
    pub fn with_tokens(self, tokens: TokenStore) -> Subscriber {
        Subscriber {
            tokens: Some(tokens),
            ..self
        }
    }

    /// The same service, naming its letters with `outgoing_id` (exercise
    /// 07 writes its own).
    pub fn naming_with(self, outgoing_id: OutgoingId) -> Subscriber {
        Subscriber {
            outgoing_id,
            ..self
        }
    }

    /// The service's name, which is also its queue's and its store's.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds the service to the world and subscribes it to `ItemAdded` and
    /// `PaymentBooked`; Marketing to `FirstItemAdded` and `CouponEarned`
    /// too.
    pub fn add_to(&self, world: &mut World) {
        let subscriber = self.clone();
        world.add_endpoint(
            &self.name,
            move |ctx: &mut HandlerContext, message: &Envelope| {
                let mut handle = || match message.message_type.as_str() {
                    PAYMENT_BOOKED => subscriber.payment_booked(ctx, message),
                    FIRST_ITEM_ADDED => subscriber.first_item_added(message),
                    COUPON_EARNED => subscriber.coupon_earned(message),
                    _ => subscriber.handle(message),
                };
                match &subscriber.tokens {
                    None => handle(),
                    Some(tokens) => tokens.admit(&subscriber.name, message, handle).map(drop),
                }
            },
        );
        let mut topics = vec![ITEM_ADDED, PAYMENT_BOOKED];
        if self.name == MARKETING {
            topics.extend([FIRST_ITEM_ADDED, COUPON_EARNED]);
        }
        for topic in topics {
            world
                .subscribe(topic, &self.name)
                .expect("the endpoint was just added");
        }
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

    /// Handles one `PaymentBooked`. Billing sends the customer a receipt
    /// and an invoice; Marketing counts the booking, once, and thanks the
    /// customer. The letters go out when the handler returns.
    pub fn payment_booked(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let booked: PaymentBooked = message.body()?;
        // An event has no id of its own in its body: its message id is its
        // identity, the same in every copy.
        let incoming = message.id.to_string();
        if self.name == BILLING {
            let receipt = SendEmail {
                order_id: booked.order_id.clone(),
                subject: "receipt".to_string(),
                amount: booked.amount,
            };
            let id = (self.outgoing_id)(ctx, &incoming, SEND_EMAIL);
            self.send_letter(ctx, Envelope::new(id, SEND_EMAIL, &receipt))?;
            let invoice = SendInvoice {
                order_id: booked.order_id.clone(),
                amount: booked.amount,
            };
            let id = (self.outgoing_id)(ctx, &incoming, SEND_INVOICE);
            self.send_letter(ctx, Envelope::new(id, SEND_INVOICE, &invoice))?;
            return Ok(());
        }
        self.count_booking(&incoming, &booked)?;
        // Thank the customer regardless: this may be the retry of an
        // attempt that counted the booking but could not send the letter.
        let thanks = SendEmail {
            order_id: booked.order_id.clone(),
            subject: "thank you".to_string(),
            amount: booked.amount,
        };
        let id = (self.outgoing_id)(ctx, &incoming, SEND_EMAIL);
        self.send_letter(ctx, Envelope::new(id, SEND_EMAIL, &thanks))?;
        Ok(())
    }

    /// Asks the mailer to send a letter: when the handler returns; in a
    /// town of tokens at once, because the gate consumes the message's
    /// token before the handler returns, and the letter must be out first.
    fn send_letter(&self, ctx: &mut HandlerContext, letter: Envelope) -> Result<(), Error> {
        match self.tokens {
            None => ctx.send(MAILER_QUEUE, letter),
            Some(_) => ctx.send_immediately(MAILER_QUEUE, letter),
        }
    }

    /// Adds the booking to the order's total, unless this event was counted
    /// before: the sum and the event's id in one write.
    fn count_booking(&self, incoming: &str, booked: &PaymentBooked) -> Result<(), Error> {
        let found = self.store.get::<Bookings>(&booked.order_id, BOOKINGS)?;
        let (mut bookings, condition) = match found {
            Some(document) => (document.value, Condition::IfMatch(document.version)),
            None => (Bookings::default(), Condition::CreateOnly),
        };
        if bookings.counted.iter().any(|id| id == incoming) {
            return Ok(()); // counted already: a copy
        }
        bookings.total += booked.amount;
        bookings.counted.push(incoming.to_string());
        self.store
            .put(&booked.order_id, BOOKINGS, &bookings, condition)?;
        Ok(())
    }

    /// Handles one `FirstItemAdded`: remembers the order's first item,
    /// unless this event was counted before.
    pub fn first_item_added(&self, message: &Envelope) -> Result<(), HandlerError> {
        let first: FirstItemAdded = message.body()?;
        let found = self.store.get::<FirstItems>(&first.order_id, FIRST_ITEMS)?;
        let (mut firsts, condition) = match found {
            Some(document) => (document.value, Condition::IfMatch(document.version)),
            None => (FirstItems::default(), Condition::CreateOnly),
        };
        let incoming = message.id.to_string();
        if firsts.counted.contains(&incoming) {
            return Ok(()); // counted already: a copy
        }
        firsts.fillings.push(first.filling);
        firsts.counted.push(incoming);
        self.store
            .put(&first.order_id, FIRST_ITEMS, &firsts, condition)?;
        Ok(())
    }

    /// Handles one `CouponEarned`: grants the order's customer a coupon,
    /// once. The coupon's id is the order's, so a second grant finds it.
    pub fn coupon_earned(&self, message: &Envelope) -> Result<(), HandlerError> {
        let earned: CouponEarned = message.body()?;
        let coupon = Coupon {
            order_id: earned.order_id.clone(),
        };
        match self
            .store
            .put(&earned.order_id, COUPON, &coupon, Condition::CreateOnly)
        {
            Ok(_) => Ok(()),
            Err(err) if err.is_conflict() => Ok(()), // granted already
            Err(err) => Err(err.into()),
        }
    }

    /// The first items the service heard were added to the order.
    pub fn first_items_of(&self, order_id: &str) -> Result<Vec<String>, Error> {
        let found = self.store.get::<FirstItems>(order_id, FIRST_ITEMS)?;
        Ok(found
            .map(|document| document.value.fillings)
            .unwrap_or_default())
    }

    /// Whether the service granted the customer of the order a coupon.
    pub fn has_coupon(&self, order_id: &str) -> Result<bool, Error> {
        let found = self.store.get::<Coupon>(order_id, COUPON)?;
        Ok(found.is_some())
    }

    /// What the order's bookings came to, as the service counted them.
    pub fn bookings_of(&self, order_id: &str) -> Result<Bookings, Error> {
        let found = self.store.get::<Bookings>(order_id, BOOKINGS)?;
        Ok(found.map(|document| document.value).unwrap_or_default())
    }

    /// The fillings the service heard were added to the order.
    pub fn heard_of(&self, order_id: &str) -> Result<Vec<String>, Error> {
        let found = self.store.get::<Heard>(order_id, HEARD)?;
        Ok(found
            .map(|document| document.value.items)
            .unwrap_or_default())
    }
}
