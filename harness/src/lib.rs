//! # The harness: a deterministic simulated cloud
//!
//! Everything the workshop's exercises stand on: message queues, a relational
//! database, document stores, blob stores and HTTP, each with the semantics
//! that matter for exactly-once processing and a named fault point on every
//! operation. One [`Sim`] governs a run: its seed decides every random choice,
//! its clock is simulated (nothing sleeps), and its trace records every event
//! so that a failure can be explained, replayed and drawn.
//!
//! ```
//! use harness::{Condition, DocumentStore, FaultRule, Sim};
//!
//! let sim = Sim::new(7);
//! let carts = DocumentStore::new(&sim, "carts");
//! sim.inject(FaultRule::at("kv.carts.put").fail_after());
//! // The write happens, but the caller is told it failed.
//! assert!(carts.put("alice", "cart-1", &"open", Condition::CreateOnly).is_err());
//! assert_eq!(carts.len(), 1);
//! ```

pub mod blob;
mod broker;
mod budget;
mod clock;
mod coverage;
mod drift;
mod error;
mod explorer;
mod fault;
pub mod http;
mod invariants;
mod kv;
mod message;
pub mod report;
mod scheduler;
mod sim;
pub mod sql;
mod trace;
mod world;

pub use blob::BlobStore;
pub use broker::{
    Broker, DEFAULT_HISTORY_LIMIT, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_VISIBILITY_TIMEOUT, DeadLetter, Delivery, Finished, SentRecord,
};
pub use budget::{DEFAULT_DELIVERY_BUDGET, WATCHDOG_VARIABLE};
pub use clock::SimTime;
pub use coverage::{Coverage, PointCount, Sometimes};
pub use error::Error;
pub use explorer::{Explorer, Report, Scenario};
pub use fault::{
    Fault, FaultPoint, FaultRule, FaultRuleBuilder, Interleaving, PointFilter, RandomFaults,
};
pub use http::{HttpClient, HttpResponse, RunningServer, serve_on_loopback};
pub use invariants::{
    History, Output, Processed, Recording, StateChange, Violation, consistent_output,
    no_duplicate_effects, no_ghost_messages, no_lost_messages,
};
pub use kv::{
    Batch, Condition, Consistency, DEFAULT_MAX_ITEM_BYTES, Document, DocumentStore, Version,
};
pub use message::{Envelope, MessageId, headers};
pub use report::{Failure, ensure, ensure_eq};
pub use sim::{Choice, SCRIPT_VARIABLE, SEED_VARIABLE, SchedulerHook, Sim};
pub use sql::{SqlStore, Tx};
pub use trace::{Event, EventKind, MessageRef, Trace};
pub use world::{Handler, HandlerContext, HandlerError, World};
