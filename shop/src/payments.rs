//! The Payment handler (Part E, exercise 15): when a customer pays
//! (`BookPayment` on the `payments` queue), it takes the money at the
//! payment provider ([`crate::provider`]) over HTTP and publishes
//! `PaymentBooked` with the provider's authorisation code.
//!
//! The handler keeps what it needs in the key-value store (`kv.payments.*`),
//! one [`PaymentRecord`] per request, in the partition of its order. The
//! steps around the HTTP calls are the shop's; the calls themselves are the
//! lesson ([`Lesson`]), in one of two ways ([`Face`]):
//!
//! - [`Face::Reference`]: `BookPayment` → the lesson's `charge` →
//!   publish `PaymentBooked` → mark the record booked. The provider
//!   honours an idempotency reference.
//! - [`Face::FourVerbs`]: `BookPayment` → the lesson's `send_request` (a
//!   `PUT`) → **commit**: the record names the URL → send the follow-up
//!   `ExecuteCharge` to itself (an attempt that finds another committed
//!   first deletes its own request). `ExecuteCharge` → the lesson's `execute`
//!   (a `POST`) → publish `PaymentBooked` → mark booked → the lesson's
//!   `clean_up` (the `DELETE`s). Two state changes, two messages: the
//!   follow-up carries the URL from one to the other.
//!
//! `PaymentBooked` goes out before the record is marked booked, so a crash
//! in between delivers the message again: every copy has the same id
//! (derived from the request's), and must carry the same code.

pub mod demo;

use harness::{
    Condition, Document, DocumentStore, Envelope, Error, HandlerContext, HandlerError, MessageId,
    Sim, World,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::orders::{BookPayment, PAYMENT_BOOKED, PaymentBooked};
use crate::provider::{ChargeRequest, Charged, ProviderClient};

/// The queue the Payment handler reads (`BookPayment`, `ExecuteCharge`).
pub const PAYMENTS_QUEUE: &str = "payments";

/// The store of payment records (fault points `kv.payments.*`).
pub const PAYMENTS_STORE: &str = "payments";

/// The follow-up message's type.
pub const EXECUTE_CHARGE: &str = "ExecuteCharge";

/// Which face of the provider the handler uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    /// (a) `POST /charges` with an idempotency reference.
    Reference,
    /// (b) `PUT`, `POST`, `DELETE` on `/requests/{id}`.
    FourVerbs,
}

/// The lesson: the HTTP side of the Payment handler, four functions.
#[derive(Clone, Copy)]
pub struct Lesson {
    /// Face (a), inside the `BookPayment` handler: take the money, and
    /// give the answer every attempt must publish.
    pub charge: fn(&Payments, &mut HandlerContext, &BookPayment) -> Result<Charged, HandlerError>,
    /// Face (b), inside the `BookPayment` handler, before its commit:
    /// store the request at the provider; the URL it is stored under.
    pub send_request:
        fn(&Payments, &mut HandlerContext, &BookPayment) -> Result<String, HandlerError>,
    /// Face (b), handling the follow-up, after the commit: the provider's
    /// answer for the request at `follow_up.url`.
    pub execute:
        fn(&Payments, &mut HandlerContext, &ExecuteCharge) -> Result<Charged, HandlerError>,
    /// Face (b), once the follow-up is handled (and again for every later
    /// copy of it): leave nothing behind at the provider.
    pub clean_up: fn(&Payments, &mut HandlerContext, &ExecuteCharge) -> Result<(), HandlerError>,
}

/// What the Payment handler keeps about one `BookPayment` request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// The provider's answer, once captured (face a).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged: Option<Charged>,
    /// The URL of every attempt that stored a request at the provider,
    /// registered before its `PUT` (face b).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<String>,
    /// The URL of the attempt that committed (face b): the one to execute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<String>,
    /// `PaymentBooked` is out.
    #[serde(default)]
    pub booked: bool,
}

/// The follow-up message (face b): execute the request the committed
/// attempt stored at the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecuteCharge {
    /// The `BookPayment` request's id.
    pub request_id: String,
    /// The order.
    pub order_id: String,
    /// How much, in grosze.
    pub amount: u64,
    /// Where the request is stored at the provider.
    pub url: String,
}

/// The Payment handler. Cheap to clone: clones share the store.
#[derive(Clone)]
pub struct Payments {
    store: DocumentStore,
    provider: ProviderClient,
    face: Face,
    lesson: Lesson,
}

/// Derived ids: `PaymentBooked` and `ExecuteCharge` are named by the
/// request they answer, so every copy and re-send has one id.
const PAYMENTS: Uuid = Uuid::from_u128(0x5041_594d_454e_5453_0000_0000_0000_0015);

impl Payments {
    /// A Payment handler with an empty store, calling `provider` the
    /// `face` way, with `lesson`'s calls.
    pub fn new(sim: &Sim, provider: ProviderClient, face: Face, lesson: Lesson) -> Payments {
        Payments {
            store: DocumentStore::new(sim, PAYMENTS_STORE),
            provider,
            face,
            lesson,
        }
    }

