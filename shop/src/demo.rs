//! The demo: a few hundred customers place orders, then change them —
//! add pierogi, take some off, book and cancel the payment — while chaos
//! monkeys break things and old requests come again, late; then the
//! consistency report.
//!
//! `cargo run -p <this package> --example demo -- --seed 7 --chaos all`
//!
//! Each exercise runs it with its own Orders (`open` makes it, in either
//! shape: see [`AnyOrders`]); the customers only send the requests that
//! Orders takes.
//!
//! Everything runs in the simulation, so the same seed and profile give the
//! same report, on every machine.

pub mod options;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::{Envelope, Error, EventKind, Fault, FaultRule, RandomFaults, Sim};

use crate::audit::Audit;
use crate::chaos::DuplicateWhen;
use crate::operations::{Component, StatusReport, Thresholds};
use crate::orders::kv::{RoundTrips, StoreReport};
use crate::outbox::OutboxReport;
use crate::town::{AnyOrders, Town};
use options::Seed;

/// Who orders.
const CUSTOMERS: [&str; 6] = ["Ola", "Bartek", "Zosia", "Kuba", "Hania", "Staś"];

/// What they add to their orders.
const FILLINGS: [&str; 6] = [
    "meat",
    "mushrooms",
    "quark and potatoes",
    "swiss cheese",
    "strawberry",
    "sauerkraut",
];

/// Which monkeys the demo lets loose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// No monkeys: the sunny day.
    None,
    /// The order page sends some `AddItem`s twice; the broker duplicates
    /// some `ItemAdded`s.
    Duplicates,
    /// The orders database fails some writes, before or after writing
    /// (on SQL: some statements and some commits); on the document store it
    /// also refuses every write to a few broken orders.
    Database,
    /// The broker fails some publishes of `ItemAdded` (before or after it
    /// took the event), of `PaymentBooked` and some letters to the mailer
    /// (after it took them), of `FirstItemAdded` and `CouponEarned`
    /// (before).
    Broker,
    /// The order page and the payment service send some earlier requests
    /// again, late: after later requests of the same order.
    Late,
    /// All of the above.
    All,
}

impl Profile {
    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::None => "none",
            Profile::Duplicates => "duplicates",
            Profile::Database => "database",
            Profile::Broker => "broker",
            Profile::Late => "late",
            Profile::All => "all",
        }
    }

    fn has(self, wanted: Profile) -> bool {
        self == wanted || self == Profile::All
    }
}

/// What the demo did.
pub struct Demo {
    /// The town, as the demo left it.
    pub town: Town,
    /// The consistency report.
    pub audit: Audit,
    /// What the outbox stored, and what went out (Orders on SQL only).
    pub outbox: Option<OutboxReport>,
    /// The order documents and the round trips (Orders on the key-value
    /// store of Part D only).
    pub store: Option<StoreReport>,
    /// The round trips Orders made per message, from the trace (Orders on
    /// a document or key-value store).
    pub cost: Option<RoundTrips>,
    /// How many times a monkey or a fault struck, by kind.
    pub faults: Vec<(String, usize)>,
}

/// The time between two rounds in a town of tokens.
const ONE_DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How many requests each order gets, one per round.
const ROUNDS: usize = 6;

/// Part D: how many orders keep changing after the others are done, and
/// for how many more rounds.
const REGULARS: usize = 3;
const REGULAR_ROUNDS: usize = 150;

