//! In-memory databases, reused across runs instead of built anew.
//!
//! An explorer runs a scenario thousands of times, and each run builds the
//! same database: a new SQLite connection, the same schema (`create table …`
//! through [`SqlStore::execute_batch`](super::SqlStore::execute_batch)), then
//! the same statements prepared again. That was most of the cost of a
//! schedule of the SQL exercises. Here a database that is dropped goes back
//! to a pool, emptied; the next store that builds the same schema gets it,
//! with its prepared statements still cached.
//!
//! What a store can observe is exactly what a new database would give it:
//!
//! - **The schema.** A database is kept under the list of batches that built
//!   it, in order, from an empty database (a *schema state*), and handed
//!   only to a store that ran the same batches. While a store has run
//!   nothing but batches, a batch that is known to succeed from its state is
//!   only remembered; the database is taken from the pool (or built, batch
//!   by batch) when the store first reads or writes rows.
//! - **The rows.** A database goes back to the pool only if its schema state
//!   has no rows (no batch inserted any) and no trigger that fires on a
//!   delete. It is emptied table by table, so rowids start at 1 again, and
//!   `last_insert_rowid()` is set back to 0.
//! - **Nothing else.** A database whose store ran anything that may change
//!   more than rows (a batch after its first row statement, or a statement
//!   that is not a `select`, `insert`, `update`, `delete`, `replace` or
//!   `with`: a `pragma`, `create`, `attach` …) is dropped, not kept.
//!
//! The harness bench runs the SQL scenario with reuse on and off, side by
//! side, and compares the trace of every schedule ([`set_reuse`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rusqlite::Connection;
use rusqlite::config::DbConfig;

/// The most idle databases kept per schema state.
const IDLE_PER_STATE: usize = 16;

/// How many prepared statements a connection keeps (rusqlite keeps 16 by
/// default; a scenario uses a few dozen, and putting a setup's rows back a
/// dozen more: see `saved.rs`).
const CACHED_STATEMENTS: usize = 128;

/// A temporary table whose only use is to set `last_insert_rowid()`: back to
/// 0 when a database is emptied (inserting rowid 0 does it), as it was when
/// a setup's rows are put back (see `saved.rs`).
const CREATE_ROWID_RESET_TABLE: &str = "create temp table harness_last_insert_rowid_reset (unused)";
const INSERT_ROWID: &str = "insert into temp.harness_last_insert_rowid_reset (rowid) values (?1)";
const EMPTY_ROWID_RESET_TABLE: &str = "delete from temp.harness_last_insert_rowid_reset";

static REUSE: AtomicBool = AtomicBool::new(true);

/// Turns the reuse of in-memory databases on (the default) or off, for the
/// whole process. Runs are the same either way, only slower without: this
/// is for measuring, and for ruling the pool out when in doubt.
///
/// ```
/// harness::sql::set_reuse(false);
/// let db = harness::SqlStore::in_memory(&harness::Sim::new(1), "shop");
/// db.execute_batch("create table carts (id text primary key)").unwrap();
/// harness::sql::set_reuse(true);
/// ```
pub fn set_reuse(enabled: bool) {
    REUSE.store(enabled, Ordering::SeqCst);
}

/// Whether reuse is on ([`set_reuse`]).
pub(super) fn reuse_enabled() -> bool {
    REUSE.load(Ordering::SeqCst)
}

/// A schema state: the batches that built it, from an empty database. `0`
/// is the empty database.
pub(super) type State = usize;

const EMPTY: State = 0;

/// What is known about each schema state reached so far.
#[derive(Default)]
struct Registry {
    /// `after[state][batch]`: the state a successful `batch` leads to.
    after: HashMap<State, HashMap<String, State>>,
    /// The state before each state and the batch that led from it (index
    /// `state - 1`).
    steps: Vec<(State, String)>,
    /// How to empty a database of each state, once known.
    emptying: HashMap<State, Emptying>,
    /// Idle databases of each state, empty.
    idle: HashMap<State, Vec<Connection>>,
}

