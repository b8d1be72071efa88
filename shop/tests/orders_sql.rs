//! Orders on SQL: the handlers only describe what a request does, and the
//! shop's own outbox middleware applies it once, whatever the copies.

use harness::{Broker, Sim, World};
use shop::demo::{self, Profile};
use shop::orders::{
    AddItem, FIRST_ITEM_ADDED, FirstItemAdded, ITEM_ADDED, ItemAdded, Orders, add_item,
};
use shop::outbox::Outgoing;
use shop::testing::sql::{MAX_STEPS, ORDER, add_to_olas_order, place_olas_order};
use shop::{ORDERS_QUEUE, Order};

/// The default seed; `HARNESS_SEED=<n>` replaces it.
const SEED: u64 = 9;

#[test]
fn a_handler_only_describes_the_change_and_the_messages() {
    let sim = Sim::from_env_or(SEED);
    let add = add_to_olas_order(&sim, "meat");
    let request: AddItem = add.body().unwrap();
    let mut order = Order {
        id: ORDER.to_string(),
        cart_id: ORDER.to_string(),
        ..Order::default()
    };
    let mut outgoing = Outgoing::new(&sim, &add, ORDER);
    add_item(&mut order, &request, &mut outgoing).unwrap();
    assert_eq!(order.added, ["meat"], "AddItem(meat) adds the meat");
    let sent: Vec<(&str, &str)> = outgoing
        .messages()
        .iter()
        .map(|outbound| {
            (
                outbound.destination.as_str(),
                outbound.envelope.message_type.as_str(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            (ITEM_ADDED, ITEM_ADDED),
            (FIRST_ITEM_ADDED, FIRST_ITEM_ADDED)
        ],
        "the first item of an order makes ItemAdded and FirstItemAdded"
    );
    let first: FirstItemAdded = outgoing.messages()[1].envelope.body().unwrap();
    assert_eq!(first.filling, "meat");
    let mushrooms = add_to_olas_order(&sim, "mushrooms");
    let mut outgoing = Outgoing::new(&sim, &mushrooms, ORDER);
    add_item(&mut order, &mushrooms.body().unwrap(), &mut outgoing).unwrap();
    let added: ItemAdded = outgoing.messages()[0].envelope.body().unwrap();
    assert_eq!(
        (outgoing.messages().len(), added.filling.as_str()),
        (1, "mushrooms"),
        "the second item makes ItemAdded only"
    );
    let mut outgoing = Outgoing::new(&sim, &add, ORDER);
    add_item(&mut order, &request, &mut outgoing).unwrap();
    assert!(
        outgoing.messages().is_empty() && order.added == ["meat", "mushrooms"],
        "meat again changes nothing and sends nothing (one portion per filling)"
    );
}

#[test]
fn the_shops_middleware_applies_copies_once_and_sends_once() {
    let sim = Sim::from_env_or(SEED);
    let broker = Broker::new(&sim);
    let mut world = World::new(&sim, &broker);
    let orders = Orders::new(&sim);
    orders.add_to(&mut world);
    place_olas_order(&sim, &mut world);
    let add = add_to_olas_order(&sim, "meat");
    for _ in 0..3 {
        world.send(ORDERS_QUEUE, add.clone()).unwrap();
    }
    world.run_until_quiet(MAX_STEPS).unwrap();
    assert_eq!(orders.added_to(ORDER).unwrap(), ["meat"]);
    let report = orders.outbox_report(&broker).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.stored, report.sent), (2, 2), "{report}");
}

#[test]
fn a_storm_through_the_shops_middleware_tells_one_story() {
    let sim = Sim::from_env_or(SEED);
    let ran = demo::run(&sim, Profile::All, 30, Orders::new).unwrap();
    let outbox = ran.outbox.expect("Orders on SQL reports on its outbox");
    assert!(ran.audit.is_consistent(), "{}", ran.audit);
    assert!(outbox.is_clean(), "{outbox}");
}
