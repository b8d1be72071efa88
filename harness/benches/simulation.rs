//! How fast the simulation is: the cost of one world step with an in-memory
//! store, the explorer's schedules per second, and memory over a million steps.
//!
//! Run with `cargo bench -p harness --bench simulation`; the figures go to
//! `harness/BENCHMARKS.md`. (Wall-clock time is measured here, around the
//! runs, never inside them.)

use std::time::Instant;

use harness::{
    Broker, Condition, DocumentStore, Envelope, Explorer, FaultRule, HandlerContext, Sim, World,
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

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep it short then.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("run with `cargo bench -p harness --bench simulation` for figures");
        return;
    }
    step_cost();
    explorer_throughput();
    memory();
}