/// How to empty a database of one schema state, if it can be reused.
#[derive(Clone)]
enum Emptying {
    /// Run these statements: one `delete from` per table.
    DeleteFrom(Vec<String>),
    /// The state itself holds rows, or a trigger fires on a delete.
    NotReusable,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    fn known_after(&self, state: State, batch: &str) -> Option<State> {
        self.after.get(&state)?.get(batch).copied()
    }

    fn record_success(&mut self, state: State, batch: &str) -> State {
        if let Some(known) = self.known_after(state, batch) {
            return known;
        }
        self.steps.push((state, batch.to_string()));
        let next = self.steps.len();
        self.after
            .entry(state)
            .or_default()
            .insert(batch.to_string(), next);
        next
    }

    /// The batches that build `state`, in order.
    fn batches(&self, mut state: State) -> Vec<String> {
        let mut batches = Vec::new();
        while state != EMPTY {
            let (before, batch) = &self.steps[state - 1];
            batches.push(batch.clone());
            state = *before;
        }
        batches.reverse();
        batches
    }
}

/// Where a database is in its life, as far as reuse goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Stage {
    /// Only batches have run: the database is exactly its schema state.
    Schema(State),
    /// Rows were read or written on top of the schema state.
    Rows(State),
    /// Something else happened (or it is a file): never reused.
    Own,
}

/// The database behind a [`SqlStore`](super::SqlStore): a connection, built
/// or taken from the pool when first needed.
pub(super) struct Database {
    connection: Option<Connection>,
    stage: Stage,
    /// Set when the database holds a setup's rows inside an open savepoint
    /// (see `saved.rs`): where it goes back, rolled back to them, when it
    /// is dropped.
    kept: Option<Spot>,
}

/// Where a database kept at a setup's rows waits for the next schedule.
pub(super) type Spot = Arc<Mutex<Option<Connection>>>;

/// The savepoint that keeps a setup's rows: a schedule's changes are rolled
/// back to it.
const KEEP_SETUP: &str = "savepoint harness_setup";
const BACK_TO_SETUP: &str = "rollback to harness_setup";

impl Database {
    /// A new, empty in-memory database.
    pub(super) fn in_memory() -> Database {
        if !reuse_enabled() {
            // As before reuse existed, to the statement cache's size.
            let connection = Connection::open_in_memory()
                .expect("SQLite could not open an in-memory database (out of memory?)");
            return Database::own(connection);
        }
        Database {
            connection: None,
            stage: Stage::Schema(EMPTY),
            kept: None,
        }
    }

    /// A database that is never reused (a file, or reuse turned off).
    pub(super) fn own(connection: Connection) -> Database {
        Database {
            connection: Some(connection),
            stage: Stage::Own,
            kept: None,
        }
    }

    /// Runs a batch of statements (the schema). A batch known to succeed on
    /// this schema state is only remembered until a row is touched.
    pub(super) fn execute_batch(&mut self, sql: &str) -> rusqlite::Result<()> {
        let Stage::Schema(state) = self.stage else {
            self.stage = Stage::Own;
            return self.connection().execute_batch(sql);
        };
        if self.connection.is_none()
            && let Some(next) = registry().known_after(state, sql)
        {
            self.stage = Stage::Schema(next);
            return Ok(());
        }
        match self.connection().execute_batch(sql) {
            Ok(()) => {
                self.stage = Stage::Schema(registry().record_success(state, sql));
                Ok(())
            }
            Err(err) => {
                // Some of its statements may have run: not a known state.
                self.stage = Stage::Own;
                Err(err)
            }
        }
    }

    /// Where the database is in its life.
    pub(super) fn stage(&self) -> Stage {
        self.stage
    }

    /// Whether its transactions are savepoints inside the one that keeps a
    /// setup's rows (see `saved.rs`).
    pub(super) fn is_kept(&self) -> bool {
        self.kept.is_some()
    }

