//! The outbox's two tables, next to the business tables in the same
//! database, and the few statements the middleware needs.
//!
//! - `processed`: one row per change of a state (an order), numbered 1, 2,
//!   3 … for each state: its **version**. Each row names the request that
//!   made the change. The highest number is the state's version; a request
//!   with a row was handled, and its change and outgoing messages are
//!   committed, so a copy of it changes nothing.
//! - `outbox`: the outgoing messages, as they go on the wire, each with the
//!   request whose handling made it; `dispatched` says whether it went out.

use harness::sql::{SqlStore, Tx, params};
use harness::{Envelope, Error};

use super::delivery::Delivery;
use super::outgoing::{Kind, Outbound, Outgoing};

/// The tables of the outbox.
pub const SCHEMA: &str = "
    create table if not exists processed (
        state_key text not null,
        version integer not null,
        request_id text not null,
        primary key (state_key, version)
    );
    create table if not exists outbox (
        message_id text primary key,
        request_id text not null,
        position integer not null,
        kind text not null,
        destination text not null,
        envelope text not null,
        dispatched integer not null default 0
    );";

/// Creates the outbox's tables in `db` (if they are not there yet).
pub fn create_tables(db: &SqlStore) -> Result<(), Error> {
    db.execute_batch(SCHEMA)
}

/// The state's version: how many changes it has had (0 for a new state).
pub fn version(tx: &Tx<'_>, state_key: &str) -> Result<i64, Error> {
    tx.query_row(
        "select coalesce(max(version), 0) from processed where state_key = ?1",
        params![state_key],
        |row| row.get(0),
    )
}

/// True when the request was handled before: its change and its messages
/// are committed.
pub fn is_processed(tx: &Tx<'_>, request_id: &str) -> Result<bool, Error> {
    let found: Option<i64> = tx.query_optional(
        "select 1 from processed where request_id = ?1",
        params![request_id],
        |row| row.get(0),
    )?;
    Ok(found.is_some())
}

/// Remembers that the request was handled: it made the order's next
/// version, whichever that is when this statement runs.
pub fn mark_processed(tx: &Tx<'_>, request: &Delivery) -> Result<(), Error> {
    tx.execute(
        "insert into processed (state_key, version, request_id)
         values (?1, (select coalesce(max(version), 0) + 1 from processed where state_key = ?1), ?2)",
        params![request.order_id(), request.id()],
    )?;
    Ok(())
}

/// Remembers that the request made version `version` of its order. Two
/// writers cannot both make one version: the second gets an error whose
/// `is_conflict()` is true, and its transaction rolls back.
pub fn mark_version(tx: &Tx<'_>, request: &Delivery, version: i64) -> Result<(), Error> {
    tx.execute(
        "insert into processed (state_key, version, request_id) values (?1, ?2, ?3)",
        params![request.order_id(), version, request.id()],
    )?;
    Ok(())
}

/// Stores the handler's messages for the request, not dispatched yet.
pub fn store(tx: &Tx<'_>, request_id: &str, outgoing: &Outgoing) -> Result<(), Error> {
    for (position, outbound) in outgoing.messages().iter().enumerate() {
        tx.execute(
            "insert into outbox (message_id, request_id, position, kind, destination, envelope)
             values (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                outbound.envelope.id.to_string(),
                request_id,
                position as i64,
                kind_name(outbound.kind),
                outbound.destination,
                to_json(&outbound.envelope)?,
            ],
        )?;
    }
    Ok(())
}

/// The request's stored messages that have not been dispatched, in the
/// order the handler described them, as stored: same ids, same bodies.
pub fn pending(db: &SqlStore, request_id: &str) -> Result<Vec<Outbound>, Error> {
    let rows = db.query_map(PENDING, params![request_id], pending_row)?;
    rows.into_iter().map(outbound_from).collect()
}

/// [`pending`], inside a transaction.
pub fn pending_in(tx: &Tx<'_>, request_id: &str) -> Result<Vec<Outbound>, Error> {
    let rows = tx.query_map(PENDING, params![request_id], pending_row)?;
    rows.into_iter().map(outbound_from).collect()
}

const PENDING: &str = "select kind, destination, envelope from outbox
     where request_id = ?1 and dispatched = 0 order by position";

/// The columns of one `outbox` row that [`PENDING`] reads.
type PendingRow = (String, String, String);

fn pending_row(row: &harness::sql::Row<'_>) -> rusqlite::Result<PendingRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn outbound_from((kind, destination, envelope): PendingRow) -> Result<Outbound, Error> {
    Ok(Outbound {
        kind: kind_from(&kind)?,
        destination,
        envelope: from_json(&envelope)?,
    })
}

/// Marks the request's messages dispatched: a later copy sends nothing.
pub fn mark_dispatched(db: &SqlStore, request_id: &str) -> Result<(), Error> {
    db.execute(
        "update outbox set dispatched = 1 where request_id = ?1",
        params![request_id],
    )?;
    Ok(())
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Publish => "publish",
        Kind::Send => "send",
    }
}

/// The kind of a stored message, as [`kind_name`] wrote it.
pub(crate) fn kind_from(name: &str) -> Result<Kind, Error> {
    match name {
        "publish" => Ok(Kind::Publish),
        "send" => Ok(Kind::Send),
        other => Err(Error::Other(format!("unknown outbox kind `{other}`"))),
    }
}

fn to_json(envelope: &Envelope) -> Result<String, Error> {
    serde_json::to_string(envelope).map_err(|err| bad_row(&envelope.message_type, err))
}

/// A stored message, read back as it was stored.
pub(crate) fn from_json(text: &str) -> Result<Envelope, Error> {
    serde_json::from_str(text).map_err(|err| bad_row("outbox row", err))
}

fn bad_row(what: &str, err: serde_json::Error) -> Error {
    Error::BadBody {
        message_type: what.to_string(),
        reason: err.to_string(),
    }
}
