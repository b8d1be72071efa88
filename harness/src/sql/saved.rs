//! A database's rows, saved after a scenario's setup and put back in the
//! explorer's later schedules (see [`crate::Sim::same_in_every_schedule`]).
//!
//! A later schedule's store is built as the first one's was (same schema
//! batches, so a database of the same schema state from the pool), then its
//! rows are put back: every table emptied and refilled with the saved rows,
//! rowids included, in one transaction; then `last_insert_rowid()` set as
//! it was. A rowid table is read and refilled in rowid order, so its rows
//! come back where they were and new rows get the rowids they got before.
//!
//! A trigger fires when its rows are put back (SQLite cannot switch
//! triggers off without making every prepared statement anew), so the
//! tables that have triggers are refilled first, and the tables a trigger
//! writes to are emptied again after them. The first restore of an
//! exploration reads every table again and compares ([`is_as`]).
//!
//! Refilling the tables cost a sixth of a schedule, and emptying them at
//! its end another fifteenth (callgrind). So a database refilled this way
//! then opens a savepoint (`harness_setup`): the schedule's transactions
//! become savepoints inside it, and at the end of the schedule the database
//! is rolled back to it and waits in the saved rows' `Spot` for the next
//! schedule, which takes it as it is. The first time, its rows are read
//! and compared with the saved ones too.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use std::sync::MutexGuard;
use std::sync::atomic::{AtomicBool, Ordering};

use super::reuse::{Database, Spot, Stage, set_last_insert_rowid};

/// What a setup left in a database.
pub(super) struct SavedRows {
    stage: Stage,
    tables: Vec<Table>,
    last_insert_rowid: i64,
    /// A database kept at these rows, waiting for the next schedule.
    spot: Spot,
    /// Whether a kept database was compared with the rows once.
    kept_checked: AtomicBool,
}

/// One table's rows, and the statements that put them back.
#[derive(PartialEq)]
struct Table {
    delete: String,
    insert: String,
    rows: Vec<Vec<Value>>,
}

/// Reads what `database` holds, or says why it cannot be saved.
pub(super) fn save(database: &mut Database) -> Result<SavedRows, String> {
    let stage = database.stage();
    let Stage::Rows(_) = stage else {
        return match stage {
            Stage::Schema(_) => Ok(SavedRows {
                stage,
                tables: Vec::new(),
                last_insert_rowid: 0,
                spot: Spot::default(),
                kept_checked: AtomicBool::new(false),
            }),
            _ => Err("a SQL store that is not an in-memory database of the pool".to_string()),
        };
    };
    let connection = database.for_rows();
    read(connection)
        .map(|(tables, last_insert_rowid)| SavedRows {
            stage,
            tables,
            last_insert_rowid,
            spot: Spot::default(),
            kept_checked: AtomicBool::new(false),
        })
        .map_err(|err| format!("a SQL store whose rows could not be read: {err}"))
}

/// Puts `saved` back into `database`, a database built as the saved one was.
pub(super) fn restore(database: &mut Database, saved: &SavedRows) {
    let stage = database.stage();
    let same = match (saved.stage, stage) {
        (Stage::Schema(before), Stage::Schema(now)) => before == now,
        (Stage::Rows(before), Stage::Schema(now) | Stage::Rows(now)) => before == now,
        _ => false,
    };
    assert!(
        same,
        "this schedule built a SQL store with another schema before its setup than the first \
         schedule did ({stage:?}, not {:?})",
        saved.stage
    );
    let Stage::Rows(state) = saved.stage else {
        return;
    };
    let kept = match database.has_no_connection() {
        true => lock(&saved.spot).take(),
        false => None,
    };
    match kept {
        Some(connection) => {
            set_last_insert_rowid(&connection, saved.last_insert_rowid)
                .expect("last_insert_rowid() can be set on a database that set it before");
            database.use_kept(connection, state, saved.spot.clone());
            if !saved.kept_checked.swap(true, Ordering::Relaxed) {
                assert!(
                    is_as(database, saved),
                    "a SQL store rolled back to its setup's savepoint does not hold the rows \
                     the setup left (a statement that ends the transaction, such as `commit`?)"
                );
            }
        }
        None => {
            put_back(database.for_rows(), saved).expect(
                "the rows read from a database can be put back into a database of the same schema",
            );
            database
                .keep_at_setup(saved.spot.clone())
                .expect("a savepoint can be opened on a database with no transaction open");
        }
    }
}

