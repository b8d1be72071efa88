//! A document (key-value) store with the semantics of Cosmos DB and DynamoDB
//! that matter for exactly-once: items live in partitions, every item has a
//! version (its ETag), writes can be conditional on that version, a batch is
//! atomic only within one partition, items have a maximum size and may expire.
//!
//! Fault points: `kv.<store>.get`, `kv.<store>.put`, `kv.<store>.delete` and
//! `kv.<store>.batch`, with [`Fault::FailBefore`](crate::Fault::FailBefore), [`Fault::FailAfter`](crate::Fault::FailAfter) and
//! [`Fault::Delay`](crate::Fault::Delay) (a duplicated or dropped store call means nothing, so
//! those faults are ignored here).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::sim::{Restore, Saved};
use crate::{Error, EventKind, FaultPoint, Sim, SimTime};

/// The version of a stored item (its ETag). A new item has version 1; every
/// write adds one.
///
/// ```
/// assert_eq!(harness::Version(3).to_string(), "v3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// When a write may happen.
///
/// ```
/// use harness::{Condition, Version};
/// let update = Condition::IfMatch(Version(2));
/// assert_eq!(update.to_string(), "v2");
/// assert_eq!(Condition::CreateOnly.to_string(), "absent");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Only if the item does not exist yet.
    CreateOnly,
    /// Only if the item still has this version (nobody wrote since we read).
    IfMatch(Version),
    /// Whatever is there: last writer wins.
    Always,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::CreateOnly => f.write_str("absent"),
            Condition::IfMatch(version) => version.fmt(f),
            Condition::Always => f.write_str("any"),
        }
    }
}

/// An item read from the store, with the version to pass to the next write.
///
/// ```
/// use harness::{Condition, DocumentStore, Sim};
/// let store = DocumentStore::new(&Sim::new(1), "carts");
/// store.put("alice", "cart-1", &vec!["Ruskie"], Condition::CreateOnly).unwrap();
/// let cart = store.get::<Vec<String>>("alice", "cart-1").unwrap().unwrap();
/// assert_eq!(cart.value, ["Ruskie"]);
/// assert_eq!(cart.version.0, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document<T> {
    /// The item.
    pub value: T,
    /// Its version when it was read.
    pub version: Version,
}

/// How fresh reads are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Every read sees the latest write.
    Strong,
    /// A read may return the previous version of an item written less than
    /// `lag` ago (the chooser decides, so the explorer tries both).
    Stale {
        /// How long a write may stay invisible.
        lag: Duration,
    },
}

#[derive(Clone, Debug)]
struct Item {
    value: Value,
    version: u64,
    written_at: SimTime,
    expires_at: Option<SimTime>,
    /// What a stale read may still return: the value before the last write
    /// (`None` inside when the item did not exist).
    previous: Option<Option<(Value, u64)>>,
}

impl Item {
    fn is_live(&self, now: SimTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Clone)]
struct Shelves {
    items: BTreeMap<(String, String), Item>,
    max_item_bytes: usize,
    consistency: Consistency,
}

/// The documents are what a setup leaves in a document store (see
/// [`Sim::same_in_every_schedule`]).
impl Restore for Mutex<Shelves> {
    fn describe(&self) -> String {
        "a document store".to_string()
    }

    fn save(&self) -> Result<Saved, String> {
        let shelves = self.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(Box::new(shelves.clone()))
    }

    fn restore(&self, saved: &Saved) {
        let saved: &Shelves = saved
            .downcast_ref()
            .expect("a document store's saved state");
        *self.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = saved.clone();
    }
}

/// One container of a document store. Cheap to clone: clones share the data.
///
/// ```
/// use harness::{Condition, DocumentStore, Sim};
///
/// let sim = Sim::new(1);
/// let carts = DocumentStore::new(&sim, "carts");
/// let v1 = carts.put("alice", "cart-1", &"open", Condition::CreateOnly).unwrap();
/// // A write that expects an old version is refused: someone wrote since.
/// carts.put("alice", "cart-1", &"submitted", Condition::IfMatch(v1)).unwrap();
/// let err = carts.put("alice", "cart-1", &"again", Condition::IfMatch(v1)).unwrap_err();
/// assert!(err.is_conflict());
/// ```
#[derive(Clone)]
pub struct DocumentStore {
    sim: Sim,
    name: String,
    shelves: Arc<Mutex<Shelves>>,
}

