//! What a guarantee costs: the round trips Orders makes to each store and
//! to the broker, per message it handles, counted from the run's trace.
//!
//! A round trip is one call: a read, a write (or a write refused by its
//! condition), a call to a blob store, a publish or a send; a call that failed before it took
//! effect counts too (it was made). Calls made while handling `SubmitOrder`
//! are left out: placing an order is the same in every design.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use harness::{EventKind, MessageId, Trace};

/// The round trips of one endpoint, counted from a trace.
///
/// ```
/// use harness::Sim;
/// use shop::orders::kv::RoundTrips;
///
/// let sim = Sim::new(1);
/// let cost = RoundTrips::of(&sim.trace(), "orders");
/// assert_eq!(cost.messages, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoundTrips {
    /// The messages the endpoint handled (each message id once, however
    /// often it was delivered), `SubmitOrder` apart.
    pub messages: usize,
    /// Calls to each store, by store name.
    pub stores: BTreeMap<String, usize>,
    /// Publishes and sends to the broker.
    pub broker: usize,
    /// Requests to HTTP services (the payment provider of Part E), an
    /// answer lost or refused included.
    pub http: usize,
    /// Steps of the run the trace no longer held: the count covers the
    /// rest of the run only.
    pub dropped_steps: u64,
}

impl RoundTrips {
    /// Counts the calls the workers of `endpoint` made in `trace`.
    pub fn of(trace: &Trace, endpoint: &str) -> RoundTrips {
        let mut cost = RoundTrips {
            dropped_steps: trace.dropped(),
            ..RoundTrips::default()
        };
        let mut handled: HashSet<MessageId> = HashSet::new();
        // What each worker is handling now: true while it places an order.
        let mut placing: BTreeMap<String, bool> = BTreeMap::new();
        for event in trace.events() {
            let worker = event.actor.as_str();
            if worker != endpoint && !worker.starts_with(&format!("{endpoint}#")) {
                continue;
            }
            if let EventKind::HandlerStarted { message, .. } = &event.kind {
                let submit = message.message_type == "SubmitOrder";
                placing.insert(worker.to_string(), submit);
                if !submit {
                    handled.insert(message.id);
                }
                continue;
            }
            if placing.get(worker).copied().unwrap_or(true) {
                continue;
            }
            match call_of(&event.kind) {
                Some(Call::Store(store)) => *cost.stores.entry(store).or_default() += 1,
                Some(Call::Broker) => cost.broker += 1,
                Some(Call::Http) => cost.http += 1,
                None => {}
            }
        }
        cost.messages = handled.len();
        cost
    }

    /// Calls to the store `store`, per message handled.
    pub fn per_message(&self, store: &str) -> f64 {
        let calls = self.stores.get(store).copied().unwrap_or(0);
        ratio(calls, self.messages)
    }

    /// Publishes and sends, per message handled.
    pub fn broker_per_message(&self) -> f64 {
        ratio(self.broker, self.messages)
    }

    /// HTTP requests, per message handled.
    pub fn http_per_message(&self) -> f64 {
        ratio(self.http, self.messages)
    }

    /// Every call, per message handled.
    pub fn total_per_message(&self) -> f64 {
        let calls: usize = self.stores.values().sum::<usize>() + self.broker + self.http;
        ratio(calls, self.messages)
    }
}

fn ratio(calls: usize, messages: usize) -> f64 {
    if messages == 0 {
        return 0.0;
    }
    calls as f64 / messages as f64
}

enum Call {
    Store(String),
    Broker,
    Http,
}

/// The call an event stands for, if any.
fn call_of(kind: &EventKind) -> Option<Call> {
    match kind {
        EventKind::Read { store, .. }
        | EventKind::Wrote { store, .. }
        | EventKind::Conflict { store, .. }
        | EventKind::Blob { store, .. } => Some(Call::Store(store.clone())),
        EventKind::Published { .. } | EventKind::Sent { .. } => Some(Call::Broker),
        EventKind::Request { .. } => Some(Call::Http),
        // Never sent, or answered 5xx or 429 without reaching the service:
        // still a request made.
        EventKind::FaultInjected { point, fault }
            if point.starts_with("http.") && !fault.starts_with("fail after") =>
        {
            (fault != "duplicate" && !fault.starts_with("delay")).then_some(Call::Http)
        }
        // A call that failed before it took effect left no other event (a
        // read told "fail after" fails before: it has no effect to apply).
        EventKind::FaultInjected { point, fault } if failed_before(point, fault) => {
            let mut parts = point.split('.');
            match (parts.next(), parts.next()) {
                (Some("kv" | "blob"), Some(store)) => Some(Call::Store(store.to_string())),
                (Some("broker"), _) => Some(Call::Broker),
                _ => None,
            }
        }
        _ => None,
    }
}

fn failed_before(point: &str, fault: &str) -> bool {
    let read = point.ends_with(".get") || point.ends_with(".list");
    fault == "fail before" || fault == "drop" || (read && fault == "fail after")
}

impl fmt::Display for RoundTrips {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  Round trips per message Orders handled ({} messages): ",
            self.messages
        )?;
        for store in self.stores.keys() {
            write!(f, "{:.2} to store {store}, ", self.per_message(store))?;
        }
        if self.http > 0 {
            write!(f, "{:.2} over HTTP, ", self.http_per_message())?;
        }
        writeln!(
            f,
            "{:.2} to the broker; {:.2} in all",
            self.broker_per_message(),
            self.total_per_message()
        )?;
        if self.dropped_steps > 0 {
            writeln!(
                f,
                "  (counted over the last steps of the run: the trace let the first {} go)",
                self.dropped_steps
            )?;
        }
        Ok(())
    }
}
