//! The conversation tracker: every message the broker saw, grouped into the
//! conversations they belong to, each linked to the message whose handling
//! sent it, and the answer to "is it done?" per conversation.
//!
//! A conversation is one customer's request and everything it caused. The
//! harness puts a `conversation-id` on the first message a test sends and
//! every handler copies it onto what it sends, together with a
//! `causation-id` (the message it was handling); the shop adds a
//! `correlation-id` (the order). A message is put in the conversation named
//! by its `conversation-id`; without one, in its cause's conversation; a
//! message with neither (a first message sent without a conversation id)
//! names its conversation by its `correlation-id`, or else by its own id.
//!
//! The answer comes from what the broker holds now, not from the logs: a
//! copy leaves its queue only when it is acknowledged or dead-lettered, so a
//! conversation none of whose messages is still in a queue or in a
//! dead-letter queue is complete. That stays true when the broker's history
//! limit has forgotten old sends. What the broker never saw is not tracked:
//! a message dropped on the way, or still in an outbox table waiting for its
//! poller.

use std::collections::BTreeMap;
use std::fmt;

use harness::{Broker, CopyState, Envelope, MessageId, SimTime, World, headers};

/// Where a conversation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Progress {
    /// Every message of it left its queues acknowledged: nothing is ready,
    /// delayed, in flight or dead-lettered.
    Complete,
    /// Nothing of it waits, but a message of it is in a dead-letter queue:
    /// stuck until someone fixes the cause and replays it.
    Parked,
    /// A message of it is still ready, delayed or in flight somewhere.
    InProgress,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Progress::Complete => "complete",
            Progress::Parked => "parked",
            Progress::InProgress => "in progress",
        })
    }
}

/// A copy of a message still in a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Waiting {
    /// The queue.
    pub queue: String,
    /// Ready, delayed or in flight.
    pub state: CopyState,
    /// How many times this copy has been delivered so far.
    pub attempts: u32,
}

/// A copy of a message in a queue's dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Parked {
    /// The queue whose dead-letter queue holds it.
    pub queue: String,
    /// Why it was given up.
    pub reason: String,
    /// How many times it had been delivered.
    pub attempts: u32,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackedMessage {
    /// Its transport id.
    pub id: MessageId,
    /// Its short name in this run's trace and reports: `m3`.
    pub label: String,
    /// Its type: `SubmitOrder`.
    pub message_type: String,
    /// The message whose handling sent it (`causation-id`); `None` for one
    /// sent from outside (a test, a customer).
    pub cause: Option<MessageId>,
    /// The endpoint that sent it (`sender`), if a handler did.
    pub sender: Option<String>,
    /// The business id it is about (`correlation-id`): an order, a cart.
    pub correlation_id: Option<String>,
    /// When it was first sent, if the broker still remembers.
    pub sent_at: Option<SimTime>,
    /// The queue or topic it was sent or published to, if remembered.
    pub destination: Option<String>,
    /// The queues a copy landed in, once per copy.
    pub landed_in: Vec<String>,
    /// Its copies still in a queue.
    pub waiting: Vec<Waiting>,
    /// Its copies in a dead-letter queue.
    pub parked: Vec<Parked>,
}

impl TrackedMessage {
    fn from_envelope(envelope: &Envelope, label: String) -> TrackedMessage {
        let cause = envelope
            .header(headers::CAUSATION_ID)
            .and_then(|id| id.parse::<uuid::Uuid>().ok())
            .map(MessageId::from_uuid);
        TrackedMessage {
            id: envelope.id,
            label,
            message_type: envelope.message_type.clone(),
            cause,
            sender: envelope.header(headers::SENDER).map(str::to_string),
            correlation_id: envelope.correlation_id().map(str::to_string),
            sent_at: None,
            destination: None,
            landed_in: Vec::new(),
            waiting: Vec::new(),
            parked: Vec::new(),
        }
    }

    /// `SubmitOrder(m1)`, as the trace writes it.
    pub fn name(&self) -> String {
        format!("{}({})", self.message_type, self.label)
    }

