//! A relational store: real SQLite (through `rusqlite`) with real
//! transactions, so that "business change + processed-message id + outbox
//! rows in one commit" is the real thing, not a simulation of it.
//!
//! A [`SqlStore`] lives in memory (for tests) or in a file (for demos). Handler
//! code works inside [`SqlStore::transaction`]: the closure gets a [`Tx`], and
//! the transaction commits when the closure returns `Ok` and rolls back when
//! it returns `Err` (or panics).
//!
//! ```
//! use harness::sql::{SqlStore, params};
//! use harness::Sim;
//!
//! let sim = Sim::new(1);
//! let db = SqlStore::in_memory(&sim, "shop");
//! db.execute_batch("create table orders (id text primary key, cart text not null)").unwrap();
//!
//! let count = db.transaction(|tx| {
//!     tx.execute("insert into orders (id, cart) values (?1, ?2)", params!["o-1", "c-1"])?;
//!     let count: i64 = tx.query_row("select count(*) from orders", [], |row| row.get(0))?;
//!     Ok(count)
//! }).unwrap();
//! assert_eq!(count, 1);
//!
//! // Inserting the same primary key again is refused: primary-key deduplication.
//! let err = db.execute("insert into orders (id, cart) values ('o-1', 'c-1')", []).unwrap_err();
//! assert!(err.is_conflict());
//! ```
//!
//! Fault points, with [`Fault::FailBefore`](crate::Fault::FailBefore), [`Fault::FailAfter`](crate::Fault::FailAfter) and
//! [`Fault::Delay`](crate::Fault::Delay) (other faults mean nothing to a database and are ignored):
//!
//! - `sql.<name>.begin` — before a transaction starts. Nothing is held yet,
//!   so this is the place for an interleaving ("another worker's whole
//!   transaction runs right now").
//! - `sql.<name>.execute` — each statement that may write ([`Tx::execute`],
//!   [`SqlStore::execute`], [`SqlStore::execute_batch`]). Fail after: the
//!   statement ran, then the caller gets an error (inside a transaction, the
//!   usual `?` then rolls it back).
//! - `sql.<name>.query` — each read ([`Tx::query_row`], [`Tx::query_optional`],
//!   [`Tx::query_map`] and the same on the store).
//! - `sql.<name>.commit` — fail before: the transaction is rolled back and
//!   the caller gets an error; fail after: the transaction **is committed**
//!   and the caller still gets an error (the lost acknowledgement).
//!
//! SQLite runs one write transaction at a time, and a second writer waits
//! for the first to finish (SQLite's busy timeout). When the world's
//! scheduler runs workers in turns, a worker takes its turn at
//! `sql.<name>.begin` (and at reads and statements outside a transaction),
//! never while its transaction is open: the transaction runs as one step,
//! the statement and commit points still fail when a fault strikes there,
//! and the other workers run before or after it. Code that uses a store
//! while a transaction on it is open gets an error saying the database is
//! locked, as a second SQLite connection that does not wait would: on the
//! same thread (using the store instead of `tx` inside the closure, or an
//! interleaving at a statement point — interleave at `sql.<name>.begin`
//! instead), and in another worker whose turn came while the first one held
//! the database (a handler that gives up its turn inside a transaction, say
//! by calling another store). Without a scheduler (real threads, as in a
//! demo server), a second thread waits for the transaction to finish.

mod reuse;
mod saved;

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::{self, ThreadId};

use rusqlite::Connection;

pub use reuse::set_reuse;
pub use rusqlite::{OptionalExtension, Params, Row, ToSql, params};

use crate::drift::FastMap;
use crate::sim::{Restore, Saved};
use crate::{Error, EventKind, FaultPoint, Sim};
use reuse::Database;

/// The longest statement text kept in a trace event.
const TRACED_SQL_CHARS: usize = 80;

struct Shared {
    database: Mutex<Database>,
    /// The thread holding `database`, to turn a same-thread re-entry (which
    /// would deadlock) into a clear error.
    holder: Mutex<Option<ThreadId>>,
    /// Whether every statement run so far only read or changed rows, so that
    /// the database can be emptied and reused (see `sql/reuse.rs`).
    only_rows: AtomicBool,
}

impl Shared {
    /// Notes a statement that is about to run.
    fn note_statement(&self, rows_only: bool) {
        if !rows_only {
            self.only_rows.store(false, Ordering::Relaxed);
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if !self.only_rows.load(Ordering::Relaxed) {
            let database = self
                .database
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            database.keep_out_of_pool();
        }
    }
}

/// The rows are what a setup leaves in a SQL store (see
/// [`Sim::same_in_every_schedule`] and `sql/saved.rs`).
impl Restore for Shared {
    fn describe(&self) -> String {
        "a SQL store".to_string()
    }

    fn save(&self) -> Result<Saved, String> {
        if !self.only_rows.load(Ordering::Relaxed) {
            return Err("a SQL store that ran more than row statements".to_string());
        }
        let saved = saved::save(&mut lock_ignoring_poison(&self.database))?;
        Ok(Box::new(saved))
    }