/// The default maximum item size: 400 KB, as in DynamoDB.
pub const DEFAULT_MAX_ITEM_BYTES: usize = 400 * 1024;

impl DocumentStore {
    /// An empty container called `name` (fault points `kv.<name>.*`), with
    /// strong consistency and items up to 400 KB.
    ///
    /// ```
    /// let store = harness::DocumentStore::new(&harness::Sim::new(1), "orders");
    /// assert_eq!(store.name(), "orders");
    /// ```
    pub fn new(sim: &Sim, name: &str) -> DocumentStore {
        let store = DocumentStore {
            sim: sim.clone(),
            name: name.to_string(),
            shelves: Arc::new(Mutex::new(Shelves {
                items: BTreeMap::new(),
                max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
                consistency: Consistency::Strong,
            })),
        };
        let part = Arc::downgrade(&store.shelves);
        sim.register(part);
        store
    }

    /// The same store with another maximum item size.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "orders").with_max_item_bytes(16);
    /// let err = store.put("p", "big", &"x".repeat(100), Condition::Always).unwrap_err();
    /// assert!(err.to_string().contains("over the limit of 16 bytes"));
    /// ```
    pub fn with_max_item_bytes(self, limit: usize) -> DocumentStore {
        self.lock().max_item_bytes = limit;
        self
    }

    /// The same store with another read consistency.
    ///
    /// ```
    /// use harness::{Consistency, DocumentStore, Sim};
    /// let lag = std::time::Duration::from_secs(1);
    /// let store = DocumentStore::new(&Sim::new(1), "inbox").with_consistency(Consistency::Stale { lag });
    /// ```
    pub fn with_consistency(self, consistency: Consistency) -> DocumentStore {
        self.lock().consistency = consistency;
        self
    }

    /// The container's name.
    ///
    /// ```
    /// assert_eq!(harness::DocumentStore::new(&harness::Sim::new(1), "x").name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, Shelves> {
        self.shelves
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads an item; `Ok(None)` when it does not exist (or has expired).
    ///
    /// ```
    /// use harness::{DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "carts");
    /// assert!(store.get::<String>("alice", "nothing").unwrap().is_none());
    /// ```
    pub fn get<T: DeserializeOwned>(
        &self,
        partition: &str,
        id: &str,
    ) -> Result<Option<Document<T>>, Error> {
        let key = item_key(partition, id);
        self.before(
            FaultPoint::new("kv", &self.name, "get").with_key(&key),
            false,
        )?;
        let found = self.read_raw(partition, id);
        let version = found.as_ref().map(|(_, version)| *version);
        self.sim.record(EventKind::Read {
            store: self.name.clone(),
            key: key.clone(),
            version,
        });
        match found {
            None => Ok(None),
            Some((value, version)) => Ok(Some(Document {
                value: decode(&key, value)?,
                version: Version(version),
            })),
        }
    }

    /// The value a read sees, honouring expiry and stale reads.
    fn read_raw(&self, partition: &str, id: &str) -> Option<(Value, u64)> {
        let now = self.sim.now();
        let (latest, previous, consistency) = {
            let shelves = self.lock();
            let item = shelves
                .items
                .get(&(partition.to_string(), id.to_string()))
                .filter(|item| item.is_live(now))?;
            let recent_previous = match shelves.consistency {
                Consistency::Stale { lag } if now.since(item.written_at) < lag => {
                    item.previous.clone()
                }
                _ => None,
            };
            (
                (item.value.clone(), item.version),
                recent_previous,
                shelves.consistency,
            )
        };
        match (previous, consistency) {
            (Some(stale), Consistency::Stale { .. }) => {
                let label = format!("stale read of {}", item_key(partition, id));
                if self.sim.choose(&label, 2) == 1 {
                    stale
                } else {
                    Some(latest)
                }
            }
            _ => Some(latest),
        }
    }

