//! The outbox documents (Part D, exercise 13): the messages of one
//! transaction, staged in a document of their own before the order points
//! to them (`kv.outbox.*`).
//!
//! They live in their own container, partitioned by order: a container
//! with its own throughput and its own item limit, where a big message
//! costs the order nothing. No batch spans two containers, so staging a
//! transaction and committing the order are two writes: the order's
//! pointer, written if-match, is the only commit.

use harness::{Condition, DocumentStore, Error, Sim};

use crate::outbox::Outbound;

/// The name of the outbox documents' store (fault points `kv.outbox.*`).
pub const OUTBOX_STORE: &str = "outbox";

/// The staged messages of transactions, one document per transaction, in
/// the partition of their order. Cheap to clone: clones share the store.
///
/// ```
/// use harness::Sim;
/// use shop::orders::kv::OutboxDocuments;
///
/// let outbox = OutboxDocuments::new(&Sim::new(1));
/// let tx_id = outbox.new_transaction_id();
/// outbox.stage("c-1", &tx_id, &[]).unwrap();
/// assert_eq!(outbox.load("c-1", &tx_id).unwrap(), Some(vec![]));
/// outbox.delete("c-1", &tx_id).unwrap();
/// assert_eq!(outbox.load("c-1", &tx_id).unwrap(), None);
/// ```
#[derive(Clone)]
pub struct OutboxDocuments {
    sim: Sim,
    store: DocumentStore,
}

impl OutboxDocuments {
    /// An empty store of outbox documents.
    pub fn new(sim: &Sim) -> OutboxDocuments {
        OutboxDocuments {
            sim: sim.clone(),
            store: DocumentStore::new(sim, OUTBOX_STORE),
        }
    }

    /// A new transaction id (a UUID), never used before.
    pub fn new_transaction_id(&self) -> String {
        self.sim.new_uuid().to_string()
    }

    /// Stages `messages` as transaction `tx_id` of order `order_id` (one
    /// create-only write: a transaction is staged once, never changed).
    pub fn stage(&self, order_id: &str, tx_id: &str, messages: &[Outbound]) -> Result<(), Error> {
        self.store
            .put(order_id, tx_id, &messages, Condition::CreateOnly)?;
        Ok(())
    }

    /// The messages staged as transaction `tx_id`, or `None` if there is no
    /// such document (never staged, or deleted once its messages were out).
    pub fn load(&self, order_id: &str, tx_id: &str) -> Result<Option<Vec<Outbound>>, Error> {
        let found = self.store.get::<Vec<Outbound>>(order_id, tx_id)?;
        Ok(found.map(|document| document.value))
    }

    /// Deletes transaction `tx_id`'s document (deleting it twice is
    /// harmless).
    pub fn delete(&self, order_id: &str, tx_id: &str) -> Result<(), Error> {
        self.store.delete(order_id, tx_id, Condition::Always)
    }

    /// Every document staged for order `order_id`, by transaction id (for
    /// the tests and the reports).
    pub fn staged(&self, order_id: &str) -> Result<Vec<(String, Vec<Outbound>)>, Error> {
        let found = self.store.list::<Vec<Outbound>>(order_id)?;
        Ok(found
            .into_iter()
            .map(|(tx_id, document)| (tx_id, document.value))
            .collect())
    }

    /// The store underneath (for the tests and the reports).
    pub fn store(&self) -> &DocumentStore {
        &self.store
    }
}
