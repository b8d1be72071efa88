//! Questions a sometimes-condition asks of a run's trace (see
//! [`crate::Explorer::sometimes`]): did a fault strike there, did two
//! handlings overlap, did a commit take effect unannounced. Each reads the
//! events the components record, never the code under test, so that any
//! correct solution meets them.

use crate::{Event, EventKind, Fault, FaultPoint, Trace};

impl Trace {
    /// Whether `fault` struck at a fault point matching `pattern` (as in
    /// [`crate::FaultRule::at`]: `sql.*.commit`, `broker.**`).
    ///
    /// ```
    /// use harness::{Fault, FaultPoint, FaultRule, Sim};
    /// let sim = Sim::new(1);
    /// sim.inject(FaultRule::at("sql.orders.commit").fail_after());
    /// sim.fault_at(&FaultPoint::new("sql", "orders", "commit"));
    /// assert!(sim.trace().struck("sql.*.commit", Fault::FailAfter));
    /// assert!(!sim.trace().struck("sql.*.commit", Fault::FailBefore));
    /// ```
    pub fn struck(&self, pattern: &str, fault: Fault) -> bool {
        let fault = fault.to_string();
        self.events().iter().any(|event| match &event.kind {
            EventKind::FaultInjected {
                point,
                fault: found,
            } => *found == fault && named(point).matches(pattern),
            _ => false,
        })
    }

    /// Whether a worker started handling a message of `message_type` while
    /// another worker was still handling one (a copy of the same message, or
    /// another): the handlings overlapped.
    ///
    /// ```
    /// use harness::{EventKind, MessageId, MessageRef, Sim};
    /// let sim = Sim::new(1);
    /// let message = MessageRef { label: "m1".into(), message_type: "AddItem".into(), id: MessageId::from_u128(1) };
    /// let started = |worker: &str| {
    ///     sim.set_actor(worker);
    ///     sim.record(EventKind::HandlerStarted { endpoint: "orders".into(), message: message.clone() });
    /// };
    /// started("orders#1");
    /// assert!(!sim.trace().handled_at_once("AddItem"));
    /// started("orders#2");
    /// assert!(sim.trace().handled_at_once("AddItem"));
    /// ```
    pub fn handled_at_once(&self, message_type: &str) -> bool {
        let mut handling: Vec<&str> = Vec::new();
        for event in self.events() {
            let actor = event.actor.as_str();
            match &event.kind {
                EventKind::HandlerStarted { message, .. }
                    if message.message_type == message_type =>
                {
                    if handling.iter().any(|worker| *worker != actor) {
                        return true;
                    }
                    handling.push(actor);
                }
                EventKind::HandlerSucceeded { .. } | EventKind::HandlerFailed { .. } => {
                    handling.retain(|worker| *worker != actor);
                }
                _ => {}
            }
        }
        false
    }

    /// Whether a SQL transaction that changed something (an `insert`,
    /// `update` or `delete`) committed and its caller was told it failed:
    /// the lost acknowledgement of a commit.
    ///
    /// ```
    /// use harness::{FaultRule, Sim, SqlStore};
    /// let sim = Sim::new(1);
    /// let db = SqlStore::in_memory(&sim, "orders");
    /// db.execute_batch("create table t (x integer)").unwrap();
    /// sim.inject(FaultRule::at("sql.orders.commit").fail_after());
    /// let written = db.transaction(|tx| tx.execute("insert into t (x) values (1)", []));
    /// // The row is in, but the caller was told the commit failed.
    /// assert!(written.is_err());
    /// assert!(sim.trace().commit_struck_after_a_write());
    /// ```
    pub fn commit_struck_after_a_write(&self) -> bool {
        let fail_after = Fault::FailAfter.to_string();
        let mut writing: Vec<&str> = Vec::new();
        for event in self.events() {
            let actor = event.actor.as_str();
            match &event.kind {
                EventKind::Statement { sql, .. } if changes(sql) => writing.push(actor),
                EventKind::FaultInjected { point, fault }
                    if *fault == fail_after
                        && named(point).matches("sql.*.commit")
                        && writing.contains(&actor) =>
                {
                    return true;
                }
                EventKind::Committed { .. } | EventKind::RolledBack { .. } => {
                    writing.retain(|writer| *writer != actor);
                }
                _ => {}
            }
        }
        false
    }

    /// The events matching `wanted`, oldest first.
    ///
    /// ```
    /// use harness::EventKind;
    /// let sim = harness::Sim::new(1);
    /// sim.note("a");
    /// let notes = sim.trace();
    /// let notes = notes.matching(|event| matches!(event.kind, EventKind::Note { .. }));
    /// assert_eq!(notes.len(), 1);
    /// ```
    pub fn matching(&self, wanted: impl Fn(&Event) -> bool) -> Vec<&Event> {
        self.events().iter().filter(|event| wanted(event)).collect()
    }
}

/// A fault point named `name`, for matching patterns.
fn named(name: &str) -> FaultPoint {
    FaultPoint {
        name: name.to_string(),
        message_type: None,
        message_id: None,
        key: None,
    }
}

/// Whether a statement changes the database.
fn changes(sql: &str) -> bool {
    let verb = sql.split_whitespace().next().unwrap_or("");
    ["insert", "update", "delete", "replace"]
        .iter()
        .any(|change| verb.eq_ignore_ascii_case(change))
}
