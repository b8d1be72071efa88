//! The deduplication store (an inbox): the ids of the requests Orders has
//! handled, one small item each, outside the order (`kv.processed.*`), in
//! the partition of the order. Dedup data is simple and plentiful: keep it
//! where storage is cheap, not in the entity, whose size is limited.
//!
//! It keeps no history of its own and makes no promise about reads: over a
//! store with stale reads ([`Consistency::Stale`]) it may say "never seen"
//! right after a mark. Which stores to trust with it is the lesson's call
//! (exercise 12).

use harness::{Condition, Consistency, DocumentStore, Error, Sim};

/// The name of the deduplication store (fault points `kv.processed.*`).
pub const DEDUP_STORE: &str = "processed";

/// The ids of handled requests, by order. Cheap to clone: clones share the
/// store.
///
/// ```
/// use harness::{Consistency, Sim};
/// use shop::orders::kv::DedupStore;
///
/// let dedup = DedupStore::new(&Sim::new(1), Consistency::Strong);
/// assert!(!dedup.has_been_processed("c-1", "r-1").unwrap());
/// dedup.mark_processed("c-1", "r-1").unwrap();
/// assert!(dedup.has_been_processed("c-1", "r-1").unwrap());
/// ```
#[derive(Clone)]
pub struct DedupStore {
    store: DocumentStore,
    consistency: Consistency,
}

impl DedupStore {
    /// An empty deduplication store whose reads have `consistency`.
    pub fn new(sim: &Sim, consistency: Consistency) -> DedupStore {
        DedupStore {
            store: DocumentStore::new(sim, DEDUP_STORE).with_consistency(consistency),
            consistency,
        }
    }

    /// How fresh its reads are.
    pub fn consistency(&self) -> Consistency {
        self.consistency
    }

    /// Whether the request `request_id` of order `order_id` was marked
    /// processed (one read).
    pub fn has_been_processed(&self, order_id: &str, request_id: &str) -> Result<bool, Error> {
        Ok(self.store.get::<bool>(order_id, request_id)?.is_some())
    }

    /// Marks the request processed (one write; marking twice is harmless:
    /// the mark adds no information).
    pub fn mark_processed(&self, order_id: &str, request_id: &str) -> Result<(), Error> {
        self.store
            .put(order_id, request_id, &true, Condition::Always)?;
        Ok(())
    }

    /// The store underneath (for the tests and the reports).
    pub fn store(&self) -> &DocumentStore {
        &self.store
    }
}