    /// Adds the handler to the world, reading the `payments` queue.
    pub fn add_to(&self, world: &mut World) {
        let payments = self.clone();
        world.add_endpoint(
            PAYMENTS_QUEUE,
            move |ctx: &mut HandlerContext, message: &Envelope| payments.handle(ctx, message),
        );
    }

    /// Handles one message of the `payments` queue.
    pub fn handle(&self, ctx: &mut HandlerContext, message: &Envelope) -> Result<(), HandlerError> {
        match (message.message_type.as_str(), self.face) {
            ("BookPayment", Face::Reference) => self.book_with_reference(ctx, &message.body()?),
            ("BookPayment", Face::FourVerbs) => self.book_with_four_verbs(ctx, &message.body()?),
            (EXECUTE_CHARGE, _) => self.follow_up(ctx, &message.body()?),
            (other, _) => Err(HandlerError::unrecoverable(format!(
                "the Payment handler does not handle {other}"
            ))),
        }
    }

    /// The provider, as the handler calls it.
    pub fn provider(&self) -> &ProviderClient {
        &self.provider
    }

    /// What the handler asks the provider to charge for `book`.
    pub fn charge_request(book: &BookPayment) -> ChargeRequest {
        ChargeRequest {
            order_id: book.order_id.clone(),
            amount: book.amount,
        }
    }

    /// The record of a request, if the handler wrote one.
    pub fn record(&self, order_id: &str, request_id: &str) -> Result<Option<PaymentRecord>, Error> {
        let found = self.store.get::<PaymentRecord>(order_id, request_id)?;
        Ok(found.map(|document| document.value))
    }

    /// Face (a): the answer an earlier attempt captured for `book`, if any.
    pub fn captured(&self, book: &BookPayment) -> Result<Option<Charged>, Error> {
        Ok(self
            .record(&book.order_id, &book.id)?
            .and_then(|record| record.charged))
    }

    /// Face (a): keeps `charged` as *the* answer for `book`, unless an
    /// earlier attempt kept one: returns the answer kept (the first).
    pub fn capture(&self, book: &BookPayment, charged: &Charged) -> Result<Charged, HandlerError> {
        let kept = self.update(book, |record| {
            let kept = record.charged.get_or_insert_with(|| charged.clone());
            Ok(kept.clone())
        })?;
        Ok(kept)
    }

    /// Face (b): registers `url` as an attempt's, before its `PUT`, so that
    /// it can be deleted if the attempt never commits. Refused once another
    /// attempt committed: this one is over.
    pub fn register_attempt(&self, book: &BookPayment, url: &str) -> Result<(), HandlerError> {
        self.update(book, |record| {
            if let Some(committed) = &record.committed {
                return Err(HandlerError::transient(format!(
                    "another attempt committed request {} first (with {committed})",
                    book.id
                )));
            }
            record.attempts.push(url.to_string());
            Ok(())
        })
    }

    /// Face (b): the URLs every attempt registered for the request (the
    /// committed one among them).
    pub fn attempts(&self, follow_up: &ExecuteCharge) -> Result<Vec<String>, Error> {
        let record = self.record(&follow_up.order_id, &follow_up.request_id)?;
        Ok(record.map(|record| record.attempts).unwrap_or_default())
    }

    /// The store of records (for the tests).
    pub fn store(&self) -> &DocumentStore {
        &self.store
    }

    /// Face (a): charge, publish, mark.
    fn book_with_reference(
        &self,
        ctx: &mut HandlerContext,
        book: &BookPayment,
    ) -> Result<(), HandlerError> {
        if self.is_booked(&book.order_id, &book.id)? {
            return Ok(());
        }
        let charged = (self.lesson.charge)(self, ctx, book)?;
        self.publish_booked(ctx, &book.id, &charged)?;
        self.mark_booked(book)
    }

    /// Face (b), `BookPayment`: store the request at the provider, commit
    /// its URL, send the follow-up. A request committed before only needs
    /// its follow-up sent (again: a crash may have struck before).
    fn book_with_four_verbs(
        &self,
        ctx: &mut HandlerContext,
        book: &BookPayment,
    ) -> Result<(), HandlerError> {
        let found = self.store.get::<PaymentRecord>(&book.order_id, &book.id)?;
        if let Some(url) = found.as_ref().and_then(|doc| doc.value.committed.clone()) {
            return self.send_follow_up(ctx, book, &url);
        }
        let url = (self.lesson.send_request)(self, ctx, book)?;
        self.commit(book, &url)?;
        self.send_follow_up(ctx, book, &url)
    }

