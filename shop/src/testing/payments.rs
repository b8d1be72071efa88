//! Test helpers for the Payment handler and the payment provider (Part E,
//! exercise 15): a small world with the handler alone, Ola's payments, and
//! the check of what must hold at the end of every run, each failure in the
//! course's words (duplicate charge, lost payment, two codes, garbage).

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{Broker, Envelope, EventKind, Failure, MessageId, Sim, SimTime, Violation, World};

use crate::orders::{BookPayment, PAYMENT_BOOKED, PaymentBooked};
use crate::payments::{Face, Lesson, PAYMENTS_QUEUE, Payments};
use crate::provider::{Charge, PROVIDER, Provider};

/// Ola's order, in every test.
pub const ORDER: &str = "c-1";

/// What Ola pays: 45 zł.
pub const AMOUNT: u64 = 4_500;

/// Enough steps for a few dozen payments with their retries.
pub const MAX_STEPS: usize = 100_000;

/// Who hears `PaymentBooked` in these tests: a queue nobody reads, so that
/// every copy stays there to be read.
const LISTENER: &str = "billing";

/// The Payment handler in a world of its own, the provider next to it.
pub struct PaymentDesk {
    /// The run.
    pub sim: Sim,
    /// The broker.
    pub broker: Broker,
    /// Delivers the messages.
    pub world: World,
    /// The payment provider.
    pub provider: Provider,
    /// The handler.
    pub payments: Payments,
    face: Face,
}

impl PaymentDesk {
    /// The handler with `workers` workers, using the provider's `face` with
    /// `lesson`'s calls.
    pub fn open(sim: &Sim, face: Face, lesson: Lesson, workers: usize) -> PaymentDesk {
        let broker = Broker::new(sim);
        let mut world = World::new(sim, &broker);
        let provider = Provider::new();
        let payments = Payments::new(sim, provider.client(sim), face, lesson);
        payments.add_to(&mut world);
        world
            .set_workers(PAYMENTS_QUEUE, workers)
            .expect("the payments endpoint exists");
        broker.declare_queue(LISTENER);
        broker
            .subscribe(PAYMENT_BOOKED, LISTENER)
            .expect("the listener's queue exists");
        PaymentDesk {
            sim: sim.clone(),
            broker,
            world,
            provider,
            payments,
            face,
        }
    }

    /// Ola's request to pay for her order, as a message (not sent yet).
    pub fn payment(&self, request_id: &str) -> Envelope {
        let book = BookPayment {
            id: request_id.to_string(),
            order_id: ORDER.to_string(),
            amount: AMOUNT,
        };
        Envelope::new(self.sim.new_message_id(), "BookPayment", &book)
    }

    /// Sends `message` to the handler.
    pub fn send(&mut self, message: &Envelope) {
        self.world
            .send(PAYMENTS_QUEUE, message.clone())
            .expect("the payments queue exists");
    }

    /// Delivers everything; a run that does not end is a failure.
    pub fn run(&mut self, test: &str) {
        if let Err(err) = self.world.run_until_quiet(MAX_STEPS) {
            Failure::new(&self.sim, format!("the run did not end: {err}"))
                .test_name(test)
                .panic();
        }
    }

    /// Every copy of `PaymentBooked` published, by message id.
    pub fn booked_copies(&self) -> BTreeMap<MessageId, Vec<PaymentBooked>> {
        let mut copies: BTreeMap<MessageId, Vec<PaymentBooked>> = BTreeMap::new();
        let published = self.broker.sent_to(LISTENER).unwrap_or_default();
        for message in published {
            if let Ok(booked) = message.body::<PaymentBooked>() {
                copies.entry(message.id).or_default().push(booked);
            }
        }
        copies
    }

    /// Checks the end of a run in which Ola paid `payments` times (each a
    /// different request): the provider charged each once, for the right
    /// order and amount; each was booked, every copy of its `PaymentBooked`
    /// with one authorisation code, one the provider gave; nothing was
    /// dead-lettered; the provider keeps no request. Fails with a report
    /// that names what went wrong.
    pub fn check_exactly_once(&self, test: &str, scenario: &str, payments: usize) {
        if let Err(problem) = self.verdict(payments) {
            Failure::new(&self.sim, problem.headline)
                .detail(scenario)
                .detail(problem.ledger)
                .test_name(test)
                .panic();
        }
    }

    /// Checks that after the provider said "wait `wait`" (a `429`, or a
    /// `503` with `Retry-After`), it heard nothing more before `wait` had
    /// passed: the handler retried later, not at once. Fails with a report
    /// (IMPATIENT RETRY) if it did, or if the provider never refused (the
    /// scenario did not happen).
    pub fn check_waited(&self, test: &str, scenario: &str, wait: Duration) {
        if let Err(headline) = self.waited(wait) {
            Failure::new(&self.sim, headline)
                .detail(scenario)
                .test_name(test)
                .panic();
        }
    }

