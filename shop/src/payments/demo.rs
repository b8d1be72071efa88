//! The Payment handler's demo (exercise 15): a few hundred customers pay,
//! some twice (a deposit, then the balance), while monkeys break the
//! provider's HTTP calls, the handler's store and the broker, and old
//! payments come again, late. The provider is served on 127.0.0.1 and the
//! handler calls it over a real socket. Then the report: what the
//! provider charged against what the customers paid, the codes, what is
//! left at the provider, and the round trips per message.
//!
//! `cargo run -p ex15-http-exactly-once --example demo -- --seed 7 --chaos all --face b`

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use harness::http::{HttpClient, serve_on_loopback};
use harness::{Broker, Envelope, Error, Fault, RandomFaults, Sim, World};

use super::{Face, Lesson, PAYMENTS_QUEUE, Payments};
use crate::demo::options::{self, Seed};
use crate::http::{ApiError, JsonBody, StatusCode};
use crate::orders::kv::RoundTrips;
use crate::orders::{BookPayment, PAYMENT_BOOKED, PaymentBooked};
use crate::provider::{PROVIDER, Provider, ProviderClient};

/// Who hears `PaymentBooked` in the demo (a queue the report reads).
const LISTENER: &str = "billing";

/// Which monkeys the demo lets loose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Chaos {
    /// The sunny day.
    None,
    /// The provider's calls fail before they are sent, lose their answer
    /// after the provider acted, or get a 503 or a 429.
    Http,
    /// The handler's store fails some reads and writes, before or after.
    Database,
    /// The broker fails some publishes of `PaymentBooked` (after taking
    /// them) and some sends of the follow-up (before or after).
    Broker,
    /// The broker delivers some follow-ups twice, and some customers click
    /// "pay" twice.
    Duplicates,
    /// Earlier payments come again, late.
    Late,
    /// All of the above.
    All,
}

impl Chaos {
    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Chaos::None => "none",
            Chaos::Http => "http",
            Chaos::Database => "database",
            Chaos::Broker => "broker",
            Chaos::Duplicates => "duplicates",
            Chaos::Late => "late",
            Chaos::All => "all",
        }
    }

    fn has(self, wanted: Chaos) -> bool {
        self == wanted || self == Chaos::All
    }

    /// The random faults of the profile.
    fn faults(self) -> RandomFaults {
        let mut faults = RandomFaults::new();
        if self.has(Chaos::Http) {
            let busy = Fault::Refuse {
                status: 429,
                retry_after: Some(Duration::from_secs(1)),
            };
            let broken = Fault::Refuse {
                status: 503,
                retry_after: None,
            };
            faults = faults
                .with("http.provider.*", Fault::FailBefore, 0.04)
                .with("http.provider.*", Fault::FailAfter, 0.06)
                .with("http.provider.*", broken, 0.03)
                .with("http.provider.*", busy, 0.03);
        }
        if self.has(Chaos::Database) {
            faults = faults.with("kv.payments.*", Fault::FailBefore, 0.04).with(
                "kv.payments.*",
                Fault::FailAfter,
                0.04,
            );
        }
        if self.has(Chaos::Broker) {
            faults = faults
                .with("broker.PaymentBooked.publish", Fault::FailAfter, 0.05)
                .with("broker.payments.send", Fault::FailBefore, 0.03)
                .with("broker.payments.send", Fault::FailAfter, 0.03);
        }
        if self.has(Chaos::Duplicates) {
            faults = faults.with("broker.payments.send", Fault::Duplicate, 0.1);
        }
        faults
    }
}

/// What the demo found.
pub struct PaymentsDemo {
    /// The seed, the profile and the face, for the headline.
    pub setting: String,
    /// The payments the customers made (requests), by order.
    pub paid: BTreeMap<String, usize>,
    /// The charges the provider made, by order.
    pub charged: BTreeMap<String, usize>,
    /// Everything that went wrong, in the course's words.
    pub problems: Vec<String>,
    /// How many faults struck.
    pub faults: usize,
    /// The round trips the handler made per message, from the trace.
    pub cost: RoundTrips,
}

impl PaymentsDemo {
    /// True when nothing went wrong.
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for PaymentsDemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paid: usize = self.paid.values().sum();
        let charged: usize = self.charged.values().sum();
        writeln!(f, "{}", self.setting)?;
        writeln!(
            f,
            "  {paid} payments for {} orders; the provider made {charged} charges; {} faults \
             struck.",
            self.paid.len(),
            self.faults
        )?;
        if self.problems.is_empty() {
            writeln!(
                f,
                "  Consistent: every payment charged once, one code per PaymentBooked, nothing \
                 left at the provider."
            )?;
        }
        for problem in self.problems.iter().take(10) {
            writeln!(f, "  {problem}")?;
        }
        if self.problems.len() > 10 {
            writeln!(f, "  ... and {} more", self.problems.len() - 10)?;
        }
        let cost = &self.cost;
        writeln!(
            f,
            "  Round trips per message the Payment handler handled ({} messages): {:.2} to store \
             payments, {:.2} over HTTP, {:.2} to the broker; {:.2} in all",
            cost.messages,
            cost.per_message(super::PAYMENTS_STORE),
            cost.http_per_message(),
            cost.broker_per_message(),
            cost.total_per_message()
        )
    }
}

