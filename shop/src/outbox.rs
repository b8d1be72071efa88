//! The outbox: one middleware that makes any handler safe against crashes
//! and copies, over the relational store, even when two copies of a
//! request run at the same time.
//!
//! A handler only *describes* what a request does: how the state changes
//! (it changes a plain struct) and which messages go out (it adds them to
//! an [`Outgoing`]). The middleware does everything else, in short steps,
//! so that the database is never held while a handler runs:
//!
//! 1. **Load**, in one short read: the state, its version, whether the
//!    request was handled, and the messages its outbox still holds.
//! 2. Unless it was handled: run the handler (nothing held), then **write**
//!    in one short transaction the state, the request as processed (making
//!    the next version) and the outgoing messages. All of it, or none of it.
//! 3. **Dispatch** the request's messages, as stored: a retry or a copy of
//!    the request sends the very same messages again, never new ones.
//! 4. **Mark** them dispatched, so that a later copy sends nothing.
//! 5. Return `Ok`: the world acknowledges the request.
//!
//! A crash anywhere leaves the request in the queue; its next delivery
//! either does the whole of step 2 (nothing was committed) or skips it and
//! goes on with step 3. Another worker may run between any two steps, with
//! another request for the same state or a copy of the same one: a write
//! must never land on top of a change its load did not see.
//! `outbox/table.rs` has the tables.

mod journal;
mod outgoing;
pub mod table;

pub use journal::{Journal, OutboxReport, Stored};
pub use outgoing::{Kind, Outbound, Outgoing};

use harness::sql::{SqlStore, Tx};
use harness::{Envelope, Error, HandlerContext, HandlerError};
use serde::de::DeserializeOwned;

use crate::chaos::Chaos;

/// A message the outbox can handle: a request to change one piece of state.
pub trait Request: DeserializeOwned {
    /// The request's id: every copy and every re-send of the request
    /// carries it, so the outbox handles it once.
    fn request_id(&self) -> String;
    /// The key of the state it changes (an order's id).
    fn state_key(&self) -> &str;
}

/// State that lives in the relational store: an order, a customer …
pub trait State: Sized {
    /// Reads the state with this key, inside the transaction (a new, empty
    /// state if there is none yet).
    fn load(tx: &Tx<'_>, key: &str) -> Result<Self, Error>;
    /// Writes the state back, inside the same transaction; `message` is the
    /// request that changed it.
    fn save(&self, tx: &Tx<'_>, key: &str, message: &Envelope) -> Result<(), Error>;
}

/// What one load found (step 1).
struct Loaded<S> {
    /// The state, as the handler will see it.
    state: S,
    /// Its version: how many changes it has had.
    version: i64,
    /// Whether the request was handled before.
    processed: bool,
    /// The request's stored messages that have not been dispatched.
    pending: Vec<Outbound>,
}

/// The outbox middleware over one database. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    db: SqlStore,
    /// The chaos monkeys between the endpoint and the broker.
    monkeys: Chaos,
}

impl Outbox {
    /// An outbox over `db` (its tables must exist: [`table::create_tables`])
    /// that sends through `monkeys`.
    pub fn new(db: &SqlStore, monkeys: &Chaos) -> Outbox {
        Outbox {
            db: db.clone(),
            monkeys: monkeys.clone(),
        }
    }

