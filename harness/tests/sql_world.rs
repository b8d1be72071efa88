//! The SQL store under the world's scheduler: two workers handle two copies
//! of one message, taking turns at every fault point, including in the middle
//! of each other's transactions. Nothing may hang, and primary-key
//! deduplication must leave exactly one order, in every order of turns.

use harness::sql::{SqlStore, params};
use harness::{Broker, Envelope, HandlerContext, HandlerError, Sim, World};

fn orders_after_two_copies(seed: u64) -> i64 {
    let sim = Sim::new(seed);
    let db = SqlStore::in_memory(&sim, "orders");
    db.execute_batch("create table orders (cart text primary key)")
        .unwrap();
    let broker = Broker::new(&sim);
    let mut world = World::new(&sim, &broker);
    let store = db.clone();
    world.add_endpoint(
        "orders",
        move |_ctx: &mut HandlerContext, message: &Envelope| {
            let cart: String = message.body()?;
            let created = store.transaction(|tx| {
                match tx.execute("insert into orders (cart) values (?1)", params![cart]) {
                    Ok(_) => Ok(true),
                    Err(err) if err.is_conflict() => Ok(false),
                    Err(err) => Err(err),
                }
            });
            match created {
                Ok(_) => Ok(()),
                Err(err) => Err(HandlerError::transient(err.to_string())),
            }
        },
    );
    world.set_workers("orders", 2).unwrap();
    let submit = Envelope::new(sim.new_message_id(), "SubmitOrder", &"c-1");
    world.send("orders", submit.clone()).unwrap();
    world.send("orders", submit).unwrap();
    world.run_until_quiet(1_000).unwrap();
    db.query_row("select count(*) from orders", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn two_workers_racing_on_one_sql_store_create_one_order_and_never_hang() {
    for seed in 0..50 {
        assert_eq!(orders_after_two_copies(seed), 1, "seed {seed}");
    }
}
