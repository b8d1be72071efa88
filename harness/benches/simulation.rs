//! How fast the simulation is: the cost of one world step with an in-memory
//! store, the explorer's schedules per second (in memory, and on SQL with
//! the reuse of databases off and on, side by side; on SQL after a setup,
//! run in every schedule and once), and memory over a million steps.
//!
//! Run with `cargo bench -p harness --bench simulation` (add `-- sql` for
//! only the measurements whose name contains `sql`); the figures go to
//! `harness/BENCHMARKS.md`. (Wall-clock time is measured here, around the
//! runs, never inside them.)

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::sql::{SqlStore, params};
use harness::{
    Broker, Condition, DocumentStore, Envelope, Error, Explorer, FaultRule, HandlerContext,
    MessageId, Sim, World,
};

/// A world whose one endpoint reads a counter, writes it back incremented,
/// and sends itself the next message: every step is one full delivery.
fn ping_pong_world(sim: &Sim) -> World {
    let broker = Broker::new(sim);
    let store = DocumentStore::new(sim, "counters");
    store
        .put("p", "counter", &0u64, Condition::CreateOnly)
        .unwrap();
    let mut world = World::new(sim, &broker);
    world.add_endpoint("orders", move |ctx: &mut HandlerContext, _m: &Envelope| {
        let counter = store.get::<u64>("p", "counter")?.unwrap();
        store.put(
            "p",
            "counter",
            &(counter.value + 1),
            Condition::IfMatch(counter.version),
        )?;
        ctx.send(
            "orders",
            Envelope::new(ctx.new_message_id(), "Ping", &counter.value),
        )?;
        Ok(())
    });
    world
        .send("orders", Envelope::new(sim.new_message_id(), "Ping", &0u64))
        .unwrap();
    world
}

fn median(samples: &mut [u128]) -> u128 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn step_cost() {
    let sim = Sim::new(1);
    let mut world = ping_pong_world(&sim);
    for _ in 0..10_000 {
        world.step();
    }
    let mut samples: Vec<u128> = (0..100_000)
        .map(|_| {
            let start = Instant::now();
            world.step();
            start.elapsed().as_nanos()
        })
        .collect();
    let p90 = {
        samples.sort_unstable();
        samples[samples.len() * 9 / 10]
    };
    println!(
        "world step (get + put + send + ack, in-memory): median {:.2} µs, p90 {:.2} µs",
        median(&mut samples) as f64 / 1000.0,
        p90 as f64 / 1000.0
    );
}

fn memory() {
    let sim = Sim::new(2);
    let mut world = ping_pong_world(&sim);
    // Warm up until every bounded log (trace, labels, broker history) is full.
    let warm_up = 200_000;
    for _ in 0..warm_up {
        world.step();
    }
    let before = resident_bytes();
    let start = Instant::now();
    let steps = 1_000_000;
    for _ in 0..steps {
        world.step();
    }
    let elapsed = start.elapsed();
    let after = resident_bytes();
    println!(
        "memory: RSS {:.1} MB after {warm_up} steps, {:.1} MB after {} more ({:+.1} MB); \
         {:.2} µs per step on average",
        before as f64 / 1e6,
        after as f64 / 1e6,
        steps,
        (after as f64 - before as f64) / 1e6,
        elapsed.as_nanos() as f64 / steps as f64 / 1000.0
    );
}

/// Two copies of one message race on two workers, each making five store
/// calls: ten store calls in all, every interleaving.
fn explorer_throughput() {
    let calls = 5;
    let explorer = Explorer::new(move |sim: &Sim| {
        let broker = Broker::new(sim);
        let store = DocumentStore::new(sim, "counters");
        let mut world = World::new(sim, &broker);
        world.add_endpoint("orders", move |ctx: &mut HandlerContext, _m: &Envelope| {
            let copy = ctx.sim().new_uuid().to_string();
            for call in 0..calls {
                store.put(&copy, &call.to_string(), &call, Condition::Always)?;
            }
            Ok(())
        });
        world.set_workers("orders", 2).unwrap();
        sim.inject(FaultRule::at("broker.orders.send").duplicate());
        world
            .send(
                "orders",
                Envelope::new(sim.new_message_id(), "AddItem", &()),
            )
            .unwrap();
        world.run_until_quiet(100).unwrap();
        Ok(())
    });
    let start = Instant::now();
    let report = explorer.run();
    let elapsed = start.elapsed();
    assert!(report.exhausted && report.counterexample.is_none());
    println!(
        "explorer: {} schedules of two copies x {calls} store calls in {:.2} s: {:.0} schedules/s",
        report.schedules,
        elapsed.as_secs_f64(),
        report.schedules as f64 / elapsed.as_secs_f64()
    );
    let choices_only = Explorer::new(|sim: &Sim| {
        (0..11).for_each(|_| {
            sim.choose("A or B", 2);
        });
        Ok(())
    });
    let start = Instant::now();
    let report = choices_only.run();
    println!(
        "explorer: {} schedules of 11 bare choices in {:.3} s",
        report.schedules,
        start.elapsed().as_secs_f64()
    );
}