    fn restore(&self, saved: &Saved) {
        let saved: &saved::SavedRows = saved.downcast_ref().expect("a SQL store's saved rows");
        saved::restore(&mut lock_ignoring_poison(&self.database), saved);
    }

    fn is_as(&self, saved: &Saved) -> bool {
        let saved: &saved::SavedRows = saved.downcast_ref().expect("a SQL store's saved rows");
        saved::is_as(&mut lock_ignoring_poison(&self.database), saved)
    }
}

/// A SQLite database. Cheap to clone: clones share the connection.
///
/// ```
/// use harness::{Sim, SqlStore};
///
/// let db = SqlStore::in_memory(&Sim::new(1), "shop");
/// db.execute_batch("create table carts (id text primary key)").unwrap();
/// db.execute("insert into carts (id) values (?1)", ["c-1"]).unwrap();
/// let same = db.clone();
/// let n: i64 = same.query_row("select count(*) from carts", [], |row| row.get(0)).unwrap();
/// assert_eq!(n, 1);
/// ```
#[derive(Clone)]
pub struct SqlStore {
    sim: Sim,
    name: String,
    shared: Arc<Shared>,
}

/// The connection, held by one thread; dropping it lets others in.
struct Held<'a> {
    database: MutexGuard<'a, Database>,
    holder: &'a Mutex<Option<ThreadId>>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *lock_ignoring_poison(self.holder) = None;
    }
}

fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A failing assertion inside a transaction must not turn every later use
    // of the store into a poisoned-lock panic that hides the first failure.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqlStore {
    /// A new, empty database in memory, called `name` (fault points
    /// `sql.<name>.*`). It lives as long as one clone of the handle does.
    ///
    /// ```
    /// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "orders");
    /// assert_eq!(db.name(), "orders");
    /// ```
    pub fn in_memory(sim: &Sim, name: &str) -> SqlStore {
        SqlStore::from_database(sim, name, Database::in_memory())
    }

    /// Opens (or creates) the database file at `path`, in WAL mode, for
    /// demos that keep their data between runs.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let sim = harness::Sim::new(1);
    /// let db = harness::SqlStore::open(&sim, "shop", dir.path().join("shop.db")).unwrap();
    /// db.execute_batch("create table if not exists carts (id text primary key)").unwrap();
    /// ```
    pub fn open(sim: &Sim, name: &str, path: impl AsRef<Path>) -> Result<SqlStore, Error> {
        let path = path.as_ref();
        let cannot_open = |err: rusqlite::Error| {
            Error::sqlite(format!("cannot open {}: {err}", path.display()), err)
        };
        let connection = Connection::open(path).map_err(cannot_open)?;
        // WAL lets a reader (say, a dashboard) look while the demo writes.
        connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(cannot_open)?;
        Ok(SqlStore::from_database(
            sim,
            name,
            Database::own(connection),
        ))
    }

    fn from_database(sim: &Sim, name: &str, database: Database) -> SqlStore {
        let store = SqlStore {
            sim: sim.clone(),
            name: name.to_string(),
            shared: Arc::new(Shared {
                database: Mutex::new(database),
                holder: Mutex::new(None),
                only_rows: AtomicBool::new(true),
            }),
        };
        let part = Arc::downgrade(&store.shared);
        sim.register(part);
        store
    }

    /// The store's name.
    ///
    /// ```
    /// assert_eq!(harness::SqlStore::in_memory(&harness::Sim::new(1), "x").name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the connection, or says why it cannot be taken.
    fn hold(&self) -> Result<Held<'_>, Error> {
        let me = thread::current().id();
        if *lock_ignoring_poison(&self.shared.holder) == Some(me) {
            return Err(Error::sql(format!(
                "database is locked: a transaction on SQL store {} is still open on this thread \
                 (SQLite runs one write transaction at a time). Inside a transaction closure, use \
                 its `tx`, not the store; to let another worker run between transactions, \
                 interleave at sql.{}.begin",
                self.name, self.name
            )));
        }
        let connection = if self.sim.has_scheduler() {
            // Workers take turns: one holding the connection is parked until
            // this one yields, so waiting for it would wait forever. Answer
            // as SQLite does when it will not wait: the database is locked.
            match self.shared.database.try_lock() {
                Ok(connection) => connection,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::sql(format!(
                        "database is locked: another worker's transaction on SQL store {} is \
                         still open (SQLite runs one write transaction at a time); the work can \
                         be retried once it has finished",
                        self.name
                    )));
                }
            }
        } else {
            lock_ignoring_poison(&self.shared.database)
        };
        *lock_ignoring_poison(&self.shared.holder) = Some(me);
        Ok(Held {
            database: connection,
            holder: &self.shared.holder,
        })
    }

    /// Runs several statements separated by `;`, without parameters and
    /// outside any transaction: for creating the schema.
    ///
    /// ```
    /// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// db.execute_batch("
    ///     create table carts (id text primary key, submitted integer not null default 0);
    ///     create table outbox (id text primary key, body text not null);
    /// ").unwrap();
    /// ```
    pub fn execute_batch(&self, sql: &str) -> Result<(), Error> {
        let fail_after = self.before("execute", sql)?;
        let mut held = self.hold()?;
        self.trace_statement(sql);
        held.database
            .execute_batch(sql)
            .map_err(|err| self.error(err))?;
        drop(held);
        self.after("execute", sql, fail_after)
    }

    /// Runs one statement in a transaction of its own; returns how many rows
    /// it changed. Same as `transaction(|tx| tx.execute(sql, params))`.
    ///
    /// ```
    /// use harness::sql::{SqlStore, params};
    /// let db = SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// db.execute_batch("create table carts (id text primary key)").unwrap();
    /// assert_eq!(db.execute("insert into carts (id) values (?1)", params!["c-1"]).unwrap(), 1);
    /// ```
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize, Error> {
        self.transaction(|tx| tx.execute(sql, params))
    }

    /// Reads exactly one row, outside any transaction; an error if there is
    /// none (use [`SqlStore::query_optional`] when the row may be absent).
    ///
    /// ```
    /// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// let answer: i64 = db.query_row("select 6 * 7", [], |row| row.get(0)).unwrap();
    /// assert_eq!(answer, 42);
    /// ```
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        self.before_read("query", sql)?;
        let mut held = self.hold()?;
        self.query_row_on(held.database.for_rows(), sql, params, read)
    }

    /// Reads at most one row, outside any transaction; `Ok(None)` if there is none.
    ///
    /// ```
    /// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// db.execute_batch("create table carts (id text primary key)").unwrap();
    /// let cart: Option<String> = db
    ///     .query_optional("select id from carts where id = ?1", ["c-9"], |row| row.get(0))
    ///     .unwrap();
    /// assert_eq!(cart, None);
    /// ```
    pub fn query_optional<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, Error> {
        self.before_read("query", sql)?;
        let mut held = self.hold()?;
        self.query_optional_on(held.database.for_rows(), sql, params, read)
    }

    /// Reads every row, outside any transaction.
    ///
    /// ```
    /// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// db.execute_batch("create table carts (id text primary key);
    ///                   insert into carts values ('c-2'), ('c-1');").unwrap();
    /// let ids: Vec<String> = db.query_map("select id from carts order by id", [], |row| row.get(0)).unwrap();
    /// assert_eq!(ids, ["c-1", "c-2"]);
    /// ```
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, Error> {
        self.before_read("query", sql)?;
        let mut held = self.hold()?;
        self.query_map_on(held.database.for_rows(), sql, params, read)
    }

    /// Runs `work` in a transaction: commits when it returns `Ok`, rolls back
    /// when it returns `Err`. Inside, use the `tx` it is given (not the store).
    ///
    /// ```
    /// use harness::sql::{SqlStore, params};
    /// use harness::{Error, Sim};
    ///
    /// let db = SqlStore::in_memory(&Sim::new(1), "shop");
    /// db.execute_batch("create table carts (id text primary key, submitted integer not null)").unwrap();
    /// db.execute("insert into carts values ('c-1', 0)", []).unwrap();
    ///
    /// // All or nothing: the error rolls the update back.
    /// let result: Result<(), Error> = db.transaction(|tx| {
    ///     tx.execute("update carts set submitted = 1 where id = ?1", params!["c-1"])?;
    ///     Err(Error::Other("the payment was refused".into()))
    /// });
    /// assert!(result.is_err());
    /// let submitted: i64 = db.query_row("select submitted from carts", [], |row| row.get(0)).unwrap();
    /// assert_eq!(submitted, 0);
    /// ```
    pub fn transaction<T>(
        &self,
        work: impl FnOnce(&Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.before_read("begin", "")?;
        let mut held = self.hold()?;
        let nesting = match held.database.is_kept() {
            true => Nesting::InSetup,
            false => Nesting::Alone,
        };
        let connection: &Connection = held.database.for_rows();
        run_all(connection, nesting.begin()).map_err(|err| self.error(err))?;
        let tx = Tx {
            store: self,
            connection,
            nesting,
            open: Cell::new(true),
        };
        match work(&tx) {
            Ok(value) => {
                tx.commit()?;
                Ok(value)
            }
            Err(err) => {
                tx.rollback()?;
                Err(err)
            }
        }
    }

    /// Runs the fault point `sql.<name>.<operation>`; `Ok(true)` means "do
    /// it, then report a failure".
    fn before(&self, operation: &'static str, sql: &str) -> Result<bool, Error> {
        let point = fault_point(&self.name, operation, sql);
        // A worker holding the database does not give the scheduler a turn:
        // a transaction runs as one step, and other workers wait for it.
        let take_turn = !self.held_by_this_thread();
        self.sim.storage_fault_taking_turn(&point, true, take_turn)
    }

    /// Whether the calling thread holds the connection (has a transaction open).
    fn held_by_this_thread(&self) -> bool {
        *lock_ignoring_poison(&self.shared.holder) == Some(thread::current().id())
    }

    /// Like `before`, for operations with no effect to apply: a failure
    /// "after" is just a failure.
    fn before_read(&self, operation: &'static str, sql: &str) -> Result<(), Error> {
        if self.before(operation, sql)? {
            return Err(Error::Injected {
                point: format!("sql.{}.{operation}", self.name),
                effect_applied: false,
            });
        }
        Ok(())
    }

    fn after(&self, operation: &str, _sql: &str, fail_after: bool) -> Result<(), Error> {
        if fail_after {
            return Err(Error::Injected {
                point: format!("sql.{}.{operation}", self.name),
                effect_applied: true,
            });
        }
        Ok(())
    }

    fn trace_statement(&self, sql: &str) {
        self.sim.record(EventKind::Statement {
            store: self.name.clone(),
            sql: abbreviate(sql),
        });
    }

    /// Traces a statement on rows, and notes whether it kept to rows.
    fn trace_and_note_statement(&self, sql: &str) {
        let Abbreviation { short, rows_only } = abbreviation(sql);
        self.sim.record(EventKind::Statement {
            store: self.name.clone(),
            sql: short,
        });
        self.shared.note_statement(rows_only);
    }

    /// Turns a SQLite error into the course's words, recording conflicts.
    fn error(&self, err: rusqlite::Error) -> Error {
        let duplicate_key = match &err {
            rusqlite::Error::SqliteFailure(failure, message) => {
                let code = failure.extended_code;
                (code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
                    .then(|| constrained_key(message.as_deref()))
            }
            _ => None,
        };
        match duplicate_key {
            Some(key) => {
                self.sim.record(EventKind::Conflict {
                    store: self.name.clone(),
                    key: key.clone(),
                    expected: "absent".to_string(),
                    actual: "a row with this key".to_string(),
                });
                Error::DuplicateKey {
                    store: self.name.clone(),
                    key,
                }
            }
            None => Error::sqlite(format!("{err} (in SQL store {})", self.name), err),
        }
    }

    fn execute_on(
        &self,
        connection: &Connection,
        sql: &str,
        params: impl Params,
    ) -> Result<usize, Error> {
        let fail_after = self.before("execute", sql)?;
        self.trace_and_note_statement(sql);
        // Cached: an explorer runs the same few statements thousands of times.
        let changed = connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(params))
            .map_err(|err| self.error(err))?;
        self.after("execute", sql, fail_after)?;
        Ok(changed)
    }

    fn query_row_on<T>(
        &self,
        connection: &Connection,
        sql: &str,
        params: impl Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        match self.query_optional_on(connection, sql, params, read)? {
            Some(value) => Ok(value),
            None => Err(Error::sql(format!(
                "query_row found no row for `{}` in SQL store {}: use query_optional when the \
                 row may be absent",
                abbreviate(sql),
                self.name
            ))),
        }
    }

    fn query_optional_on<T>(
        &self,
        connection: &Connection,
        sql: &str,
        params: impl Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, Error> {
        self.trace_and_note_statement(sql);
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row(params, read))
            .optional()
            .map_err(|err| self.error(err))
    }

    fn query_map_on<T>(
        &self,
        connection: &Connection,
        sql: &str,
        params: impl Params,
        read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, Error> {
        self.trace_and_note_statement(sql);
        let mut statement = connection
            .prepare_cached(sql)
            .map_err(|err| self.error(err))?;
        let rows = statement
            .query_map(params, read)
            .map_err(|err| self.error(err))?;
        rows.collect::<rusqlite::Result<Vec<T>>>()
            .map_err(|err| self.error(err))
    }
}

/// An open transaction; see [`SqlStore::transaction`]. Every statement run
/// through it commits or rolls back together.
///
/// ```
/// use harness::sql::{SqlStore, params};
/// let db = SqlStore::in_memory(&harness::Sim::new(1), "shop");
/// db.execute_batch("create table orders (id text primary key);
///                   create table outbox (id text primary key, body text)").unwrap();
/// db.transaction(|tx| {
///     tx.execute("insert into orders (id) values (?1)", params!["o-1"])?;
///     tx.execute("insert into outbox (id, body) values (?1, ?2)", params!["m-1", "OrderPlaced"])?;
///     Ok(())
/// }).unwrap();
/// ```
pub struct Tx<'a> {
    store: &'a SqlStore,
    /// The connection, inside the transaction until it commits or rolls back.
    connection: &'a Connection,
    nesting: Nesting,
    /// True until it committed or rolled back.
    open: Cell<bool>,
}

