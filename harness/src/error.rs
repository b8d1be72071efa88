//! One error type for the whole simulated cloud, with messages in the course's
//! words: each says what went wrong and what it means for the caller.

use std::fmt;
use std::sync::Arc;

use crate::{Condition, Version};

/// Everything a simulated component can refuse or fail with.
///
/// ```
/// use harness::{Condition, Version};
/// let err = harness::Error::Conflict {
///     store: "carts".into(),
///     key: "alice/cart-1".into(),
///     expected: Condition::IfMatch(Version(3)),
///     actual: Some(Version(4)),
/// };
/// assert!(err.to_string().contains("expected v3"));
/// assert!(err.is_conflict());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A fault injected at a named fault point.
    Injected {
        /// The fault point, such as `kv.carts.batch`.
        point: String,
        /// True when the operation took effect before the error was raised
        /// (the caller cannot tell this from a failure before the effect).
        effect_applied: bool,
    },
    /// An optimistic-concurrency check failed: somebody else wrote first.
    Conflict {
        /// The store.
        store: String,
        /// The key, as `partition/id`.
        key: String,
        /// The writer's condition: that the item had a version (`v3`), or
        /// did not exist yet (`absent`).
        expected: Condition,
        /// The version the store holds (`None`: the item is absent).
        actual: Option<Version>,
    },
    /// A message, item or blob exceeds its component's size limit.
    TooLarge {
        /// What was too large: `message SubmitOrder`, `item carts/alice/cart-1` …
        what: String,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A queue, topic, endpoint or store name that nobody declared.
    Unknown {
        /// `queue`, `endpoint`, `topic` …
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names that do exist.
        known: Vec<String>,
    },
    /// The key, blob or resource does not exist.
    NotFound {
        /// The store or service.
        store: String,
        /// The key asked for.
        key: String,
    },
    /// A message body or stored item does not have the expected shape.
    BadBody {
        /// The message type or item key.
        message_type: String,
        /// What serde said.
        reason: String,
    },
    /// The lease on a delivery ran out before it was acknowledged: the
    /// message has been (or will be) handed to another worker.
    LeaseExpired {
        /// The queue.
        queue: String,
        /// The message, as its trace label.
        message: String,
    },
    /// The world was still busy after its step bound.
    StillBusy {
        /// How many steps ran.
        steps: usize,
        /// What was still pending, e.g. `2 messages in orders`.
        pending: String,
    },
    /// A delivery (or a bounded call, see [`crate::Sim::bounded`]) never
    /// finished: it kept calling the simulated cloud past its budget
    /// (see [`crate::World::set_delivery_budget`]).
    Runaway {
        /// Who ran away: `the handler of endpoint orders`.
        who: String,
        /// The message it was handling (`AddItem(m3)`), or empty.
        message: String,
        /// The calls it made.
        calls: u64,
        /// Where it was refused another: a fault point such as `kv.orders.put`.
        last_call: String,
    },
    /// A create refused because a row with the same primary or unique key
    /// exists already: how primary-key deduplication recognises a duplicate.
    DuplicateKey {
        /// The SQL store.
        store: String,
        /// Which key, in SQLite's words, such as `orders.id`.
        key: String,
    },
    /// A replayed run (an explorer schedule, or `HARNESS_SCRIPT`) met a
    /// choice other than the one the run it replays made at that point: the
    /// run is not deterministic, so no schedule can be trusted to replay.
    NotDeterministic {
        /// Which choice of the run, counted from 1.
        choice: usize,
        /// How many steps of the trace came before it.
        step: u64,
        /// What the earlier run decided there, and after which steps.
        expected: String,
        /// What this run met instead.
        found: String,
    },
    /// An error from SQLite, or a SQL store refusing: what went wrong, in
    /// the store's words. SQLite's own error, when there is one, is its
    /// [`std::error::Error::source`].
    ///
    /// ```
    /// use std::error::Error as _;
    /// let sim = harness::Sim::new(1);
    /// let db = harness::SqlStore::in_memory(&sim, "shop");
    /// let err = db.execute("select * from nowhere", []).unwrap_err();
    /// assert!(err.to_string().starts_with("SQL error: no such table: nowhere"));
    /// let sqlite = err.source().unwrap().downcast_ref::<rusqlite::Error>().unwrap();
    /// assert!(matches!(sqlite, rusqlite::Error::SqliteFailure(..)));
    /// ```
    Sql {
        /// What went wrong, with the store's name.
        reason: String,
        /// SQLite's error, if SQLite raised it.
        cause: Option<SqliteError>,
    },
    /// An error from the HTTP layer, the file system, or anything else.
    Other(String),
}