/// Runs the demo in `sim` with the Orders `open` makes: `orders` orders;
/// then, in rounds, each customer changes their order once per round (and
/// the payment service books or cancels its payment), with the monkeys of
/// `profile` loose.
pub fn run<O: Into<AnyOrders>>(
    sim: &Sim,
    profile: Profile,
    orders: usize,
    open: fn(&Sim) -> O,
) -> Result<Demo, Error> {
    let mut town = Town::open(sim, open(sim));
    match &town.orders {
        // Two workers: copies of one message can race inside Orders.
        AnyOrders::Documents(_) => town.world.set_workers(crate::ORDERS_QUEUE, 2)?,
        // One worker for Orders: copies of a message come one after the
        // other. (Exercise 11's tests run two workers at once, in every
        // interleaving.) A request is done only once all its messages are
        // out: with three of them and the broker failing now and then, some
        // requests need more than the broker's usual six deliveries.
        AnyOrders::Sql(_) => town.broker.set_max_attempts(crate::ORDERS_QUEUE, 12)?,
        // Both: two workers, and a request needs a few more calls.
        AnyOrders::Kv(_) => {
            town.world.set_workers(crate::ORDERS_QUEUE, 2)?;
            town.broker.set_max_attempts(crate::ORDERS_QUEUE, 12)?;
        }
    }
    // 1. Customers place their orders. Part A made that safe; no monkeys yet.
    let mut placed = Vec::new();
    for number in 1..=orders {
        let customer = CUSTOMERS[number % CUSTOMERS.len()];
        let order_id = town.place_order(&format!("c-{number}"), customer, &["ruskie"])?;
        placed.push((customer, order_id, Vec::new()));
    }
    // 2. The monkeys come.
    let names: Vec<String> = placed
        .iter()
        .map(|(_, order_id, _)| order_id.clone())
        .collect();
    unleash(&town, profile, &names);
    // 3. Round after round, every order gets one new request; the broker
    //    delivers them all before the next round. Now and then an earlier
    //    request of the order comes again, late.
    let mut late_copies = 0;
    let rounds = match town.orders {
        // Part D: a few regulars keep changing their orders, long after the
        // others are done: their orders see hundreds of requests.
        AnyOrders::Kv(_) => ROUNDS + REGULAR_ROUNDS,
        AnyOrders::Documents(_) | AnyOrders::Sql(_) => ROUNDS,
    };
    for round in 0..rounds {
        let changing = if round < ROUNDS {
            placed.len()
        } else {
            REGULARS
        };
        for (customer, order_id, sent) in placed.iter_mut().take(changing) {
            let request = next_request(&mut town, customer, order_id)?;
            if profile.has(Profile::Late) && !sent.is_empty() && sim.random_below(10) < 3 {
                let late: &Envelope = &sent[sim.random_below(sent.len() as u64) as usize];
                town.resend(customer, late)?;
                late_copies += 1;
            }
            sent.push(request);
        }
        town.deliver()?;
        // In a town of tokens (exercise 14) a day passes between rounds:
        // late copies come weeks late, after any retention window.
        if town.orders.tokens().is_some() {
            sim.advance(ONE_DAY);
        }
    }
    let mut faults = count_faults(sim);
    if late_copies > 0 {
        faults.push(("late copy of an earlier request".to_string(), late_copies));
    }
    Ok(Demo {
        audit: town.audit()?,
        outbox: match &town.orders {
            AnyOrders::Documents(_) | AnyOrders::Kv(_) => None,
            AnyOrders::Sql(orders) => Some(orders.outbox_report(&town.broker)?),
        },
        store: match &town.orders {
            AnyOrders::Documents(_) | AnyOrders::Sql(_) => None,
            AnyOrders::Kv(orders) if orders.uses_tokens() => {
                Some(StoreReport::of(sim, orders, &names)?.counting_tokens(orders, &town.broker)?)
            }
            AnyOrders::Kv(orders) => Some(StoreReport::of(sim, orders, &names)?),
        },
        cost: match &town.orders {
            AnyOrders::Sql(_) => None,
            AnyOrders::Documents(_) | AnyOrders::Kv(_) => {
                Some(RoundTrips::of(&sim.trace(), crate::ORDERS_QUEUE))
            }
        },
        faults,
        town,
    })
}

