//! Exercise 08: some messages depend on the order as a request finds it,
//! not only on the request: `FirstItemAdded` (the first item added to a
//! placed order) and `CouponEarned` (an item takes the order to 100 zł).
//! A retry or a late copy that decides them again, from the order as it is
//! now, lies: it sends what the first attempt never decided, or nothing
//! where the first attempt decided to send. What a request sends must be
//! decided once, and kept with the change until it is out.

use harness::{Fault, FaultRule, RandomFaults, Sim};
use inline_outbox::{open_town, run_demo};
use shop::ORDERS_QUEUE;
use shop::demo::Profile;
use shop::testing::world::{
    assert_as_asked, assert_no_lost_update, assert_storm_as_asked, change_many_times,
};
use shop::town::Town;

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 8;

/// A town where Ola has placed order c-1.
fn olas_order(sim: &Sim) -> (Town, String) {
    let mut town = open_town(sim);
    let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    (town, order)
}

// ----- a decision made once -----

#[test]
fn first_item_added_survives_publish_timeout_and_interleaving() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    town.broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    sim.note("Orders' first FirstItemAdded times out at the broker; Orders gives up at once");
    sim.inject(FaultRule::at("broker.FirstItemAdded.publish").fail_before());
    let add = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("meanwhile Ola adds mushrooms");
    town.add_item("Ola", &order, "mushrooms").unwrap();
    town.deliver().unwrap();
    sim.note("the operator replays the dead-lettered AddItem(meat)");
    town.broker
        .replay_dead_letter(ORDERS_QUEUE, add.id)
        .unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "first_item_added_survives_publish_timeout_and_interleaving",
        "Ola added meat, her order's first added item: Orders saved it and published \
         ItemAdded, then FirstItemAdded timed out. Ola added mushrooms; then the AddItem(meat) \
         came again",
    );
}

#[test]
fn coupon_granted_despite_dropped_send() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    sim.note("Ola's order has ruskie (25 zł); she adds meat and mushrooms (75 zł)");
    town.add_item("Ola", &order, "meat").unwrap();
    town.add_item("Ola", &order, "mushrooms").unwrap();
    town.deliver().unwrap();
    town.broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    sim.note("the broker drops Orders' CouponEarned; Orders gives up at once");
    sim.inject(FaultRule::at("broker.CouponEarned.publish").fail_before());
    let add = town.add_item("Ola", &order, "strawberry").unwrap();
    town.deliver().unwrap();
    sim.note("Ola takes the meat off (75 zł)");
    town.remove_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the operator replays the dead-lettered AddItem(strawberry)");
    town.broker
        .replay_dead_letter(ORDERS_QUEUE, add.id)
        .unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "coupon_granted_despite_dropped_send",
        "strawberries took Ola's order to 100 zł: Orders saved them, and the broker dropped \
         CouponEarned. Ola took the meat off; then the AddItem(strawberry) came again",
    );
}

#[test]
fn retry_emits_nothing_if_first_attempt_emitted_nothing() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    town.add_item("Ola", &order, "mushrooms").unwrap();
    town.deliver().unwrap();
    sim.note("Ola adds meat: not her order's first item, so no FirstItemAdded");
    let meat = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    town.remove_item("Ola", &order, "mushrooms").unwrap();
    town.deliver().unwrap();
    town.remove_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the order page sends Ola's AddItem(meat) again, late: its answer never came");
    town.resend("Ola", &meat).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "retry_emits_nothing_if_first_attempt_emitted_nothing",
        "Ola added mushrooms (her first item), then meat (not her first), then took both off; \
         then a late copy of her AddItem(meat) came. It changes nothing, and must send \
         nothing its first attempt did not",
    );
}

#[test]
fn late_copy_after_many_requests_changes_nothing() {
    // However late a copy comes, it is a copy: an order that remembers
    // only its last requests (to stay small) takes an old one for new.
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    let book = town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    town.cancel_payment(&order).unwrap();
    town.deliver().unwrap();
    sim.note("Ola and the payment service change the order a hundred times");
    change_many_times(&mut town, "Ola", &order, 25).unwrap();
    sim.note("the payment service sends its first BookPayment again, very late");
    town.resend("payments", &book).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "late_copy_after_many_requests_changes_nothing",
        "the payment service booked Ola's payment and cancelled it; then Ola added and took \
         off mushrooms, and the payment was booked and cancelled again, a hundred requests in \
         all; then a late copy of the first BookPayment came. A copy is a copy however many \
         requests came between: the order must remember every request it applied",
    );
}

#[test]
fn outgoing_ids_stable_across_retries() {
    // Sent again, a message keeps its id: the receivers deduplicate by it.
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    sim.note("the broker takes FirstItemAdded and PaymentBooked, but its answers are lost");
    sim.inject(FaultRule::at("broker.FirstItemAdded.publish").fail_after());
    sim.inject(FaultRule::at("broker.PaymentBooked.publish").fail_after());
    town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "outgoing_ids_stable_across_retries",
        "Orders published FirstItemAdded, and later PaymentBooked, but was told each publish \
         failed: each request came back, and its retry published again",
    );
}