    /// Every live item of a partition, by id.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "orders");
    /// store.put("alice", "o-1", &1, Condition::Always).unwrap();
    /// store.put("alice", "o-2", &2, Condition::Always).unwrap();
    /// store.put("bob", "o-3", &3, Condition::Always).unwrap();
    /// let alice = store.list::<i32>("alice").unwrap();
    /// assert_eq!(alice.len(), 2);
    /// assert_eq!(alice[0].0, "o-1");
    /// ```
    pub fn list<T: DeserializeOwned>(
        &self,
        partition: &str,
    ) -> Result<Vec<(String, Document<T>)>, Error> {
        self.before(
            FaultPoint::new("kv", &self.name, "list").with_key(partition),
            false,
        )?;
        let now = self.sim.now();
        let items: Vec<(String, Value, u64)> = {
            let shelves = self.lock();
            shelves
                .items
                .iter()
                .filter(|((p, _), item)| p == partition && item.is_live(now))
                .map(|((_, id), item)| (id.clone(), item.value.clone(), item.version))
                .collect()
        };
        items
            .into_iter()
            .map(|(id, value, version)| {
                let value = decode(&item_key(partition, &id), value)?;
                Ok((
                    id,
                    Document {
                        value,
                        version: Version(version),
                    },
                ))
            })
            .collect()
    }

