//! The shop's own tests of Orders on the document store (exercises 05–08
//! plug their lessons into it): its own working versions keep the town
//! consistent, and each shape takes only the requests of its story.

use harness::Sim;
use shop::ORDERS_QUEUE;
use shop::demo::{self, Profile};
use shop::orders::documents::{Moments, Orders, change_order};
use shop::testing::world::{assert_as_asked, assert_no_lost_update};
use shop::town::Town;

const SEED: u64 = 58;

fn shops_own(sim: &Sim) -> Orders {
    Orders::new(sim)
}

#[test]
fn the_shops_own_orders_keep_a_storm_consistent() {
    // The shop's `change_order` and `outgoing_id`, as exercises 05–07 run
    // them (no moments): every monkey, late copies, broken orders.
    let sim = Sim::from_env_or(SEED);
    let run = demo::run(&sim, Profile::All, 30, shops_own).unwrap();
    harness::ensure(
        run.outbox.is_none(),
        &sim,
        || "Orders on documents has no outbox report",
    );
    assert_as_asked(
        &run.town,
        "the_shops_own_orders_keep_a_storm_consistent",
        "thirty orders changed in rounds while every monkey was loose, with the shop's own \
         Orders on the document store",
    );
}

#[test]
fn two_workers_keep_every_item_of_three_tabs() {
    let test = "two_workers_keep_every_item_of_three_tabs";
    for schedule in 0..10 {
        let sim = Sim::from_env_or(SEED + schedule);
        let mut town = Town::open(&sim, shops_own(&sim));
        let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
        town.world.set_workers(ORDERS_QUEUE, 2).unwrap();
        for filling in ["meat", "mushrooms", "strawberry"] {
            town.add_item("Ola", &order, filling).unwrap();
        }
        town.deliver().unwrap();
        let scenario = "Ola added three fillings at once; two workers of Orders handled them";
        assert_no_lost_update(&town, &order, test, scenario);
        assert_as_asked(&town, test, scenario);
    }
}

#[test]
fn an_order_that_only_grows_takes_no_removes() {
    // Exercise 05's Orders takes `SubmitOrder` and `AddItem` only; the demo
    // asks it what it takes and sends nothing else.
    let sim = Sim::from_env_or(SEED);
    let growing = Orders::growing_only(&sim, |_, _, _| Ok(()));
    let whole = Orders::new(&sim);
    for request in ["SubmitOrder", "AddItem"] {
        harness::ensure(growing.takes(request), &sim, || {
            format!("exercise 05's Orders does not take {request}")
        });
    }
    for request in ["RemoveItem", "BookPayment", "CancelPayment"] {
        harness::ensure(!growing.takes(request), &sim, || {
            format!("exercise 05's Orders takes {request}")
        });
        harness::ensure(whole.takes(request), &sim, || {
            format!("Orders on documents does not take {request}")
        });
    }
}

#[test]
fn moments_are_announced_only_when_asked() {
    let sim = Sim::from_env_or(SEED);
    let quiet = Orders::new(&sim);
    let loud = Orders::new(&sim)
        .changing_with(change_order)
        .announcing(Moments::Announced);
    harness::ensure_eq(
        quiet.moments(),
        Moments::NotAnnounced,
        &sim,
        || "a new Orders announces moments",
    );
    harness::ensure_eq(
        loud.moments(),
        Moments::Announced,
        &sim,
        || "Orders asked to announce moments does not",
    );
}
