//! The token store (exercise 14): proof that a message is still allowed.
//!
//! A sender mints one token per outgoing message before it sends it: an
//! empty item, created create-only under a fresh id, which the message
//! carries in its [`TOKEN_HEADER`]. A receiver handles a message only while
//! its token exists, and consumes the token (a conditional delete) once its
//! own outputs left. A copy that comes after that finds no token: it is a
//! duplicate, however late it comes. Dedup data lives exactly as long as a
//! message is in flight; nothing has to be kept "for a week and hope".
//!
//! A message published on a topic reaches every subscriber, and each must
//! consume its own copy of the token: a token is one item per receiver, all
//! in the token's partition (`kv.tokens.*`, key `<token>/<receiver>`; a
//! child's are in its parent's partition, `<parent>/<own part>/<receiver>`),
//! made in one atomic batch.
//!
//! A receiver that sends messages of its own (Orders) mints their tokens as
//! **children** of the token that let its request in ([`child_token`]):
//! `<parent>.<uuid>`, kept in the parent's partition and created in one
//! batch with a check that the parent still has the version the minter read
//! ([`TokenStore::create_children`]). Once the parent is consumed no child
//! of it can be created any more, by any attempt, however late: so the
//! children left then that no stored message carries (minted by attempts
//! that lost) can be listed ([`TokenStore::children`]) and deleted for good.
//!
//! Receivers other than Orders (Billing, Marketing) go through a gate
//! ([`TokenStore::admit`]) that does the same for them, and logs what it
//! let through and saw to the end ([`TokenStore::admissions`]): the tests
//! read there what was processed downstream.

use std::sync::{Arc, Mutex};

use harness::{Condition, DocumentStore, Envelope, Error, MessageId, Sim, Version};

/// The name of the token store (fault points `kv.tokens.*`).
pub const TOKEN_STORE: &str = "tokens";

/// The header that carries a message's token id.
pub const TOKEN_HEADER: &str = "token-id";

/// The token id a message carries, if any.
///
/// ```
/// use harness::{Envelope, MessageId};
/// use shop::orders::kv::{TOKEN_HEADER, token_of};
///
/// let message = Envelope::new(MessageId::from_u128(1), "AddItem", &());
/// assert_eq!(token_of(&message), None);
/// let message = message.with_header(TOKEN_HEADER, "t-1");
/// assert_eq!(token_of(&message), Some("t-1"));
/// ```
pub fn token_of(message: &Envelope) -> Option<&str> {
    message.header(TOKEN_HEADER)
}

/// The separator between a child token's parent and its own part.
const CHILD_SEPARATOR: char = '.';

/// The id of a child of `parent`: `<parent>.<unique>`, in the parent's
/// partition.
///
/// ```
/// use shop::orders::kv::child_token;
/// assert_eq!(child_token("t-1", "u-7"), "t-1.u-7");
/// ```
pub fn child_token(parent: &str, unique: &str) -> String {
    format!("{parent}{CHILD_SEPARATOR}{unique}")
}

/// Where `receiver`'s copy of `token` is kept: the partition (the token's
/// root: itself, or its parent) and the item's id there.
fn place(token: &str, receiver: &str) -> (String, String) {
    match token.split_once(CHILD_SEPARATOR) {
        Some((parent, own)) => (parent.to_string(), format!("{own}/{receiver}")),
        None => (token.to_string(), receiver.to_string()),
    }
}

/// The token and receiver of the item `id` in `partition` (see [`place`]).
fn token_at(partition: &str, id: &str) -> (String, String) {
    match id.rsplit_once('/') {
        Some((own, receiver)) => (child_token(partition, own), receiver.to_string()),
        None => (partition.to_string(), id.to_string()),
    }
}

/// One message a receiver's gate let through and saw handled to the end
/// (its token consumed), with the token that allowed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The receiver (its queue).
    pub receiver: String,
    /// The message's id.
    pub message: MessageId,
    /// The message's type.
    pub message_type: String,
    /// The token that let it through.
    pub token: String,
}

/// The tokens of the messages in flight. Cheap to clone: clones share the
/// store and the log of admissions.
///
/// ```
/// use harness::Sim;
/// use shop::orders::kv::TokenStore;
///
/// let tokens = TokenStore::new(&Sim::new(1));
/// tokens.create("t-1", &["billing".to_string()]).unwrap();
/// let version = tokens.find("t-1", "billing").unwrap().unwrap();
/// tokens.consume("t-1", "billing", version).unwrap();
/// assert_eq!(tokens.find("t-1", "billing").unwrap(), None);
/// assert!(tokens.store().is_empty());
/// ```
#[derive(Clone)]
pub struct TokenStore {
    store: DocumentStore,
    admissions: Arc<Mutex<Vec<Admission>>>,
}

impl TokenStore {
    /// An empty token store.
    pub fn new(sim: &Sim) -> TokenStore {
        TokenStore {
            store: DocumentStore::new(sim, TOKEN_STORE),
            admissions: Arc::default(),
        }
    }

    /// Creates the token `token` for each of `receivers`, create-only, in
    /// one write (an atomic batch in the token's partition: its parent's,
    /// for a child, and unfenced). Creating a token that exists is refused
    /// (a conflict). No receiver, no write.
    pub fn create(&self, token: &str, receivers: &[String]) -> Result<(), Error> {
        if receivers.is_empty() {
            return Ok(());
        }
        let (partition, _) = place(token, "");
        let mut batch = self.store.batch(&partition);
        for receiver in receivers {
            batch.put(&place(token, receiver).1, &(), Condition::CreateOnly);
        }
        batch.commit()?;
        Ok(())
    }