impl Error {
    /// True for an optimistic-concurrency conflict (reload and try again)
    /// and for a create refused because the key exists already (in a
    /// document store or as a duplicate primary key in a SQL store).
    ///
    /// ```
    /// assert!(!harness::Error::Other("x".into()).is_conflict());
    /// let duplicate = harness::Error::DuplicateKey { store: "orders".into(), key: "orders.id".into() };
    /// assert!(duplicate.is_conflict());
    /// ```
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. } | Error::DuplicateKey { .. })
    }

    /// True for a fault the simulation injected (as opposed to a refusal).
    ///
    /// ```
    /// let err = harness::Error::Injected { point: "broker.orders.send".into(), effect_applied: false };
    /// assert!(err.is_injected());
    /// ```
    pub fn is_injected(&self) -> bool {
        matches!(self, Error::Injected { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Injected {
                point,
                effect_applied: true,
            } => write!(
                f,
                "simulated failure at {point} after the operation took effect \
                 (the change happened, but the caller was told it failed)"
            ),
            Error::Injected {
                point,
                effect_applied: false,
            } => write!(
                f,
                "simulated failure at {point} before the operation took effect (nothing changed)"
            ),
            Error::Conflict {
                store,
                key,
                expected,
                actual,
            } => write!(
                f,
                "version conflict on {store}/{key}: the write expected {expected} but the store \
                 holds {} (someone else wrote it since you read it; reload and decide again)",
                version_or_absent(*actual)
            ),
            Error::TooLarge { what, size, limit } => write!(
                f,
                "{what} is {size} bytes, over the limit of {limit} bytes \
                 (store large payloads elsewhere and send a reference)"
            ),
            Error::Unknown { kind, name, known } => {
                write!(f, "unknown {kind} `{name}`")?;
                if known.is_empty() {
                    write!(f, " (none is declared)")
                } else {
                    write!(f, " (known: {})", known.join(", "))
                }
            }
            Error::NotFound { store, key } => write!(f, "{store}/{key} does not exist"),
            Error::BadBody {
                message_type,
                reason,
            } => {
                write!(
                    f,
                    "{message_type} does not have the expected shape: {reason}"
                )
            }
            Error::LeaseExpired { queue, message } => write!(
                f,
                "the lease on {message} from queue {queue} expired before it was acknowledged: \
                 the broker has handed it to another worker"
            ),
            Error::StillBusy { steps, pending } => write!(
                f,
                "still busy after {steps} steps ({pending}): probably a handler that loops \
                 inside one delivery (one far into its calls), a message that fails forever \
                 and is never dead-lettered, or handlers that keep sending each other \
                 messages; raise the bound only if the scenario really needs more steps"
            ),
            Error::Runaway {
                who,
                message,
                calls,
                last_call,
            } => {
                write!(f, "{who} never finished")?;
                if !message.is_empty() {
                    write!(f, " {message}")?;
                }
                write!(
                    f,
                    ": it made {calls} calls to the simulated cloud without returning (the last \
                     at {last_call}) — a loop that retries for ever? Fail instead (return the \
                     error) and let the broker redeliver: it dead-letters a message once its \
                     attempts are used up"
                )
            }
            Error::DuplicateKey { store, key } => write!(
                f,
                "a row with this key exists already in SQL store {store} ({key} must be unique): \
                 if the key identifies the work, this is a duplicate and it was done before"
            ),
            Error::NotDeterministic {
                choice,
                step,
                expected,
                found,
            } => write!(
                f,
                "the run is not deterministic: at choice {choice} (after step {step}) the replay \
                 expected {expected}, but found {found}. The same seed and schedule must give the \
                 same run, step for step; something in the code under test changes from run to \
                 run. The usual sources: iterating a HashMap or HashSet (its order changes from \
                 run to run: use a BTreeMap, or sort), random ids (Uuid::new_v4, rand: take them \
                 from the simulation, sim.new_uuid() or ctx.new_message_id()), the wall clock \
                 (SystemTime::now, Instant::now: use sim.now()), and threads outside the world \
                 (std::thread::spawn, an async runtime: let the world run the work)"
            ),
            Error::Sql { reason, .. } => write!(f, "SQL error: {reason}"),
            Error::Other(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sql {
                cause: Some(cause), ..
            } => Some(cause.sqlite()),
            _ => None,
        }
    }
}

impl Error {
    /// A SQL store refusing, with no error from SQLite behind it.
    pub(crate) fn sql(reason: impl Into<String>) -> Error {
        Error::Sql {
            reason: reason.into(),
            cause: None,
        }
    }

    /// SQLite's error `err`, told as `reason`.
    pub(crate) fn sqlite(reason: impl Into<String>, err: rusqlite::Error) -> Error {
        Error::Sql {
            reason: reason.into(),
            cause: Some(SqliteError(Arc::new(err))),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Error {
        Error::sqlite(err.to_string(), err)
    }
}

/// SQLite's own error behind an [`Error::Sql`], shared so that the error
/// stays cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteError(Arc<rusqlite::Error>);

impl SqliteError {
    /// The error as rusqlite gave it.
    pub fn sqlite(&self) -> &rusqlite::Error {
        &self.0
    }
}

/// Two SQLite errors are the same when they say the same (rusqlite's own
/// comparison says "different" for some errors compared with themselves).
impl PartialEq for SqliteError {
    fn eq(&self, other: &SqliteError) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for SqliteError {}

/// A version as the course's messages say it: `v4`, or `absent`.
pub(crate) fn version_or_absent(version: Option<Version>) -> String {
    version.map_or("absent".to_string(), |version| version.to_string())
}
