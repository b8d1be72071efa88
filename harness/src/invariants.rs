//! The four invariants of the workshop's TLA+ model, as checks over what a run
//! did: no ghost message, no lost message, no duplicate effect, consistent
//! output.
//!
//! A [`History`] gathers what the checks need about one endpoint: the
//! messages it finished (acknowledged, or given up and dead-lettered), the
//! messages it sent (from the broker), and the state changes it made (which
//! the exercise reads from its store and adds with [`History::record_change`]).
//! A failed check returns a [`Violation`]: the invariant, a headline in the
//! course's words, the messages involved, and the trace, seed and script to
//! replay the run.
//!
//! ```
//! use harness::{Broker, Envelope, HandlerContext, History, Sim, World};
//!
//! let sim = Sim::new(1);
//! let broker = Broker::new(&sim);
//! let mut world = World::new(&sim, &broker);
//! // A handler that announces an item but never stores it.
//! world.add_endpoint("orders", |ctx: &mut HandlerContext, _m: &Envelope| {
//!     ctx.publish("ItemAdded", Envelope::new(ctx.new_message_id(), "ItemAdded", &()))?;
//!     Ok(())
//! });
//! world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &())).unwrap();
//! world.run_until_quiet(10).unwrap();
//!
//! let history = History::of_endpoint(&broker, "orders");
//! let violation = harness::no_ghost_messages(&history).unwrap_err();
//! assert_eq!(violation.invariant, "no ghost messages");
//! assert!(violation.headline.contains("a ghost message"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::{Broker, Choice, Envelope, Failure, MessageId, MessageRef, Sim, Trace, headers};

/// A message an endpoint finished with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processed {
    /// The message.
    pub envelope: Envelope,
    /// True when acknowledged; false when given up (dead-lettered).
    pub acked: bool,
}

/// A state change the endpoint made because of a message, as the exercise
/// reads it from its store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// The message that caused it.
    pub message: MessageId,
    /// What tells two changes apart: an attempt, a transaction id, a version.
    pub transaction: String,
}

/// A message the endpoint sent or published while handling another one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The message whose handling sent it (its `causation-id`).
    pub causation: MessageId,
    /// Which handling sent it: tells the attempts at one message apart.
    pub handling: Option<u64>,
    /// The queue or topic.
    pub destination: String,
    /// The message.
    pub envelope: Envelope,
}

/// What one endpoint did in a run, as the invariant checks see it.
///
/// ```
/// use harness::{Broker, History, MessageId, Sim};
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// broker.declare_queue("orders");
/// let mut history = History::of_endpoint(&broker, "orders");
/// history.record_change(MessageId::from_u128(1), "tx-1");
/// assert_eq!(history.changes.len(), 1);
/// ```
#[derive(Clone)]
pub struct History {
    sim: Sim,
    /// The endpoint.
    pub endpoint: String,
    /// Messages it finished, in order (physical copies may appear twice).
    pub processed: Vec<Processed>,
    /// Messages it sent, in order.
    pub outputs: Vec<Output>,
    /// State changes, as recorded by the exercise.
    pub changes: Vec<StateChange>,
}

impl History {
    /// What `endpoint` (a world endpoint, so its queue has the same name)
    /// finished and sent, from the broker's logs. State changes are for the
    /// exercise to add.
    ///
    /// ```
    /// use harness::{Broker, History, Sim};
    /// let broker = Broker::new(&Sim::new(1));
    /// let history = History::of_endpoint(&broker, "orders");
    /// assert!(history.processed.is_empty());
    /// ```
    pub fn of_endpoint(broker: &Broker, endpoint: &str) -> History {
        let processed = broker
            .finished_where(|finished| finished.queue == endpoint)
            .into_iter()
            .map(|finished| Processed {
                envelope: finished.envelope,
                acked: finished.acked,
            })
            .collect();
        let outputs = broker
            .sent_where(|record| record.envelope.header(headers::SENDER) == Some(endpoint))
            .into_iter()
            .filter_map(|record| {
                let causation = record.envelope.header(headers::CAUSATION_ID)?;
                let causation = uuid::Uuid::parse_str(causation).ok()?;
                Some(Output {
                    causation: MessageId::from_uuid(causation),
                    handling: record.handling,
                    destination: record.destination,
                    envelope: record.envelope,
                })
            })
            .collect();
        History {
            sim: broker.sim().clone(),
            endpoint: endpoint.to_string(),
            processed,
            outputs,
            changes: Vec::new(),
        }
    }

