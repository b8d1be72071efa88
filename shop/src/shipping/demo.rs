//! The demo of exercise 16: Orders ships a hundred orders, one in ten of
//! them a wedding, to Shipping (two workers) while the monkeys of a chaos
//! profile are loose; then the consistency report, what struck, and the
//! round trips Shipping made per message (blob calls counted too).
//!
//! `cargo run -p sol16-claim-check --example demo -- --seed 7 --chaos all`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use harness::{Envelope, Error, Fault, FaultRule, Sim};

use super::{HandleShipOrder, SHIPPING_QUEUE, Shipping, ShippingAudit};
use crate::demo::options::{self, Seed};
use crate::demo::{Profile, count_faults, print_faults};
use crate::orders::kv::RoundTrips;
use crate::testing::shipping::{ShippingWorld, home_order, wedding};

/// What the demo did.
pub struct ShippingDemo {
    /// The consistency report.
    pub audit: ShippingAudit,
    /// The round trips Shipping made per message.
    pub cost: RoundTrips,
    /// How many times a monkey struck, by kind.
    pub faults: Vec<(String, usize)>,
}

const CUSTOMERS: [(&str, &str); 4] = [
    ("Ola", "Rynek 1, Kraków"),
    ("Bartek", "Długa 7, Gdańsk"),
    ("Hania", "Piotrkowska 90, Łódź"),
    ("Staś", "Świdnicka 3, Wrocław"),
];

/// Runs the demo in `sim`: `orders` orders shipped with `handle`, under the
/// monkeys of `profile`.
pub fn run(
    sim: &Sim,
    profile: Profile,
    orders: usize,
    handle: HandleShipOrder,
) -> Result<ShippingDemo, Error> {
    let shipping = Shipping::new(sim, handle);
    let mut town = ShippingWorld::open(&shipping);
    town.world.set_workers(SHIPPING_QUEUE, 2)?;
    town.broker.set_max_attempts(SHIPPING_QUEUE, 12)?;
    unleash(&town, profile);
    let duplicates = profile == Profile::Duplicates || profile == Profile::All;
    let mut copies = 0;
    let mut tickets: Vec<Envelope> = Vec::new();
    for number in 1..=orders {
        let order_id = format!("c-{number}");
        let ship = if number.is_multiple_of(10) {
            wedding(&order_id)
        } else {
            let (customer, address) = CUSTOMERS[number % CUSTOMERS.len()];
            home_order(&order_id, customer, address)
        };
        let ticket = town.ship(&ship);
        if duplicates && sim.random_below(10) < 2 {
            // Orders timed out waiting for the broker and sent it again.
            town.resend(&ticket);
            copies += 1;
        }
        tickets.push(ticket);
    }
    deliver(&mut town)?;
    let mut late = 0;
    if profile == Profile::Late || profile == Profile::All {
        // Orders sends some ShipOrders again, long after they were handled.
        for ticket in &tickets {
            if sim.random_below(10) < 2 {
                town.resend(ticket);
                late += 1;
            }
        }
        deliver(&mut town)?;
    }
    let cost = RoundTrips::of(&sim.trace(), SHIPPING_QUEUE);
    let mut faults = count_faults(sim);
    if copies > 0 {
        faults.push(("ShipOrder sent twice at once".to_string(), copies));
    }
    if late > 0 {
        faults.push(("late copy of ShipOrder".to_string(), late));
    }
    Ok(ShippingDemo {
        audit: town.audit(),
        cost,
        faults,
    })
}

fn deliver(town: &mut ShippingWorld) -> Result<(), Error> {
    town.deliver()
        .map_err(|violation| Error::Other(violation.headline))
}

