//! The outbox: one middleware that makes any handler safe against crashes
//! and copies, over the relational store.
//!
//! A handler only *describes* what a request does: how the state changes
//! (it changes a plain struct) and which messages go out (it adds them to
//! an [`Outgoing`]). The middleware does everything else:
//!
//! 1. In **one transaction**: unless the request was handled before, load
//!    the state, run the handler, save the state, remember the request as
//!    processed, and store the outgoing messages. All of it, or none of it.
//! 2. **Dispatch** the request's stored messages that have not gone out,
//!    with the stored ids and bodies: a retry or a copy of the request sends
//!    the very same messages again, never new ones.
//! 3. **Mark** them dispatched, so that a later copy sends nothing.
//! 4. Return `Ok`: the world acknowledges the request.
//!
//! A crash anywhere leaves the request in the queue; its next delivery
//! either does the whole of step 1 (nothing was committed) or skips it and
//! goes on with step 2. See `outbox/table.rs` for the tables.

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
    /// tell, however often the message is delivered and wherever a crash
    /// strikes. The handler says what the request does to a state `S` and
    /// what it sends; it stores nothing and sends nothing itself.
    pub fn handle<S: State, R: Request>(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
        handler: fn(&mut S, &R, &mut Outgoing) -> Result<(), Error>,
    ) -> Result<(), HandlerError> {
        let request: R = message.body()?;
        let request_id = request.request_id();
        let key = request.state_key();
        // 1. The change, the processed mark and the outgoing messages: one
        //    transaction. A copy of a handled request skips it.
        self.db.transaction(|tx| {
            if table::is_processed(tx, &request_id)? {
                return Ok(());
            }
            let mut state = S::load(tx, key)?;
            let mut outgoing = Outgoing::new(ctx.sim(), message, key);
            handler(&mut state, &request, &mut outgoing)?;
            state.save(tx, key, message)?;
            table::mark_processed(tx, &request_id)?;
            table::store(tx, &request_id, &outgoing)
        })?;
        // 2. Send what is stored and not sent yet, as it was stored: after
        //    a crash, this copy sends what an earlier attempt could not.
        for outbound in table::pending(&self.db, &request_id)? {
            self.dispatch(ctx, &outbound)?;
        }
        // 3. Only once everything is out: nothing left to send.
        table::mark_dispatched(&self.db, &request_id)?;
        // 4. Ok: the world acknowledges the message.
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