    /// The attempt's transaction: the record names its URL, unless another
    /// attempt's URL got there first (then this attempt is aborted).
    fn commit(&self, book: &BookPayment, url: &str) -> Result<(), HandlerError> {
        let found = self.store.get::<PaymentRecord>(&book.order_id, &book.id)?;
        let (mut record, condition) = split(found);
        if let Some(committed) = &record.committed {
            // This attempt lost: its stored request must never execute.
            // Forget it now; if that fails, it is registered, and the
            // follow-up's clean-up deletes it.
            let forgotten = match self.provider.forget(url) {
                Ok(()) => String::new(),
                Err(failed) => format!(" (its DELETE failed, the clean-up retries it: {failed})"),
            };
            return Err(HandlerError::transient(format!(
                "attempt with {url} aborted: {committed} committed request {} first{forgotten}",
                book.id
            )));
        }
        record.committed = Some(url.to_string());
        // A batch of one write: the commit has a fault point of its own
        // (`kv.payments.batch`), apart from the other writes.
        let mut batch = self.store.batch(&book.order_id);
        batch.put(&book.id, &record, condition);
        batch.commit()?;
        Ok(())
    }

    /// Face (b), `ExecuteCharge`: execute, publish, mark; then clean up.
    fn follow_up(
        &self,
        ctx: &mut HandlerContext,
        follow_up: &ExecuteCharge,
    ) -> Result<(), HandlerError> {
        if !self.is_booked(&follow_up.order_id, &follow_up.request_id)? {
            let charged = match (self.lesson.execute)(self, ctx, follow_up) {
                Ok(charged) => charged,
                // Another copy of the follow-up, on another worker, may
                // have finished meanwhile, and deleted the request: then
                // there is nothing left to do but clean up.
                Err(_) if self.is_booked(&follow_up.order_id, &follow_up.request_id)? => {
                    return (self.lesson.clean_up)(self, ctx, follow_up);
                }
                Err(failed) => return Err(failed),
            };
            self.publish_booked(ctx, &follow_up.request_id, &charged)?;
            let book = BookPayment {
                id: follow_up.request_id.clone(),
                order_id: follow_up.order_id.clone(),
                amount: follow_up.amount,
            };
            self.mark_booked(&book)?;
        }
        (self.lesson.clean_up)(self, ctx, follow_up)
    }

    fn send_follow_up(
        &self,
        ctx: &mut HandlerContext,
        book: &BookPayment,
        url: &str,
    ) -> Result<(), HandlerError> {
        let follow_up = ExecuteCharge {
            request_id: book.id.clone(),
            order_id: book.order_id.clone(),
            amount: book.amount,
            url: url.to_string(),
        };
        let id = derived_id(&book.id, EXECUTE_CHARGE);
        ctx.send_immediately(
            PAYMENTS_QUEUE,
            Envelope::new(id, EXECUTE_CHARGE, &follow_up),
        )?;
        Ok(())
    }

    fn publish_booked(
        &self,
        ctx: &mut HandlerContext,
        request_id: &str,
        charged: &Charged,
    ) -> Result<(), HandlerError> {
        let booked = PaymentBooked {
            order_id: charged.order_id.clone(),
            amount: charged.amount,
            auth_code: charged.auth_code.clone(),
        };
        let id = derived_id(request_id, PAYMENT_BOOKED);
        ctx.publish_immediately(PAYMENT_BOOKED, Envelope::new(id, PAYMENT_BOOKED, &booked))?;
        Ok(())
    }

    fn is_booked(&self, order_id: &str, request_id: &str) -> Result<bool, Error> {
        let record = self.record(order_id, request_id)?;
        Ok(record.is_some_and(|record| record.booked))
    }

    fn mark_booked(&self, book: &BookPayment) -> Result<(), HandlerError> {
        self.update(book, |record| {
            record.booked = true;
            Ok(())
        })
    }

    /// Reads the request's record, changes it with `change`, and writes it
    /// back if nobody wrote it since (a conflict is a transient error: the
    /// next attempt reads it again).
    fn update<T>(
        &self,
        book: &BookPayment,
        change: impl FnOnce(&mut PaymentRecord) -> Result<T, HandlerError>,
    ) -> Result<T, HandlerError> {
        let found = self.store.get::<PaymentRecord>(&book.order_id, &book.id)?;
        let (mut record, condition) = split(found);
        let result = change(&mut record)?;
        self.store
            .put(&book.order_id, &book.id, &record, condition)?;
        Ok(result)
    }
}

/// The record found (or a new one), and the condition that writes it only
/// if nobody wrote it since.
fn split(found: Option<Document<PaymentRecord>>) -> (PaymentRecord, Condition) {
    match found {
        Some(document) => (document.value, Condition::IfMatch(document.version)),
        None => (PaymentRecord::default(), Condition::CreateOnly),
    }
}

fn derived_id(request_id: &str, message_type: &str) -> MessageId {
    let name = format!("{request_id}/{message_type}");
    MessageId::from_uuid(Uuid::new_v5(&PAYMENTS, name.as_bytes()))
}
