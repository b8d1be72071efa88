//! The whole system (Part F, exercise 17): every part of the two days wired
//! once, with seeded faults everywhere.
//!
//! ```text
//! browser --HTTP, 202--> front (Part A) --SubmitOrder--> Orders saga (saga.rs)
//!   saga --ReserveStock / ReleaseStock--> kitchen
//!   saga --BookPayment--> Payment (Part E) --HTTP--> provider
//!        <--PaymentBooked / PaymentDeclined--
//!   saga --ShipOrder (claim check)--> Shipping (Part F, 16) --blob--> labels
//!        <--LabelReady--                                 --InvoiceData--> Billing
//!   saga --OrderShipped--> Marketing (coupon, choreographed)
//! ```
//!
//! The saga's state machine is in one file, [`saga`]; the services around it
//! are the solved lessons of Parts B, D, E and F ([`services`]), behind
//! Part D's token gate (Shipping behind exercise 16's consumed body). What exercise 17 writes is what makes the system
//! operable ([`Lesson`]): which failures are retried and which are
//! dead-lettered, the compensation of a declined payment, and the
//! runbook's Restore step. [`report`] checks every cart at the end;
//! [`chaos`] holds the fault profiles.
//!
//! ```
//! use harness::Sim;
//! use shop::system::{Cart, System, chaos::Profile};
//!
//! let sim = Sim::new(1);
//! let mut system = System::open(&sim, shop::system::doc_lesson(), Profile::None);
//! system.submit(&Cart::new("c-1", "Ola", &["ruskie", "meat"])).unwrap();
//! system.deliver();
//! assert!(system.report(&[Cart::new("c-1", "Ola", &["ruskie", "meat"])]).unwrap().is_consistent());
//! ```

pub mod chaos;
pub mod demo;
pub mod report;
pub mod saga;
pub mod services;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use harness::http::HttpClient;
use harness::{
    Broker, DeadLetter, DocumentStore, Envelope, Error, Failure, HandlerContext, HandlerError,
    MessageId, Sim, World,
};
use serde_json::json;

use crate::chaos::Chaos;
use crate::downstream::{MARKETING, Subscriber};
use crate::operations::{Conversations, Progress};
use crate::orders::PAYMENT_BOOKED;
use crate::orders::kv::TokenStore;
use crate::payments::{Face, PAYMENTS_QUEUE, Payments};
use crate::provider::Provider;
use crate::shipping::{InvoiceDesk, LABEL_READY, SHIPPING_QUEUE, Shipping};
use crate::{ORDERS_QUEUE, Shop};

pub use report::SystemReport;
pub use saga::{Command, Event, SagaOrder, Stage, Step};

/// Why handling a message failed, before anyone decided what to do about it.
#[derive(Debug)]
pub enum Problem {
    /// A store, the broker or the blob store said no, or reading the
    /// message failed (`Error::BadBody`: a body that is not what its type
    /// says).
    Failed(Error),
    /// The message is read and understood, and can never succeed as it is:
    /// a filling the kitchen does not make, a street no courier knows.
    Invalid(String),
}

impl From<Error> for Problem {
    fn from(err: Error) -> Problem {
        Problem::Failed(err)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Failed(err) => write!(f, "{err}"),
            Problem::Invalid(reason) => write!(f, "{reason}"),
        }
    }
}

/// What exercise 17 writes: the parts that make the system operable.
#[derive(Clone, Copy)]
pub struct Lesson {
    /// What the broker does with a failure: try again
    /// (`HandlerError::Transient`) or dead-letter it at once
    /// (`HandlerError::Unrecoverable`).
    pub classify: fn(&Problem) -> HandlerError,
    /// The saga's step when the provider declines the payment of `order`.
    pub on_declined: fn(&SagaOrder, &saga::PaymentDeclined) -> Step,
    /// The runbook's Restore step, once the cause is fixed: puts the dead
    /// letters of `order_id`'s conversation back. Returns their ids.
    pub restore: fn(&Broker, &str) -> Result<Vec<MessageId>, Error>,
}

/// A lesson for the examples in these docs: a correct classification and
/// compensation, a Restore that replays.
pub fn doc_lesson() -> Lesson {
    fn classify(problem: &Problem) -> HandlerError {
        match problem {
            Problem::Failed(Error::BadBody { .. }) | Problem::Invalid(_) => {
                HandlerError::unrecoverable(problem.to_string())
            }
            Problem::Failed(_) => HandlerError::transient(problem.to_string()),
        }
    }
    fn on_declined(order: &SagaOrder, _: &saga::PaymentDeclined) -> Step {
        match order.stage {
            Stage::PaymentRequested => Step::to(Stage::Cancelled, &[Command::ReleaseStock]),
            stage => Step::stay(stage),
        }
    }
    fn restore(broker: &Broker, order_id: &str) -> Result<Vec<MessageId>, Error> {
        let mut replayed = Vec::new();
        for queue in broker.queue_names() {
            for letter in broker.dead_letters(&queue)? {
                if letter.envelope.correlation_id() == Some(order_id) {
                    broker.replay_dead_letter(&queue, letter.envelope.id)?;
                    replayed.push(letter.envelope.id);
                }
            }
        }
        Ok(replayed)
    }
    Lesson {
        classify,
        on_declined,
        restore,
    }
}

