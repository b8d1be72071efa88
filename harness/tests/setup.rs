//! `Sim::same_in_every_schedule`: an explorer runs a scenario's setup in its
//! first schedule only, and every other schedule is the run it would have
//! been had it run the setup itself.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use harness::sql::params;
use harness::{
    BlobStore, Broker, Condition, DocumentStore, Envelope, Explorer, HandlerContext, Sim, SqlStore,
    World,
};

/// A table with a rowid of its own, one whose `integer primary key` is its
/// rowid, and a trigger that copies rows into a third table.
const SCHEMA: &str = "
    create table orders (id text primary key, items integer not null);
    create table lines (id integer primary key, filling text not null);
    create table journal (line integer not null, filling text not null);
    create trigger journal_copy after insert on lines begin
        insert into journal (line, filling) values (new.id, new.filling);
    end;";

/// What one run leaves behind: its trace, its choices, and every row.
type Run = (String, String, String);

/// A world with a SQL store, a document store, a blob store and an
/// endpoint with two workers; the setup (run once, or every time) adds
/// two lines through the handler and writes a document and a blob; then
/// two copies of a request race. Returns each schedule's run.
fn explore(once: bool) -> Vec<Run> {
    let runs: Arc<Mutex<Vec<Run>>> = Arc::default();
    let recorded = runs.clone();
    let report = Explorer::new(move |sim: &Sim| {
        let broker = Broker::new(sim);
        let mut world = World::new(sim, &broker);
        let db = SqlStore::in_memory(sim, "shop");
        db.execute_batch(SCHEMA).unwrap();
        let carts = DocumentStore::new(sim, "carts");
        let labels = BlobStore::in_memory(sim, "labels");
        let handler_db = db.clone();
        world.add_endpoint("orders", move |_ctx: &mut HandlerContext, m: &Envelope| {
            let filling: String = m.body()?;
            handler_db.transaction(|tx| {
                let items: i64 = tx
                    .query_optional("select items from orders where id = 'o-1'", [], |row| {
                        row.get(0)
                    })?
                    .unwrap_or(0);
                tx.execute(
                    "insert into orders (id, items) values ('o-1', ?1)
                     on conflict (id) do update set items = excluded.items",
                    params![items + 1],
                )?;
                tx.execute("insert into lines (filling) values (?1)", params![filling])
            })?;
            Ok(())
        });
        let mut setup = || {
            for filling in ["mushrooms", "cabbage"] {
                let add = Envelope::new(sim.new_message_id(), "AddItem", &filling);
                world.send("orders", add).unwrap();
            }
            world.run_until_quiet(100).unwrap();
            carts
                .put("ola", "c-1", &"open", Condition::CreateOnly)
                .unwrap();
            labels.put("o-1.pdf", b"%PDF").unwrap();
            world.set_workers("orders", 2).unwrap();
        };
        if once {
            sim.same_in_every_schedule(setup);
        } else {
            setup();
        }
        let add = Envelope::new(sim.new_message_id(), "AddItem", &"meat");
        world.send("orders", add.clone()).unwrap();
        world.send("orders", add).unwrap();
        world.run_until_quiet(100).unwrap();
        let rows: Vec<(i64, String)> = db
            .query_map("select rowid, filling from journal", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        let last: i64 = db.transaction(|tx| Ok(tx.last_insert_rowid())).unwrap();
        let everything = format!(
            "{rows:?} last rowid {last} carts {} labels {}",
            carts.len(),
            labels.len()
        );
        let choices = format!("{:?}", sim.choices());
        recorded
            .lock()
            .unwrap()
            .push((sim.trace().to_string(), choices, everything));
        Ok(())
    })
    .run();
    report.assert_no_violation();
    assert!(report.schedules > 2, "{report}");
    runs.lock().unwrap().clone()
}

#[test]
fn every_schedule_is_the_run_it_was_with_the_setup_in_it() {
    let every_time = explore(false);
    let once = explore(true);
    assert_eq!(once.len(), every_time.len());
    for (index, (once, every_time)) in once.iter().zip(&every_time).enumerate() {
        assert_eq!(once, every_time, "schedule {index}");
    }
    // The setup's rows are there: two lines, then the race's.
    assert!(
        once[1]
            .2
            .starts_with("[(1, \"mushrooms\"), (2, \"cabbage\"), (3, \"meat\")")
    );
}

fn panic_message(run: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(run)).unwrap_err();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_setup_that_makes_a_choice_is_refused() {
    let report = Explorer::new(|sim: &Sim| {
        sim.same_in_every_schedule(|| {
            sim.choose("coin", 2);
        });
        Ok(())
    })
    .run();
    let violation = report.counterexample.expect("refused");
    assert!(
        violation
            .headline
            .contains("made a choice (coin, 2 options): it is not the same in every schedule"),
        "{}",
        violation.headline
    );
}

#[test]
fn a_component_built_in_the_setup_is_refused() {
    let report = Explorer::new(|sim: &Sim| {
        sim.same_in_every_schedule(|| {
            DocumentStore::new(sim, "carts");
        });
        Ok(())
    })
    .run();
    let violation = report.counterexample.expect("refused");
    assert!(
        violation
            .headline
            .contains("a component was built inside the setup"),
        "{}",
        violation.headline
    );
}

#[test]
fn outside_an_explorer_the_setup_just_runs() {
    let sim = Sim::new(1);
    let carts = DocumentStore::new(&sim, "carts");
    for _ in 0..2 {
        sim.same_in_every_schedule(|| {
            carts.put("ola", "c-1", &"open", Condition::Always).unwrap();
        });
    }
    assert_eq!(carts.len(), 1);
    // Even a choice: it is only refused where it would branch.
    let message = panic_message(|| {
        Explorer::new(|sim: &Sim| {
            sim.same_in_every_schedule(|| assert_eq!(sim.choose("coin", 2), 0));
            Ok(())
        })
        .replay(&[1])
        .unwrap();
    });
    assert!(message.contains("assertion"), "{message}");
}