    /// Adds a state change caused by `message`.
    ///
    /// ```
    /// use harness::{Broker, History, MessageId, Sim};
    /// let mut history = History::of_endpoint(&Broker::new(&Sim::new(1)), "orders");
    /// history.record_change(MessageId::from_u128(7), "attempt 1");
    /// assert_eq!(history.changes[0].transaction, "attempt 1");
    /// ```
    pub fn record_change(&mut self, message: MessageId, transaction: impl Into<String>) {
        self.changes.push(StateChange {
            message,
            transaction: transaction.into(),
        });
    }

    /// Runs all four checks, in the order the workshop meets them.
    ///
    /// ```
    /// use harness::{Broker, History, Sim};
    /// let history = History::of_endpoint(&Broker::new(&Sim::new(1)), "orders");
    /// assert!(history.check_all().is_ok());
    /// ```
    pub fn check_all(&self) -> Result<(), Violation> {
        no_ghost_messages(self)?;
        no_lost_messages(self)?;
        no_duplicate_effects(self)?;
        consistent_output(self)
    }

    /// The simulation the history comes from.
    ///
    /// ```
    /// use harness::{Broker, History, Sim};
    /// let history = History::of_endpoint(&Broker::new(&Sim::new(3)), "orders");
    /// assert_eq!(history.sim().seed(), 3);
    /// ```
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// Each processed message once, in the order it was first finished.
    fn processed_once(&self) -> Vec<&Envelope> {
        let mut seen = BTreeSet::new();
        self.processed
            .iter()
            .map(|processed| &processed.envelope)
            .filter(|envelope| seen.insert(envelope.id))
            .collect()
    }

    fn outputs_of(&self, message: MessageId) -> Vec<&Output> {
        self.outputs
            .iter()
            .filter(|output| output.causation == message)
            .collect()
    }

    fn changes_of(&self, message: MessageId) -> Vec<&StateChange> {
        self.changes
            .iter()
            .filter(|change| change.message == message)
            .collect()
    }

    fn message_ref(&self, envelope: &Envelope) -> MessageRef {
        self.sim.message_ref(envelope)
    }
}

/// No ghost messages: nothing was sent for a processed message whose state
/// change is not in the store (the world heard of something that never happened).
///
/// ```
/// use harness::{Broker, History, Sim};
/// let history = History::of_endpoint(&Broker::new(&Sim::new(1)), "orders");
/// assert!(harness::no_ghost_messages(&history).is_ok());
/// ```
pub fn no_ghost_messages(history: &History) -> Result<(), Violation> {
    for incoming in history.processed_once() {
        let outputs = history.outputs_of(incoming.id);
        if outputs.is_empty() || !history.changes_of(incoming.id).is_empty() {
            continue;
        }
        let cause = history.message_ref(incoming);
        let ghost = history.message_ref(&outputs[0].envelope);
        let headline = format!(
            "{ghost} was sent for {cause}, but the store holds no change for {cause}: \
             a ghost message"
        );
        return Err(Violation::new(
            "no ghost messages",
            &headline,
            vec![cause, ghost],
            history.sim(),
        ));
    }
    Ok(())
}

/// No lost messages: a processed message whose state change is in the store
/// had its outgoing messages sent. (As in the TLA+ model, every change is
/// expected to produce at least one outgoing message.)
///
/// ```
/// use harness::{Broker, History, MessageId, Sim};
/// let sim = Sim::new(1);
/// let history = History::of_endpoint(&Broker::new(&sim), "orders");
/// assert!(harness::no_lost_messages(&history).is_ok());
/// ```
pub fn no_lost_messages(history: &History) -> Result<(), Violation> {
    for incoming in history.processed_once() {
        let changes = history.changes_of(incoming.id);
        if changes.is_empty() || !history.outputs_of(incoming.id).is_empty() {
            continue;
        }
        let cause = history.message_ref(incoming);
        let headline = format!(
            "{cause} changed the store (transaction {}), but nothing was sent for it: \
             a lost message",
            changes[0].transaction
        );
        return Err(Violation::new(
            "no lost messages",
            &headline,
            vec![cause],
            history.sim(),
        ));
    }
    Ok(())
}

