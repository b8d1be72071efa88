//! The deduplication store (an inbox): the ids of the requests Orders has
//! handled, one small item each, outside the order (`kv.processed.*`), in
//! the partition of the order. Dedup data is simple and plentiful: keep it
//! where storage is cheap, not in the entity, whose size is limited.
//!
//! It keeps no history of its own and makes no promise about reads: over a
//! store with stale reads ([`Consistency::Stale`]) it may say "never seen"
//! right after a mark. Which stores to trust with it is the lesson's call
//! (exercise 12). Nor does it keep ids for ever, if it is told not to
//! ([`DedupStore::with_retention`], exercise 14): a copy that comes after
//! the retention window finds nothing.

use std::time::Duration;

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
    /// How long a mark lasts; `None`: for ever.
    retention: Option<Duration>,
}

impl DedupStore {
    /// An empty deduplication store whose reads have `consistency`.
    pub fn new(sim: &Sim, consistency: Consistency) -> DedupStore {
        DedupStore {
            store: DocumentStore::new(sim, DEDUP_STORE).with_consistency(consistency),
            consistency,
            retention: None,
        }
    }

    /// The same store, whose marks expire `retention` after they are
    /// written (a time to live, as real stores offer): "keep the ids for a
    /// week and hope".
    pub fn with_retention(self, retention: Duration) -> DedupStore {
        DedupStore {
            retention: Some(retention),
            ..self
        }
    }

    /// How long a mark lasts; `None`: for ever.
    pub fn retention(&self) -> Option<Duration> {
        self.retention
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
        let always = Condition::Always;
        match self.retention {
            None => self.store.put(order_id, request_id, &true, always)?,
            Some(ttl) => self
                .store
                .put_expiring(order_id, request_id, &true, always, ttl)?,
        };
        Ok(())
    }

    /// The store underneath (for the tests and the reports).
    pub fn store(&self) -> &DocumentStore {
        &self.store
    }
}