/// How a transaction begins and ends: on its own, or as a savepoint inside
/// the transaction that keeps a setup's rows (see `sql/saved.rs`), so that
/// the database goes back to them at the end of a schedule. Statements see
/// the same rows either way, and a savepoint released is as committed.
#[derive(Clone, Copy)]
enum Nesting {
    Alone,
    InSetup,
}

impl Nesting {
    fn begin(self) -> &'static [&'static str] {
        match self {
            Nesting::Alone => &["begin immediate"],
            Nesting::InSetup => &["savepoint harness_tx"],
        }
    }

    fn commit(self) -> &'static [&'static str] {
        match self {
            Nesting::Alone => &["commit"],
            Nesting::InSetup => &["release harness_tx"],
        }
    }

    fn rollback(self) -> &'static [&'static str] {
        match self {
            Nesting::Alone => &["rollback"],
            Nesting::InSetup => &["rollback to harness_tx", "release harness_tx"],
        }
    }
}

/// A transaction left without a commit or a rollback (its closure panicked,
/// or the commit failed) is rolled back, as SQLite would at the connection's
/// close: the pooled connection must come back with no transaction open.
impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open.get() {
            let _ = run_all(self.connection, self.nesting.rollback());
        }
    }
}

/// Runs a statement without parameters through the connection's statement
/// cache: `begin immediate`, `commit` and `rollback` run at every
/// transaction of every explored schedule, and parsing them each time (as
/// `rusqlite::Transaction` does, with `execute_batch`) was a twentieth of a
/// SQL schedule.
fn run_cached(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs each statement with [`run_cached`], in order.
fn run_all(connection: &Connection, statements: &[&str]) -> rusqlite::Result<()> {
    for sql in statements {
        run_cached(connection, sql)?;
    }
    Ok(())
}

impl Tx<'_> {
    /// Runs one statement (insert, update, delete …); returns how many rows
    /// it changed. A duplicate primary key gives [`Error::DuplicateKey`]
    /// (`is_conflict()` is true), and the transaction stays usable.
    ///
    /// ```
    /// use harness::sql::{SqlStore, params};
    /// let db = SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// db.execute_batch("create table processed (message_id text primary key)").unwrap();
    /// let first_time = db.transaction(|tx| {
    ///     match tx.execute("insert into processed values (?1)", params!["m-1"]) {
    ///         Ok(_) => Ok(true),
    ///         Err(err) if err.is_conflict() => Ok(false), // seen before: a duplicate
    ///         Err(err) => Err(err),
    ///     }
    /// });
    /// assert_eq!(first_time, Ok(true));
    /// ```
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize, Error> {
        self.store.execute_on(self.connection, sql, params)
    }

    /// Reads exactly one row; an error if there is none.
    ///
    /// ```
    /// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// let n: i64 = db.transaction(|tx| tx.query_row("select 1 + 1", [], |row| row.get(0))).unwrap();
    /// assert_eq!(n, 2);
    /// ```
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        self.store.before_read("query", sql)?;
        self.store.query_row_on(self.connection, sql, params, read)
    }

    /// Reads at most one row; `Ok(None)` if there is none.
    ///
    /// ```
    /// use harness::sql::{SqlStore, params};
    /// let db = SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// db.execute_batch("create table carts (id text primary key, submitted integer)").unwrap();
    /// let submitted: Option<bool> = db.transaction(|tx| {
    ///     tx.query_optional("select submitted from carts where id = ?1", params!["c-1"], |row| row.get(0))
    /// }).unwrap();
    /// assert_eq!(submitted, None); // no such cart
    /// ```
    pub fn query_optional<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, Error> {
        self.store.before_read("query", sql)?;
        self.store
            .query_optional_on(self.connection, sql, params, read)
    }

    /// Reads every row.
    ///
    /// ```
    /// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// db.execute_batch("create table outbox (id text primary key); insert into outbox values ('m-1');").unwrap();
    /// let pending: Vec<String> = db.transaction(|tx| {
    ///     tx.query_map("select id from outbox order by id", [], |row| row.get(0))
    /// }).unwrap();
    /// assert_eq!(pending, ["m-1"]);
    /// ```
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, Error> {
        self.store.before_read("query", sql)?;
        self.store.query_map_on(self.connection, sql, params, read)
    }

    /// The rowid of the last row inserted through this connection (for
    /// tables with an `integer primary key`).
    ///
    /// ```
    /// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "shop");
    /// db.execute_batch("create table lines (id integer primary key, filling text)").unwrap();
    /// let id = db.transaction(|tx| {
    ///     tx.execute("insert into lines (filling) values ('Ruskie')", [])?;
    ///     Ok(tx.last_insert_rowid())
    /// }).unwrap();
    /// assert_eq!(id, 1);
    /// ```
    pub fn last_insert_rowid(&self) -> i64 {
        self.connection.last_insert_rowid()
    }

    fn commit(self) -> Result<(), Error> {
        let store = self.store;
        let fail_after = match store.before("commit", "") {
            Ok(fail_after) => fail_after,
            Err(injected) => {
                self.rollback()?;
                return Err(injected);
            }
        };
        run_all(self.connection, self.nesting.commit()).map_err(|err| store.error(err))?;
        self.open.set(false);
        store.sim.record(EventKind::Committed {
            store: store.name.clone(),
        });
        store.after("commit", "", fail_after)
    }

    fn rollback(self) -> Result<(), Error> {
        let store = self.store;
        run_all(self.connection, self.nesting.rollback()).map_err(|err| store.error(err))?;
        self.open.set(false);
        store.sim.record(EventKind::RolledBack {
            store: store.name.clone(),
        });
        Ok(())
    }
}