// ----- a crash between two writes -----

#[test]
fn messages_are_saved_with_the_change() {
    // Orders gives up on AddItem(meat) when a write to the orders store
    // fails (one attempt only); then the operator replays the dead letter.
    // Whatever the first attempt left behind, the replay must bring the
    // order, Billing and Marketing to the same story.
    let test = "messages_are_saved_with_the_change";
    for fault in [Fault::FailBefore, Fault::FailAfter] {
        for nth in 1..=3 {
            let sim = Sim::from_env_or(SEED);
            let (mut town, order) = olas_order(&sim);
            town.broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
            sim.note(&format!(
                "from now on, write #{nth} to the orders store fails ({fault}); Orders gives up \
                 at once"
            ));
            sim.inject(FaultRule::at("kv.orders.put").nth(nth).inject(fault));
            let add = town.add_item("Ola", &order, "meat").unwrap();
            town.deliver().unwrap();
            let dead = town.broker.dead_letters(ORDERS_QUEUE).unwrap();
            if !dead.iter().any(|letter| letter.envelope.id == add.id) {
                continue; // AddItem has fewer writes: this point is not in it
            }
            sim.note("the operator replays the dead-lettered AddItem(meat)");
            town.broker
                .replay_dead_letter(ORDERS_QUEUE, add.id)
                .unwrap();
            town.deliver().unwrap();
            assert_as_asked(
                &town,
                test,
                &format!(
                    "Ola added meat, her order's first added item; write #{nth} of its AddItem \
                     failed ({fault}), and Orders gave up; then the operator replayed it"
                ),
            );
        }
    }
}

// ----- two requests at once -----

#[test]
fn three_tabs_at_once_keep_every_item() {
    // Ola adds meat, mushrooms and strawberries from three tabs at once.
    // Orders has three workers, and each run's seed decides how their
    // steps interleave: every schedule must keep every item, announce
    // each, and grant the coupon they earn together.
    let test = "three_tabs_at_once_keep_every_item";
    for schedule in 0..20 {
        let sim = Sim::from_env_or(SEED + schedule);
        let (mut town, order) = olas_order(&sim);
        town.add_item("Ola", &order, "sauerkraut").unwrap();
        town.deliver().unwrap();
        town.world.set_workers(ORDERS_QUEUE, 3).unwrap();
        sim.note("Ola adds meat, mushrooms and strawberries from three tabs, at once");
        for filling in ["meat", "mushrooms", "strawberry"] {
            town.add_item("Ola", &order, filling).unwrap();
        }
        town.deliver().unwrap();
        let scenario = "Ola's order had ruskie and sauerkraut (50 zł); she added meat, mushrooms \
                        and strawberries at once, from three tabs, and three workers of Orders \
                        handled them side by side";
        assert_no_lost_update(&town, &order, test, scenario);
        assert_as_asked(&town, test, scenario);
    }
}

#[test]
fn three_tabs_at_once_while_the_broker_hiccups() {
    // The same three tabs, while the broker refuses some of Orders'
    // publishes: a request that saved its messages may fail to publish
    // them while another request publishes and clears the outbox. No
    // message may be forgotten before it is out.
    let test = "three_tabs_at_once_while_the_broker_hiccups";
    for schedule in 0..20 {
        let sim = Sim::from_env_or(SEED + schedule);
        let (mut town, order) = olas_order(&sim);
        town.add_item("Ola", &order, "sauerkraut").unwrap();
        town.deliver().unwrap();
        town.world.set_workers(ORDERS_QUEUE, 3).unwrap();
        town.broker.set_max_attempts(ORDERS_QUEUE, 20).unwrap();
        sim.note("from now on the broker refuses about one publish of Orders in six");
        sim.inject_random(RandomFaults::new().with("broker.*.publish", Fault::FailBefore, 0.15));
        sim.note("Ola adds meat, mushrooms and strawberries from three tabs, at once");
        for filling in ["meat", "mushrooms", "strawberry"] {
            town.add_item("Ola", &order, filling).unwrap();
        }
        town.deliver().unwrap();
        let scenario = "Ola's order had ruskie and sauerkraut (50 zł); she added meat, mushrooms \
                        and strawberries at once, from three tabs, and three workers of Orders \
                        handled them side by side while the broker refused about one publish \
                        in six: every message a request decided must go out in the end, \
                        whoever publishes it, and none may be forgotten before";
        assert_no_lost_update(&town, &order, test, scenario);
        assert_as_asked(&town, test, scenario);
    }
}

// ----- all of it at once -----

#[test]
fn chaos_storm_tells_marketing_every_moment_once() {
    // The demo, smaller: thirty orders changed in rounds while every monkey
    // is loose and earlier requests come again, late.
    let seed = Sim::from_env_or(SEED).seed();
    let storm = |sim: &Sim, orders| run_demo(sim, Profile::All, orders);
    assert_storm_as_asked(
        seed,
        30,
        storm,
        "chaos_storm_tells_marketing_every_moment_once",
        "thirty orders, changed in rounds while every monkey was loose and earlier requests \
         came again, late (the demo, smaller: cargo run -p <this package> --example demo)",
    );
}
