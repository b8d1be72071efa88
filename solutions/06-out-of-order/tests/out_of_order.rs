//! Exercise 06: requests to Orders come out of order. Each request alone
//! is idempotent (add an item if absent, remove it if present, set a flag),
//! but a late copy of an earlier request, applied after a later one, undoes
//! it. Orders must recognise a request it has seen, however late, and
//! remember it in the same write as the change.

use harness::{Failure, Fault, FaultPoint, FaultRule, Sim};
use out_of_order::{open_town, run_demo};
use shop::ORDERS_QUEUE;
use shop::demo::Profile;
use shop::testing::world::{
    assert_as_asked, assert_no_lost_update, assert_storm_as_asked, change_many_times,
};
use shop::town::Town;

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 6;

/// A town where Ola has placed order c-1.
fn olas_order(sim: &Sim) -> (Town, String) {
    let mut town = open_town(sim);
    let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    (town, order)
}

fn has_meat(town: &Town, order: &str) -> bool {
    let items = town.orders.added_to(order).unwrap();
    items.iter().any(|item| item == "meat")
}

// ----- late copies -----

#[test]
fn late_copy_of_add_item_does_not_bring_the_item_back() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    let add = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    town.remove_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the order page sends Ola's AddItem(meat) again, late: its answer never came");
    town.resend("Ola", &add).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "late_copy_of_add_item_does_not_bring_the_item_back",
        "Ola added meat, then took it off; then a late copy of her AddItem(meat) came",
    );
}

#[test]
fn late_copy_of_book_payment_does_not_undo_the_cancel() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    let book = town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    town.cancel_payment(&order).unwrap();
    town.deliver().unwrap();
    sim.note("the payment service sends BookPayment again, late: its answer never came");
    town.resend("payments", &book).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "late_copy_of_book_payment_does_not_undo_the_cancel",
        "the payment service booked Ola's payment, then cancelled it; then a late copy of \
         BookPayment came",
    );
}

#[test]
fn late_copy_of_remove_item_does_not_remove_a_new_item() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    let remove = town.remove_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the order page sends Ola's RemoveItem(meat) again, late");
    town.resend("Ola", &remove).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "late_copy_of_remove_item_does_not_remove_a_new_item",
        "Ola added meat, took it off, added it again; then a late copy of her first \
         RemoveItem(meat) came",
    );
}

#[test]
fn late_copy_of_a_remove_that_found_nothing_stays_harmless() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    sim.note("Ola takes meat off her order, which has none (two tabs open)");
    let remove = town.remove_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the order page sends Ola's RemoveItem(meat) again, late");
    town.resend("Ola", &remove).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "late_copy_of_a_remove_that_found_nothing_stays_harmless",
        "Ola took meat off an order without meat (nothing to do), then added meat; then a \
         late copy of her RemoveItem(meat) came",
    );
}

#[test]
fn late_copy_after_many_requests_is_still_a_copy() {
    // However late a copy comes, it is a copy: an order that remembers
    // only its last requests takes an old one for new.
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    let add = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("Ola and the payment service change the order a hundred times");
    change_many_times(&mut town, "Ola", &order, 25).unwrap();
    town.remove_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the order page sends Ola's AddItem(meat) again, very late");
    town.resend("Ola", &add).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "late_copy_after_many_requests_is_still_a_copy",
        "Ola added meat; then she added and took off mushrooms, and the payment service booked \
         and cancelled her payment, a hundred requests in all; she took the meat off; then a \
         late copy of her first AddItem(meat) came. A copy is a copy however many requests \
         came between: the order must remember every request it applied",
    );
}

// ----- what must keep working -----

#[test]
fn adding_again_after_a_remove_adds_again() {
    // A new request for the same thing is not a duplicate: only its id can
    // tell, not its content.
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    town.remove_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("Ola changes her mind again: a new AddItem(meat)");
    town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "adding_again_after_a_remove_adds_again",
        "Ola added meat, took it off, then added it again with a new request: a new request \
         with the same content is not a duplicate",
    );
}

#[test]
fn retry_after_a_failed_publish_still_publishes() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    sim.note("the broker refuses Orders' first ItemAdded; the AddItem comes back for a retry");
    sim.inject(FaultRule::at("broker.ItemAdded.publish").fail_before());
    town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "retry_after_a_failed_publish_still_publishes",
        "Orders saved Ola's meat, then the broker refused ItemAdded; the retry found the \
         request done — and must still publish",
    );
}

#[test]
fn resent_request_after_a_failed_publish_still_publishes() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    town.broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    sim.note("the broker refuses Orders' first ItemAdded; Orders gives up at once");
    sim.inject(FaultRule::at("broker.ItemAdded.publish").fail_before());
    let add = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the order page sends Ola's AddItem(meat) again: its answer never came");
    town.resend("Ola", &add).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "resent_request_after_a_failed_publish_still_publishes",
        "Orders saved Ola's meat, then the broker refused ItemAdded and Orders gave up on the \
         AddItem; then the order page sent it again. The copy comes as a first delivery, not \
         as a retry: it finds the request done — and must still publish",
    );
}

