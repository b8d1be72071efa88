//! Orders in the relational store: one row per order, and the order's
//! history, one row per change, with the message that made it.

use harness::sql::{SqlStore, Tx, params};
use harness::{Envelope, Error, MessageId};

use crate::Order;

/// The tables of the Orders service.
pub const SCHEMA: &str = "
    create table if not exists orders (
        id text primary key,
        cart_id text not null,
        customer text not null,
        deliver_to text not null,
        items text not null,
        added text not null,
        payment_booked integer not null
    );
    create table if not exists order_history (
        order_id text not null,
        version integer not null,
        message_id text not null,
        message_type text not null,
        primary key (order_id, version)
    );";

const SELECT: &str = "select id, cart_id, customer, deliver_to, items, added, payment_booked
     from orders where id = ?1";

/// One change of one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The order.
    pub order_id: String,
    /// Its version after the change: 1 for the first.
    pub version: i64,
    /// The message whose handling made the change.
    pub message_id: MessageId,
}

/// Reads the order inside the transaction (a new, empty order if it was not
/// placed yet).
pub fn load(tx: &Tx<'_>, key: &str) -> Result<Order, Error> {
    let found = tx.query_optional(SELECT, params![key], read_row)?;
    match found {
        Some(row) => from_row(row),
        // Not placed yet: a new, empty order.
        None => Ok(Order::default()),
    }
}

/// Writes the order inside the transaction, and the change to its history:
/// `message` made it.
pub fn save(tx: &Tx<'_>, key: &str, order: &Order, message: &Envelope) -> Result<(), Error> {
    tx.execute(
        "insert into orders (id, cart_id, customer, deliver_to, items, added, payment_booked)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         on conflict (id) do update set
             added = excluded.added, payment_booked = excluded.payment_booked",
        params![
            key,
            order.cart_id,
            order.customer,
            order.deliver_to,
            to_json(&order.items),
            to_json(&order.added),
            order.payment_booked,
        ],
    )?;
    tx.execute(
        "insert into order_history (order_id, version, message_id, message_type)
         values (?1, (select count(*) + 1 from order_history where order_id = ?1), ?2, ?3)",
        params![key, message.id.to_string(), message.message_type],
    )?;
    Ok(())
}

/// The order, if it was placed.
pub fn find(db: &SqlStore, order_id: &str) -> Result<Option<Order>, Error> {
    match db.query_optional(SELECT, params![order_id], read_row)? {
        Some(row) => Ok(Some(from_row(row)?)),
        None => Ok(None),
    }
}

/// Every change of every order, oldest first.
pub fn changes(db: &SqlStore) -> Result<Vec<Change>, Error> {
    let rows: Vec<(String, i64, String)> = db.query_map(
        "select order_id, version, message_id from order_history order by rowid",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    rows.into_iter()
        .map(|(order_id, version, message_id)| {
            let uuid = message_id.parse().map_err(|_| {
                Error::Other(format!(
                    "order_history holds a bad message id: {message_id}"
                ))
            })?;
            Ok(Change {
                order_id,
                version,
                message_id: MessageId::from_uuid(uuid),
            })
        })
        .collect()
}

/// The columns of one `orders` row.
type Row = (String, String, String, String, String, String, bool);

fn read_row(row: &harness::sql::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn from_row(row: Row) -> Result<Order, Error> {
    let (id, cart_id, customer, deliver_to, items, added, payment_booked) = row;
    Ok(Order {
        id,
        cart_id,
        customer,
        deliver_to,
        items: from_json(&items)?,
        added: from_json(&added)?,
        payment_booked,
    })
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_string())
}

fn from_json(text: &str) -> Result<Vec<String>, Error> {
    serde_json::from_str(text).map_err(|err| Error::BadBody {
        message_type: "orders row".to_string(),
        reason: err.to_string(),
    })
}