    /// Where this message stands on its own.
    pub fn progress(&self) -> Progress {
        if !self.waiting.is_empty() {
            Progress::InProgress
        } else if !self.parked.is_empty() {
            Progress::Parked
        } else {
            Progress::Complete
        }
    }
}

/// One conversation: a request and every message it caused, in the order
/// they were sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conversation {
    /// Its id: the `conversation-id` of its messages (or what stood in for
    /// it: see the module docs).
    pub id: String,
    /// Its messages, in the order the broker got them.
    pub messages: Vec<TrackedMessage>,
}

impl Conversation {
    /// Complete, parked or in progress: in progress while any message waits;
    /// parked when nothing waits but a message is dead-lettered.
    pub fn progress(&self) -> Progress {
        self.messages
            .iter()
            .map(TrackedMessage::progress)
            .max()
            .unwrap_or(Progress::Complete)
    }

    /// The message that started it: the first one whose cause is not in it.
    pub fn root(&self) -> Option<&TrackedMessage> {
        self.messages.iter().find(|message| {
            message
                .cause
                .is_none_or(|cause| self.message(cause).is_none())
        })
    }

    /// Its message with this id.
    pub fn message(&self, id: MessageId) -> Option<&TrackedMessage> {
        self.messages.iter().find(|message| message.id == id)
    }

    /// The messages the handling of `id` sent, in order.
    pub fn caused_by(&self, id: MessageId) -> Vec<&TrackedMessage> {
        self.messages
            .iter()
            .filter(|message| message.cause == Some(id))
            .collect()
    }

    /// Every copy still waiting, with its message.
    pub fn waiting(&self) -> Vec<(&TrackedMessage, &Waiting)> {
        self.messages
            .iter()
            .flat_map(|message| message.waiting.iter().map(move |copy| (message, copy)))
            .collect()
    }

    /// Every dead-lettered copy, with its message.
    pub fn parked(&self) -> Vec<(&TrackedMessage, &Parked)> {
        self.messages
            .iter()
            .flat_map(|message| message.parked.iter().map(move |copy| (message, copy)))
            .collect()
    }

    /// The business ids its messages are about, in order of appearance.
    pub fn correlation_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for id in self
            .messages
            .iter()
            .filter_map(|m| m.correlation_id.as_deref())
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// `SubmitOrder(m1), about o-1`: how a person recognises it.
    pub fn name(&self) -> String {
        let root = self
            .root()
            .map_or_else(|| self.id.clone(), TrackedMessage::name);
        match self.correlation_ids().as_slice() {
            [] => root,
            ids => format!("{root}, about {}", ids.join(", ")),
        }
    }
}

impl fmt::Display for Conversation {
    /// One line: the conversation and where it stands; for one not
    /// complete, what waits where and what was given up why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conversation {}: {}", self.name(), self.progress())?;
        for (message, copy) in self.waiting() {
            let state = match copy.state {
                CopyState::Ready => "ready".to_string(),
                CopyState::Delayed { until } => format!("delayed until {until}"),
                CopyState::InFlight { until } => format!("in flight until {until}"),
            };
            write!(f, "; {} {state} on {}", message.name(), copy.queue)?;
            if copy.attempts > 0 {
                write!(f, " after {}", deliveries(copy.attempts))?;
            }
        }
        for (message, copy) in self.parked() {
            write!(
                f,
                "; {} dead-lettered on {} after {}: {}",
                message.name(),
                copy.queue,
                deliveries(copy.attempts),
                copy.reason
            )?;
        }
        Ok(())
    }
}

/// `1 delivery`, `2 deliveries`.
fn deliveries(count: u32) -> String {
    match count {
        1 => "1 delivery".to_string(),
        n => format!("{n} deliveries"),
    }
}