fn lock(spot: &Spot) -> MutexGuard<'_, Option<Connection>> {
    spot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `database` holds what was saved.
pub(super) fn is_as(database: &mut Database, saved: &SavedRows) -> bool {
    if let Stage::Schema(_) = saved.stage {
        return database.stage() == saved.stage;
    }
    match read(database.for_rows()) {
        Ok((tables, rowid)) => tables == saved.tables && rowid == saved.last_insert_rowid,
        Err(_) => false,
    }
}

/// Every table's rows, tables with triggers first, and `last_insert_rowid()`.
fn read(connection: &Connection) -> rusqlite::Result<(Vec<Table>, i64)> {
    let mut names: Vec<(bool, String)> = connection
        .prepare(
            "select name, exists (select 1 from sqlite_schema as trigger \
             where trigger.type = 'trigger' and trigger.tbl_name = tables.name) \
             from sqlite_schema as tables where type = 'table' order by rowid",
        )?
        .query_map([], |row| Ok((!row.get::<_, bool>(1)?, row.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // Tables with triggers first (stable: in the schema's order).
    names.sort_by_key(|(no_trigger, _)| *no_trigger);
    let mut tables = Vec::new();
    for (_, name) in names {
        tables.push(read_table(connection, &name)?);
    }
    Ok((tables, connection.last_insert_rowid()))
}

fn read_table(connection: &Connection, name: &str) -> rusqlite::Result<Table> {
    let quoted = quote(name);
    // A rowid table without an `integer primary key` (which is its rowid)
    // keeps its rowids only if they are read and written too.
    let select = match rowid_alias(connection, name)? {
        Some(_) => format!("select * from {quoted}"),
        None => format!("select rowid, * from {quoted} order by rowid"),
    };
    let mut statement = match connection.prepare(&select) {
        Ok(statement) => statement,
        // A `without rowid` table.
        Err(_) => connection.prepare(&format!("select * from {quoted}"))?,
    };
    let columns: Vec<String> = statement.column_names().map(quote).collect();
    let count = columns.len();
    let rows = statement
        .query_map([], |row| {
            (0..count)
                .map(|index| row.get::<_, Value>(index))
                .collect::<rusqlite::Result<Vec<Value>>>()
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let placeholders: Vec<String> = (1..=count).map(|index| format!("?{index}")).collect();
    Ok(Table {
        delete: format!("delete from {quoted}"),
        insert: format!(
            "insert into {quoted} ({}) values ({})",
            columns.join(", "),
            placeholders.join(", ")
        ),
        rows,
    })
}

/// The table's `integer primary key` column (its rowid), if it has one.
fn rowid_alias(connection: &Connection, table: &str) -> rusqlite::Result<Option<String>> {
    let keys: Vec<(String, String)> = connection
        .prepare("select name, type from pragma_table_info(?1) where pk > 0")?
        .query_map([table], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(match keys.as_slice() {
        [(name, kind)] if kind.eq_ignore_ascii_case("integer") => Some(name.clone()),
        _ => None,
    })
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Empties every table and refills it, in one transaction. Tables with
/// triggers come first; a table a trigger filled is emptied when its own
/// turn comes.
fn put_back(connection: &Connection, saved: &SavedRows) -> rusqlite::Result<()> {
    connection.prepare_cached("begin")?.execute([])?;
    for table in &saved.tables {
        connection.prepare_cached(&table.delete)?.execute([])?;
        let mut insert = connection.prepare_cached(&table.insert)?;
        for row in &table.rows {
            insert.execute(params_from_iter(row))?;
        }
    }
    set_last_insert_rowid(connection, saved.last_insert_rowid)?;
    connection.prepare_cached("commit")?.execute([])?;
    Ok(())
}