    /// Whether no connection is open yet (only schema batches were remembered).
    pub(super) fn has_no_connection(&self) -> bool {
        self.connection.is_none()
    }

    /// Opens the savepoint that keeps the rows it holds now: when dropped,
    /// the database is rolled back to them and waits in `spot`.
    pub(super) fn keep_at_setup(&mut self, spot: Spot) -> rusqlite::Result<()> {
        self.connection().prepare_cached(KEEP_SETUP)?.execute([])?;
        self.kept = Some(spot);
        Ok(())
    }

    /// Uses `connection`, kept at a setup's rows of schema `state`, which
    /// waited in `spot`.
    pub(super) fn use_kept(&mut self, connection: Connection, state: State, spot: Spot) {
        self.connection = Some(connection);
        self.stage = Stage::Rows(state);
        self.kept = Some(spot);
    }

    /// The connection, for statements that read or write rows.
    pub(super) fn for_rows(&mut self) -> &mut Connection {
        if let Stage::Schema(state) = self.stage {
            self.learn_emptying(state);
            self.stage = Stage::Rows(state);
        }
        self.connection()
    }

    /// Keeps this database out of the pool: its store ran a statement that
    /// may change more than rows (see [`changes_rows_only`]).
    pub(super) fn keep_out_of_pool(&mut self) {
        self.stage = Stage::Own;
    }

    /// The connection, built (or taken from the pool) if it is not yet.
    fn connection(&mut self) -> &mut Connection {
        let stage = self.stage;
        self.connection.get_or_insert_with(|| match stage {
            Stage::Schema(state) | Stage::Rows(state) => take_or_build(state),
            Stage::Own => open_in_memory(),
        })
    }

    /// On a database that is exactly `state`, learns once how to empty the
    /// databases of that state.
    fn learn_emptying(&mut self, state: State) {
        if registry().emptying.contains_key(&state) {
            return;
        }
        let emptying = emptying_of(self.connection());
        registry().emptying.insert(state, emptying);
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(spot) = self.kept.take() {
            self.wait_at_setup(&spot);
            return;
        }
        let (Stage::Rows(state) | Stage::Schema(state)) = self.stage else {
            return;
        };
        let Some(connection) = self.connection.take() else {
            return;
        };
        let emptying = registry().emptying.get(&state).cloned();
        let deletes = match emptying {
            Some(Emptying::DeleteFrom(deletes)) => deletes,
            Some(Emptying::NotReusable) => return,
            None => {
                // Only batches ran on it: learn from it now.
                let emptying = emptying_of(&connection);
                registry().emptying.insert(state, emptying.clone());
                match emptying {
                    Emptying::DeleteFrom(deletes) => deletes,
                    Emptying::NotReusable => return,
                }
            }
        };
        if empty(&connection, &deletes).is_err() {
            return;
        }
        let mut registry = registry();
        let idle = registry.idle.entry(state).or_default();
        if idle.len() < IDLE_PER_STATE {
            idle.push(connection);
        }
    }
}

impl Database {
    /// Rolls a kept database back to its setup's rows and lets it wait in
    /// `spot` for the next schedule; one that ran more than row statements,
    /// or cannot be rolled back, is closed.
    fn wait_at_setup(&mut self, spot: &Spot) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        if !matches!(self.stage, Stage::Rows(_)) {
            return;
        }
        let back = connection
            .prepare_cached(BACK_TO_SETUP)
            .and_then(|mut statement| statement.execute([]));
        if back.is_err() {
            return;
        }
        let mut spot = spot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if spot.is_none() {
            *spot = Some(connection);
        }
    }
}

fn open_in_memory() -> Connection {
    let connection = Connection::open_in_memory()
        .expect("SQLite could not open an in-memory database (out of memory?)");
    connection.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    keep_plans(&connection);
    connection
}