/// The most fault points [`fault_point`] remembers per thread.
const FAULT_POINTS_KEPT: usize = 512;

/// A fault point of a store: its name, and the statement's text at the
/// place it is in memory (to check it is the same statement).
struct KnownPoint {
    store: String,
    sql: String,
    point: Rc<FaultPoint>,
}

/// An operation and where a statement's text is in memory (most are
/// constants).
type PointPlace = (&'static str, usize, usize);

thread_local! {
    /// Fault points already made, by [`PointPlace`].
    static FAULT_POINTS: RefCell<FastMap<PointPlace, Vec<KnownPoint>>> =
        RefCell::new(FastMap::default());
}

/// The fault point `sql.<store>.<operation>`, keyed by the statement
/// (abbreviated) if there is one: made once per store, operation and
/// statement, since an explorer reaches the same few thousands of times and
/// formatting the name and key each time was a twentieth of a SQL schedule.
fn fault_point(store: &str, operation: &'static str, sql: &str) -> Rc<FaultPoint> {
    let place = (operation, sql.as_ptr() as usize, sql.len());
    let known = FAULT_POINTS.with_borrow(|known| {
        known.get(&place).and_then(|points| {
            points
                .iter()
                .find(|known| known.store == store && known.sql == sql)
                .map(|known| known.point.clone())
        })
    });
    if let Some(point) = known {
        return point;
    }
    let mut point = FaultPoint::new("sql", store, operation);
    if !sql.is_empty() {
        point = point.with_key(&abbreviate(sql));
    }
    let point = Rc::new(point);
    FAULT_POINTS.with_borrow_mut(|known| {
        if known.len() >= FAULT_POINTS_KEPT {
            known.clear();
        }
        let points = known.entry(place).or_default();
        if points.len() >= FAULT_POINTS_KEPT {
            // The same statement on more stores than that: start again.
            points.clear();
        }
        points.push(KnownPoint {
            store: store.to_string(),
            sql: sql.to_string(),
            point: point.clone(),
        });
    });
    point
}

/// The most statements [`abbreviate`] remembers per thread.
const ABBREVIATIONS_KEPT: usize = 512;

/// A statement as the trace shows it, and whether it only reads or changes
/// rows (see [`reuse::changes_rows_only`]).
#[derive(Clone)]
struct Abbreviation {
    short: String,
    rows_only: bool,
}

thread_local! {
    /// Statements already abbreviated, by where their text is in memory
    /// (most are constants), with the text to check it is the same.
    static ABBREVIATIONS: RefCell<FastMap<(usize, usize), (String, Abbreviation)>> =
        RefCell::new(FastMap::default());
}

/// The statement on one line, cut to a readable length for traces.
fn abbreviate(sql: &str) -> String {
    abbreviation(sql).short
}

/// The statement's [`Abbreviation`]: made once per statement text (an
/// explorer runs the same few thousands of times, and this costs more than
/// a hash look-up in a debug build).
fn abbreviation(sql: &str) -> Abbreviation {
    let now = || Abbreviation {
        short: abbreviate_now(sql),
        rows_only: reuse::changes_rows_only(sql),
    };
    if !reuse::reuse_enabled() {
        return now();
    }
    let place = (sql.as_ptr() as usize, sql.len());
    ABBREVIATIONS.with_borrow_mut(|known| {
        if let Some((text, abbreviation)) = known.get(&place)
            && text == sql
        {
            return abbreviation.clone();
        }
        if known.len() >= ABBREVIATIONS_KEPT {
            known.clear();
        }
        let abbreviation = now();
        known.insert(place, (sql.to_string(), abbreviation.clone()));
        abbreviation
    })
}

fn abbreviate_now(sql: &str) -> String {
    // Reads no further than it needs: a schema can be long, and this runs
    // for every statement of every schedule an explorer tries.
    let mut one_line = String::new();
    let mut count = 0;
    'words: for word in sql.split_whitespace() {
        if count > 0 {
            one_line.push(' ');
            count += 1;
        }
        for letter in word.chars() {
            if count > TRACED_SQL_CHARS {
                break 'words;
            }
            one_line.push(letter);
            count += 1;
        }
    }
    if count <= TRACED_SQL_CHARS {
        return one_line;
    }
    let cut: String = one_line.chars().take(TRACED_SQL_CHARS - 1).collect();
    format!("{cut}…")
}