/// The tables of the SQL scenario: an order, the requests it processed, and
/// an outbox, as in exercises 09 and 11.
const SQL_SCHEMA: &str = "
    create table orders (id text primary key, items integer not null);
    create table processed (order_id text not null, version integer not null,
                            request_id text not null, primary key (order_id, version));
    create table outbox (message_id text primary key, request_id text not null,
                         body text not null, dispatched integer not null default 0);";

/// One copy of an `AddItem` request, in short steps as exercise 11's
/// outbox takes them: load (order, version, whether handled), write the
/// next version with its outgoing message (a conflict: load again), send
/// it, mark it sent. Each step is a transaction of its own.
fn add_item(db: &SqlStore, ctx: &mut HandlerContext, request: &Envelope) -> Result<(), Error> {
    let request_id = request.id.to_string();
    loop {
        let (items, version, handled) = db.transaction(|tx| {
            let items: i64 = tx
                .query_optional("select items from orders where id = 'o-1'", [], |row| {
                    row.get(0)
                })?
                .unwrap_or(0);
            let version: i64 = tx.query_row(
                "select coalesce(max(version), 0) from processed where order_id = 'o-1'",
                [],
                |row| row.get(0),
            )?;
            let handled = tx
                .query_optional(
                    "select 1 from processed where request_id = ?1",
                    params![request_id],
                    |row| row.get::<_, i64>(0),
                )?
                .is_some();
            Ok((items, version, handled))
        })?;
        if handled {
            break;
        }
        let message_id = ctx.new_message_id().as_uuid().as_u128().to_string();
        let written = db.transaction(|tx| {
            tx.execute(
                "insert into processed (order_id, version, request_id) values ('o-1', ?1, ?2)",
                params![version + 1, request_id],
            )?;
            tx.execute(
                "insert into orders (id, items) values ('o-1', ?1)
                 on conflict (id) do update set items = excluded.items",
                params![items + 1],
            )?;
            tx.execute(
                "insert into outbox (message_id, request_id, body) values (?1, ?2, ?3)",
                params![message_id, request_id, items + 1],
            )
        });
        match written {
            Ok(_) => break,
            Err(err) if err.is_conflict() => continue,
            Err(err) => return Err(err),
        }
    }
    let pending: Vec<(String, i64)> = db.query_map(
        "select message_id, body from outbox where request_id = ?1 and dispatched = 0",
        params![request_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    for (message_id, items) in pending {
        let id: u128 = message_id.parse().expect("the outbox holds message ids");
        ctx.publish(
            "items",
            Envelope::new(MessageId::from_u128(id), "ItemAdded", &items),
        )?;
    }
    db.execute(
        "update outbox set dispatched = 1 where request_id = ?1",
        params![request_id],
    )?;
    Ok(())
}

/// How many schedules of the SQL scenario are measured (the first ones the
/// explorer tries, the same in every round).
const SQL_SCHEDULES: usize = 2_000;

/// Two copies of one request on two workers, over SQL: the first
/// [`SQL_SCHEDULES`] schedules. Returns the digest of every
/// schedule's trace and choices, in the explorer's order, and how long the
/// exploration took.
fn sql_two_copies() -> (Vec<u64>, Duration, Duration) {
    explore_timed(|sim: &Sim| {
        let broker = Broker::new(sim);
        let db = SqlStore::in_memory(sim, "orders");
        db.execute_batch(SQL_SCHEMA).unwrap();
        let mut world = World::new(sim, &broker);
        let handler_db = db.clone();
        world.add_endpoint("orders", move |ctx: &mut HandlerContext, m: &Envelope| {
            Ok(add_item(&handler_db, ctx, m)?)
        });
        world.set_workers("orders", 2).unwrap();
        sim.inject(FaultRule::at("broker.orders.send").duplicate());
        world
            .send(
                "orders",
                Envelope::new(sim.new_message_id(), "AddItem", &()),
            )
            .unwrap();
        world.run_until_quiet(100).unwrap();
    })
}

/// Explores `scenario`'s first [`SQL_SCHEDULES`] schedules, timed: the
/// digest of every schedule's trace and choices, in the explorer's order,
/// then the wall and CPU time the exploration took.
fn explore_timed(scenario: impl Fn(&Sim) + 'static) -> (Vec<u64>, Duration, Duration) {
    let digests = Arc::new(Mutex::new(Vec::new()));
    let recorded = digests.clone();
    let explorer = Explorer::new(move |sim: &Sim| {
        scenario(sim);
        let mut hasher = DefaultHasher::new();
        sim.trace().to_string().hash(&mut hasher);
        format!("{:?}", sim.choices()).hash(&mut hasher);
        recorded.lock().unwrap().push(hasher.finish());
        Ok(())
    });
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let report = explorer.max_schedules(SQL_SCHEDULES).run();
    let (elapsed, cpu) = (start.elapsed(), cpu_time().saturating_sub(cpu_start));
    assert!(report.counterexample.is_none(), "{report}");
    let digests = digests.lock().unwrap().clone();
    assert_eq!(digests.len(), report.schedules);
    (digests, elapsed, cpu)
}

/// CPU time of the whole process so far (user and system, every thread),
/// from `/proc/self/stat`: on a loaded machine it says more than the wall
/// clock, which also counts the waits for a CPU.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here;
    // the kernel counts in ticks of 1/100 s.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The SQL scenario with the reuse of in-memory databases off (as before
/// it existed) and on, alternately: schedules per second of each, and
/// whether every schedule is the same run (same trace, same choices).
fn sql_explorer_throughput() {
    for round in 1..=3 {
        let mut digests = Vec::new();
        for reuse in [false, true] {
            harness::sql::set_reuse(reuse);
            let label = format!(
                "explorer, SQL, round {round}, reuse {}",
                if reuse { "on " } else { "off" }
            );
            digests.push(report_schedules(&label, sql_two_copies()));
        }
        assert_eq!(
            digests[0], digests[1],
            "a schedule ran differently with the reuse of databases"
        );
        println!("  every schedule the same run with reuse off and on (trace and choices)");
    }
    harness::sql::set_reuse(true);
}

/// Prints one measured exploration (`label: N schedules in …`) and returns
/// its schedules' digests, to compare with the other variant's.
fn report_schedules(label: &str, measured: (Vec<u64>, Duration, Duration)) -> Vec<u64> {
    let (schedule_digests, elapsed, cpu) = measured;
    let schedules = schedule_digests.len() as f64;
    println!(
        "{label}: {} schedules in {:.2} s ({:.2} s of CPU): {:.0} schedules/s, {:.0} per CPU \
         second",
        schedule_digests.len(),
        elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        schedules / elapsed.as_secs_f64(),
        schedules / cpu.as_secs_f64().max(0.01),
    );
    schedule_digests
}

/// The SQL scenario after a setup that places the order through the
/// handler (one worker, one request, before any choice), with the setup run
/// in every schedule or once (`Sim::same_in_every_schedule`): the digest of
/// every schedule's trace and choices, and how long it took.
fn sql_two_copies_after_a_setup(once: bool) -> (Vec<u64>, Duration, Duration) {
    explore_timed(move |sim: &Sim| {
        let broker = Broker::new(sim);
        let db = SqlStore::in_memory(sim, "orders");
        db.execute_batch(SQL_SCHEMA).unwrap();
        let mut world = World::new(sim, &broker);
        let handler_db = db.clone();
        world.add_endpoint("orders", move |ctx: &mut HandlerContext, m: &Envelope| {
            Ok(add_item(&handler_db, ctx, m)?)
        });
        let mut setup = || {
            let first = Envelope::new(sim.new_message_id(), "AddItem", &());
            world.send("orders", first).unwrap();
            world.run_until_quiet(100).unwrap();
            world.set_workers("orders", 2).unwrap();
        };
        if once {
            sim.same_in_every_schedule(setup);
        } else {
            setup();
        }
        let add = Envelope::new(sim.new_message_id(), "AddItem", &());
        world.send("orders", add.clone()).unwrap();
        world.send("orders", add).unwrap();
        world.run_until_quiet(100).unwrap();
    })
}

/// The SQL scenario after a setup, the setup run in every schedule and
/// once, alternately: schedules per second of each, and whether every
/// schedule is the same run.
fn sql_setup_once_throughput() {
    for round in 1..=3 {
        let mut digests = Vec::new();
        for once in [false, true] {
            let label = format!(
                "explorer, SQL after a setup, round {round}, setup {}",
                if once { "once      " } else { "every time" }
            );
            digests.push(report_schedules(&label, sql_two_copies_after_a_setup(once)));
        }
        assert_eq!(
            digests[0], digests[1],
            "a schedule ran differently with the setup run once"
        );
        println!("  every schedule the same run with the setup every time and once");
    }
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep it short then.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        println!("run with `cargo bench -p harness --bench simulation` for figures");
        return;
    }
    // `cargo bench -p harness --bench simulation -- sql` runs only the
    // measurements whose name contains `sql`.
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let measurements: [(&str, fn()); 5] = [
        ("step", step_cost),
        ("explorer", explorer_throughput),
        ("sql explorer", sql_explorer_throughput),
        ("sql setup once", sql_setup_once_throughput),
        ("memory", memory),
    ];
    for (name, measure) in measurements {
        if wanted(name) {
            measure();
        }
    }
}