/// Runs the demo: `orders` orders pay (every fourth twice), the handler
/// calls the provider `face`'s way with `lesson`, over 127.0.0.1, with the
/// monkeys of `chaos`.
pub fn run(
    sim: &Sim,
    face: Face,
    lesson: Lesson,
    chaos: Chaos,
    orders: usize,
) -> Result<PaymentsDemo, Error> {
    let provider = Provider::new();
    let server = serve_on_loopback(provider.router())?;
    let client = ProviderClient::new(HttpClient::at_url(sim, PROVIDER, &server.url())?);
    let payments = Payments::new(sim, client, face, lesson);
    let broker = Broker::new(sim);
    let mut world = World::new(sim, &broker);
    payments.add_to(&mut world);
    world.set_workers(PAYMENTS_QUEUE, 2)?;
    broker.set_max_attempts(PAYMENTS_QUEUE, 12)?;
    broker.declare_queue(LISTENER);
    broker.subscribe(PAYMENT_BOOKED, LISTENER)?;
    sim.set_trace_limit(usize::MAX);
    sim.inject_random(chaos.faults());

    let mut paid: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent: Vec<Envelope> = Vec::new();
    for round in 1..=2 {
        for number in 1..=orders {
            if round == 2 && number % 4 != 0 {
                continue;
            }
            let order_id = format!("c-{number}");
            let book = BookPayment {
                id: format!("pay-{number}-{round}"),
                order_id: order_id.clone(),
                amount: 1_000 + 100 * (number as u64 % 20),
            };
            let message = Envelope::new(sim.new_message_id(), "BookPayment", &book);
            pay(&mut world, &message)?;
            if chaos.has(Chaos::Duplicates) && sim.random_below(10) == 0 {
                pay(&mut world, &message)?;
            }
            if chaos.has(Chaos::Late) && !sent.is_empty() && sim.random_below(10) < 3 {
                let late = &sent[sim.random_below(sent.len() as u64) as usize];
                pay(&mut world, late)?;
            }
            *paid.entry(order_id).or_default() += 1;
            sent.push(message);
        }
        world.run_until_quiet(1_000_000)?;
    }
    let problems = audit(&provider, &broker, &paid);
    server.shutdown()?;
    let faults = sim
        .trace()
        .events()
        .iter()
        .filter(|event| matches!(event.kind, harness::EventKind::FaultInjected { .. }))
        .count();
    let face_name = match face {
        Face::Reference => "a, the idempotency reference",
        Face::FourVerbs => "b, the four verbs",
    };
    Ok(PaymentsDemo {
        setting: format!(
            "The Payment handler, seed {}, chaos \"{}\", face {face_name}, provider on 127.0.0.1:",
            sim.seed(),
            chaos.name()
        ),
        charged: charged_by_order(&provider),
        paid,
        problems,
        faults,
        cost: RoundTrips::of(&sim.trace(), PAYMENTS_QUEUE),
    })
}

/// The customer's page sends the payment, and tries again while the broker
/// fails (its monkeys strike the page's sends too): a send that failed
/// after the broker took it makes a copy, as it would in life.
fn pay(world: &mut World, message: &Envelope) -> Result<(), Error> {
    let mut tries = 0;
    loop {
        tries += 1;
        match world.send(PAYMENTS_QUEUE, message.clone()) {
            Ok(()) => return Ok(()),
            Err(err) if err.is_injected() && tries < 10 => continue,
            Err(err) => return Err(err),
        }
    }
}

fn charged_by_order(provider: &Provider) -> BTreeMap<String, usize> {
    let mut charged: BTreeMap<String, usize> = BTreeMap::new();
    for charge in provider.charges() {
        *charged.entry(charge.order_id).or_default() += 1;
    }
    charged
}

/// Everything that went wrong, in the course's words.
fn audit(provider: &Provider, broker: &Broker, paid: &BTreeMap<String, usize>) -> Vec<String> {
    let mut problems = Vec::new();
    let charged = charged_by_order(provider);
    for (order, payments) in paid {
        let charges = charged.get(order).copied().unwrap_or(0);
        if charges > *payments {
            problems.push(format!(
                "DUPLICATE CHARGE: order {order} paid {payments} time(s), charged {charges} times"
            ));
        }
        if charges < *payments {
            problems.push(format!(
                "LOST PAYMENT: order {order} paid {payments} time(s), charged {charges} times"
            ));
        }
    }
    let mut codes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for message in broker.sent_to(LISTENER).unwrap_or_default() {
        if let Ok(booked) = message.body::<PaymentBooked>() {
            codes
                .entry(message.id.to_string())
                .or_default()
                .push(booked.auth_code);
        }
    }
    for (id, copies) in &codes {
        if copies.iter().any(|code| *code != copies[0]) {
            problems.push(format!(
                "TWO CODES: the copies of PaymentBooked {id} carry {}",
                copies.join(", ")
            ));
        }
    }
    let payments: usize = paid.values().sum();
    if codes.len() < payments {
        problems.push(format!(
            "LOST PAYMENT: {payments} payments, PaymentBooked for {} of them",
            codes.len()
        ));
    }
    for letter in broker.dead_letters(PAYMENTS_QUEUE).unwrap_or_default() {
        problems.push(format!(
            "DEAD LETTER: {}: {}",
            letter.envelope.message_type, letter.reason
        ));
    }
    let left = provider.stored_requests();
    if !left.is_empty() {
        problems.push(format!(
            "GARBAGE: the provider still keeps {} request(s) nobody will execute or delete",
            left.len()
        ));
    }
    problems
}