    /// Handles `message` with `handler`, exactly once as far as anyone can
    /// tell, however often the message is delivered, wherever a crash
    /// strikes and whoever runs at the same time. The handler says what the
    /// request does to a state `S` and what it sends; it stores nothing and
    /// sends nothing itself.
    pub fn handle<S: State, R: Request>(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
        handler: fn(&mut S, &R, &mut Outgoing) -> Result<(), Error>,
    ) -> Result<(), HandlerError> {
        let request: R = message.body()?;
        let request_id = request.request_id();
        let key = request.state_key();
        let to_send = loop {
            // 1. One short read: the state, its version, and the request's
            //    outbox.
            let loaded: Loaded<S> = self.load(ctx, key, &request_id)?;
            if loaded.processed {
                // Handled before, by an earlier attempt or by a copy: send
                // what its outbox still holds.
                break loaded.pending;
            }
            // 2. The handler, with nothing held; then one short write, which
            //    makes the version after the one loaded, or fails.
            let mut state = loaded.state;
            let mut outgoing = Outgoing::new(ctx.sim(), message, key);
            handler(&mut state, &request, &mut outgoing)?;
            let next = loaded.version + 1;
            match self.write(ctx, key, next, &request_id, &state, &outgoing) {
                Ok(()) => break outgoing.messages().to_vec(),
                // Someone made that version since the load: a copy of this
                // request, or another request. What the handler decided is
                // out of date: load again and decide again.
                Err(err) if err.is_conflict() => continue,
                Err(err) => return Err(err.into()),
            }
        };
        // 3. Send them, as stored.
        for outbound in &to_send {
            self.dispatch(ctx, outbound)?;
        }
        // 4. Only once everything is out: nothing left to send.
        table::mark_dispatched(&self.db, &request_id)?;
        // 5. Ok: the world acknowledges the message.
        Ok(())
    }

    /// Step 1: the state with `key`, its version, and the request's
    /// outbox, in one short read transaction (one consistent view).
    fn load<S: State>(
        &self,
        ctx: &HandlerContext,
        key: &str,
        request_id: &str,
    ) -> Result<Loaded<S>, Error> {
        let loaded = self.db.transaction(|tx| {
            Ok(Loaded {
                state: S::load(tx, key)?,
                version: table::version(tx, key)?,
                processed: table::is_processed(tx, request_id)?,
                pending: table::pending(tx, request_id)?,
            })
        })?;
        let found = if loaded.processed {
            format!(
                "handled already, {} to send",
                messages(loaded.pending.len())
            )
        } else {
            "not handled yet".to_string()
        };
        let request = ctx.sim().message_ref(ctx.message());
        let version = loaded.version;
        note(
            ctx,
            format!("loaded {key} at version {version}: {request} {found}"),
        );
        Ok(loaded)
    }

    /// Step 2's write: the state, the request as the change that made
    /// `version`, and its outgoing messages, in one short transaction. A
    /// conflict (`is_conflict()`) if `version` exists already.
    fn write<S: State>(
        &self,
        ctx: &HandlerContext,
        key: &str,
        version: i64,
        request_id: &str,
        state: &S,
        outgoing: &Outgoing,
    ) -> Result<(), Error> {
        self.db.transaction(|tx| {
            table::mark_processed(tx, key, version, request_id)?;
            state.save(tx, key, ctx.message())?;
            table::store(tx, request_id, outgoing)
        })?;
        let request = ctx.sim().message_ref(ctx.message());
        let sending = messages(outgoing.messages().len());
        note(
            ctx,
            format!("wrote {key} version {version} for {request}, with {sending} to send"),
        );
        Ok(())
    }

    /// Sends one stored message now (not when the handler returns), through
    /// the monkeys.
    fn dispatch(&self, ctx: &mut HandlerContext, outbound: &Outbound) -> Result<(), Error> {
        self.monkeys.send(
            &outbound.envelope,
            &mut |message: &Envelope| match outbound.kind {
                Kind::Publish => ctx.publish_immediately(&outbound.destination, message.clone()),
                Kind::Send => ctx.send_immediately(&outbound.destination, message.clone()),
            },
        )
    }
}

/// Says in the run's trace what a step found or did, so that a failing run
/// reads as a story.
fn note(ctx: &HandlerContext, text: String) {
    ctx.sim().note(&text);
}

/// "1 message", "2 messages", "no message".
fn messages(count: usize) -> String {
    match count {
        0 => "no message".to_string(),
        1 => "1 message".to_string(),
        n => format!("{n} messages"),
    }
}