/// A cart a customer fills and submits over HTTP.
#[derive(Clone, Debug, PartialEq)]
pub struct Cart {
    /// The cart's id (the order's).
    pub id: String,
    /// Who.
    pub customer: String,
    /// One portion per item.
    pub items: Vec<String>,
    /// Where to.
    pub deliver_to: String,
}

impl Cart {
    /// A cart for the shop's own street.
    pub fn new(id: &str, customer: &str, items: &[&str]) -> Cart {
        Cart {
            id: id.to_string(),
            customer: customer.to_string(),
            items: items.iter().map(|item| item.to_string()).collect(),
            deliver_to: STREETS[0].to_string(),
        }
    }

    /// The same cart, to `street`.
    pub fn to(mut self, street: &str) -> Cart {
        self.deliver_to = street.to_string();
        self
    }

    /// What it costs, in grosze.
    pub fn amount(&self) -> u64 {
        self.items.len() as u64 * saga::PORTION_PRICE
    }
}

/// The fillings the kitchen makes at first.
pub const FILLINGS: [&str; 5] = ["ruskie", "meat", "cabbage", "spinach", "blueberry"];

/// The streets the courier knows at first.
pub const STREETS: [&str; 3] = [
    "Rynek 1, Kraków",
    "Floriańska 3, Kraków",
    "Grodzka 5, Kraków",
];

/// A list that the operator can extend: the kitchen's fillings, the
/// courier's streets. Cheap to clone: clones share the list.
#[derive(Clone, Default)]
pub struct Known(Arc<Mutex<BTreeSet<String>>>);

impl Known {
    fn of(names: &[&str]) -> Known {
        let known = Known::default();
        for name in names {
            known.learn(name);
        }
        known
    }

    /// The fix of a data problem: from now on, `name` is known.
    pub fn learn(&self, name: &str) {
        self.lock().insert(name.to_string());
    }

    /// Whether the kitchen cooks `filling`.
    pub fn cooks(&self, filling: &str) -> bool {
        self.lock().contains(filling)
    }