/// Keeps a cached statement's plan across uses.
///
/// SQLite (3.4x) marks a statement whose `where` compares a column with a
/// parameter (`where state_key = ?1`) as worth planning again when that
/// parameter is bound anew, and rusqlite clears the bindings each time a
/// cached statement goes back to the cache: so such a statement was parsed
/// and planned again on every use, a tenth of a SQL schedule (perf,
/// `sqlite3Reprepare`). The query planner stability guarantee turns that
/// off: a plan made once is kept. The rows a statement gives are the same
/// (the bench compares every schedule's trace with and without it, as
/// reuse off plans anew); only a plan tuned to one `like ?` pattern is lost.
fn keep_plans(connection: &Connection) {
    // Setting a documented option on an open connection does not fail; if
    // it ever did, statements would only be planned more often.
    let _ = connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true);
}

/// An idle database of `state`, or a new one built batch by batch.
fn take_or_build(state: State) -> Connection {
    let (idle, batches) = {
        let mut registry = registry();
        let idle = registry.idle.get_mut(&state).and_then(Vec::pop);
        let batches = match idle {
            Some(_) => Vec::new(),
            None => registry.batches(state),
        };
        (idle, batches)
    };
    if let Some(connection) = idle {
        return connection;
    }
    let connection = open_in_memory();
    for batch in batches {
        connection
            .execute_batch(&batch)
            .expect("a schema batch that succeeded before, on the same schema, succeeds again");
    }
    connection
}

