//! Exercise 05: chaos monkeys in the asynchronous core. First the monkeys
//! themselves (a duplicator and a one-off broker failure); then what they
//! do to the `AddItem` handler of Orders: a duplicate must add one item, a
//! database failure must not announce a ghost item, a broker failure must
//! not lose the announcement; then a seeded storm of everything at once.

use chaos_monkeys::chaos::{DuplicateWhen, FailOnce};
use chaos_monkeys::{open_town, run_demo};
use harness::{Envelope, Error, EventKind, FaultRule, Sim, ensure};
use shop::ORDERS_QUEUE;
use shop::chaos::Chaos;
use shop::demo::Profile;
use shop::orders::{AddItem, ItemAdded};
use shop::testing::world::{assert_as_asked, assert_no_lost_update, assert_storm_as_asked};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 5;

fn add_item(sim: &Sim, filling: &str) -> Envelope {
    let add = AddItem {
        id: format!("add-{filling}"),
        order_id: "c-1".to_string(),
        filling: filling.to_string(),
    };
    Envelope::new(sim.new_message_id(), "AddItem", &add)
}

fn item_added(sim: &Sim, filling: &str) -> Envelope {
    let added = ItemAdded {
        order_id: "c-1".to_string(),
        filling: filling.to_string(),
    };
    Envelope::new(sim.new_message_id(), "ItemAdded", &added)
}

/// True for an `AddItem` or `ItemAdded` of this filling (both bodies
/// read as an `ItemAdded`: an order and a filling).
fn is_about(message: &Envelope, filling: &str) -> bool {
    message
        .body::<ItemAdded>()
        .is_ok_and(|about| about.filling == filling)
}

/// Sends `message` through the monkeys to a pretend broker; returns what
/// the sender was told and how many copies the broker got.
fn send_through(monkeys: &Chaos, message: &Envelope) -> (Result<(), Error>, usize) {
    let mut copies = 0;
    let told = monkeys.send(message, &mut |_copy: &Envelope| {
        copies += 1;
        Ok(())
    });
    (told, copies)
}

/// What a send did, in a few words.
fn outcome(told: &Result<(), Error>, copies: usize) -> String {
    let told = match told {
        Ok(()) => "told it worked".to_string(),
        Err(err) => format!("told it failed ({err})"),
    };
    let copies = match copies {
        1 => "1 copy".to_string(),
        _ => format!("{copies} copies"),
    };
    format!("the broker got {copies} and the sender was {told}")
}

/// True when a monkey struck in this run with `fault` (`fail before` …).
fn monkey_struck(sim: &Sim, fault: &str) -> bool {
    sim.trace().events().iter().any(|event| {
        matches!(&event.kind, EventKind::FaultInjected { point, fault: struck }
            if point.starts_with("monkey.") && struck == fault)
    })
}

// ----- the monkeys -----

#[test]
fn duplicate_when_sends_a_matching_message_twice() {
    let sim = Sim::from_env_or(SEED);
    let monkeys = Chaos::new(&sim);
    monkeys.add(DuplicateWhen::new(|message| is_about(message, "meat")));
    sim.note("the test sends AddItem(meat) through DuplicateWhen(meat)");
    let (told, copies) = send_through(&monkeys, &add_item(&sim, "meat"));
    ensure(told.is_ok() && copies == 2, &sim, || {
        format!(
            "the monkey did not duplicate AddItem(meat): {}. DuplicateWhen must call \
                 `next(message)` twice for a message that matches (src/chaos.rs)",
            outcome(&told, copies)
        )
    });
    sim.note("the test sends AddItem(mushrooms), which does not match");
    let (told, copies) = send_through(&monkeys, &add_item(&sim, "mushrooms"));
    ensure(told.is_ok() && copies == 1, &sim, || {
        format!(
            "the monkey duplicated AddItem(mushrooms), which does not match: {}. Only \
                 the messages its predicate picks go out twice",
            outcome(&told, copies)
        )
    });
}

