//! The demo of exercise 17: the whole system under each fault profile (or
//! one, `--chaos <name>`), with one poison cart of each kind that the
//! operator fixes and restores; then the consistency report and the round
//! trips per order. `--soak <n>` runs `n` seeds with every fault at once
//! and prints the counts and the time (`scripts/soak-17.sh`).

use std::time::Instant;

use harness::{Error, Sim};

use super::chaos::Profile;
use super::{Cart, FILLINGS, Lesson, Running, System, SystemReport};
use crate::ORDERS_QUEUE;
use crate::demo::options::{self, Seed};
use crate::downstream::MARKETING;
use crate::operations::{Component, StatusReport, Thresholds};
use crate::orders::kv::RoundTrips;
use crate::payments::PAYMENTS_QUEUE;
use crate::shipping::SHIPPING_QUEUE;

/// The street and the filling that are fixed during the run.
const NEW_STREET: &str = "Nowa 7, Kraków";
const NEW_FILLING: &str = "pineapple";

/// Every service's endpoint, for the round trips.
const ENDPOINTS: [&str; 6] = [
    "orders", "payments", "shipping", "kitchen", MARKETING, "invoices",
];

/// One run: `carts` random carts (and the two poison ones), delivered, fixed,
/// restored, delivered; the system and its report.
pub fn run(sim: &Sim, lesson: Lesson, profile: Profile, carts: usize) -> Result<Demo, Error> {
    let mut system = System::open(sim, lesson, profile);
    let mut all = vec![
        Cart::new("c-1", "Ola", &["ruskie", NEW_FILLING]),
        Cart::new("c-2", "Kuba", &["meat"; 3]).to(NEW_STREET),
    ];
    for n in 3..carts + 3 {
        let portions = 1 + sim.random_below(22) as usize;
        let items: Vec<&str> = (0..portions)
            .map(|_| FILLINGS[sim.random_below(FILLINGS.len() as u64) as usize])
            .collect();
        all.push(Cart::new(&format!("c-{n}"), "Gosia", &items));
    }
    for cart in &all {
        system.submit(cart)?;
    }
    system.deliver();
    let at_three_am = status(&system);
    system.courier.learn(NEW_STREET);
    system.menu.learn(NEW_FILLING);
    for order in ["c-1", "c-2"] {
        system.restore(order)?;
    }
    system.deliver();
    let report = system.report(&all)?;
    Ok(Demo {
        system,
        report,
        at_three_am,
    })
}

/// What one run of the demo left.
pub struct Demo {
    /// The system, as the run left it.
    pub system: Running,
    /// The consistency report, at the end.
    pub report: SystemReport,
    /// The status report before the fix and the restore.
    pub at_three_am: StatusReport,
}

/// The status report a person on call reads: every queue, the health of
/// every service, the alerts, and the conversations that are not complete.
pub fn status(system: &Running) -> StatusReport {
    StatusReport::read(&system.broker, &components(system), Thresholds::default())
}

/// The services, each with the queue it consumes and the stores it needs
/// (read-only probes: a health check never writes).
fn components(system: &Running) -> Vec<Component> {
    vec![
        Component::new("orders (saga)")
            .consuming(ORDERS_QUEUE)
            .reading_documents(&system.sagas),
        Component::new("payments")
            .consuming(PAYMENTS_QUEUE)
            .reading_documents(system.payments.store()),
        Component::new("shipping")
            .consuming(SHIPPING_QUEUE)
            .reading_documents(system.shipping.shipments())
            .reading_blobs(system.shipping.payloads()),
        Component::new("kitchen")
            .consuming("kitchen")
            .reading_documents(&system.kitchen),
        Component::new(MARKETING).consuming(MARKETING),
        Component::new("invoices").consuming("invoices"),
    ]
}

/// The round trips of every service, per order, from the trace.
pub fn round_trips(system: &Running, orders: usize) -> String {
    let trace = system.sim.trace();
    let mut lines = vec![format!(
        "round trips per order ({orders} orders; SubmitOrder's handling apart):"
    )];
    let mut total = 0.0;
    for endpoint in ENDPOINTS {
        let cost = RoundTrips::of(&trace, endpoint);
        let calls: usize = cost.stores.values().sum::<usize>() + cost.broker + cost.http;
        let per_order = calls as f64 / orders.max(1) as f64;
        total += per_order;
        let stores: Vec<String> = cost
            .stores
            .iter()
            .map(|(store, n)| format!("{store} {n}"))
            .collect();
        lines.push(format!(
            "  {endpoint:<10} {per_order:>6.1}  (stores: {}; broker {}; http {})",
            stores.join(", "),
            cost.broker,
            cost.http
        ));
    }
    lines.push(format!("  {:<10} {total:>6.1}", "all"));
    lines.join("\n")
}