/// Whether a statement can only read or change rows (not the schema, the
/// connection's settings or another database).
pub(super) fn changes_rows_only(sql: &str) -> bool {
    let first_word = sql
        .trim_start()
        .split(|letter: char| !letter.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    ["select", "insert", "update", "delete", "replace", "with"]
        .iter()
        .any(|word| first_word.eq_ignore_ascii_case(word))
}

/// How to empty a database that is exactly its schema state.
fn emptying_of(connection: &Connection) -> Emptying {
    learn(connection).unwrap_or(Emptying::NotReusable)
}

fn learn(connection: &Connection) -> rusqlite::Result<Emptying> {
    let mut statement = connection.prepare(
        "select type, name, coalesce(sql, '') from sqlite_schema where type in ('table', 'trigger')",
    )?;
    let entries = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut deletes = Vec::new();
    for (kind, name, sql) in entries {
        if kind == "trigger" && sql.to_ascii_lowercase().contains("delete") {
            return Ok(Emptying::NotReusable);
        }
        if kind != "table" {
            continue;
        }
        if sql.to_ascii_lowercase().starts_with("create virtual") {
            // Its shadow tables are not ours to empty.
            return Ok(Emptying::NotReusable);
        }
        let has_rows: bool = connection.query_row(
            &format!(
                "select exists (select 1 from \"{}\")",
                name.replace('"', "\"\"")
            ),
            [],
            |row| row.get(0),
        )?;
        if has_rows && name != "sqlite_sequence" {
            return Ok(Emptying::NotReusable);
        }
        deletes.push(format!("delete from \"{}\"", name.replace('"', "\"\"")));
    }
    Ok(Emptying::DeleteFrom(deletes))
}

/// Sets `last_insert_rowid()` to `rowid` (by inserting that rowid into a
/// temporary table of its own, then deleting it).
pub(super) fn set_last_insert_rowid(connection: &Connection, rowid: i64) -> rusqlite::Result<()> {
    if connection.prepare_cached(INSERT_ROWID).is_err() {
        // The first time on this connection.
        connection.execute_batch(CREATE_ROWID_RESET_TABLE)?;
    }
    connection.prepare_cached(INSERT_ROWID)?.execute([rowid])?;
    connection
        .prepare_cached(EMPTY_ROWID_RESET_TABLE)?
        .execute([])?;
    Ok(())
}

/// Deletes every row, and sets `last_insert_rowid()` back to 0 (by
/// inserting rowid 0 into a temporary table of its own).
fn empty(connection: &Connection, deletes: &[String]) -> rusqlite::Result<()> {
    if !connection.is_autocommit() {
        connection.execute_batch("rollback")?;
    }
    // One transaction, not one per statement: a database is emptied after
    // every explored schedule.
    connection.prepare_cached("begin")?.execute([])?;
    for delete in deletes {
        connection.prepare_cached(delete)?.execute([])?;
    }
    set_last_insert_rowid(connection, 0)?;
    connection.prepare_cached("commit")?.execute([])?;
    if connection.last_insert_rowid() != 0 {
        return Err(rusqlite::Error::InvalidQuery);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{SqlStore, params};
    use crate::{Error, Sim};

    /// A store with `schema`, used by a run that leaves a row behind.
    fn used_store(schema: &str) -> SqlStore {
        let db = SqlStore::in_memory(&Sim::new(1), "shop");
        db.execute_batch(schema).unwrap();
        db.execute("insert into lines (filling) values ('Ruskie')", [])
            .unwrap();
        db
    }

    fn rows(db: &SqlStore) -> Vec<(i64, String)> {
        db.query_map(
            "select rowid, filling from lines order by rowid",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn a_reused_database_is_as_new() {
        let schema = "create table lines (id integer primary key, filling text); -- as new";
        for _ in 0..3 {
            let db = used_store(schema);
            assert_eq!(rows(&db), [(1, "Ruskie".to_string())]);
            drop(db);
            let db = SqlStore::in_memory(&Sim::new(1), "shop");
            db.execute_batch(schema).unwrap();
            let rowid = db
                .transaction(|tx| -> Result<i64, Error> { Ok(tx.last_insert_rowid()) })
                .unwrap();
            assert_eq!(rowid, 0, "a new database has inserted nothing yet");
        }
    }

    #[test]
    fn rows_made_by_the_schema_stay() {
        let schema = "create table lines (filling text); insert into lines values ('Pierogi');";
        for _ in 0..3 {
            let db = used_store(schema);
            let expected = [(1, "Pierogi".to_string()), (2, "Ruskie".to_string())];
            assert_eq!(rows(&db), expected);
        }
    }

    #[test]
    fn a_database_whose_settings_changed_is_not_reused() {
        let schema = "create table lines (filling text); -- settings";
        let recursive_triggers = |db: &SqlStore| -> i64 {
            db.query_row("pragma recursive_triggers", [], |row| row.get(0))
                .unwrap()
        };
        let db = used_store(schema);
        db.execute_batch("pragma recursive_triggers = on").unwrap();
        assert_eq!(recursive_triggers(&db), 1);
        drop(db);
        let db = used_store(schema);
        assert_eq!(recursive_triggers(&db), 0);
        let _ = db.query_row("pragma recursive_triggers = on", [], |_| Ok(()));
        drop(db);
        assert_eq!(recursive_triggers(&used_store(schema)), 0);
    }

    #[test]
    fn a_schema_is_rebuilt_batch_by_batch_and_a_failing_batch_still_fails() {
        let first = "create table lines (filling text); -- two batches";
        let second = "create index lines_by_filling on lines (filling)";
        for _ in 0..3 {
            let db = used_store(first);
            db.execute_batch(second).unwrap();
            let indexes: i64 = db
                .query_row(
                    "select count(*) from sqlite_schema where type = 'index'",
                    [],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(indexes, 1);
            let db = SqlStore::in_memory(&Sim::new(1), "shop");
            db.execute_batch(first).unwrap();
            assert!(db.execute_batch("create tabel oops (x)").is_err());
            db.execute("insert into lines values (?1)", params!["Ruskie"])
                .unwrap();
        }
    }

    #[test]
    fn only_statements_on_rows_keep_a_database_reusable() {
        for sql in [
            "select 1",
            "  INSERT into t",
            "update t",
            "delete from t",
            "with x as (select 1) select * from x",
            "replace into t",
        ] {
            assert!(changes_rows_only(sql), "{sql}");
        }
        for sql in [
            "pragma recursive_triggers = on",
            "create table t (x)",
            "attach 'x' as y",
            "drop table t",
            "-- a comment\nselect 1",
            "",
        ] {
            assert!(!changes_rows_only(sql), "{sql}");
        }
    }
}
