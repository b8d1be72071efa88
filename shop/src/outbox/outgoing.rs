//! What a handler wants to send: it does not send anything itself, it
//! describes the messages, and the outbox stores them with the change.

use std::collections::BTreeMap;

use harness::{Envelope, Sim, headers};
use serde::{Deserialize, Serialize};

/// How a message leaves: published on a topic, or sent to one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// To every subscriber of a topic.
    Publish,
    /// To one queue.
    Send,
}

/// One outgoing message, complete as it goes on the wire: its id, type,
/// headers and body, and where it goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// Published or sent.
    pub kind: Kind,
    /// The topic or the queue.
    pub destination: String,
    /// The message itself.
    pub envelope: Envelope,
}

/// The messages a handler wants sent once its change is kept.
///
/// Each message gets its id here, once, when the handler describes it. The
/// id can be random: it is stored with the message, and every later attempt
/// sends the stored message, with the stored id.
pub struct Outgoing {
    sim: Sim,
    /// Put on every message: which order it is about, which conversation.
    headers: BTreeMap<String, String>,
    messages: Vec<Outbound>,
}

impl Outgoing {
    /// No messages yet, for the handling of `incoming`, about `correlation`
    /// (the order).
    pub fn new(sim: &Sim, incoming: &Envelope, correlation: &str) -> Outgoing {
        let mut headers = BTreeMap::new();
        headers.insert(headers::CORRELATION_ID.to_string(), correlation.to_string());
        if let Some(conversation) = incoming.conversation_id() {
            headers.insert(
                headers::CONVERSATION_ID.to_string(),
                conversation.to_string(),
            );
        }
        Outgoing {
            sim: sim.clone(),
            headers,
            messages: Vec::new(),
        }
    }

    /// Publishes `event` on `topic` (its type is the topic's name).
    pub fn publish<T: Serialize>(&mut self, topic: &str, event: &T) {
        self.add(Kind::Publish, topic, topic, event);
    }

    /// Sends `command`, of type `message_type`, to `queue`.
    pub fn send<T: Serialize>(&mut self, queue: &str, message_type: &str, command: &T) {
        self.add(Kind::Send, queue, message_type, command);
    }

    /// The messages, in the order the handler described them.
    pub fn messages(&self) -> &[Outbound] {
        &self.messages
    }

    fn add<T: Serialize>(&mut self, kind: Kind, destination: &str, message_type: &str, body: &T) {
        let mut envelope = Envelope::new(self.sim.new_message_id(), message_type, body);
        envelope.headers.extend(self.headers.clone());
        self.messages.push(Outbound {
            kind,
            destination: destination.to_string(),
            envelope,
        });
    }
}