// ----- two tabs at once -----

#[test]
fn requests_from_two_tabs_at_once_are_all_applied() {
    // Ola adds meat and mushrooms from two tabs while the payment service
    // books her payment: three different requests for one order, handled
    // side by side by three workers of Orders. Each run's seed decides how
    // their steps interleave: in every schedule, all three are applied.
    let test = "requests_from_two_tabs_at_once_are_all_applied";
    for schedule in 0..20 {
        let sim = Sim::from_env_or(SEED + schedule);
        let (mut town, order) = olas_order(&sim);
        town.world.set_workers(ORDERS_QUEUE, 3).unwrap();
        sim.note(
            "Ola adds meat and mushrooms from two tabs while the payment service books her \
             payment, all at once",
        );
        town.add_item("Ola", &order, "meat").unwrap();
        town.add_item("Ola", &order, "mushrooms").unwrap();
        town.book_payment(&order, 4_500).unwrap();
        town.deliver().unwrap();
        let scenario = "Ola added meat and mushrooms from two tabs while the payment service \
                        booked her payment, and three workers of Orders handled the three \
                        requests side by side: a refused write is no proof that the request \
                        was applied, only that someone else wrote first";
        assert_no_lost_update(&town, &order, test, scenario);
        assert_as_asked(&town, test, scenario);
    }
}

// ----- the mark and the change -----

fn is_write(point: &FaultPoint) -> bool {
    point.name.ends_with(".put") || point.name.ends_with(".batch")
}

#[test]
fn the_mark_and_the_change_are_one_write() {
    // Orders gives up on AddItem(meat) when a write fails (one attempt
    // only). Ola takes the meat off; then the operator replays the dead
    // letter. The replay must do exactly what the first attempt did not:
    // add the meat if the first attempt left no trace, nothing if it did.
    let test = "the_mark_and_the_change_are_one_write";
    for fault in [Fault::FailBefore, Fault::FailAfter] {
        for nth in 1..=3 {
            let sim = Sim::from_env_or(SEED);
            let (mut town, order) = olas_order(&sim);
            town.broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
            sim.note(&format!(
                "from now on, store write #{nth} fails ({fault}); Orders gives up at once"
            ));
            sim.inject(FaultRule::at("kv.**").when(is_write).nth(nth).inject(fault));
            let add = town.add_item("Ola", &order, "meat").unwrap();
            town.deliver().unwrap();
            let dead = town.broker.dead_letters(ORDERS_QUEUE).unwrap();
            if !dead.iter().any(|letter| letter.envelope.id == add.id) {
                continue; // AddItem has fewer writes: this point is not in it
            }
            let kept = has_meat(&town, &order);
            town.remove_item("Ola", &order, "meat").unwrap();
            town.deliver().unwrap();
            sim.note("the operator replays the dead-lettered AddItem(meat)");
            town.broker
                .replay_dead_letter(ORDERS_QUEUE, add.id)
                .unwrap();
            town.deliver().unwrap();
            let now = has_meat(&town, &order);
            if now != kept {
                continue;
            }
            let headline = if kept {
                format!(
                    "reordered: the replayed AddItem(meat) put the meat back after Ola took it \
                     off. Its first attempt had added the meat (then write #{nth} failed, \
                     {fault}), but the order did not remember the request in the same write as \
                     the change"
                )
            } else {
                format!(
                    "lost: the replayed AddItem(meat) did nothing, and the meat Ola asked for \
                     never came. Its first attempt left the request marked as done, but its \
                     change was not saved (write #{nth} failed, {fault}): the change and the \
                     mark were not one write"
                )
            };
            let label = sim.message_ref(&add).label;
            Failure::new(&sim, headline)
                .detail("a crash between two writes leaves one without the other")
                .highlight_message(&label)
                .test_name(test)
                .panic();
        }
    }
}

// ----- all of it at once -----

#[test]
fn late_copies_storm_matches_what_the_customers_did() {
    // The demo, smaller: thirty orders changed in rounds while every monkey
    // is loose and earlier requests come again, late.
    let seed = Sim::from_env_or(SEED).seed();
    let storm = |sim: &Sim, orders| run_demo(sim, Profile::All, orders);
    assert_storm_as_asked(
        seed,
        30,
        storm,
        "late_copies_storm_matches_what_the_customers_did",
        "thirty orders, changed in rounds while every monkey was loose and earlier requests \
         came again, late (the demo, smaller: cargo run -p <this package> --example demo)",
    );
}