/// No duplicate effects: each message changed the store at most once (every
/// recorded change of one message carries the same transaction).
///
/// ```
/// use harness::{Broker, History, MessageId, Sim};
/// let sim = Sim::new(1);
/// let mut history = History::of_endpoint(&Broker::new(&sim), "orders");
/// let m = MessageId::from_u128(1);
/// history.record_change(m, "tx-1");
/// history.record_change(m, "tx-2");
/// let violation = harness::no_duplicate_effects(&history).unwrap_err();
/// assert!(violation.headline.ends_with("a duplicate effect"));
/// ```
pub fn no_duplicate_effects(history: &History) -> Result<(), Violation> {
    let mut by_message: BTreeMap<MessageId, Vec<&str>> = BTreeMap::new();
    let mut order = Vec::new();
    for change in &history.changes {
        let transactions = by_message.entry(change.message).or_insert_with(|| {
            order.push(change.message);
            Vec::new()
        });
        if !transactions.contains(&change.transaction.as_str()) {
            transactions.push(&change.transaction);
        }
    }
    for message in order {
        let transactions = &by_message[&message];
        if transactions.len() < 2 {
            continue;
        }
        let cause = history
            .processed
            .iter()
            .find(|processed| processed.envelope.id == message)
            .map(|processed| history.message_ref(&processed.envelope))
            .unwrap_or_else(|| MessageRef {
                label: history.sim().label(message),
                message_type: "message".to_string(),
                id: message,
            });
        let headline = format!(
            "{cause} changed the store {} times (transactions {}): a duplicate effect",
            transactions.len(),
            transactions.join(", ")
        );
        return Err(Violation::new(
            "no duplicate effects",
            &headline,
            vec![cause],
            history.sim(),
        ));
    }
    Ok(())
}

/// Consistent output: every attempt at one message sent the same messages —
/// the same ids with the same contents. An attempt that crashed part-way may
/// have sent fewer, but never different ones.
///
/// ```
/// use harness::{Broker, History, Sim};
/// let history = History::of_endpoint(&Broker::new(&Sim::new(1)), "orders");
/// assert!(harness::consistent_output(&history).is_ok());
/// ```
pub fn consistent_output(history: &History) -> Result<(), Violation> {
    for incoming in history.processed_once() {
        let outputs = history.outputs_of(incoming.id);
        if let Some(violation) = same_id_different_content(history, incoming, &outputs) {
            return Err(violation);
        }
        if let Some(violation) = attempts_disagree(history, incoming, &outputs) {
            return Err(violation);
        }
    }
    Ok(())
}

fn same_id_different_content(
    history: &History,
    incoming: &Envelope,
    outputs: &[&Output],
) -> Option<Violation> {
    for (index, first) in outputs.iter().enumerate() {
        let differs = outputs[index + 1..].iter().find(|other| {
            other.envelope.id == first.envelope.id
                && (other.envelope.body != first.envelope.body
                    || other.envelope.message_type != first.envelope.message_type)
        });
        if let Some(other) = differs {
            let cause = history.message_ref(incoming);
            let sent = history.message_ref(&first.envelope);
            let headline = format!(
                "{sent} was sent twice for {cause} with different contents ({} and then {}): \
                 inconsistent output",
                first.envelope.body, other.envelope.body
            );
            return Some(Violation::new(
                "consistent output",
                &headline,
                vec![cause, sent],
                history.sim(),
            ));
        }
    }
    None
}

fn attempts_disagree(
    history: &History,
    incoming: &Envelope,
    outputs: &[&Output],
) -> Option<Violation> {
    let mut by_handling: BTreeMap<Option<u64>, BTreeSet<MessageId>> = BTreeMap::new();
    for output in outputs {
        by_handling
            .entry(output.handling)
            .or_default()
            .insert(output.envelope.id);
    }
    let attempts: Vec<&BTreeSet<MessageId>> = by_handling.values().collect();
    for (index, first) in attempts.iter().enumerate() {
        for second in &attempts[index + 1..] {
            if first.is_subset(second) || second.is_subset(first) {
                continue;
            }
            let cause = history.message_ref(incoming);
            let only_first = first.difference(second).next().expect("not a subset");
            let only_second = second.difference(first).next().expect("not a subset");
            let refs: Vec<MessageRef> = [only_first, only_second]
                .iter()
                .filter_map(|id| outputs.iter().find(|output| output.envelope.id == **id))
                .map(|output| history.message_ref(&output.envelope))
                .collect();
            let headline = format!(
                "two attempts at {cause} sent different messages ({} by one, {} by the other): \
                 inconsistent output",
                refs[0], refs[1]
            );
            let mut messages = vec![cause];
            messages.extend(refs);
            return Some(Violation::new(
                "consistent output",
                &headline,
                messages,
                history.sim(),
            ));
        }
    }
    None
}