    /// How many live items the store holds, in all partitions. For tests.
    ///
    /// ```
    /// assert_eq!(harness::DocumentStore::new(&harness::Sim::new(1), "x").len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        let now = self.sim.now();
        self.lock()
            .items
            .values()
            .filter(|item| item.is_live(now))
            .count()
    }

    /// The `(partition, id)` of every live item, in key order. For tests
    /// and reports: no fault point, no trace event.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "tokens");
    /// store.put("t-1", "billing", &(), Condition::CreateOnly).unwrap();
    /// assert_eq!(store.keys(), [("t-1".to_string(), "billing".to_string())]);
    /// ```
    pub fn keys(&self) -> Vec<(String, String)> {
        let now = self.sim.now();
        self.lock()
            .items
            .iter()
            .filter(|(_, item)| item.is_live(now))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// True when the store holds no live item.
    ///
    /// ```
    /// assert!(harness::DocumentStore::new(&harness::Sim::new(1), "x").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes one item if `condition` holds; returns its new version.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "orders");
    /// store.put("alice", "o-1", &"new", Condition::CreateOnly).unwrap();
    /// // Creating it again is refused: create-only is how a primary key dedups.
    /// assert!(store.put("alice", "o-1", &"new", Condition::CreateOnly).unwrap_err().is_conflict());
    /// ```
    pub fn put<T: Serialize>(
        &self,
        partition: &str,
        id: &str,
        value: &T,
        condition: Condition,
    ) -> Result<Version, Error> {
        let mut batch = self.batch(partition);
        batch.put(id, value, condition);
        let versions = batch.commit_as("put")?;
        Ok(versions[0].unwrap_or(Version(0)))
    }

    /// Writes one item that disappears `ttl` after the write (simulated time).
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// use std::time::Duration;
    /// let sim = Sim::new(1);
    /// let store = DocumentStore::new(&sim, "dedup");
    /// store.put_expiring("p", "m-1", &true, Condition::CreateOnly, Duration::from_secs(60)).unwrap();
    /// sim.advance(Duration::from_secs(61));
    /// assert!(store.get::<bool>("p", "m-1").unwrap().is_none());
    /// ```
    pub fn put_expiring<T: Serialize>(
        &self,
        partition: &str,
        id: &str,
        value: &T,
        condition: Condition,
        ttl: Duration,
    ) -> Result<Version, Error> {
        let mut batch = self.batch(partition);
        batch.put_expiring(id, value, condition, ttl);
        let versions = batch.commit_as("put")?;
        Ok(versions[0].unwrap_or(Version(0)))
    }

    /// Deletes one item if `condition` holds (deleting an absent item with
    /// [`Condition::Always`] succeeds).
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "orders");
    /// let v = store.put("alice", "o-1", &1, Condition::CreateOnly).unwrap();
    /// store.delete("alice", "o-1", Condition::IfMatch(v)).unwrap();
    /// assert!(store.is_empty());
    /// ```
    pub fn delete(&self, partition: &str, id: &str, condition: Condition) -> Result<(), Error> {
        let mut batch = self.batch(partition);
        batch.delete(id, condition);
        batch.commit_as("delete").map(|_| ())
    }

    /// Starts an atomic batch of writes in one partition: either all of them
    /// happen or none does. There is no way to batch across partitions — that
    /// is the point: the real stores cannot do it either.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "shop");
    /// let cart = store.put("alice", "cart-1", &"open", Condition::CreateOnly).unwrap();
    ///
    /// let mut batch = store.batch("alice");
    /// batch.put("cart-1", &"submitted", Condition::IfMatch(cart));
    /// batch.put("order-1", &"new", Condition::CreateOnly);
    /// batch.commit().unwrap();
    /// assert_eq!(store.len(), 2);
    /// ```
    pub fn batch(&self, partition: &str) -> Batch<'_> {
        Batch {
            store: self,
            partition: partition.to_string(),
            operations: Vec::new(),
            error: None,
        }
    }

    /// Runs the fault point of an operation; `Ok(true)` means "apply, then
    /// report a failure" (fail after).
    fn before(&self, point: FaultPoint, can_fail_after: bool) -> Result<bool, Error> {
        self.sim.storage_fault(&point, can_fail_after)
    }

    /// Checks every condition and size, then applies every operation; all or nothing.
    fn apply(
        &self,
        partition: &str,
        operations: &[Operation],
    ) -> Result<Vec<Option<Version>>, Error> {
        let now = self.sim.now();
        let mut shelves = self.lock();
        for operation in operations {
            let key = (partition.to_string(), operation.id.clone());
            let current = shelves
                .items
                .get(&key)
                .filter(|item| item.is_live(now))
                .map(|item| item.version);
            if let Err(actual) = check(operation.condition, current) {
                drop(shelves);
                let item = item_key(partition, &operation.id);
                self.sim.record(EventKind::Conflict {
                    store: self.name.clone(),
                    key: item.clone(),
                    expected: operation.condition.to_string(),
                    actual: crate::error::version_or_absent(actual),
                });
                return Err(Error::Conflict {
                    store: self.name.clone(),
                    key: item,
                    expected: operation.condition,
                    actual,
                });
            }
            if let Some(value) = &operation.value {
                let size = value.to_string().len();
                if size > shelves.max_item_bytes {
                    return Err(Error::TooLarge {
                        what: format!("item {}/{}", self.name, item_key(partition, &operation.id)),
                        size,
                        limit: shelves.max_item_bytes,
                    });
                }
            }
        }
        let mut versions = Vec::new();
        for operation in operations {
            let key = (partition.to_string(), operation.id.clone());
            let previous = shelves
                .items
                .get(&key)
                .filter(|item| item.is_live(now))
                .map(|item| (item.value.clone(), item.version));
            let version = match &operation.value {
                Some(value) => {
                    let version = previous.as_ref().map_or(1, |(_, v)| v + 1);
                    let item = Item {
                        value: value.clone(),
                        version,
                        written_at: now,
                        expires_at: operation.ttl.map(|ttl| now + ttl),
                        previous: Some(previous),
                    };
                    shelves.items.insert(key, item);
                    Some(Version(version))
                }
                None => {
                    shelves.items.remove(&key);
                    None
                }
            };
            versions.push(version);
        }
        drop(shelves);
        for (operation, version) in operations.iter().zip(&versions) {
            self.sim.record(EventKind::Wrote {
                store: self.name.clone(),
                key: item_key(partition, &operation.id),
                version: version.map(|v| v.0),
            });
        }
        Ok(versions)
    }
}