/// Every conversation the broker knows of, at the moment of reading.
///
/// ```
/// use harness::{Broker, Envelope, HandlerContext, HandlerError, Sim, World};
/// use shop::operations::{Conversations, Progress};
///
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// let mut world = World::new(&sim, &broker);
/// world.add_endpoint("orders", |ctx: &mut HandlerContext, message: &Envelope| {
///     if message.body == "sauerkraut" {
///         return Err(HandlerError::unrecoverable("no such filling"));
///     }
///     ctx.send("billing", Envelope::new(ctx.new_message_id(), "Bill", &message.body))?;
///     Ok(())
/// });
/// world.add_endpoint("billing", |_ctx: &mut HandlerContext, _message: &Envelope| Ok(()));
/// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &"meat")).unwrap();
/// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &"sauerkraut")).unwrap();
///
/// // Not started yet: both are in progress.
/// assert!(!Conversations::read(&broker).all_complete_or_parked());
///
/// // Step until every conversation is complete or parked: no sleeps.
/// let conversations = shop::operations::run_until_settled(&mut world, 100);
/// assert!(conversations.all_complete_or_parked());
/// let [meat, sauerkraut] = conversations.all() else { panic!("two conversations") };
/// assert_eq!(meat.progress(), Progress::Complete);
/// assert_eq!(meat.messages.len(), 2); // AddItem and the Bill it caused
/// assert_eq!(meat.caused_by(meat.messages[0].id)[0].message_type, "Bill");
/// assert_eq!(sauerkraut.progress(), Progress::Parked);
/// assert_eq!(
///     sauerkraut.to_string(),
///     "conversation AddItem(m2): parked; AddItem(m2) dead-lettered on orders after 1 delivery: no such filling"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversations {
    conversations: Vec<Conversation>,
}

impl Conversations {
    /// Reads the broker: what was sent (within its history limit), what
    /// waits in each queue, what lies in each dead-letter queue. Read-only.
    pub fn read(broker: &Broker) -> Conversations {
        let messages = Messages::read(broker);
        Conversations {
            conversations: messages.group(),
        }
    }

    /// Every conversation, in the order their first message was sent.
    pub fn all(&self) -> &[Conversation] {
        &self.conversations
    }

    /// The conversation with this id.
    pub fn get(&self, id: &str) -> Option<&Conversation> {
        self.conversations.iter().find(|c| c.id == id)
    }

    /// The conversation that message `id` belongs to.
    pub fn of_message(&self, id: MessageId) -> Option<&Conversation> {
        self.conversations
            .iter()
            .find(|conversation| conversation.message(id).is_some())
    }

    /// The conversations that are not complete: parked or in progress.
    pub fn not_complete(&self) -> Vec<&Conversation> {
        self.conversations
            .iter()
            .filter(|conversation| conversation.progress() != Progress::Complete)
            .collect()
    }

    /// How many conversations stand at `progress`.
    pub fn count(&self, progress: Progress) -> usize {
        self.conversations
            .iter()
            .filter(|conversation| conversation.progress() == progress)
            .count()
    }

    /// True when every conversation is complete (none parked, none in progress).
    pub fn all_complete(&self) -> bool {
        self.count(Progress::Complete) == self.conversations.len()
    }

    /// True when no conversation is in progress: each is complete or parked.
    /// What a test waits for instead of sleeping.
    pub fn all_complete_or_parked(&self) -> bool {
        self.count(Progress::InProgress) == 0
    }
}

impl fmt::Display for Conversations {
    /// `3 conversations: 2 complete, 1 parked, 0 in progress`, then one line
    /// per conversation that is not complete.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} conversations: {} complete, {} parked, {} in progress",
            self.conversations.len(),
            self.count(Progress::Complete),
            self.count(Progress::Parked),
            self.count(Progress::InProgress)
        )?;
        for conversation in self.not_complete() {
            write!(f, "\n  {conversation}")?;
        }
        Ok(())
    }
}

/// Steps `world` until every conversation is complete or parked (nothing is
/// left in any queue), until nothing can happen any more, or for at most
/// `max_steps` steps; then reads the conversations. The caller asserts what
/// it expects ([`Conversations::all_complete`], …), so a run that stopped
/// early says which conversation waits where.
///
/// Unlike [`World::run_until_quiet`] it does not wait for work that is not a
/// message (a poller with nothing to do keeps a world busy for ever).
pub fn run_until_settled(world: &mut World, max_steps: usize) -> Conversations {
    for _ in 0..max_steps {
        if nothing_waits(world.broker()) || !world.step() {
            break;
        }
    }
    Conversations::read(world.broker())
}