/// A broken invariant, with everything needed to explain and replay it: the
/// run's [`Recording`].
///
/// ```
/// use harness::{Sim, Violation};
/// let sim = Sim::new(42);
/// sim.note("the order has two lines");
/// let violation = Violation::new("one line per item", "the order has two Ruskie lines", vec![], &sim);
/// let text = violation.to_string();
/// assert!(text.starts_with("the order has two Ruskie lines"));
/// assert!(text.contains("seed 42"));
/// assert!(text.contains("#1 t=0.000s test: the order has two lines"));
/// ```
#[derive(Clone, Debug)]
pub struct Violation {
    /// The invariant, e.g. `no ghost messages`.
    pub invariant: String,
    /// What went wrong, in the course's words.
    pub headline: String,
    /// The messages involved, the cause first.
    pub messages: Vec<MessageRef>,
    /// The run: trace, seed, schedule. Boxed, so that `Result<(), Violation>`
    /// stays small.
    pub recording: Box<Recording>,
}

/// What a run did and how to replay it.
///
/// ```
/// let sim = harness::Sim::scripted(3, vec![1]);
/// sim.choose("coin", 2);
/// let violation = harness::Violation::new("x", "y", vec![], &sim);
/// assert_eq!(violation.recording.seed, 3);
/// assert_eq!(violation.recording.script, [1]);
/// assert_eq!(violation.recording.choices[0].label, "coin");
/// ```
#[derive(Clone, Debug)]
pub struct Recording {
    /// The run's trace.
    pub trace: Trace,
    /// The run's seed.
    pub seed: u64,
    /// The chooser's picks that replay the run (with [`Sim::scripted`] or
    /// [`crate::Explorer::replay`]).
    pub script: Vec<u32>,
    /// The chooser's decisions, with what each was about.
    pub choices: Vec<Choice>,
}

impl Violation {
    /// A violation of `invariant` in the run of `sim`, as it stands now.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// let violation = harness::Violation::new("counter is 1", "the counter is 2", vec![], &sim);
    /// assert_eq!(violation.invariant, "counter is 1");
    /// ```
    pub fn new(invariant: &str, headline: &str, messages: Vec<MessageRef>, sim: &Sim) -> Violation {
        let choices = sim.choices();
        Violation {
            invariant: invariant.to_string(),
            headline: headline.to_string(),
            messages,
            recording: Box::new(Recording {
                trace: sim.trace(),
                seed: sim.seed(),
                script: script_of(&choices),
                choices,
            }),
        }
    }
}

impl Violation {
    /// The full report of this violation: the headline, the invariant, the
    /// narrated steps with the messages involved marked, the seed, the
    /// command that replays the schedule, and the sequence diagrams.
    ///
    /// ```
    /// let sim = harness::Sim::new(4);
    /// let violation = harness::Violation::new("no ghost messages", "ItemAdded(m1) is a ghost", vec![], &sim);
    /// let report = violation.to_failure().render();
    /// assert!(report.contains("invariant broken: no ghost messages"));
    /// ```
    pub fn to_failure(&self) -> Failure {
        let recording = &self.recording;
        let mut failure = Failure::from_trace(
            recording.seed,
            recording.trace.clone(),
            self.headline.clone(),
        )
        .detail(format!("invariant broken: {}", self.invariant))
        .script(recording.script.clone())
        .fingerprint(&recording.choices);
        for message in &self.messages {
            failure = failure.highlight_message(&message.label);
        }
        failure
    }

    /// Fails the test with [`Violation::to_failure`]'s report.
    ///
    /// ```should_panic
    /// let sim = harness::Sim::new(4);
    /// harness::Violation::new("no lost messages", "ItemAdded(m1) was lost", vec![], &sim).panic();
    /// ```
    #[track_caller]
    pub fn panic(&self) -> ! {
        self.to_failure().panic()
    }
}