/// One new request for the order, picked at random among those Orders
/// takes: add or remove an item, or (the payment service) book the
/// payment, or cancel it if it is booked.
fn next_request(town: &mut Town, customer: &str, order_id: &str) -> Result<Envelope, Error> {
    let sim = town.sim.clone();
    let filling = FILLINGS[sim.random_below(FILLINGS.len() as u64) as usize];
    if !town.orders.takes("RemoveItem") {
        return town.add_item(customer, order_id, filling);
    }
    match sim.random_below(20) {
        0..=7 => town.add_item(customer, order_id, filling),
        8..=12 => town.remove_item(customer, order_id, filling),
        _ if town.intent_of(order_id).payment_booked => town.cancel_payment(order_id),
        _ => town.book_payment(order_id, 4_500),
    }
}

/// Lets the profile's monkeys loose on the placed orders.
fn unleash(town: &Town, profile: Profile, placed: &[String]) {
    let sim = &town.sim;
    if profile.has(Profile::Duplicates) {
        // One request in five, picked by its (seeded) id, goes out twice.
        town.page.monkeys().add(DuplicateWhen::new(one_in(5)));
        sim.inject_random(RandomFaults::new().with(
            "broker.ItemAdded.publish",
            Fault::Duplicate,
            0.1,
        ));
    }
    if profile.has(Profile::Database) {
        match town.orders {
            AnyOrders::Documents(_) => break_documents(sim, placed),
            AnyOrders::Kv(_) => {
                break_documents(sim, placed);
                sim.inject_random(
                    RandomFaults::new()
                        .with("kv.processed.*", Fault::FailBefore, 0.05)
                        .with("kv.processed.put", Fault::FailAfter, 0.05),
                );
            }
            AnyOrders::Sql(_) => sim.inject_random(
                RandomFaults::new()
                    .with("sql.orders.execute", Fault::FailBefore, 0.01)
                    .with("sql.orders.commit", Fault::FailBefore, 0.03)
                    .with("sql.orders.commit", Fault::FailAfter, 0.03),
            ),
        }
    }
    if profile.has(Profile::Broker) {
        sim.inject_random(
            RandomFaults::new()
                .with("broker.ItemAdded.publish", Fault::FailBefore, 0.1)
                .with("broker.ItemAdded.publish", Fault::FailAfter, 0.05)
                .with("broker.PaymentBooked.publish", Fault::FailAfter, 0.05)
                .with("broker.FirstItemAdded.publish", Fault::FailBefore, 0.2)
                .with("broker.CouponEarned.publish", Fault::FailBefore, 0.2)
                .with("broker.mailer.send", Fault::FailAfter, 0.05),
        );
    }
}

/// The document store fails some writes of Orders, before or after
/// writing, and refuses every write to about one order in 25.
fn break_documents(sim: &Sim, placed: &[String]) {
    sim.inject_random(
        RandomFaults::new()
            .with("kv.orders.put", Fault::FailBefore, 0.1)
            .with("kv.orders.put", Fault::FailAfter, 0.1),
    );
    // The broken orders: the database refuses every write to them, however
    // often Orders retries.
    let mut broken = BTreeSet::new();
    for _ in 0..placed.len().div_ceil(25) {
        let order_id = &placed[sim.random_below(placed.len() as u64) as usize];
        broken.insert(order_id.clone());
    }
    sim.inject(
        FaultRule::at("kv.orders.put")
            .when(move |point| {
                let key = point.key.as_deref().unwrap_or_default();
                let order = key.split('/').next().unwrap_or_default();
                broken.contains(order)
            })
            .always()
            .fail_before(),
    );
}

/// A predicate true for about one message in `n`, decided by its id.
fn one_in(n: u128) -> impl Fn(&Envelope) -> bool + Send + Sync + 'static {
    move |message: &Envelope| message.id.as_uuid().as_u128().is_multiple_of(n)
}