    fn waited(&self, wait: Duration) -> Result<(), String> {
        let trace = self.sim.trace();
        let heard: Vec<(SimTime, Option<u16>)> = trace
            .events()
            .iter()
            .filter_map(|event| match &event.kind {
                EventKind::Request { service, .. } if service == PROVIDER => Some((event.at, None)),
                EventKind::Response { service, status } if service == PROVIDER => {
                    Some((event.at, Some(*status)))
                }
                _ => None,
            })
            .collect();
        let refused = heard
            .iter()
            .position(|(_, status)| matches!(status, Some(429 | 503)))
            .ok_or("the provider never asked to wait: the scenario did not happen")?;
        let (asked_at, status) = heard[refused];
        // The next thing the provider hears is the handler asking again (a
        // request, or a refusal of it: a refused request leaves only that).
        // Never asked again: whatever that lost, the check of exactly-once
        // names it.
        let Some(&(again_at, _)) = heard.get(refused + 1) else {
            return Ok(());
        };
        if again_at.since(asked_at) < wait {
            return Err(format!(
                "IMPATIENT RETRY: the provider answered {} at {asked_at}, asking to wait {} s; \
                 the handler asked again at {again_at}, {} s later (a retry at once is refused \
                 again, and spends one of the message's attempts)",
                status.unwrap_or_default(),
                wait.as_secs_f64(),
                again_at.since(asked_at).as_secs_f64()
            ));
        }
        Ok(())
    }

    /// The same check, as the explorer takes it.
    pub fn violation(&self, payments: usize) -> Result<(), Violation> {
        self.verdict(payments).map_err(|problem| {
            let headline = format!("{} ({})", problem.headline, problem.ledger);
            Violation::new("exactly once", &headline, vec![], &self.sim)
        })
    }

    /// What went wrong first, if anything.
    fn verdict(&self, payments: usize) -> Result<(), Problem> {
        let charges = self.provider.charges();
        let ledger = describe(&charges);
        let problem = |headline: String| Problem {
            headline,
            ledger: ledger.clone(),
        };
        self.one_code_per_payment().map_err(problem)?;
        if let Some(wrong) = charges
            .iter()
            .find(|charge| charge.order_id != ORDER || charge.amount != AMOUNT)
        {
            return Err(problem(format!(
                "WRONG CHARGE: {} took {} grosze for order {}; Ola pays {AMOUNT} for {ORDER}",
                wrong.charge_id, wrong.amount, wrong.order_id
            )));
        }
        if charges.len() > payments {
            return Err(problem(format!(
                "DUPLICATE CHARGE: Ola paid {payments} time(s) and the provider charged her {} \
                 times",
                charges.len()
            )));
        }
        let dead = self.broker.dead_letters(PAYMENTS_QUEUE).unwrap_or_default();
        if let Some(letter) = dead.first() {
            return Err(problem(format!(
                "LOST PAYMENT: {} was dead-lettered: {}",
                letter.envelope.message_type, letter.reason
            )));
        }
        if charges.len() < payments {
            return Err(problem(format!(
                "LOST PAYMENT: Ola paid {payments} time(s) and the provider charged her {} \
                 times",
                charges.len()
            )));
        }
        self.booked_as_charged(&charges, payments)
            .map_err(problem)?;
        let left = self.provider.stored_requests();
        if !left.is_empty() {
            return Err(problem(format!(
                "GARBAGE: the provider still keeps {} request(s) nobody will execute or delete: \
                 {}",
                left.len(),
                left.join(", ")
            )));
        }
        Ok(())
    }

    /// Every copy of one `PaymentBooked` carries one code.
    fn one_code_per_payment(&self) -> Result<(), String> {
        for (id, bodies) in &self.booked_copies() {
            let codes: Vec<&str> = bodies.iter().map(|b| b.auth_code.as_str()).collect();
            if codes.iter().any(|code| *code != codes[0]) {
                return Err(format!(
                    "TWO CODES: the copies of PaymentBooked {id} carry different authorisation \
                     codes: {}; Billing and the customer cannot both be right",
                    codes.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Each payment was booked, for Ola's order and amount, with a code
    /// the provider gave (with the four verbs: the charge's own).
    fn booked_as_charged(&self, charges: &[Charge], payments: usize) -> Result<(), String> {
        let copies = self.booked_copies();
        if copies.len() != payments {
            return Err(format!(
                "LOST PAYMENT: Ola paid {payments} time(s); PaymentBooked went out for {} of them",
                copies.len()
            ));
        }
        for (id, bodies) in &copies {
            let booked = &bodies[0];
            let well_formed = booked.auth_code.len() == 11 && booked.auth_code.starts_with("AUTH-");
            if booked.order_id != ORDER || booked.amount != AMOUNT || !well_formed {
                return Err(format!(
                    "WRONG PaymentBooked {id}: {booked:?}; expected order {ORDER}, {AMOUNT} \
                     grosze, and the provider's code"
                ));
            }
            // The four verbs replay the stored answer: the code is the
            // charge's own.
            let replayed = charges.iter().any(|c| c.auth_code == booked.auth_code);
            if self.face == Face::FourVerbs && !replayed {
                return Err(format!(
                    "TWO CODES: PaymentBooked {id} carries {}, which is not the code of any \
                     charge the provider made",
                    booked.auth_code
                ));
            }
        }
        Ok(())
    }
}

/// What went wrong, and the provider's ledger to show with it.
struct Problem {
    headline: String,
    ledger: String,
}

fn describe(charges: &[Charge]) -> String {
    if charges.is_empty() {
        return "The provider's ledger is empty.".to_string();
    }
    let lines: Vec<String> = charges
        .iter()
        .map(|c| {
            let origin = match (&c.reference, &c.request) {
                (Some(reference), _) => format!("reference {reference}"),
                (None, Some(request)) => format!("request {request}"),
                (None, None) => "no reference".to_string(),
            };
            format!(
                "{}: {} grosze for {}, {origin}, {}",
                c.charge_id, c.amount, c.order_id, c.auth_code
            )
        })
        .collect();
    format!("The provider's ledger: {}", lines.join("; "))
}