/// The options of exercise 17's demo.
#[derive(clap::Parser, Debug)]
#[command(
    about = "The whole system under each chaos profile in turn (or one), with a poison \
             cart of each kind that the operator fixes and restores; then the status \
             reports, the consistency report and the round trips per order. Exits with \
             1 when a report finds an anomaly."
)]
struct Options {
    #[command(flatten)]
    seed: Seed,
    /// Which faults are loose [default: each profile in turn].
    #[arg(long, value_enum, value_name = "PROFILE")]
    chaos: Option<Profile>,
    /// How many random carts are submitted, besides the two poison ones.
    #[arg(long, visible_alias = "orders", value_name = "N", default_value_t = 12)]
    carts: usize,
    /// Runs seeds 1 to SEEDS with every fault at once (chaos "all") and
    /// prints the totals and the time, instead of one report per profile.
    #[arg(long, value_name = "SEEDS", conflicts_with_all = ["seed", "chaos"])]
    soak: Option<u64>,
}

/// The example `demo`'s command (`args` after the program's name; `--help`
/// says what each option does). Returns the exit code: 0 when every report
/// is consistent, 1 when not, 2 for a mistake in the arguments.
pub fn command(args: &[String], lesson: Lesson) -> i32 {
    let Options {
        seed: Seed { seed },
        chaos,
        carts,
        soak: soak_seeds,
    } = match options::parse(args) {
        Ok(options) => options,
        Err(code) => return code,
    };
    if let Some(seeds) = soak_seeds {
        return soak(lesson, seeds, carts);
    }
    let profiles = match chaos {
        Some(profile) => vec![profile],
        None => Profile::ALL.to_vec(),
    };
    let mut consistent = true;
    for profile in profiles {
        println!("== chaos: {} (seed {seed}) ==", profile.name());
        match run(&Sim::new(seed), lesson, profile, carts) {
            Ok(demo) => {
                let report = &demo.report;
                println!("status before the fix and the restore:");
                demo.at_three_am.print();
                println!("status at the end:");
                status(&demo.system).print();
                print!("consistency: {report}");
                println!("{}", round_trips(&demo.system, report.carts));
                consistent &= report.is_consistent() && report.parked.is_empty();
            }
            Err(err) => {
                println!("the run failed: {err}");
                consistent = false;
            }
        }
        println!();
    }
    if consistent { 0 } else { 1 }
}

/// Runs seeds `1..=seeds` with every fault at once; prints the totals.
fn soak(lesson: Lesson, seeds: u64, carts: usize) -> i32 {
    let started = Instant::now();
    let mut totals = [0usize; 5];
    let mut failed = Vec::new();
    for seed in 1..=seeds {
        match run(&Sim::new(seed), lesson, Profile::All, carts) {
            Ok(Demo { report, .. }) => {
                let counts = [
                    report.lost.len(),
                    report.duplicates.len(),
                    report.ghosts.len(),
                    report.garbage.len(),
                    report.parked.len(),
                ];
                for (total, count) in totals.iter_mut().zip(counts) {
                    *total += count;
                }
                if !report.is_consistent() || !report.parked.is_empty() {
                    failed.push(seed);
                }
            }
            Err(_) => failed.push(seed),
        }
    }
    let [lost, duplicate, ghost, garbage, parked] = totals;
    println!(
        "soak: {seeds} seeds x {} carts, every fault profile: {lost} lost, {duplicate} duplicate, {ghost} ghost, \
         {garbage} garbage, {parked} parked; {:.1} s",
        carts + 2,
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        0
    } else {
        println!("inconsistent seeds: {failed:?}");
        1
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_options_read_as_the_readme_and_the_soak_script_write_them() {
        Options::command().debug_assert();
        let every_profile: Options = options::parse(&["--seed".into(), "7".into()]).unwrap();
        assert_eq!(every_profile.chaos, None);
        let args = ["--soak", "1000", "--carts", "12"].map(String::from);
        let soak: Options = options::parse(&args).expect("scripts/soak-17.sh's options");
        assert_eq!((soak.soak, soak.carts), (Some(1000), 12));
        let one: Options = options::parse(&["--chaos".into(), "all".into()]).unwrap();
        assert_eq!(one.chaos, Some(Profile::All));
    }
}