/// Prints how many times a monkey or a fault struck, by kind.
pub(crate) fn print_faults(faults: &[(String, usize)]) {
    if faults.is_empty() {
        println!("No monkey struck.");
        return;
    }
    println!("The monkeys struck:");
    for (kind, count) in faults {
        println!("  {count:>5} × {kind}");
    }
}

/// How many faults struck, by fault point and kind, from the trace.
pub(crate) fn count_faults(sim: &Sim) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for event in sim.trace().events() {
        let EventKind::FaultInjected { point, fault } = &event.kind else {
            continue;
        };
        let kind = format!("{fault} at {point}");
        match counts.iter_mut().find(|(known, _)| *known == kind) {
            Some((_, count)) => *count += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts.sort();
    counts
}

/// The options of the demo of exercises 05–14.
#[derive(clap::Parser, Debug)]
#[command(
    about = "Pierogi town: customers place orders, then change them, while chaos \
             monkeys break things; then the consistency report. Exits with 1 when \
             the report finds an anomaly."
)]
struct Options {
    #[command(flatten)]
    seed: Seed,
    /// Which monkeys are loose.
    #[arg(long, value_enum, value_name = "PROFILE", default_value_t = Profile::All)]
    chaos: Profile,
    /// How many orders the customers place.
    #[arg(long, value_name = "N", default_value_t = 300)]
    orders: usize,
}

/// The example `demo`'s command (`args` after the program's name; `--help`
/// says what each option does): runs the demo with the Orders `open` makes
/// and prints its report. Returns the process's exit code: 0 when the
/// report is consistent, 1 when not, 2 for a mistake in the arguments.
pub fn command<O: Into<AnyOrders>>(args: &[String], open: fn(&Sim) -> O) -> i32 {
    let Options {
        seed: Seed { seed },
        chaos: profile,
        orders,
    } = match options::parse(args) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let name = profile.name();
    let sim = Sim::new(seed);
    println!(
        "Pierogi town, seed {seed}, chaos \"{name}\": {orders} orders placed, then {ROUNDS} \
         rounds of changes to each."
    );
    let demo = match run(&sim, profile, orders, open) {
        Ok(demo) => demo,
        Err(err) => {
            eprintln!("the demo could not run: {err}");
            return 1;
        }
    };
    println!();
    print!("{}", demo.audit);
    if let Some(outbox) = &demo.outbox {
        print!("{outbox}");
    }
    if let Some(store) = &demo.store {
        print!("{store}");
    }
    if let Some(cost) = &demo.cost {
        print!("{cost}");
    }
    println!();
    print_faults(&demo.faults);
    println!();
    StatusReport::read(
        &demo.town.broker,
        &components(&demo.town),
        Thresholds::default(),
    )
    .print();
    let outbox_clean = demo.outbox.as_ref().is_none_or(OutboxReport::is_clean);
    let store_clean = demo.store.as_ref().is_none_or(StoreReport::is_clean);
    if demo.audit.is_consistent() && outbox_clean && store_clean {
        0
    } else {
        1
    }
}

/// The town's services for the status report's health checks: each
/// consumes its queue; Orders also needs its database.
fn components(town: &Town) -> Vec<Component> {
    town.world
        .endpoint_names()
        .iter()
        .map(|name| {
            let component = Component::new(name).consuming(name);
            if name != crate::ORDERS_QUEUE {
                return component;
            }
            match &town.orders {
                AnyOrders::Documents(orders) => component.reading_documents(orders.store()),
                AnyOrders::Sql(orders) => component.reading_sql(orders.database()),
                AnyOrders::Kv(orders) => component.reading_documents(orders.store()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_options_read_as_the_readmes_write_them() {
        Options::command().debug_assert();
        let args = ["--seed", "3", "--chaos", "late", "--orders", "50"].map(String::from);
        let parsed: Options = options::parse(&args).expect("the README's options");
        assert_eq!(parsed.seed.seed, 3);
        assert_eq!(parsed.chaos, Profile::Late);
        assert_eq!(parsed.orders, 50);
    }
}