/// `serve [port]` (`args` after the program's name): serves, on
/// 127.0.0.1, the payment provider and the shop's door to the Payment
/// handler (`POST /payments`, which queues a `BookPayment`), the handler
/// running in the background with `lesson`'s calls, the four verbs' way.
/// Returns the process's exit code if it stops on its own.
pub fn serve_command(args: &[String], lesson: Lesson) -> i32 {
    let sim = Sim::from_env_or(1);
    let broker = Broker::new(&sim);
    let mut world = World::new(&sim, &broker);
    let provider = Provider::new();
    // The handler calls the provider in-process; `curl` reaches the same
    // provider (the same ledger) over the socket.
    let payments = Payments::new(&sim, provider.client(&sim), Face::FourVerbs, lesson);
    payments.add_to(&mut world);
    let shop = Router::new()
        .route("/payments", post(queue_payment))
        .with_state(ShopDoor {
            sim: sim.clone(),
            broker: broker.clone(),
        });
    println!("The payment provider and the Payment handler (exercise 15): see the README.");
    crate::serve::serve(args, provider.router_with(shop), Some(world))
}

/// What `POST /payments` needs: a broker to queue on, ids to name with.
#[derive(Clone)]
struct ShopDoor {
    sim: Sim,
    broker: Broker,
}

/// `POST /payments`: queues a `BookPayment` for the Payment handler; 202,
/// the payment is accepted, not yet made.
async fn queue_payment(
    State(door): State<ShopDoor>,
    JsonBody(book): JsonBody<BookPayment>,
) -> Result<StatusCode, ApiError> {
    if book.id.trim().is_empty() || book.order_id.trim().is_empty() || book.amount == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a payment needs an id, an order_id and an amount of at least 1 grosz",
        ));
    }
    let message = Envelope::new(door.sim.new_message_id(), "BookPayment", &book);
    door.broker.send(PAYMENTS_QUEUE, message)?;
    Ok(StatusCode::ACCEPTED)
}

/// The options of exercise 15's demo.
#[derive(clap::Parser, Debug)]
#[command(
    about = "Customers pay, some twice, while chaos monkeys break the provider's HTTP \
             calls, the handler's store and the broker; then what the provider charged \
             against what the customers paid, and the round trips per message. Exits \
             with 1 when the report finds an anomaly."
)]
struct Options {
    #[command(flatten)]
    seed: Seed,
    /// Which monkeys are loose.
    #[arg(long, value_enum, value_name = "PROFILE", default_value_t = Chaos::All)]
    chaos: Chaos,
    /// Which face of the provider the handler uses.
    #[arg(long, value_enum, default_value_t = FaceOption::B)]
    face: FaceOption,
    /// How many customers pay.
    #[arg(long, value_name = "N", default_value_t = 200)]
    orders: usize,
}

/// The provider's faces, as `--face` names them.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum FaceOption {
    /// (a) `POST /charges` with an idempotency reference.
    A,
    /// (b) `PUT`, `POST`, `DELETE` on `/requests/{id}`.
    B,
}

/// The example `demo`'s command (`args` after the program's name; `--help`
/// says what each option does): runs the demo with the handler's calls from
/// `lesson` and prints its report. Returns the exit code: 0 when consistent,
/// 1 when not, 2 for a mistake in the arguments.
pub fn demo_command(args: &[String], lesson: Lesson) -> i32 {
    let Options {
        seed: Seed { seed },
        chaos,
        face,
        orders,
    } = match options::parse(args) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let face = match face {
        FaceOption::A => Face::Reference,
        FaceOption::B => Face::FourVerbs,
    };
    match run(&Sim::new(seed), face, lesson, chaos, orders) {
        Ok(demo) => {
            print!("{demo}");
            if demo.is_consistent() { 0 } else { 1 }
        }
        Err(err) => {
            eprintln!("the demo could not run: {err}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_options_read_as_the_readme_writes_them() {
        Options::command().debug_assert();
        let args = ["--seed", "7", "--chaos", "all", "--face", "a"].map(String::from);
        let parsed: Options = options::parse(&args).expect("the README's options");
        assert_eq!((parsed.seed.seed, parsed.chaos), (7, Chaos::All));
        assert!(matches!(parsed.face, FaceOption::A));
        assert_eq!(parsed.orders, 200);
    }
}