/// No copy ready, delayed or in flight in any queue: every conversation is
/// complete or parked. Cheap: no log is read.
fn nothing_waits(broker: &Broker) -> bool {
    broker
        .queue_statuses()
        .iter()
        .all(|status| status.ready + status.delayed + status.in_flight == 0)
}

/// Every message the broker knows of, by id, in the order it first saw them.
struct Messages {
    order: Vec<MessageId>,
    by_id: BTreeMap<MessageId, (TrackedMessage, Option<String>)>,
}

impl Messages {
    fn read(broker: &Broker) -> Messages {
        let sim = broker.sim();
        let mut messages = Messages {
            order: Vec::new(),
            by_id: BTreeMap::new(),
        };
        for record in broker.sent_log() {
            let (message, _) = messages.entry(&record.envelope, || sim.label(record.envelope.id));
            message.sent_at.get_or_insert(record.at);
            message
                .destination
                .get_or_insert_with(|| record.destination.clone());
            message.landed_in.extend(record.queues.iter().cloned());
        }
        for queue in broker.queue_names() {
            for copy in broker.held(&queue).unwrap_or_default() {
                let (message, _) = messages.entry(&copy.envelope, || sim.label(copy.envelope.id));
                message.waiting.push(Waiting {
                    queue: queue.clone(),
                    state: copy.state,
                    attempts: copy.attempts,
                });
            }
            for dead in broker.dead_letters(&queue).unwrap_or_default() {
                let (message, _) = messages.entry(&dead.envelope, || sim.label(dead.envelope.id));
                message.parked.push(Parked {
                    queue: queue.clone(),
                    reason: dead.reason,
                    attempts: dead.attempts,
                });
            }
        }
        messages
    }

    /// The message with `envelope`'s id, created on first sight.
    fn entry(
        &mut self,
        envelope: &Envelope,
        label: impl FnOnce() -> String,
    ) -> &mut (TrackedMessage, Option<String>) {
        self.by_id.entry(envelope.id).or_insert_with(|| {
            self.order.push(envelope.id);
            let conversation = envelope.conversation_id().map(str::to_string);
            (
                TrackedMessage::from_envelope(envelope, label()),
                conversation,
            )
        })
    }

    /// The conversation a message belongs to: its own `conversation-id`,
    /// else its cause's conversation; for the first message of a chain
    /// without one, its `correlation-id`, else its own id.
    fn conversation_of(&self, id: MessageId) -> String {
        let mut current = id;
        // A chain of causes longer than this is a cycle of made-up headers.
        for _ in 0..1_000 {
            let Some((message, conversation)) = self.by_id.get(&current) else {
                break;
            };
            if let Some(conversation) = conversation {
                return conversation.clone();
            }
            match message.cause.filter(|cause| self.by_id.contains_key(cause)) {
                Some(cause) => current = cause,
                None => break,
            }
        }
        // No conversation id up the chain: the topmost known cause names it,
        // so that all it caused lands in one conversation.
        let (root, _) = &self.by_id[&current];
        root.correlation_id
            .clone()
            .unwrap_or_else(|| current.to_string())
    }

    fn group(mut self) -> Vec<Conversation> {
        let keys: Vec<(MessageId, String)> = self
            .order
            .iter()
            .map(|&id| (id, self.conversation_of(id)))
            .collect();
        let mut conversations: Vec<Conversation> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (id, key) in keys {
            let (message, _) = self.by_id.remove(&id).expect("every id in order is known");
            let at = *index.entry(key.clone()).or_insert_with(|| {
                conversations.push(Conversation {
                    id: key,
                    messages: Vec::new(),
                });
                conversations.len() - 1
            });
            conversations[at].messages.push(message);
        }
        conversations
    }
}