/// `Err((expected, actual))` when `condition` does not hold for an item at `current`.
/// Whether a write under `condition` may happen to an item at version
/// `current` (`None`: absent); if not, the version the store holds.
fn check(condition: Condition, current: Option<u64>) -> Result<(), Option<Version>> {
    let holds = match (condition, current) {
        (Condition::Always, _) => true,
        (Condition::CreateOnly, None) => true,
        (Condition::CreateOnly, Some(_)) => false,
        (Condition::IfMatch(expected), Some(actual)) => expected.0 == actual,
        (Condition::IfMatch(_), None) => false,
    };
    if holds {
        return Ok(());
    }
    Err(current.map(Version))
}

fn item_key(partition: &str, id: &str) -> String {
    format!("{partition}/{id}")
}

fn decode<T: DeserializeOwned>(key: &str, value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|err| Error::BadBody {
        message_type: format!("item {key}"),
        reason: err.to_string(),
    })
}

struct Operation {
    id: String,
    /// `None` deletes.
    value: Option<Value>,
    condition: Condition,
    ttl: Option<Duration>,
}

/// An atomic batch of writes in one partition; see [`DocumentStore::batch`].
pub struct Batch<'a> {
    store: &'a DocumentStore,
    partition: String,
    operations: Vec<Operation>,
    error: Option<Error>,
}

