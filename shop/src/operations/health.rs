//! Health checks per component, as the deck's "Health checks" slide asks:
//!
//! - **liveness** is trivial: the component answers. It depends on nothing,
//!   so a blinking database never gets every worker restarted;
//! - **readiness** is honest and read-only: each of the component's stores
//!   answers a read (a `select 1`, a get of a key nobody writes, a blob
//!   nobody stores) and its queue is declared. Never a write, never a
//!   message: a health check must not take or make work;
//! - **lag** comes from the queue status (the age of the oldest ready
//!   message), reported, not judged: a component can be live and ready while
//!   its oldest message is an hour old. The alerts judge it (see
//!   [`super::StatusReport`]).
//!
//! A probe goes through the store's fault points like any other read, so an
//! injected fault makes the component not ready, as a real outage would. A
//! status read in the middle of a run therefore takes part in it: read it at
//! the end of a run, or at the same point every run.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use harness::{BlobStore, Broker, DocumentStore, SqlStore};

/// A read-only check of one dependency: `Ok` when it answers.
type Probe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A component of the system whose health the status report checks: a
/// name, the queue it consumes (for its lag), and the stores it needs.
///
/// ```
/// use harness::{Broker, Sim, SqlStore};
/// use shop::operations::Component;
///
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// broker.declare_queue("orders");
/// let orders = Component::new("orders")
///     .consuming("orders")
///     .reading_sql(&SqlStore::in_memory(&sim, "orders"));
/// let health = orders.check(&broker);
/// assert!(health.live);
/// assert_eq!(health.ready, Ok(()));
/// assert_eq!(health.to_string(), "orders: live, ready, no lag");
/// ```
#[derive(Clone)]
pub struct Component {
    name: String,
    queue: Option<String>,
    probes: Vec<(String, Probe)>,
}

impl Component {
    /// A component with no queue and no stores: always ready.
    pub fn new(name: &str) -> Component {
        Component {
            name: name.to_string(),
            queue: None,
            probes: Vec::new(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue it consumes: it must be declared for the component to be
    /// ready, and its oldest ready message is the component's lag.
    pub fn consuming(mut self, queue: &str) -> Component {
        self.queue = Some(queue.to_string());
        self
    }

    /// Needs this SQL database: ready when it answers `select 1`.
    pub fn reading_sql(self, store: &SqlStore) -> Component {
        let store = store.clone();
        let what = format!("database {}", store.name());
        self.probing(&what, move || {
            store
                .query_row("select 1", [], |row| row.get::<_, i64>(0))
                .map(|_| ())
                .map_err(|err| err.to_string())
        })
    }

    /// Needs this document store: ready when it answers a read of a key
    /// nobody writes.
    pub fn reading_documents(self, store: &DocumentStore) -> Component {
        let store = store.clone();
        let what = format!("document store {}", store.name());
        self.probing(&what, move || {
            store
                .get::<serde_json::Value>("health", "probe")
                .map(|_| ())
                .map_err(|err| err.to_string())
        })
    }

    /// Needs this blob store: ready when it answers a read of a blob nobody
    /// stores.
    pub fn reading_blobs(self, store: &BlobStore) -> Component {
        let store = store.clone();
        let what = format!("blob store {}", store.name());
        self.probing(&what, move || {
            store
                .get("health/probe")
                .map(|_| ())
                .map_err(|err| err.to_string())
        })
    }

    /// Needs `what`, checked by `probe`, which must only read (an HTTP
    /// `GET` of a health endpoint, a query): a probe that writes or sends
    /// makes work out of a health check.
    pub fn probing(
        mut self,
        what: &str,
        probe: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Component {
        self.probes.push((what.to_string(), Arc::new(probe)));
        self
    }

    /// Checks it now: liveness, readiness (its queue is declared, every
    /// probe answers; the first that does not says why) and lag.
    pub fn check(&self, broker: &Broker) -> Health {
        let status = self
            .queue
            .as_deref()
            .map(|queue| broker.queue_status(queue));
        let ready = match &status {
            Some(Err(err)) => Err(format!("its queue: {err}")),
            Some(Ok(_)) | None => self.probe(),
        };
        let lag = match status {
            Some(Ok(status)) => status.oldest_ready_age,
            Some(Err(_)) | None => None,
        };
        Health {
            component: self.name.clone(),
            live: true,
            ready,
            lag,
        }
    }

    fn probe(&self) -> Result<(), String> {
        for (what, probe) in &self.probes {
            probe().map_err(|why| format!("{what}: {why}"))?;
        }
        Ok(())
    }
}

/// The health of one component, from [`Component::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The component.
    pub component: String,
    /// It answers (always, in the simulation: liveness depends on nothing).
    pub live: bool,
    /// It can do useful work now, or why not.
    pub ready: Result<(), String>,
    /// How long the oldest ready message of its queue has waited (`None`
    /// when nothing waits, or it consumes no queue).
    pub lag: Option<Duration>,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live = if self.live { "live" } else { "not live" };
        write!(f, "{}: {live}, ", self.component)?;
        match &self.ready {
            Ok(()) => write!(f, "ready, ")?,
            Err(why) => write!(f, "not ready ({why}), ")?,
        }
        match self.lag {
            Some(lag) => write!(f, "lag {}", seconds(lag)),
            None => write!(f, "no lag"),
        }
    }
}

/// `95.000s`, as the simulated clock writes times.
pub(super) fn seconds(duration: Duration) -> String {
    format!("{}.{:03}s", duration.as_secs(), duration.subsec_millis())
}