#[test]
fn fail_once_before_fails_without_sending() {
    let sim = Sim::from_env_or(SEED);
    let monkeys = Chaos::new(&sim);
    monkeys.add(FailOnce::before(|message| is_about(message, "meat")));
    sim.note("the test sends ItemAdded(meat) through FailOnce::before(meat)");
    let (told, copies) = send_through(&monkeys, &item_added(&sim, "meat"));
    ensure(told.is_err() && copies == 0, &sim, || {
        format!(
            "the monkey let the first ItemAdded(meat) through: {}. FailOnce::before must \
                 return an error without calling `next` — the broker never gets the message \
                 (src/chaos.rs)",
            outcome(&told, copies)
        )
    });
    sim.note("the test sends ItemAdded(meat) again: the hiccup is over");
    let (told, copies) = send_through(&monkeys, &item_added(&sim, "meat"));
    ensure(told.is_ok() && copies == 1, &sim, || {
        format!(
            "the monkey struck twice: {}. FailOnce fails the first matching message \
                 only; a broker that fails every time is an outage, not a hiccup",
            outcome(&told, copies)
        )
    });
    sim.note("the test sends ItemAdded(mushrooms), which does not match");
    let (told, copies) = send_through(&monkeys, &item_added(&sim, "mushrooms"));
    ensure(told.is_ok() && copies == 1, &sim, || {
        format!(
            "the monkey struck ItemAdded(mushrooms), which does not match: {}",
            outcome(&told, copies)
        )
    });
}

#[test]
fn fail_once_after_sends_then_fails() {
    let sim = Sim::from_env_or(SEED);
    let monkeys = Chaos::new(&sim);
    monkeys.add(FailOnce::after(|message| is_about(message, "meat")));
    sim.note("the test sends ItemAdded(mushrooms), which does not match");
    let (told, copies) = send_through(&monkeys, &item_added(&sim, "mushrooms"));
    ensure(told.is_ok() && copies == 1, &sim, || {
        format!(
            "the monkey struck ItemAdded(mushrooms), which does not match: {}",
            outcome(&told, copies)
        )
    });
    sim.note("the test sends ItemAdded(meat) through FailOnce::after(meat)");
    let (told, copies) = send_through(&monkeys, &item_added(&sim, "meat"));
    ensure(told.is_err() && copies == 1, &sim, || {
        format!(
            "the monkey did not strike after the send: {}. FailOnce::after must call \
                 `next` (the broker gets the message) and then return an error anyway — \
                 the answer lost on its way back (src/chaos.rs)",
            outcome(&told, copies)
        )
    });
    sim.note("the test sends ItemAdded(meat) again: the hiccup is over");
    let (told, copies) = send_through(&monkeys, &item_added(&sim, "meat"));
    ensure(told.is_ok() && copies == 1, &sim, || {
        format!(
            "the monkey struck twice: {}. FailOnce fails the first matching message only",
            outcome(&told, copies)
        )
    });
}

#[test]
fn monkeys_pass_on_the_brokers_refusal() {
    // A broker that refuses a message took no copy of it: whatever the
    // monkeys do with it, the sender must hear that it failed, or it never
    // sends the message again.
    let sim = Sim::from_env_or(SEED);
    let monkeys = Chaos::new(&sim);
    monkeys.add(DuplicateWhen::new(|message| is_about(message, "meat")));
    monkeys.add(FailOnce::after(|message| is_about(message, "mushrooms")));
    sim.note("the broker is down: it refuses every message");
    for filling in ["meat", "mushrooms", "strawberry"] {
        sim.note(&format!(
            "the test sends ItemAdded({filling}) through DuplicateWhen(meat) and \
             FailOnce::after(mushrooms)"
        ));
        let told = monkeys.send(&item_added(&sim, filling), &mut |copy: &Envelope| {
            Err(Error::Injected {
                point: format!("broker.{}.send", copy.message_type),
                effect_applied: false,
            })
        });
        ensure(told.is_err(), &sim, || {
            format!(
                "lost: the broker refused ItemAdded({filling}) and took no copy, but the \
                 monkeys told the sender it worked, so it will never send it again. A monkey \
                 must pass on the error `next` returns (`next(message)?`, not \
                 `let _ = next(message)`) (src/chaos.rs)"
            )
        });
    }
}

// ----- what the monkeys do to Orders -----

#[test]
fn duplicate_add_item_adds_one_item() {
    let sim = Sim::from_env_or(SEED);
    let test = "duplicate_add_item_adds_one_item";
    let mut town = open_town(&sim);
    let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    sim.note("a monkey on the order page sends every AddItem(meat) twice");
    town.page
        .monkeys()
        .add(DuplicateWhen::new(|message| is_about(message, "meat")));
    town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    let copies = town
        .broker
        .sent_to(ORDERS_QUEUE)
        .unwrap()
        .iter()
        .filter(|message| is_about(message, "meat"))
        .count();
    ensure(copies == 2, &sim, || {
        format!(
            "the monkey did not duplicate: Orders got {copies} copies of AddItem(meat), \
                 expected 2. Write DuplicateWhen first (src/chaos.rs)"
        )
    });
    assert_as_asked(
        &town,
        test,
        "Ola added meat once; the order page's monkey sent AddItem(meat) twice",
    );
}