    /// Whether the courier delivers to `street`.
    pub fn delivers_to(&self, street: &str) -> bool {
        self.lock().contains(street)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// How often a transient failure is retried before the message is parked:
/// a real system would add delays between them.
pub const MAX_ATTEMPTS: u32 = 20;

/// Enough steps for a few dozen carts with their retries (fourteen carts
/// under every fault take about 1,100), and few enough that a saga that
/// loops (decline, ask again, decline…) fails in seconds with the
/// world's "still busy" story, not after minutes.
const MAX_STEPS: usize = 10_000;

/// The whole system. The services are cheap clones of it.
#[derive(Clone)]
pub struct System {
    /// The run.
    pub sim: Sim,
    /// The broker between the services.
    pub broker: Broker,
    /// The front (Part A): carts and their submit.
    pub shop: Shop,
    /// The payment provider, a third party.
    pub provider: Provider,
    /// Payment (Part E).
    pub payments: Payments,
    /// Shipping (Part F) and its blob store.
    pub shipping: Shipping,
    /// Billing's invoice desk.
    pub desk: InvoiceDesk,
    /// Marketing's store of coupons.
    pub marketing: Subscriber,
    /// The tokens of the commands in flight (Part D).
    pub tokens: TokenStore,
    /// The fillings the kitchen makes.
    pub menu: Known,
    /// The streets the courier knows.
    pub courier: Known,
    /// The monkeys on what the saga sends.
    pub monkeys: Chaos,
    sagas: DocumentStore,
    kitchen: DocumentStore,
    lesson: Lesson,
}

/// The system and the world that delivers its messages.
pub struct Running {
    /// The services.
    pub system: System,
    /// Delivers the messages.
    pub world: World,
    edge: HttpClient,
}

impl System {
    /// Every service over one broker, two workers each (one for the saga:
    /// its queue is read in order, like a session), with `lesson` and the
    /// faults of `profile`.
    pub fn open(sim: &Sim, lesson: Lesson, profile: chaos::Profile) -> Running {
        let broker = Broker::new(sim);
        let mut world = World::new(sim, &broker);
        let provider = Provider::new();
        let lesson_15 = crate::payments::Lesson {
            charge: services::charge,
            send_request: services::unused,
            execute: services::unused,
            clean_up: services::unused,
        };
        let shipping = Shipping::new(sim, services::ship_order);
        let system = System {
            sim: sim.clone(),
            broker: broker.clone(),
            shop: Shop::new(sim, &broker),
            payments: Payments::new(sim, provider.client(sim), Face::Reference, lesson_15),
            provider,
            desk: InvoiceDesk::new(sim, shipping.payloads()),
            shipping,
            marketing: Subscriber::marketing(sim),
            tokens: TokenStore::new(sim),
            menu: Known::of(&FILLINGS),
            courier: Known::of(&STREETS),
            monkeys: Chaos::new(sim),
            sagas: DocumentStore::new(sim, saga::SAGAS_STORE),
            kitchen: DocumentStore::new(sim, "kitchen"),
            lesson,
        };
        system.wire(&mut world);
        chaos::loose(&system, profile);
        let edge = HttpClient::in_process(
            sim,
            "shop",
            crate::http::router(system.shop.clone(), system.clone()),
        );
        Running {
            system,
            world,
            edge,
        }
    }

    fn wire(&self, world: &mut World) {
        self.shop.add_to(world);
        self.desk.add_to(world);
        self.broker
            .set_max_message_bytes(crate::shipping::MAX_MESSAGE_BYTES);
        let endpoints: [(&str, usize); 5] = [
            (ORDERS_QUEUE, 1),
            (PAYMENTS_QUEUE, 2),
            (SHIPPING_QUEUE, 2),
            (saga::KITCHEN_QUEUE, 2),
            (MARKETING, 2),
        ];
        for (queue, workers) in endpoints {
            let system = self.clone();
            let queue_name = queue.to_string();
            world.add_endpoint(
                queue,
                move |ctx: &mut HandlerContext, message: &Envelope| {
                    system.route(&queue_name, ctx, message)
                },
            );
            world.set_workers(queue, workers).expect("just added");
        }
        for (topic, queue) in [
            (PAYMENT_BOOKED, ORDERS_QUEUE),
            (saga::PAYMENT_DECLINED, ORDERS_QUEUE),
            (LABEL_READY, ORDERS_QUEUE),
            (saga::ORDER_SHIPPED, MARKETING),
        ] {
            world.subscribe(topic, queue).expect("the endpoint exists");
        }
        for queue in self.broker.queue_names() {
            self.broker
                .set_max_attempts(&queue, MAX_ATTEMPTS)
                .expect("the queue exists");
        }
    }

    fn route(
        &self,
        queue: &str,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        match queue {
            ORDERS_QUEUE => self.handle_saga(ctx, message),
            PAYMENTS_QUEUE => self.handle_payment(ctx, message),
            SHIPPING_QUEUE => self.handle_shipping(ctx, message),
            saga::KITCHEN_QUEUE => self.handle_kitchen(message),
            MARKETING => self.handle_marketing(message),
            other => Err(HandlerError::unrecoverable(format!(
                "the system has no service on queue {other}"
            ))),
        }
    }

    /// The saga of `order_id`, if the order exists.
    pub fn saga(&self, order_id: &str) -> Result<Option<SagaOrder>, Error> {
        let found = self.sagas.get::<SagaOrder>(order_id, order_id)?;
        Ok(found.map(|document| document.value))
    }

    /// The saga's store.
    pub fn sagas(&self) -> &DocumentStore {
        &self.sagas
    }

    /// Every dead letter, with its queue.
    pub fn dead_letters(&self) -> Vec<(String, DeadLetter)> {
        let mut letters = Vec::new();
        for queue in self.broker.queue_names() {
            for letter in self.broker.dead_letters(&queue).unwrap_or_default() {
                letters.push((queue.clone(), letter));
            }
        }
        letters
    }

    /// The runbook's Restore step, the lesson's: puts `order_id`'s dead
    /// letters back.
    pub fn restore(&self, order_id: &str) -> Result<Vec<MessageId>, Error> {
        (self.lesson.restore)(&self.broker, order_id)
    }
}

impl crate::http::PlacedOrders for System {
    fn of_cart(&self, cart_id: &str) -> Result<Vec<crate::Order>, Error> {
        let saga = self.saga(cart_id)?;
        Ok(saga
            .into_iter()
            .map(|saga| crate::Order {
                id: saga.order_id.clone(),
                cart_id: saga.order_id,
                customer: saga.customer,
                items: saga.items,
                deliver_to: saga.deliver_to,
                added: Vec::new(),
                payment_booked: matches!(saga.stage, Stage::Paid | Stage::Shipped),
            })
            .collect())
    }
}

/// How often the customer's app tries one HTTP call.
const HTTP_TRIES: usize = 10;

impl Running {
    /// The customer fills `cart` and submits it over HTTP, retrying each
    /// call with the same key until the shop answers; the submit must be
    /// answered `202 Accepted`.
    pub fn submit(&mut self, cart: &Cart) -> Result<(), Error> {
        let actor = self.system.sim.actor();
        self.system.sim.set_actor(&cart.customer);
        let done = self.fill_and_submit(cart);
        self.system.sim.set_actor(&actor);
        done
    }

    fn fill_and_submit(&self, cart: &Cart) -> Result<(), Error> {
        let id = &cart.id;
        self.call(|edge| {
            edge.put_json(&format!("/carts/{id}"), &json!({"customer": cart.customer}))
        })?;
        for (index, item) in cart.items.iter().enumerate() {
            let path = format!("/carts/{id}/items/l-{}", index + 1);
            self.call(|edge| edge.put_json(&path, &json!({"name": item})))?;
        }
        let key = format!("submit-{id}");
        let submitted = self.call(|edge| {
            let keyed = edge.with_header("Idempotency-Key", &key);
            keyed.post_json(
                &format!("/carts/{id}/submit"),
                &json!({"deliver_to": cart.deliver_to}),
            )
        })?;
        if submitted.status.as_u16() != 202 {
            return Err(Error::Other(format!(
                "the submit of {id} was answered {}: {}",
                submitted.status,
                submitted.text()
            )));
        }
        Ok(())
    }

    fn call(
        &self,
        send: impl Fn(&HttpClient) -> Result<harness::HttpResponse, Error>,
    ) -> Result<harness::HttpResponse, Error> {
        let mut last = Error::Other("never tried".to_string());
        for _ in 0..HTTP_TRIES {
            match send(&self.edge) {
                Ok(response) if response.status.is_server_error() => {
                    last = Error::Other(format!("the shop answered {}", response.status));
                }
                Ok(response) if response.status.as_u16() == 409 => {
                    last = Error::Other("the shop is busy with this request".to_string());
                }
                Ok(response) => return Ok(response),
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// Lets the broker deliver every message, until nothing is left.
    ///
    /// # Panics
    ///
    /// With the run's report, when a delivery never finished.
    #[track_caller]
    pub fn deliver(&mut self) {
        match self.world.run_until_quiet(MAX_STEPS) {
            Ok(_) => {}
            Err(err) => Failure::new(&self.system.sim, err.to_string()).panic(),
        }
    }

    /// The consistency report for `carts`, once everything is delivered.
    pub fn report(&self, carts: &[Cart]) -> Result<SystemReport, Error> {
        SystemReport::of(&self.system, carts)
    }

    /// For the tests: the report of `carts`, and a failure in the course's
    /// words (the first anomaly, then the whole report, the steps, the
    /// seed, the replay command and the diagram) unless every cart is
    /// consistent and, if `nothing_parked`, no conversation waits in a
    /// dead-letter queue.
    #[track_caller]
    pub fn check(
        &self,
        carts: &[Cart],
        nothing_parked: bool,
        test: &str,
        scenario: &str,
    ) -> SystemReport {
        let report = match self.report(carts) {
            Ok(report) => report,
            Err(err) => self.fail(
                format!("the report could not read the stores: {err}"),
                test,
                scenario,
            ),
        };
        // The tracker follows every message by its conversation, causation
        // and correlation ids: each conversation must be complete, or
        // parked in a dead-letter queue (when that is allowed).
        let conversations = Conversations::read(&self.system.broker);
        let unfinished =
            conversations
                .all()
                .iter()
                .find(|conversation| match conversation.progress() {
                    Progress::Complete => false,
                    Progress::Parked => nothing_parked,
                    Progress::InProgress => true,
                });
        let parked = report.parked.first().filter(|_| nothing_parked);
        let headline = match (report.first(), parked, unfinished) {
            (Some(first), _, _) => first.clone(),
            (None, Some((order, why)), _) => format!("order {order} is still parked: {why}"),
            (None, None, Some(conversation)) => format!("the tracker says: {conversation}"),
            (None, None, None) => return report,
        };
        let failure = Failure::new(&self.system.sim, headline)
            .detail(scenario)
            .detail(format!("The consistency report: {report}"))
            .detail(format!("The tracker: {conversations}"));
        failure.test_name(test).panic()
    }

    /// For the tests: fails with `headline` in the course's words.
    #[track_caller]
    pub fn fail(&self, headline: String, test: &str, scenario: &str) -> ! {
        Failure::new(&self.system.sim, headline)
            .detail(scenario)
            .test_name(test)
            .panic()
    }
}

impl std::ops::Deref for Running {
    type Target = System;

    fn deref(&self) -> &System {
        &self.system
    }
}

#[cfg(test)]
mod tests;
