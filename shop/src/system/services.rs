//! The services around the saga, each the solved lesson of its part, behind
//! the token gate of Part D (Shipping dedups by exercise 16's consumed
//! body, and consumes its token once done): Payment (exercise 15, face a) with the card's
//! limit, Shipping (exercise 16) with the courier's streets, the kitchen's
//! stock, and Marketing's coupon (Part B, choreographed on `OrderShipped`).

use harness::{Condition, Envelope, HandlerContext, HandlerError, MessageId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::saga::{OrderShipped, PAYMENT_DECLINED, PaymentDeclined, StockMove};
use super::{Problem, System};
use crate::orders::{BookPayment, COUPON_AT, COUPON_EARNED, CouponEarned};
use crate::payments::{PAYMENTS_QUEUE, Payments};
use crate::provider::{Charged, ProviderError};
use crate::shipping::{Shipment, Shipping};

/// The most a customer's card takes at once, in grosze: 300 zł.
pub const CARD_LIMIT: u64 = 30_000;

/// What the kitchen did for one order: every move, with the message that
/// asked for it (a copy finds its id here).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stock {
    /// The moves, in order.
    pub moves: Vec<Move>,
}

/// One move of the kitchen's stock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Move {
    /// The message that asked for it.
    pub message: MessageId,
    /// `ReserveStock` or `ReleaseStock`.
    pub kind: String,
    /// How many portions.
    pub portions: u32,
}

impl System {
    /// Payment: over the card's limit, the provider declines (and says so
    /// with a new event each time it is asked); otherwise exercise 15's
    /// handler takes the money.
    pub fn handle_payment(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let gate = self.tokens.clone();
        gate.admit(PAYMENTS_QUEUE, message, || {
            let book: BookPayment = message.body()?;
            if message.message_type == "BookPayment" && book.amount > CARD_LIMIT {
                let declined = PaymentDeclined {
                    order_id: book.order_id.clone(),
                    amount: book.amount,
                    reason: format!("the card takes at most {CARD_LIMIT} grosze at once"),
                };
                let event = Envelope::new(ctx.new_message_id(), PAYMENT_DECLINED, &declined)
                    .with_header(harness::headers::CORRELATION_ID, &book.order_id);
                ctx.publish_immediately(PAYMENT_DECLINED, event)?;
                return Ok(());
            }
            self.payments.handle(ctx, message)
        })
        .map(drop)
    }

    /// Shipping: the courier must know the street (a parcel for a street it
    /// does not know can never leave: a poison message), then exercise 16's
    /// handler. Its dedup is the body in the blob store (a copy finds it
    /// consumed), not the token: a copy must still run, to clean up after
    /// an attempt that lost the race and failed to delete its blobs. The
    /// token is consumed once the handler succeeded.
    pub fn handle_shipping(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let opened = self.shipping.open_ship_order(message);
        let ship = opened.map_err(|err| (self.lesson.classify)(&Problem::from(err)))?;
        if let Some(ship) = ship
            && !self.courier.delivers_to(&ship.deliver_to)
        {
            let problem = Problem::Invalid(format!(
                "order {}: no courier delivers to {:?}",
                ship.order_id, ship.deliver_to
            ));
            return Err((self.lesson.classify)(&problem));
        }
        self.shipping.handle(ctx, message)?;
        let Some(token) = crate::orders::kv::token_of(message) else {
            return Ok(());
        };
        let receiver = crate::shipping::SHIPPING_QUEUE;
        if let Some(version) = self.tokens.find(token, receiver)? {
            match self.tokens.consume(token, receiver, version) {
                Err(err) if !err.is_conflict() => return Err(err.into()),
                _ => {} // consumed, by us or by a copy on the other worker
            }
        }
        Ok(())
    }

    /// The kitchen: puts aside or gives back an order's portions, once per
    /// message.
    pub fn handle_kitchen(&self, message: &Envelope) -> Result<(), HandlerError> {
        let gate = self.tokens.clone();
        gate.admit(super::saga::KITCHEN_QUEUE, message, || {
            let change: StockMove = message.body()?;
            let order_id = &change.order_id;
            let found = self.kitchen.get::<Stock>(order_id, "stock")?;
            let (mut stock, condition) = match found {
                Some(document) => (document.value, Condition::IfMatch(document.version)),
                None => (Stock::default(), Condition::CreateOnly),
            };
            if stock.moves.iter().any(|done| done.message == message.id) {
                return Ok(()); // a copy that came while another worked
            }
            stock.moves.push(Move {
                message: message.id,
                kind: message.message_type.clone(),
                portions: change.portions,
            });
            self.kitchen.put(order_id, "stock", &stock, condition)?;
            Ok(())
        })
        .map(drop)
    }

    /// Marketing, choreographed: an order shipped worth [`COUPON_AT`] or
    /// more earns its customer a coupon (once: a create-only write).
    pub fn handle_marketing(&self, message: &Envelope) -> Result<(), HandlerError> {
        let gate = self.tokens.clone();
        gate.admit(crate::downstream::MARKETING, message, || {
            let shipped: OrderShipped = message.body()?;
            if shipped.amount < COUPON_AT {
                return Ok(());
            }
            let earned = CouponEarned {
                order_id: shipped.order_id,
            };
            let grant = Envelope::new(message.id, COUPON_EARNED, &earned);
            self.marketing.coupon_earned(&grant)
        })
        .map(drop)
    }

