//! The mailer: it sends the customers their letters. Billing and Marketing
//! ask it with `SendEmail` and `SendInvoice` on its queue (`mailer`).
//!
//! A letter cannot be taken back, so the mailer deduplicates: it remembers
//! the id of every message it handled, in the same write as the letter,
//! and sends nothing for a message it has seen (exercise 06's lesson). It
//! can only recognise a copy by its message id.

use harness::{
    Condition, DocumentStore, Envelope, Error, HandlerContext, HandlerError, Sim, World,
};
use serde::{Deserialize, Serialize};

/// The mailer's queue.
pub const MAILER_QUEUE: &str = "mailer";

/// The type of the message that asks for an email.
pub const SEND_EMAIL: &str = "SendEmail";

/// The type of the message that asks for an invoice.
pub const SEND_INVOICE: &str = "SendInvoice";

/// Asks the mailer to email the customer of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendEmail {
    /// The order the email is about.
    pub order_id: String,
    /// What the email is: `receipt`, `thank you` …
    pub subject: String,
    /// The amount it speaks of, in grosze.
    pub amount: u64,
}

/// Asks the mailer to send the customer of an order an invoice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendInvoice {
    /// The order.
    pub order_id: String,
    /// How much, in grosze.
    pub amount: u64,
}

/// One letter the mailer sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letter {
    /// `invoice`, or the subject of an email.
    pub kind: String,
    /// The amount it speaks of, in grosze.
    pub amount: u64,
}

/// The id of the document that holds, in an order's partition, the letters
/// sent about it.
const MAILBOX: &str = "mailbox";

/// What the mailer sent about one order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    /// The letters sent, in order.
    pub letters: Vec<Letter>,
    /// The ids of the messages handled: a message seen before is a copy.
    pub processed: Vec<String>,
}

/// The mailer. Cheap to clone: clones share the store.
#[derive(Clone)]
pub struct Mailer {
    store: DocumentStore,
}

impl Mailer {
    /// A mailer that has sent nothing yet.
    pub fn new(sim: &Sim) -> Mailer {
        Mailer {
            store: DocumentStore::new(sim, MAILER_QUEUE),
        }
    }

    /// Adds the mailer to the world as the endpoint that reads its queue.
    pub fn add_to(&self, world: &mut World) {
        let mailer = self.clone();
        world.add_endpoint(
            MAILER_QUEUE,
            move |_ctx: &mut HandlerContext, message: &Envelope| mailer.handle(message),
        );
    }

    /// Handles one `SendEmail` or `SendInvoice`: sends the letter, once.
    pub fn handle(&self, message: &Envelope) -> Result<(), HandlerError> {
        let (order_id, letter) = if message.message_type == SEND_INVOICE {
            let invoice: SendInvoice = message.body()?;
            let letter = Letter {
                kind: "invoice".to_string(),
                amount: invoice.amount,
            };
            (invoice.order_id, letter)
        } else {
            let email: SendEmail = message.body()?;
            let letter = Letter {
                kind: email.subject,
                amount: email.amount,
            };
            (email.order_id, letter)
        };
        let found = self.store.get::<Mailbox>(&order_id, MAILBOX)?;
        let (mut mailbox, condition) = match found {
            Some(document) => (document.value, Condition::IfMatch(document.version)),
            None => (Mailbox::default(), Condition::CreateOnly),
        };
        let id = message.id.to_string();
        if mailbox.processed.contains(&id) {
            return Ok(()); // sent already: a copy
        }
        mailbox.letters.push(letter);
        mailbox.processed.push(id);
        self.store.put(&order_id, MAILBOX, &mailbox, condition)?;
        Ok(())
    }

    /// The letters sent about the order, in order.
    pub fn letters_about(&self, order_id: &str) -> Result<Vec<Letter>, Error> {
        let found = self.store.get::<Mailbox>(order_id, MAILBOX)?;
        Ok(found
            .map(|document| document.value.letters)
            .unwrap_or_default())
    }
}
