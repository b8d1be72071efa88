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
//!
//! The [`Explorer`] runs a scenario under every schedule its choices allow.
//! It stops on a run that is not the run its schedule replays
//! ([`Error::NotDeterministic`]), counts what the runs reached
//! ([`Coverage`]), and fails when what the test is about never happened
//! ([`Explorer::sometimes`]):
//!
//! ```
//! use harness::{EventKind, Explorer, Fault, FaultPoint, Sim};
//!
//! let report = Explorer::new(|sim: &Sim| {
//!     sim.explore_faults("kv.**", &[Fault::FailAfter], 1);
//!     sim.fault_at(&FaultPoint::new("kv", "orders", "put"));
//!     Ok(())
//! })
//! .sometimes("a write failed after it took effect", |trace| {
//!     let faults = trace.events().iter();
//!     faults.filter(|event| matches!(event.kind, EventKind::FaultInjected { .. })).count() == 1
//! })
//! .run();
//! report.assert_no_violation();
//! assert_eq!(report.coverage.summary(), "2 schedules · 1 fault point reached 2×, struck 1× · 1/1 sometimes-conditions held");
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
mod query;
pub mod report;
mod scheduler;
mod sim;
pub mod sql;
mod trace;
mod world;

/// Every program built on the harness allocates with mimalloc, not glibc's
/// `malloc`. An explored schedule makes about 1,700 small allocations
/// (envelopes and their JSON bodies, trace events, strings), and `malloc` and
/// `free` were 30% of its instructions (callgrind, exercise 11's two-copy
/// test), 40% of them missing glibc's thread cache: the handlers run on
/// pooled threads, and what one thread allocates another frees. Exercise
/// 11's solution tests take 12–15% less CPU with it (harness/BENCHMARKS.md,
/// round 6). A library may declare the allocator of the programs that link
/// it; here that is every exercise's test binary, so every explored test gets
/// it without a line of its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use blob::BlobStore;
pub use broker::{
    Broker, CopyState, DEFAULT_HISTORY_LIMIT, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_VISIBILITY_TIMEOUT, DeadLetter, Delivery, Finished, HeldCopy, QueueStatus, SentRecord,
};
pub use budget::{DEFAULT_DELIVERY_BUDGET, WATCHDOG_VARIABLE};
pub use clock::SimTime;
pub use coverage::{Coverage, PointCount, Sometimes};
pub use error::{Error, SqliteError};
#[allow(deprecated)]
pub use explorer::Report;
pub use explorer::{Exploration, Explorer, Scenario};
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
pub use sim::{Choice, RUN_VARIABLE, SCRIPT_VARIABLE, SEED_VARIABLE, SchedulerHook, Sim};
pub use sql::{SqlStore, Tx};
pub use trace::{Event, EventKind, MessageRef, Trace};
pub use world::{Handler, HandlerContext, HandlerError, World};