/// Lets the monkeys of `profile` loose, on the calls made while the world
/// delivers: one call in `n` to each point strikes, from a place the seed
/// chooses.
fn unleash(town: &ShippingWorld, profile: Profile) {
    let mut monkeys: Vec<(&str, Fault, u64)> = Vec::new();
    let all = profile == Profile::All;
    if profile == Profile::Duplicates || all {
        monkeys.push((
            "broker.LabelReady.publish|broker.invoices.send",
            Fault::Duplicate,
            5,
        ));
    }
    if profile == Profile::Database || all {
        for fault in [Fault::FailBefore, Fault::FailAfter] {
            monkeys.push((
                "kv.shipments.put|blob.payloads.put|blob.payloads.delete",
                fault,
                23,
            ));
            monkeys.push(("kv.shipments.get|blob.payloads.get", fault, 31));
        }
    }
    if profile == Profile::Broker || all {
        for fault in [Fault::FailBefore, Fault::FailAfter] {
            monkeys.push(("broker.LabelReady.publish|broker.invoices.send", fault, 13));
        }
    }
    for (pattern, fault, one_in) in monkeys {
        let delivering = town.delivering();
        let calls = Arc::new(AtomicU64::new(town.sim.random_below(one_in)));
        let strikes = move |point: &harness::FaultPoint| {
            delivering(point) && calls.fetch_add(1, Ordering::SeqCst).is_multiple_of(one_in)
        };
        town.sim
            .inject(FaultRule::at(pattern).when(strikes).always().inject(fault));
    }
}

/// The round trips per `ShipOrder`, by store and to the broker.
fn print_cost(cost: &RoundTrips) {
    print!(
        "  Round trips per ShipOrder Shipping handled ({} messages):",
        cost.messages
    );
    for store in cost.stores.keys() {
        print!(" {:.2} to store {store},", cost.per_message(store));
    }
    println!(
        " {:.2} to the broker; {:.2} in all",
        cost.broker_per_message(),
        cost.total_per_message()
    );
}

/// The options of exercise 16's demo.
#[derive(clap::Parser, Debug)]
#[command(
    about = "Orders ships orders, one in ten a wedding, to Shipping (two workers) \
             while chaos monkeys break things; then the consistency report, what \
             struck, and the round trips per message. Exits with 1 when the report \
             finds an anomaly."
)]
struct Options {
    #[command(flatten)]
    seed: Seed,
    /// Which monkeys are loose.
    #[arg(long, value_enum, value_name = "PROFILE", default_value_t = Profile::All)]
    chaos: Profile,
    /// How many orders are shipped.
    #[arg(long, value_name = "N", default_value_t = 100)]
    orders: usize,
}

/// The example `demo`'s command (`args` after the program's name; `--help`
/// says what each option does): runs the demo with Shipping's `handle`,
/// prints its report, and returns the exit code: 0 when the report is
/// consistent, 1 when not, 2 for a mistake in the arguments.
pub fn command(args: &[String], handle: HandleShipOrder) -> i32 {
    let Options {
        seed: Seed { seed },
        chaos: profile,
        orders,
    } = match options::parse(args) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let sim = Sim::new(seed);
    println!(
        "Shipping, seed {seed}, chaos \"{}\": {orders} orders shipped, one in ten a wedding, two workers.",
        profile.name()
    );
    let demo = match run(&sim, profile, orders, handle) {
        Ok(demo) => demo,
        Err(err) => {
            eprintln!("the demo could not run: {err}");
            return 1;
        }
    };
    println!();
    print!("{}", demo.audit);
    print_cost(&demo.cost);
    println!();
    print_faults(&demo.faults);
    if demo.audit.is_consistent() { 0 } else { 1 }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_options_read_as_the_readme_writes_them() {
        Options::command().debug_assert();
        let args = ["--seed", "7", "--chaos", "broker"].map(String::from);
        let parsed: Options = options::parse(&args).expect("the README's options");
        assert_eq!(parsed.seed.seed, 7);
        assert_eq!(parsed.chaos, Profile::Broker);
        assert_eq!(parsed.orders, 100);
    }
}
