//! The demo: a few hundred customers place orders, then add pierogi to
//! them while chaos monkeys break things; then the consistency report.
//!
//! `cargo run -p <this package> -- demo --seed 7 --chaos all`
//!
//! Everything runs in the simulation, so the same seed and profile give the
//! same report, on every machine.

use harness::{Envelope, Error, EventKind, Fault, RandomFaults, Sim};

use crate::audit::Audit;
use crate::chaos::DuplicateWhen;
use crate::outbox::OutboxReport;
use crate::town::Town;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// No monkeys: the sunny day.
    None,
    /// The order page sends some `AddItem`s twice; the broker duplicates
    /// some `ItemAdded`s.
    Duplicates,
    /// The orders database fails some statements and some commits (before
    /// or after committing).
    Database,
    /// The broker fails some publishes of Orders' events (before or after
    /// it took the event).
    Broker,
    /// All of the above.
    All,
}

impl Profile {
    /// Every profile's name, as `--chaos` takes it.
    pub const NAMES: [&str; 5] = ["none", "duplicates", "database", "broker", "all"];

    /// The profile called `name`.
    pub fn parse(name: &str) -> Option<Profile> {
        match name {
            "none" => Some(Profile::None),
            "duplicates" => Some(Profile::Duplicates),
            "database" => Some(Profile::Database),
            "broker" => Some(Profile::Broker),
            "all" => Some(Profile::All),
            _ => None,
        }
    }

    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::None => "none",
            Profile::Duplicates => "duplicates",
            Profile::Database => "database",
            Profile::Broker => "broker",
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
    /// What the outbox stored, and what went out.
    pub outbox: OutboxReport,
    /// How many times a monkey or a fault struck, by kind.
    pub faults: Vec<(String, usize)>,
}

/// Runs the demo in `sim`: `orders` orders, then one to four items added
/// to each, with the monkeys of `profile` loose.
pub fn run(sim: &Sim, profile: Profile, orders: usize) -> Result<Demo, Error> {
    let mut town = Town::open(sim);
    // One worker for Orders: copies of a message come one after the other.
    // (Exercise 11's tests run two workers at once, in every interleaving.)
    // 1. Customers place their orders. Part A made that safe; no monkeys yet.
    let mut placed = Vec::new();
    for number in 1..=orders {
        let customer = CUSTOMERS[number % CUSTOMERS.len()];
        let order_id = town.place_order(&format!("c-{number}"), customer, &["ruskie"])?;
        placed.push((customer, order_id));
    }
    // 2. The monkeys come.
    unleash(&town, profile);
    // 3. Everybody adds pierogi to their order, all at once: the broker
    //    delivers in whatever order it likes.
    for (customer, order_id) in &placed {
        let count = 1 + sim.random_below(4);
        for _ in 0..count {
            let filling = FILLINGS[sim.random_below(FILLINGS.len() as u64) as usize];
            town.add_item(customer, order_id, filling)?;
        }
    }
    town.deliver()?;
    Ok(Demo {
        audit: town.audit()?,
        outbox: town.orders.outbox_report(&town.broker)?,
        faults: count_faults(sim),
        town,
    })
}

/// Lets the profile's monkeys loose.
fn unleash(town: &Town, profile: Profile) {
    let sim = &town.sim;
    if profile.has(Profile::Duplicates) {
        // One AddItem in five, picked by its (seeded) id, goes out twice.
        town.page.monkeys().add(DuplicateWhen::new(one_in(5)));
        sim.inject_random(RandomFaults::new().with(
            "broker.ItemAdded.publish",
            Fault::Duplicate,
            0.1,
        ));
    }
    if profile.has(Profile::Database) {
        sim.inject_random(
            RandomFaults::new()
                .with("sql.orders.execute", Fault::FailBefore, 0.02)
                .with("sql.orders.commit", Fault::FailBefore, 0.05)
                .with("sql.orders.commit", Fault::FailAfter, 0.05),
        );
    }
    if profile.has(Profile::Broker) {
        sim.inject_random(
            RandomFaults::new()
                .with("broker.*.publish", Fault::FailBefore, 0.1)
                .with("broker.*.publish", Fault::FailAfter, 0.05),
        );
    }
}

/// A predicate true for about one message in `n`, decided by its id.
fn one_in(n: u128) -> impl Fn(&Envelope) -> bool + Send + Sync + 'static {
    move |message: &Envelope| message.id.as_uuid().as_u128().is_multiple_of(n)
}

/// How many faults struck, by fault point and kind, from the trace.
fn count_faults(sim: &Sim) -> Vec<(String, usize)> {
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

/// How to call the demo.
pub const USAGE: &str =
    "demo [--seed S] [--chaos none|duplicates|database|broker|all] [--orders N]";

/// `demo --seed S --chaos P --orders N`: runs the demo and prints its
/// report. Returns the process's exit code.
pub fn command(args: &[String]) -> i32 {
    let mut seed = 7;
    let mut profile = Profile::All;
    let mut orders = 300;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().map(String::as_str).unwrap_or_default();
        let understood = match flag.as_str() {
            "--seed" => value.parse().map(|parsed| seed = parsed).is_ok(),
            "--orders" => value.parse().map(|parsed| orders = parsed).is_ok(),
            "--chaos" => Profile::parse(value)
                .map(|parsed| profile = parsed)
                .is_some(),
            _ => false,
        };
        if !understood {
            eprintln!("did not understand `{flag} {value}`");
            eprintln!("usage: cargo run -p <this package> -- {USAGE}");
            return 2;
        }
    }
    let name = profile.name();
    let sim = Sim::new(seed);
    println!(
        "Pierogi town, seed {seed}, chaos \"{name}\": {orders} orders placed, then 1 to 4 items added to each."
    );
    let demo = match run(&sim, profile, orders) {
        Ok(demo) => demo,
        Err(err) => {
            eprintln!("the demo could not run: {err}");
            return 1;
        }
    };
    println!();
    print!("{}", demo.audit);
    print!("{}", demo.outbox);
    println!();
    if demo.faults.is_empty() {
        println!("No monkey struck.");
    } else {
        println!("The monkeys struck:");
        for (kind, count) in &demo.faults {
            println!("  {count:>5} × {kind}");
        }
    }
    if demo.audit.is_consistent() && demo.outbox.is_clean() {
        0
    } else {
        1
    }
}