    /// What the kitchen did for `order_id`.
    pub fn stock_of(&self, order_id: &str) -> Result<Stock, harness::Error> {
        let found = self.kitchen.get::<Stock>(order_id, "stock")?;
        Ok(found.map(|document| document.value).unwrap_or_default())
    }
}

/// The name of `ShipOrder`'s body under `bodies/<order>/` (the saga's).
pub const SHIP_ORDER_BODY: &str = "ship-order";

/// The namespace of charge references.
const CHARGES: Uuid = Uuid::from_u128(0x5359_5354_454d_0000_8000_0000_0000_0017);

/// Exercise 15's `charge`, solved: the reference is named after the
/// request, and the first answer kept is the one published.
pub fn charge(
    payments: &Payments,
    _ctx: &mut HandlerContext,
    book: &BookPayment,
) -> Result<Charged, HandlerError> {
    if let Some(kept) = payments.captured(book)? {
        return Ok(kept);
    }
    let reference = Uuid::new_v5(&CHARGES, book.id.as_bytes()).to_string();
    let charged = payments
        .provider()
        .charge(&reference, &Payments::charge_request(book))
        .map_err(provider_failed)?;
    payments.capture(book, &charged)
}

/// Exercise 15's answer to a provider's failure, solved: retry what may
/// have happened, wait as long as the provider asks, park what never will.
fn provider_failed(error: ProviderError) -> HandlerError {
    match error {
        ProviderError::Unknown(reason) => HandlerError::transient(reason),
        ProviderError::Wait { delay, reason } => HandlerError::retry_after(delay, reason),
        ProviderError::Refused(reason) => HandlerError::unrecoverable(reason),
    }
}

/// The other face of exercise 15 is not used by the system.
pub fn unused<T, U>(_: &Payments, _: &mut HandlerContext, _: &T) -> Result<U, HandlerError> {
    Err(HandlerError::unrecoverable(
        "the system's Payment uses the provider's idempotency reference (face a)",
    ))
}

/// Exercise 16's handler, solved: register, upload, commit, publish the
/// committed attempt, delete the others' blobs, consume the body.
pub fn ship_order(
    shipping: &Shipping,
    ctx: &mut HandlerContext,
    message: &Envelope,
) -> Result<(), HandlerError> {
    let Some(ship) = shipping.open_ship_order(message)? else {
        // The body is consumed: an earlier copy finished. An attempt that
        // lost the race may have failed to delete its blobs: sweep them.
        if let Some(order_id) = message.correlation_id() {
            clean_up(shipping, &shipping.load(order_id)?.0)?;
        }
        return Ok(());
    };
    let (mut shipment, mut version) = shipping.load(&ship.order_id)?;
    if shipment.committed.is_none() {
        let attempt = shipping.new_attempt();
        let label_at = format!("labels/{}/{attempt}.pdf", ship.order_id);
        let invoice_at = format!("bodies/{}/{attempt}/invoice", ship.order_id);
        shipment.register(attempt, &label_at);
        shipment.register(attempt, &invoice_at);
        version = shipping.save(&shipment, version)?;
        let label = shipping.render_label(ctx, &ship);
        shipping.upload(&label_at, &label)?;
        let ready = shipping.label_ready(message, &ship, &label_at, &label);
        let invoice = shipping.check_in(&invoice_at, shipping.invoice(message, &ship))?;
        shipment.commit(attempt, &label_at, &label, vec![ready, invoice]);
        if let Err(err) = shipping.save(&shipment, version) {
            if err.is_conflict() {
                shipping.delete(&label_at)?;
                shipping.delete(&invoice_at)?;
            }
            return Err(err.into());
        }
    }
    for outbound in &shipment.outbox {
        shipping.dispatch(ctx, outbound)?;
    }
    clean_up(shipping, &shipment)?;
    shipping.consume(message)?;
    Ok(())
}

/// Deletes the blobs of every attempt but the committed one. They are
/// found by their names (`labels/<order>/<attempt>.pdf`,
/// `bodies/<order>/<attempt>/invoice`), not only by the registrations: an
/// attempt that lost the race may upload after the winner cleaned up, fail
/// to delete its own blobs, and find the body consumed when it comes back.
/// What was deleted stays deleted, so a retry after a failed delete has
/// only the rest to do.
fn clean_up(shipping: &Shipping, shipment: &Shipment) -> Result<(), HandlerError> {
    let Some(committed) = &shipment.committed else {
        return Ok(());
    };
    let order = &shipment.order_id;
    let winner = committed.attempt.to_string();
    let mut blobs = shipping.payloads().list(&format!("labels/{order}/"))?;
    blobs.extend(shipping.payloads().list(&format!("bodies/{order}/"))?);
    let incoming = format!("bodies/{order}/{SHIP_ORDER_BODY}");
    for blob in blobs {
        if blob != incoming && !blob.contains(&winner) {
            shipping.delete(&blob)?;
        }
    }
    Ok(())
}