    /// Creates `children` (each a [`child_token`] of `parent`, with its
    /// receivers), create-only, in one batch in the parent's partition,
    /// only if `owner`'s copy of `parent` still has `version`: the fence.
    /// A parent consumed (or moved on by another minter) refuses the whole
    /// batch with a conflict, and nothing is created. The batch rewrites the
    /// parent unchanged to check it (Cosmos DB would read it with If-Match
    /// in the batch, DynamoDB use a `ConditionCheck`), so its version moves:
    /// the new one is returned, for the consume.
    ///
    /// ```
    /// use harness::Sim;
    /// use shop::orders::kv::{TokenStore, child_token};
    ///
    /// let tokens = TokenStore::new(&Sim::new(1));
    /// let billing = vec!["billing".to_string()];
    /// tokens.create("t-1", &["orders".to_string()]).unwrap();
    /// let read = tokens.find("t-1", "orders").unwrap().unwrap();
    /// let child = child_token("t-1", "a");
    /// let now = tokens
    ///     .create_children("t-1", "orders", read, &[(child.clone(), billing.clone())])
    ///     .unwrap();
    /// assert!(tokens.find(&child, "billing").unwrap().is_some());
    /// tokens.consume("t-1", "orders", now).unwrap();
    /// // The parent is consumed: no child of it can be made any more.
    /// let late = [(child_token("t-1", "b"), billing)];
    /// let refused = tokens.create_children("t-1", "orders", now, &late);
    /// assert!(refused.unwrap_err().is_conflict());
    /// assert_eq!(tokens.children("t-1").unwrap(), [(child, "billing".to_string())]);
    /// ```
    pub fn create_children(
        &self,
        parent: &str,
        owner: &str,
        version: Version,
        children: &[(String, Vec<String>)],
    ) -> Result<Version, Error> {
        let mut batch = self.store.batch(parent);
        batch.put(owner, &(), Condition::IfMatch(version));
        for (child, receivers) in children {
            for receiver in receivers {
                batch.put(&place(child, receiver).1, &(), Condition::CreateOnly);
            }
        }
        let versions = batch.commit()?;
        Ok(versions[0].unwrap_or(version))
    }

    /// The children of `parent` still in the store, as `(token, receiver)`
    /// pairs: one read of the parent's partition.
    pub fn children(&self, parent: &str) -> Result<Vec<(String, String)>, Error> {
        let items = self.store.list::<()>(parent)?;
        let children = items
            .iter()
            .map(|(id, _)| token_at(parent, id))
            .filter(|(token, _)| token != parent)
            .collect();
        Ok(children)
    }

    /// Deletes `receiver`'s copy of `token` whatever its version: for a
    /// token no message carries, which nobody will ever consume. (Absent
    /// already: nothing to do, no error.)
    pub fn discard(&self, token: &str, receiver: &str) -> Result<(), Error> {
        let (partition, id) = place(token, receiver);
        self.store.delete(&partition, &id, Condition::Always)
    }

    /// The version of `receiver`'s copy of the token, or `None` when there
    /// is none: consumed already, or never created (one read).
    pub fn find(&self, token: &str, receiver: &str) -> Result<Option<Version>, Error> {
        let (partition, id) = place(token, receiver);
        let found = self.store.get::<()>(&partition, &id)?;
        Ok(found.map(|document| document.version))
    }

    /// Consumes `receiver`'s copy of the token if it still has `version`
    /// (a conditional delete: we are still its owner). A token consumed
    /// already is a conflict.
    pub fn consume(&self, token: &str, receiver: &str, version: Version) -> Result<(), Error> {
        let (partition, id) = place(token, receiver);
        self.store
            .delete(&partition, &id, Condition::IfMatch(version))
    }

    /// The gate of a receiver other than Orders: lets `message` through to
    /// `handle` while `receiver`'s token exists, then consumes the token.
    /// A message without a token goes through unchecked (the receiver's own
    /// dedup, as before tokens, is then all it has). `Ok(false)` when the
    /// message was a duplicate and `handle` did not run.
    pub fn admit<E: From<Error>>(
        &self,
        receiver: &str,
        message: &Envelope,
        handle: impl FnOnce() -> Result<(), E>,
    ) -> Result<bool, E> {
        let Some(token) = token_of(message) else {
            handle()?;
            return Ok(true);
        };
        let Some(version) = self.find(token, receiver)? else {
            return Ok(false); // consumed already: a copy
        };
        handle()?;
        match self.consume(token, receiver, version) {
            // Another copy consumed it while this one worked: both did the
            // same work, which was handled twice.
            Err(err) if err.is_conflict() => {}
            Err(err) => return Err(err.into()),
            Ok(()) => {}
        }
        self.admissions_lock().push(Admission {
            receiver: receiver.to_string(),
            message: message.id,
            message_type: message.message_type.clone(),
            token: token.to_string(),
        });
        Ok(true)
    }

    /// Every message a gate let through and saw handled to the end, in
    /// order. A message handled again after its receiver failed before
    /// consuming its token counts once: the first attempt did not end.
    pub fn admissions(&self) -> Vec<Admission> {
        self.admissions_lock().clone()
    }

    fn admissions_lock(&self) -> std::sync::MutexGuard<'_, Vec<Admission>> {
        self.admissions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The tokens left, as `(token, receiver)` pairs, oldest key first.
    pub fn left(&self) -> Vec<(String, String)> {
        let keys = self.store.keys();
        keys.iter()
            .map(|(partition, id)| token_at(partition, id))
            .collect()
    }

    /// The store underneath (for the tests and the reports).
    pub fn store(&self) -> &DocumentStore {
        &self.store
    }
}
