//! The outbox's flight recorder, for the consistency report and the tests.
//!
//! A trigger copies every row inserted into `outbox` into `outbox_journal`.
//! The copy belongs to the same transaction: it is kept exactly when the row
//! is committed, and it stays when the row is marked dispatched or deleted.
//! So the journal holds every message the outbox ever promised to send.

use std::collections::BTreeSet;
use std::fmt;

use harness::sql::SqlStore;
use harness::{Broker, Error, headers};

use super::outgoing::Outbound;
use super::table::{from_json, kind_from};

const SCHEMA: &str = "
    create table if not exists outbox_journal (
        message_id text not null,
        request_id text not null,
        kind text not null,
        destination text not null,
        envelope text not null
    );
    create trigger if not exists outbox_journal_copy after insert on outbox begin
        insert into outbox_journal (message_id, request_id, kind, destination, envelope)
        values (new.message_id, new.request_id, new.kind, new.destination, new.envelope);
    end;";

/// A message the outbox stored in a committed transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The request whose handling made it.
    pub request_id: String,
    /// The message, as stored.
    pub outbound: Outbound,
}

/// The recorder over one database.
#[derive(Clone)]
pub struct Journal {
    db: SqlStore,
}

impl Journal {
    /// Starts recording the outbox of `db` (its tables must exist).
    pub fn install(db: &SqlStore) -> Result<Journal, Error> {
        db.execute_batch(SCHEMA)?;
        Ok(Journal { db: db.clone() })
    }

    /// Every message stored in a committed transaction, in the order stored.
    pub fn committed(&self) -> Result<Vec<Stored>, Error> {
        let rows: Vec<(String, String, String, String)> = self.db.query_map(
            "select request_id, kind, destination, envelope from outbox_journal order by rowid",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )?;
        rows.into_iter()
            .map(|(request_id, kind, destination, envelope)| {
                Ok(Stored {
                    request_id,
                    outbound: Outbound {
                        kind: kind_from(&kind)?,
                        destination,
                        envelope: from_json(&envelope)?,
                    },
                })
            })
            .collect()
    }

    /// The ids of the messages the outbox still holds as not dispatched.
    pub fn pending(&self) -> Result<Vec<String>, Error> {
        self.db.query_map(
            "select message_id from outbox where dispatched = 0 order by rowid",
            [],
            |row| row.get(0),
        )
    }

    /// Compares what the outbox stored with what `endpoint` sent.
    pub fn report(&self, broker: &Broker, endpoint: &str) -> Result<OutboxReport, Error> {
        let stored = self.committed()?;
        let stored_ids: BTreeSet<_> = stored.iter().map(|s| s.outbound.envelope.id).collect();
        let sent: Vec<_> = broker
            .sent_log()
            .into_iter()
            .filter(|record| record.envelope.header(headers::SENDER) == Some(endpoint))
            .collect();
        let sent_ids: BTreeSet<_> = sent.iter().map(|record| record.envelope.id).collect();
        Ok(OutboxReport {
            stored: stored.len(),
            sent: sent.len(),
            never_sent: stored_ids.difference(&sent_ids).count(),
            never_stored: sent_ids.difference(&stored_ids).count(),
            pending: self.pending()?.len(),
        })
    }
}

/// What the outbox stored and what went out, in numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxReport {
    /// Messages stored in committed transactions.
    pub stored: usize,
    /// Messages sent or published, copies included.
    pub sent: usize,
    /// Stored messages that never went out (lost, or stuck in the outbox).
    pub never_sent: usize,
    /// Messages that went out but were never stored: sent by an attempt
    /// that rolled back (ghosts), or under a new id.
    pub never_stored: usize,
    /// Messages still marked as not dispatched.
    pub pending: usize,
}

impl OutboxReport {
    /// True when every stored message went out, nothing else did, and
    /// nothing is left pending.
    pub fn is_clean(&self) -> bool {
        self.never_sent == 0 && self.never_stored == 0 && self.pending == 0
    }
}

impl fmt::Display for OutboxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  Outbox:     {} stored with their changes, {} sends (copies included)",
            self.stored, self.sent
        )?;
        let lines = [
            (
                "never sent",
                self.never_sent,
                "stored with a change, never went out",
            ),
            (
                "not stored",
                self.never_stored,
                "went out, but no committed transaction stored it",
            ),
            (
                "pending",
                self.pending,
                "still waiting in the outbox after everything was delivered",
            ),
        ];
        for (name, count, meaning) in lines {
            writeln!(f, "  {:<11} {count:>4}  ({meaning})", format!("{name}:"))?;
        }
        Ok(())
    }
}