impl Batch<'_> {
    /// Adds a write of `value` under `id`, if `condition` holds at commit.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "shop");
    /// let mut batch = store.batch("alice");
    /// batch.put("order-1", &"new", Condition::CreateOnly);
    /// batch.commit().unwrap();
    /// ```
    pub fn put<T: Serialize>(&mut self, id: &str, value: &T, condition: Condition) -> &mut Self {
        self.push(id, value, condition, None)
    }

    /// Adds a write that expires `ttl` after the commit.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "shop");
    /// let mut batch = store.batch("alice");
    /// batch.put_expiring("token-1", &true, Condition::CreateOnly, std::time::Duration::from_secs(5));
    /// batch.commit().unwrap();
    /// ```
    pub fn put_expiring<T: Serialize>(
        &mut self,
        id: &str,
        value: &T,
        condition: Condition,
        ttl: Duration,
    ) -> &mut Self {
        self.push(id, value, condition, Some(ttl))
    }

    /// Adds a delete of `id`, if `condition` holds at commit.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "shop");
    /// let mut batch = store.batch("alice");
    /// batch.delete("order-1", Condition::Always);
    /// batch.commit().unwrap();
    /// ```
    pub fn delete(&mut self, id: &str, condition: Condition) -> &mut Self {
        self.operations.push(Operation {
            id: id.to_string(),
            value: None,
            condition,
            ttl: None,
        });
        self
    }

    fn push<T: Serialize>(
        &mut self,
        id: &str,
        value: &T,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> &mut Self {
        match serde_json::to_value(value) {
            Ok(value) => self.operations.push(Operation {
                id: id.to_string(),
                value: Some(value),
                condition,
                ttl,
            }),
            Err(err) => {
                self.error.get_or_insert(Error::BadBody {
                    message_type: format!("item {}", item_key(&self.partition, id)),
                    reason: err.to_string(),
                });
            }
        }
        self
    }

    /// Applies every write of the batch, or none: if any condition fails,
    /// the whole batch is refused with that conflict. Returns the new version
    /// of each write (`None` for deletes), in order.
    ///
    /// ```
    /// use harness::{Condition, DocumentStore, Sim};
    /// let store = DocumentStore::new(&Sim::new(1), "shop");
    /// store.put("alice", "order-1", &"old", Condition::CreateOnly).unwrap();
    /// let mut batch = store.batch("alice");
    /// batch.put("cart-1", &"submitted", Condition::CreateOnly);
    /// batch.put("order-1", &"new", Condition::CreateOnly); // refused: it exists
    /// assert!(batch.commit().unwrap_err().is_conflict());
    /// assert_eq!(store.len(), 1); // the cart was not written either
    /// ```
    pub fn commit(self) -> Result<Vec<Option<Version>>, Error> {
        self.commit_as("batch")
    }

    fn commit_as(self, operation: &str) -> Result<Vec<Option<Version>>, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let key = match self.operations.as_slice() {
            [single] => item_key(&self.partition, &single.id),
            _ => self.partition.clone(),
        };
        let point = FaultPoint::new("kv", &self.store.name, operation).with_key(&key);
        let name = point.name.clone();
        let fail_after = self.store.before(point, true)?;
        let versions = self.store.apply(&self.partition, &self.operations)?;
        if fail_after {
            return Err(Error::Injected {
                point: name,
                effect_applied: true,
            });
        }
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultRule;

    #[test]
    fn fail_after_applies_the_write_and_reports_an_error() {
        let sim = Sim::new(1);
        let store = DocumentStore::new(&sim, "orders");
        sim.inject(FaultRule::at("kv.orders.put").fail_after());
        let err = store
            .put("p", "o-1", &1, Condition::CreateOnly)
            .unwrap_err();
        assert_eq!(
            err,
            Error::Injected {
                point: "kv.orders.put".into(),
                effect_applied: true
            }
        );
        assert_eq!(store.get::<i32>("p", "o-1").unwrap().unwrap().value, 1);
    }

    #[test]
    fn fail_before_leaves_the_store_untouched() {
        let sim = Sim::new(1);
        let store = DocumentStore::new(&sim, "orders");
        sim.inject(FaultRule::at("kv.orders.batch").fail_before());
        let mut batch = store.batch("p");
        batch
            .put("a", &1, Condition::Always)
            .put("b", &2, Condition::Always);
        assert!(batch.commit().unwrap_err().is_injected());
        assert!(store.is_empty());
    }

    #[test]
    fn a_conflict_names_both_versions() {
        let store = DocumentStore::new(&Sim::new(1), "carts");
        store.put("alice", "c", &1, Condition::CreateOnly).unwrap();
        store.put("alice", "c", &2, Condition::Always).unwrap();
        let err = store
            .put("alice", "c", &3, Condition::IfMatch(Version(1)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "version conflict on carts/alice/c: the write expected v1 but the store holds v2 \
             (someone else wrote it since you read it; reload and decide again)"
        );
    }

    #[test]
    fn stale_reads_may_return_the_previous_version_of_a_recent_write() {
        let sim = Sim::scripted(1, vec![1, 0]);
        let lag = Duration::from_secs(1);
        let store = DocumentStore::new(&sim, "inbox").with_consistency(Consistency::Stale { lag });
        store.put("p", "k", &"first", Condition::Always).unwrap();
        store.put("p", "k", &"second", Condition::Always).unwrap();
        assert_eq!(
            store.get::<String>("p", "k").unwrap().unwrap().value,
            "first"
        );
        assert_eq!(
            store.get::<String>("p", "k").unwrap().unwrap().value,
            "second"
        );
        sim.advance(lag);
        assert_eq!(
            store.get::<String>("p", "k").unwrap().unwrap().value,
            "second"
        );
    }

    #[test]
    fn an_interleaving_runs_between_read_and_write() {
        let sim = Sim::new(1);
        let store = DocumentStore::new(&sim, "carts");
        let v1 = store
            .put("alice", "c", &"open", Condition::CreateOnly)
            .unwrap();
        let other = store.clone();
        sim.inject(FaultRule::at("kv.carts.put").interleave(move || {
            other
                .put("alice", "c", &"tab 2", Condition::IfMatch(v1))
                .unwrap();
        }));
        let err = store
            .put("alice", "c", &"tab 1", Condition::IfMatch(v1))
            .unwrap_err();
        assert!(err.is_conflict());
        assert_eq!(
            store.get::<String>("alice", "c").unwrap().unwrap().value,
            "tab 2"
        );
    }
}