/// `orders.id` from SQLite's "UNIQUE constraint failed: orders.id".
fn constrained_key(message: Option<&str>) -> String {
    message
        .and_then(|text| text.split_once("failed: "))
        .map(|(_, key)| key.to_string())
        .unwrap_or_else(|| "a unique key".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultRule;

    fn shop(sim: &Sim) -> SqlStore {
        let db = SqlStore::in_memory(sim, "shop");
        db.execute_batch("create table orders (id text primary key, cart text not null)")
            .unwrap();
        db
    }

    fn count(db: &SqlStore) -> i64 {
        db.query_row("select count(*) from orders", [], |row| row.get(0))
            .unwrap()
    }

    fn insert_order(tx: &Tx<'_>, id: &str) -> Result<usize, Error> {
        tx.execute(
            "insert into orders (id, cart) values (?1, 'c')",
            params![id],
        )
    }

    #[test]
    fn ok_commits_and_err_rolls_back() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        db.transaction(|tx| insert_order(tx, "o-1")).unwrap();
        let failed: Result<(), Error> = db.transaction(|tx| {
            insert_order(tx, "o-2")?;
            Err(Error::Other("changed my mind".into()))
        });
        assert_eq!(failed, Err(Error::Other("changed my mind".into())));
        assert_eq!(count(&db), 1);
        let trace = sim.trace().to_string();
        assert!(trace.contains("committed a transaction on shop"), "{trace}");
        assert!(
            trace.contains("rolled back a transaction on shop"),
            "{trace}"
        );
    }

    #[test]
    fn a_panic_inside_the_transaction_rolls_back_and_frees_the_store() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        let inner = db.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inner.transaction(|tx| -> Result<(), Error> {
                insert_order(tx, "o-1")?;
                panic!("handler crashed");
            })
        }));
        assert!(outcome.is_err());
        assert_eq!(count(&db), 0);
    }

    #[test]
    fn commit_fail_after_commits_but_reports_an_error() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        sim.inject(FaultRule::at("sql.shop.commit").fail_after());
        let err = db.transaction(|tx| insert_order(tx, "o-1")).unwrap_err();
        assert_eq!(
            err,
            Error::Injected {
                point: "sql.shop.commit".into(),
                effect_applied: true
            }
        );
        assert_eq!(count(&db), 1);
    }

    #[test]
    fn commit_fail_before_rolls_back() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        sim.inject(FaultRule::at("sql.shop.commit").fail_before());
        let err = db.transaction(|tx| insert_order(tx, "o-1")).unwrap_err();
        assert!(err.is_injected());
        assert_eq!(count(&db), 0);
        assert!(sim.trace().to_string().contains("rolled back"));
    }

    #[test]
    fn a_statement_failure_inside_a_transaction_rolls_everything_back() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        sim.inject(FaultRule::at("sql.shop.execute").nth(2).fail_after());
        let err = db
            .transaction(|tx| {
                insert_order(tx, "o-1")?;
                insert_order(tx, "o-2")
            })
            .unwrap_err();
        assert!(err.is_injected());
        assert_eq!(count(&db), 0);
    }

    #[test]
    fn fail_before_on_a_statement_runs_nothing() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        sim.inject(FaultRule::at("sql.shop.execute").fail_before());
        let err = db
            .execute("insert into orders values ('o-1', 'c')", [])
            .unwrap_err();
        assert!(err.is_injected());
        assert_eq!(count(&db), 0);
    }

    #[test]
    fn a_delay_advances_the_simulated_clock() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        sim.inject(FaultRule::at("sql.shop.commit").delay(std::time::Duration::from_secs(3)));
        db.transaction(|tx| insert_order(tx, "o-1")).unwrap();
        assert_eq!(sim.now().as_millis(), 3_000);
    }

    #[test]
    fn a_duplicate_primary_key_is_a_conflict_with_a_clear_message() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        db.transaction(|tx| insert_order(tx, "o-1")).unwrap();
        let err = db.transaction(|tx| insert_order(tx, "o-1")).unwrap_err();
        assert!(err.is_conflict());
        assert_eq!(
            err,
            Error::DuplicateKey {
                store: "shop".into(),
                key: "orders.id".into()
            }
        );
        assert!(
            err.to_string()
                .starts_with("a row with this key exists already in SQL store shop"),
            "{err}"
        );
    }

    #[test]
    fn the_transaction_stays_usable_after_a_duplicate_key() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        db.transaction(|tx| insert_order(tx, "o-1")).unwrap();
        db.transaction(|tx| {
            assert!(insert_order(tx, "o-1").unwrap_err().is_conflict());
            insert_order(tx, "o-2")
        })
        .unwrap();
        assert_eq!(count(&db), 2);
    }

    #[test]
    fn using_the_store_inside_its_own_transaction_is_refused_clearly() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        let same = db.clone();
        let err = db
            .transaction(|_tx| same.execute("insert into orders values ('o-1', 'c')", []))
            .unwrap_err();
        assert!(
            err.to_string().contains("use its `tx`, not the store"),
            "{err}"
        );
        // The store is usable again afterwards.
        assert_eq!(count(&db), 0);
    }

    #[test]
    fn an_interleaving_at_begin_runs_a_whole_transaction_in_between() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        let other = db.clone();
        sim.inject(FaultRule::at("sql.shop.begin").interleave(move || {
            other.transaction(|tx| insert_order(tx, "o-1")).unwrap();
        }));
        let seen: Option<String> = db
            .query_optional("select id from orders", [], |row| row.get(0))
            .unwrap();
        assert_eq!(seen, None);
        // The write transaction starts after the other worker's insert.
        let err = db.transaction(|tx| insert_order(tx, "o-1")).unwrap_err();
        assert!(err.is_conflict());
    }

    #[test]
    fn under_a_scheduler_another_worker_finds_the_database_locked_instead_of_waiting() {
        use std::sync::mpsc;
        let sim = Sim::new(1);
        sim.set_scheduler(Arc::new(|_point: &FaultPoint| {}));
        let db = shop(&sim);
        let (inside, entered) = mpsc::channel();
        let (finish, finished) = mpsc::channel::<()>();
        let worker = {
            let db = db.clone();
            thread::spawn(move || {
                db.transaction(|tx| {
                    insert_order(tx, "o-1")?;
                    inside.send(()).unwrap();
                    // Parked mid-transaction, as a worker waiting for its turn.
                    finished.recv().unwrap();
                    Ok(())
                })
            })
        };
        entered.recv().unwrap();
        let err = db.transaction(|tx| insert_order(tx, "o-2")).unwrap_err();
        assert!(
            err.to_string()
                .contains("database is locked: another worker's"),
            "{err}"
        );
        finish.send(()).unwrap();
        worker.join().unwrap().unwrap();
        assert_eq!(count(&db), 1);
    }

    #[test]
    fn under_the_world_a_transaction_is_one_step_and_other_workers_wait_for_it() {
        use crate::{Broker, Envelope, Explorer, HandlerContext, Violation, World};
        let report = Explorer::new(|sim: &Sim| {
            let db = shop(sim);
            let broker = Broker::new(sim);
            let mut world = World::new(sim, &broker);
            let worker_db = db.clone();
            world.add_endpoint("orders", move |_ctx: &mut HandlerContext, m: &Envelope| {
                let id = m.id.to_string();
                worker_db.transaction(|tx| {
                    insert_order(tx, &id)?;
                    tx.query_row("select count(*) from orders", [], |row| {
                        row.get::<_, i64>(0)
                    })
                })?;
                Ok(())
            });
            world.set_workers("orders", 2).unwrap();
            for _ in 0..2 {
                let message = Envelope::new(sim.new_message_id(), "PlaceOrder", &());
                world.send("orders", message).unwrap();
            }
            world.run_until_quiet(100).unwrap();
            let locked = sim.trace().to_string().contains("locked");
            if locked || count(&db) != 2 {
                let headline = "a worker found the database locked";
                return Err(Violation::new("transactions wait", headline, vec![], sim));
            }
            Ok(())
        })
        .run();
        report.assert_no_violation();
        // The workers interleave between transactions, not inside them.
        assert!(report.schedules > 1, "{report}");
    }

    #[test]
    fn query_row_without_a_row_says_what_to_use_instead() {
        let db = shop(&Sim::new(1));
        let err = db
            .query_row("select id from orders", [], |row| row.get::<_, String>(0))
            .unwrap_err();
        assert!(err.to_string().contains("use query_optional"), "{err}");
    }

    #[test]
    fn a_file_database_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.db");
        let sim = Sim::new(1);
        shop_on_disk(&sim, &path);
        let db = SqlStore::open(&sim, "shop", &path).unwrap();
        assert_eq!(count(&db), 1);
    }

    fn shop_on_disk(sim: &Sim, path: &Path) {
        let db = SqlStore::open(sim, "shop", path).unwrap();
        db.execute_batch("create table orders (id text primary key, cart text not null)")
            .unwrap();
        db.transaction(|tx| insert_order(tx, "o-1")).unwrap();
    }

    #[test]
    fn statements_are_traced_briefly() {
        let sim = Sim::new(1);
        let db = shop(&sim);
        db.execute("insert into orders (id, cart)\n   values ('o-1', 'c')", [])
            .unwrap();
        let trace = sim.trace().to_string();
        assert!(
            trace.contains("shop: insert into orders (id, cart) values ('o-1', 'c')"),
            "{trace}"
        );
        assert_eq!(
            abbreviate(&"x ".repeat(100)).chars().count(),
            TRACED_SQL_CHARS
        );
        // Cut as the whole statement on one line would be cut.
        for sql in [
            "a  b\n c",
            &"xy ".repeat(30),
            &"x".repeat(81),
            &"x".repeat(80),
        ] {
            let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            let expected = if one_line.chars().count() <= TRACED_SQL_CHARS {
                one_line
            } else {
                let cut: String = one_line.chars().take(TRACED_SQL_CHARS - 1).collect();
                format!("{cut}…")
            };
            assert_eq!(abbreviate(sql), expected);
        }
    }
}