#[test]
fn database_failure_leaves_no_ghost_item_added() {
    let sim = Sim::from_env_or(SEED);
    let test = "database_failure_leaves_no_ghost_item_added";
    let mut town = open_town(&sim);
    let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    sim.note("the orders database refuses every write to order c-1 from now on");
    sim.inject(
        FaultRule::at("kv.orders.put")
            .when(|point| {
                point
                    .key
                    .as_deref()
                    .is_some_and(|key| key.starts_with("c-1/"))
            })
            .always()
            .fail_before(),
    );
    town.add_item("Ola", &order, "swiss cheese").unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        test,
        "Ola added swiss cheese while the orders database refused every write to her order: \
         Orders can only give up (the AddItem goes to the dead-letter queue)",
    );
}

#[test]
fn broker_failure_does_not_lose_item_added() {
    let sim = Sim::from_env_or(SEED);
    let test = "broker_failure_does_not_lose_item_added";
    let mut town = open_town(&sim);
    let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    sim.note(
        "a monkey between Orders and the broker fails the first ItemAdded(quark and potatoes)",
    );
    town.orders.monkeys().add(FailOnce::before(|message| {
        is_about(message, "quark and potatoes")
    }));
    town.add_item("Ola", &order, "quark and potatoes").unwrap();
    town.deliver().unwrap();
    ensure(monkey_struck(&sim, "fail before"), &sim, || {
        "the broker monkey did not strike: Orders published ItemAdded(quark and potatoes) \
             and nothing failed. Write FailOnce::before first (src/chaos.rs)"
    });
    assert_as_asked(
        &town,
        test,
        "Ola added quark and potatoes; the broker refused Orders' first ItemAdded, and the \
         broker gave the AddItem back for another try",
    );
}

#[test]
fn replayed_add_item_publishes_what_its_first_attempt_could_not() {
    let sim = Sim::from_env_or(SEED);
    let test = "replayed_add_item_publishes_what_its_first_attempt_could_not";
    let mut town = open_town(&sim);
    let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    town.broker.set_max_attempts(ORDERS_QUEUE, 1).unwrap();
    sim.note("the broker refuses Orders' first ItemAdded; Orders gives up at once");
    sim.inject(FaultRule::at("broker.ItemAdded.publish").fail_before());
    let add = town.add_item("Ola", &order, "meat").unwrap();
    town.deliver().unwrap();
    sim.note("the operator replays the dead-lettered AddItem(meat)");
    town.broker
        .replay_dead_letter(ORDERS_QUEUE, add.id)
        .unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        test,
        "Ola added meat; the broker refused Orders' ItemAdded, and Orders gave up on the \
         AddItem at once (dead-lettered); then the operator replayed it. A replay comes as a \
         first delivery, not as a retry: it must still publish what the attempt before it \
         could not",
    );
}

#[test]
fn three_tabs_at_once_keep_every_item() {
    // Ola adds meat, mushrooms and strawberries from three tabs at once.
    // Orders has three workers, and each run's seed decides how their
    // steps interleave: every schedule must keep every item and announce
    // each.
    let test = "three_tabs_at_once_keep_every_item";
    for schedule in 0..20 {
        let sim = Sim::from_env_or(SEED + schedule);
        let mut town = open_town(&sim);
        let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
        town.world.set_workers(ORDERS_QUEUE, 3).unwrap();
        sim.note("Ola adds meat, mushrooms and strawberries from three tabs, at once");
        for filling in ["meat", "mushrooms", "strawberry"] {
            town.add_item("Ola", &order, filling).unwrap();
        }
        town.deliver().unwrap();
        let scenario = "Ola added meat, mushrooms and strawberries at once, from three tabs, \
                        and three workers of Orders handled them side by side";
        assert_no_lost_update(&town, &order, test, scenario);
        assert_as_asked(&town, test, scenario);
    }
}

#[test]
fn chaos_storm_keeps_orders_billing_and_marketing_consistent() {
    // The demo, smaller: forty orders, then items added while every monkey
    // is loose — duplicates, database and broker failures, broken orders.
    let seed = Sim::from_env_or(SEED).seed();
    let test = "chaos_storm_keeps_orders_billing_and_marketing_consistent";
    let storm = |sim: &Sim, orders| run_demo(sim, Profile::All, orders);
    assert_storm_as_asked(
        seed,
        40,
        storm,
        test,
        "forty orders, then items added to them while every monkey was loose (the demo, \
         smaller: cargo run -p <this package> --example demo)",
    );
}
