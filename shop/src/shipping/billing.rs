//! Billing's invoice desk: takes `InvoiceData` from its queue, inline or by
//! claim check, and keeps one invoice per order. The claim-checked body is
//! the token: the desk deletes it once the invoice is kept, and a copy
//! whose body is gone is a copy of a message it consumed already.

use harness::{
    BlobStore, Condition, DocumentStore, Envelope, Error, HandlerContext, HandlerError, MessageId,
    Sim, World,
};
use serde::{Deserialize, Serialize};

use super::{INVOICES_QUEUE, InvoiceData, claim_check};

/// Billing's invoices (fault points `kv.invoices.*`).
pub const INVOICES_STORE: &str = "invoices";

/// An invoice as Billing keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    /// The message it came in.
    pub message: MessageId,
    /// What it said.
    pub data: InvoiceData,
}

/// Billing's invoice desk. Cheap to clone: clones share the stores.
///
/// ```
/// use harness::{BlobStore, Sim};
/// use shop::shipping::InvoiceDesk;
///
/// let sim = Sim::new(1);
/// let desk = InvoiceDesk::new(&sim, &BlobStore::in_memory(&sim, "payloads"));
/// assert_eq!(desk.invoice("c-1").unwrap(), None);
/// ```
#[derive(Clone)]
pub struct InvoiceDesk {
    invoices: DocumentStore,
    payloads: BlobStore,
}

impl InvoiceDesk {
    /// A desk with no invoices, reading claim-checked bodies from `payloads`.
    pub fn new(sim: &Sim, payloads: &BlobStore) -> InvoiceDesk {
        InvoiceDesk {
            invoices: DocumentStore::new(sim, INVOICES_STORE),
            payloads: payloads.clone(),
        }
    }

    /// Adds the desk to the world as the endpoint of [`INVOICES_QUEUE`].
    pub fn add_to(&self, world: &mut World) {
        let desk = self.clone();
        world.add_endpoint(
            INVOICES_QUEUE,
            move |_ctx: &mut HandlerContext, message: &Envelope| desk.handle(message),
        );
    }

    /// Handles one `InvoiceData`: keeps the invoice (the first one of an
    /// order wins), then consumes the claim-checked body.
    pub fn handle(&self, message: &Envelope) -> Result<(), HandlerError> {
        let Some(data) = claim_check::open::<InvoiceData>(&self.payloads, message)? else {
            return Ok(()); // consumed already: a copy
        };
        let order = data.order_id.clone();
        let invoice = Invoice {
            message: message.id,
            data,
        };
        match self
            .invoices
            .put(&order, "invoice", &invoice, Condition::CreateOnly)
        {
            Ok(_) => {}
            Err(err) if err.is_conflict() => {} // kept already, by an earlier copy
            Err(err) => return Err(err.into()),
        }
        claim_check::consume(&self.payloads, message)?;
        Ok(())
    }

    /// The invoice of `order_id`, if Billing has one.
    pub fn invoice(&self, order_id: &str) -> Result<Option<Invoice>, Error> {
        let found = self.invoices.get::<Invoice>(order_id, "invoice")?;
        Ok(found.map(|document| document.value))
    }
}