/// The picks of `choices`, without the trailing zeros (the default).
pub(crate) fn script_of(choices: &[Choice]) -> Vec<u32> {
    let mut script: Vec<u32> = choices.iter().map(|choice| choice.picked).collect();
    while script.last() == Some(&0) {
        script.pop();
    }
    script
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline)?;
        writeln!(f, "invariant: {}", self.invariant)?;
        let recording = &self.recording;
        writeln!(
            f,
            "seed {}, schedule {:?}",
            recording.seed, recording.script
        )?;
        write!(f, "{}", recording.trace)
    }
}

impl std::error::Error for Violation {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Envelope, MessageId};

    fn history_with(outputs: Vec<(u128, Option<u64>, u128, &str)>) -> History {
        let sim = Sim::new(1);
        let broker = Broker::new(&sim);
        let mut history = History::of_endpoint(&broker, "orders");
        history.processed.push(Processed {
            envelope: Envelope::new(MessageId::from_u128(1), "AddItem", &()),
            acked: true,
        });
        for (causation, handling, id, body) in outputs {
            history.outputs.push(Output {
                causation: MessageId::from_u128(causation),
                handling,
                destination: "ItemAdded".into(),
                envelope: Envelope::new(MessageId::from_u128(id), "ItemAdded", &body),
            });
        }
        history
    }

    #[test]
    fn an_output_without_a_change_is_a_ghost() {
        let history = history_with(vec![(1, Some(1), 10, "Ruskie")]);
        let violation = no_ghost_messages(&history).unwrap_err();
        assert_eq!(
            violation.headline,
            "ItemAdded(m2) was sent for AddItem(m1), but the store holds no change for \
             AddItem(m1): a ghost message"
        );
        assert_eq!(violation.messages.len(), 2);
    }

    #[test]
    fn a_change_without_an_output_is_lost() {
        let mut history = history_with(vec![]);
        history.record_change(MessageId::from_u128(1), "tx-1");
        let violation = no_lost_messages(&history).unwrap_err();
        assert_eq!(
            violation.headline,
            "AddItem(m1) changed the store (transaction tx-1), but nothing was sent for it: \
             a lost message"
        );
        assert!(no_ghost_messages(&history).is_ok());
    }

    #[test]
    fn the_same_transaction_twice_is_not_a_duplicate_effect() {
        let mut history = history_with(vec![]);
        history.record_change(MessageId::from_u128(1), "tx-1");
        history.record_change(MessageId::from_u128(1), "tx-1");
        assert!(no_duplicate_effects(&history).is_ok());
        history.record_change(MessageId::from_u128(1), "tx-2");
        let violation = no_duplicate_effects(&history).unwrap_err();
        assert_eq!(
            violation.headline,
            "AddItem(m1) changed the store 2 times (transactions tx-1, tx-2): a duplicate effect"
        );
    }

    #[test]
    fn a_crashed_attempt_may_send_less_but_not_something_else() {
        // Attempt 1 sent m10 then crashed; attempt 2 sent m10 and m11: fine.
        let partial = history_with(vec![
            (1, Some(1), 10, "a"),
            (1, Some(2), 10, "a"),
            (1, Some(2), 11, "b"),
        ]);
        assert!(consistent_output(&partial).is_ok());
        // Attempt 2 made up a new id for the same event.
        let fresh_ids = history_with(vec![(1, Some(1), 10, "a"), (1, Some(2), 12, "a")]);
        let violation = consistent_output(&fresh_ids).unwrap_err();
        assert!(
            violation
                .headline
                .starts_with("two attempts at AddItem(m1) sent different messages"),
            "{}",
            violation.headline
        );
        // Same id, different contents.
        let changed = history_with(vec![(1, Some(1), 10, "a"), (1, Some(2), 10, "b")]);
        let violation = consistent_output(&changed).unwrap_err();
        assert!(
            violation.headline.contains("with different contents"),
            "{}",
            violation.headline
        );
    }

    #[test]
    fn a_script_drops_trailing_defaults() {
        let choice = |picked| Choice {
            label: "x".into(),
            options: 3,
            picked,
            step: 0,
            history: 0,
        };
        assert_eq!(script_of(&[choice(0), choice(2), choice(0)]), [0, 2]);
    }
}
