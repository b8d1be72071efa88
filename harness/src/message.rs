//! Messages as they travel through the simulated broker: an id, a type, headers
//! and a JSON body.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

/// The id of one message. Two deliveries with the same id are the same message
/// (a physical duplicate); a re-send with a new id is a different message that
/// may carry the same business content (a logical duplicate).
///
/// Ids come from [`crate::Sim::new_message_id`] (seeded, so runs replay) or
/// are derived, for example with [`MessageId::derived`].
///
/// ```
/// use harness::MessageId;
/// let id = MessageId::from_u128(7);
/// assert_eq!(id.to_string(), "00000000-0000-0000-0000-000000000007");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Uuid);

impl MessageId {
    /// A fixed id, handy in tests.
    ///
    /// ```
    /// assert_ne!(harness::MessageId::from_u128(1), harness::MessageId::from_u128(2));
    /// ```
    pub fn from_u128(value: u128) -> MessageId {
        MessageId(Uuid::from_u128(value))
    }

    /// Wraps a UUID.
    ///
    /// ```
    /// let uuid = uuid::Uuid::nil();
    /// assert_eq!(harness::MessageId::from_uuid(uuid).as_uuid(), uuid);
    /// ```
    pub fn from_uuid(uuid: Uuid) -> MessageId {
        MessageId(uuid)
    }

    /// The UUID inside.
    ///
    /// ```
    /// let id = harness::MessageId::from_u128(3);
    /// assert_eq!(id.as_uuid().as_u128(), 3);
    /// ```
    pub fn as_uuid(self) -> Uuid {
        self.0
    }

    /// A name-based (UUID v5) id derived from another id and a name: the same
    /// inputs always give the same id, different names give different ids.
    ///
    /// ```
    /// use harness::MessageId;
    /// let incoming = MessageId::from_u128(1);
    /// assert_eq!(incoming.derived("billing"), incoming.derived("billing"));
    /// assert_ne!(incoming.derived("billing"), incoming.derived("shipping"));
    /// ```
    pub fn derived(self, name: &str) -> MessageId {
        MessageId(Uuid::new_v5(&self.0, name.as_bytes()))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Well-known header names.
pub mod headers {
    /// The business id the message belongs to (an order, a cart).
    pub const CORRELATION_ID: &str = "correlation-id";
    /// The id of the message whose handling sent this one.
    pub const CAUSATION_ID: &str = "causation-id";
    /// The id shared by every message of one conversation (a user's request and
    /// everything it caused); `World::send_in_order` waits on it.
    pub const CONVERSATION_ID: &str = "conversation-id";
    /// A deduplication token (token-based deduplication, Part D).
    pub const TOKEN: &str = "token";
    /// The endpoint that sent the message.
    pub const SENDER: &str = "sender";
}

/// A message on the wire: id, type, headers and a JSON body.
///
/// ```
/// use harness::{Envelope, MessageId};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, PartialEq, Debug)]
/// struct AddItem { order: String, filling: String }
///
/// let add = AddItem { order: "o-1".into(), filling: "Ruskie".into() };
/// let envelope = Envelope::new(MessageId::from_u128(1), "AddItem", &add)
///     .with_header(harness::headers::CORRELATION_ID, "o-1");
/// assert_eq!(envelope.correlation_id(), Some("o-1"));
/// assert_eq!(envelope.body::<AddItem>().unwrap(), add);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The transport id: the same for every physical copy of this message.
    pub id: MessageId,
    /// The message type, such as `"SubmitOrder"` or `"ItemAdded"`.
    pub message_type: String,
    /// Headers, sorted by name so that traces and snapshots are stable.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON.
    pub body: serde_json::Value,
}

impl Envelope {
    /// A message with the given id, type and body, and no headers.
    ///
    /// Serialising a plain struct cannot fail; a body that cannot be turned into
    /// JSON (a map with non-string keys) becomes `null` and is caught by the
    /// receiver's [`Envelope::body`].
    ///
    /// ```
    /// let e = harness::Envelope::new(harness::MessageId::from_u128(1), "Ping", &42);
    /// assert_eq!(e.body::<i32>().unwrap(), 42);
    /// ```
    pub fn new<T: Serialize>(id: MessageId, message_type: &str, body: &T) -> Envelope {
        Envelope {
            id,
            message_type: message_type.to_string(),
            headers: BTreeMap::new(),
            body: serde_json::to_value(body).unwrap_or(serde_json::Value::Null),
        }
    }

    /// A copy with another transport id: a logical re-send of the same
    /// content (the broker sees a different message, the business the same one).
    ///
    /// ```
    /// use harness::{Envelope, MessageId};
    /// let first = Envelope::new(MessageId::from_u128(1), "AddItem", &"Ruskie");
    /// let again = first.clone().with_id(MessageId::from_u128(2));
    /// assert_ne!(first.id, again.id);
    /// assert_eq!(first.body, again.body);
    /// ```
    pub fn with_id(mut self, id: MessageId) -> Envelope {
        self.id = id;
        self
    }

    /// The same message with one more header.
    ///
    /// ```
    /// let e = harness::Envelope::new(harness::MessageId::from_u128(1), "Ping", &())
    ///     .with_header("x", "1");
    /// assert_eq!(e.header("x"), Some("1"));
    /// ```
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Envelope {
        self.headers.insert(name.to_string(), value.into());
        self
    }

    /// The value of a header, if present.
    ///
    /// ```
    /// let e = harness::Envelope::new(harness::MessageId::from_u128(1), "Ping", &());
    /// assert_eq!(e.header("missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The `correlation-id` header.
    ///
    /// ```
    /// let e = harness::Envelope::new(harness::MessageId::from_u128(1), "Ping", &())
    ///     .with_header(harness::headers::CORRELATION_ID, "cart-7");
    /// assert_eq!(e.correlation_id(), Some("cart-7"));
    /// ```
    pub fn correlation_id(&self) -> Option<&str> {
        self.header(headers::CORRELATION_ID)
    }

    /// The `conversation-id` header.
    ///
    /// ```
    /// let e = harness::Envelope::new(harness::MessageId::from_u128(1), "Ping", &());
    /// assert_eq!(e.conversation_id(), None);
    /// ```
    pub fn conversation_id(&self) -> Option<&str> {
        self.header(headers::CONVERSATION_ID)
    }

    /// Reads the body as `T`, or says why it does not fit.
    ///
    /// ```
    /// let e = harness::Envelope::new(harness::MessageId::from_u128(1), "Ping", &"text");
    /// assert!(e.body::<u32>().is_err());
    /// ```
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, Error> {
        // Read in place: cloning the body first (a map of strings, for most
        // messages) was most of the cost, on every delivery of every schedule.
        T::deserialize(&self.body).map_err(|err| Error::BadBody {
            message_type: self.message_type.clone(),
            reason: err.to_string(),
        })
    }

    /// The size of the message on the wire (JSON), compared with a queue's
    /// maximum message size.
    ///
    /// ```
    /// let e = harness::Envelope::new(harness::MessageId::from_u128(1), "Ping", &());
    /// assert!(e.size_in_bytes() > 10);
    /// ```
    pub fn size_in_bytes(&self) -> usize {
        serde_json::to_vec(self)
            .map(|bytes| bytes.len())
            .unwrap_or(0)
    }
}
