//! Exercise 15: the Payment handler takes Ola's money at a payment
//! provider over HTTP. Every call can fail before it did anything (the
//! request never left, a 503, a 429) or after (it charged, and the answer
//! was lost); the handler runs again, maybe on another worker at the same
//! time. At the end of every run: the provider charged once per payment,
//! for the right order and amount; every copy of `PaymentBooked` carries
//! the one code the handler kept; nothing was dead-lettered; and (four
//! verbs) the provider keeps no request.
//!
//! (a) The provider honours an idempotency reference: faults at the charge
//! and around it, two workers, two payments and a late copy.
//! (b) The four verbs: the chaos matrix over every verb and the commit,
//! two workers, two payments and a late copy.

use std::time::Duration;

use harness::{EventKind, Explorer, Fault, FaultRule, Sim, Trace, Violation};
use http_exactly_once::desk;
use shop::payments::{EXECUTE_CHARGE, Face};
use shop::testing::payments::{MAX_STEPS, PaymentDesk};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 15;

/// The explorer tries every option of the first choices of a run (which
/// worker takes the next call), and the first option after them.
const BRANCHING_CHOICES: usize = 10;

/// Races run with this many seeds each: each seed schedules the two
/// workers another way.
const RACES: u64 = 20;

/// One run: Ola pays once (`pay-1`), with `rule` injected.
fn pay_once(face: Face, test: &str, row: &str, rule: Option<FaultRule>) {
    let desk = pay_once_unchecked(face, test, row, rule);
    desk.check_exactly_once(test, &format!("Ola pays once; {row}"), 1);
}

fn pay_once_unchecked(face: Face, test: &str, row: &str, rule: Option<FaultRule>) -> PaymentDesk {
    let sim = Sim::from_env_or(SEED);
    let mut desk = desk(&sim, face, 1);
    if let Some(rule) = rule {
        sim.inject(rule);
    }
    sim.note(&format!("Ola pays 45 zł for her order once; {row}"));
    let payment = desk.payment("pay-1");
    desk.send(&payment);
    desk.run(test);
    desk
}

/// Two copies of one payment at once, on two workers, with `rule`.
fn race(face: Face, test: &str, rule: fn() -> Option<FaultRule>) {
    for seed in SEED..SEED + RACES {
        let sim = Sim::from_env_or(seed);
        let mut desk = desk(&sim, face, 2);
        if let Some(rule) = rule() {
            sim.inject(rule);
        }
        let payment = desk.payment("pay-1");
        desk.send(&payment);
        desk.send(&payment);
        desk.run(test);
        let scenario = "two copies of Ola's payment, handled at once by two workers";
        desk.check_exactly_once(test, scenario, 1);
    }
}

/// Ola pays twice (the deposit, then the rest: two requests of the same
/// amount), the first charge's answer is lost, and a late copy of the
/// first payment comes after the second.
fn pay_twice_with_a_late_copy(desk: &mut PaymentDesk, test: &str) {
    let first = desk.payment("pay-1");
    let second = desk.payment("pay-2");
    desk.send(&first);
    desk.run(test);
    desk.send(&second);
    desk.run(test);
    desk.send(&first);
    desk.run(test);
    let scenario = "Ola pays twice (two requests, same amount), and a late copy of the first \
                    payment comes after the second";
    desk.check_exactly_once(test, scenario, 2);
}

// ----- (a) the provider honours an idempotency reference -----

#[test]
fn retried_handler_charges_once() {
    let test = "retried_handler_charges_once";
    let rows = [
        (
            "the charge is never sent",
            FaultRule::at("http.provider.post").fail_before(),
        ),
        (
            "the provider charges, the answer is lost",
            FaultRule::at("http.provider.post").fail_after(),
        ),
        (
            "the provider answers 503",
            FaultRule::at("http.provider.post").server_error(503),
        ),
        (
            "the provider answers 429, retry after 2 s",
            FaultRule::at("http.provider.post").too_many_requests(Duration::from_secs(2)),
        ),
        (
            "the record's first write fails",
            FaultRule::at("kv.payments.put").fail_before(),
        ),
        (
            "the record's first write is lost",
            FaultRule::at("kv.payments.put").fail_after(),
        ),
    ];
    for (row, rule) in rows {
        pay_once(Face::Reference, test, row, Some(rule));
    }
}

#[test]
fn copies_of_payment_booked_carry_one_auth_code() {
    let test = "copies_of_payment_booked_carry_one_auth_code";
    let rows = [
        (
            "PaymentBooked goes out, then the handler crashes before it marks the payment booked",
            FaultRule::at("broker.PaymentBooked.publish").fail_after(),
        ),
        (
            "PaymentBooked goes out, then marking the payment booked fails",
            FaultRule::at("kv.payments.put").nth(2).fail_before(),
        ),
    ];
    for (row, rule) in rows {
        pay_once(Face::Reference, test, row, Some(rule));
    }
}

#[test]
fn two_workers_charge_once_with_a_reference() {
    race(
        Face::Reference,
        "two_workers_charge_once_with_a_reference",
        || None,
    );
    race(
        Face::Reference,
        "two_workers_charge_once_with_a_reference",
        || Some(FaultRule::at("http.provider.post").fail_after()),
    );
}

#[test]
fn two_payments_are_two_charges_with_a_reference() {
    let test = "two_payments_are_two_charges_with_a_reference";
    let sim = Sim::from_env_or(SEED);
    let mut desk = desk(&sim, Face::Reference, 1);
    sim.inject(FaultRule::at("http.provider.post").fail_after());
    pay_twice_with_a_late_copy(&mut desk, test);
}

// ----- both faces: "not now, retry after 2 s" -----

#[test]
fn a_429_is_retried_after_its_wait() {
    // The provider refuses (nothing done) and asks to wait: it must
    // hear nothing more from the handler before, and still charge once.
    let test = "a_429_is_retried_after_its_wait";
    let wait = Duration::from_secs(2);
    let busy = |point: &str, wait: Duration| FaultRule::at(point).too_many_requests(wait);
    let unavailable = |point: &str| {
        FaultRule::at(point).inject(Fault::Refuse {
            status: 503,
            retry_after: Some(wait),
        })
    };
    // One provider asks for longer than the others: a fixed back-off that
    // happens to fit 2 s would call it too early.
    let long_wait = Duration::from_secs(30);
    let rows = [
        (
            Face::Reference,
            "the charge answered 429, retry after 2 s",
            wait,
            busy("http.provider.post", wait),
        ),
        (
            Face::Reference,
            "the charge answered 503, retry after 2 s",
            wait,
            unavailable("http.provider.post"),
        ),
        (
            Face::Reference,
            "the charge answered 429, retry after 30 s",
            long_wait,
            busy("http.provider.post", long_wait),
        ),
        (
            Face::FourVerbs,
            "the PUT answered 429, retry after 2 s",
            wait,
            busy("http.provider.put", wait),
        ),
        (
            Face::FourVerbs,
            "the POST answered 429, retry after 2 s",
            wait,
            busy("http.provider.post", wait),
        ),
        (
            Face::FourVerbs,
            "the DELETE answered 429, retry after 2 s",
            wait,
            busy("http.provider.delete", wait),
        ),
    ];
    for (face, row, wait, rule) in rows {
        let desk = pay_once_unchecked(face, test, row, Some(rule));
        let scenario = format!("Ola pays once; {row}");
        desk.check_waited(test, &scenario, wait);
        desk.check_exactly_once(test, &scenario, 1);
    }
}

// ----- (b) the four verbs -----

#[test]
fn four_verbs_chaos_matrix() {
    let test = "four_verbs_chaos_matrix";
    let follow_up = || FaultRule::at("broker.payments.send").message_type(EXECUTE_CHARGE);
    let rows = [
        ("no fault", None),
        (
            "the PUT is never sent",
            Some(FaultRule::at("http.provider.put").fail_before()),
        ),
        (
            "the provider stores the PUT, the answer is lost",
            Some(FaultRule::at("http.provider.put").fail_after()),
        ),
        (
            "the handler crashes after the PUT, before its commit",
            Some(FaultRule::at("kv.payments.batch").fail_before()),
        ),
        (
            "the provider answers the PUT with 429, retry after 1 s",
            Some(FaultRule::at("http.provider.put").too_many_requests(Duration::from_secs(1))),
        ),
        (
            "the provider executes the POST, the answer is lost",
            Some(FaultRule::at("http.provider.post").fail_after()),
        ),
        (
            "the provider answers the POST with 503",
            Some(FaultRule::at("http.provider.post").server_error(503)),
        ),
        (
            "the follow-up's handler crashes after the POST, before PaymentBooked goes out",
            Some(FaultRule::at("broker.PaymentBooked.publish").fail_before()),
        ),
        (
            // The sixth read of the payment's record (one per step of the
            // trace: two before the PUT, the commit, the follow-up's
            // check, marking it booked, then the clean-up's).
            "the clean-up cannot read which requests the attempts stored",
            Some(FaultRule::at("kv.payments.get").nth(6).fail_before()),
        ),
        (
            "the DELETE is never sent",
            Some(FaultRule::at("http.provider.delete").fail_before()),
        ),
        (
            "the provider deletes, the answer is lost",
            Some(FaultRule::at("http.provider.delete").fail_after()),
        ),
        (
            "the follow-up is delivered twice",
            Some(follow_up().duplicate()),
        ),
        (
            "the follow-up goes out, then the handler crashes",
            Some(follow_up().fail_after()),
        ),
    ];
    for (row, rule) in rows {
        pay_once(Face::FourVerbs, test, row, rule);
    }
}

#[test]
fn two_workers_execute_once_with_four_verbs() {
    let test = "two_workers_execute_once_with_four_verbs";
    race(Face::FourVerbs, test, || None);
    race(Face::FourVerbs, test, || {
        Some(FaultRule::at("http.provider.put").fail_after())
    });
    race(Face::FourVerbs, test, || {
        Some(FaultRule::at("kv.payments.batch").fail_before())
    });
}

#[test]
fn two_copies_of_a_payment_in_every_interleaving() {
    // Two copies of Ola's payment; two workers take them at once, in every
    // order of their calls: an attempt may store its request while the
    // other attempt's follow-up executes or deletes its own.
    let test = "two_copies_of_a_payment_in_every_interleaving";
    let scenario = "two copies of BookPayment, two workers, every interleaving";
    let open = |sim: &Sim| {
        let mut desk = desk(sim, Face::FourVerbs, 2);
        let payment = desk.payment("pay-1");
        desk.send(&payment);
        desk.send(&payment);
        desk
    };
    // The loser learnt that the other attempt committed: they really raced.
    let raced = |trace: &Trace| trace.to_string().contains("committed request pay-1 first");
    let reached = "an attempt was aborted because the other attempt committed first";
    explore(test, scenario, open, raced, reached);
}

#[test]
fn two_copies_of_the_follow_up_in_every_interleaving() {
    // The follow-up is sent twice; two workers take the copies at once, in
    // every order of their calls: one may delete the request while the
    // other is about to POST it.
    let test = "two_copies_of_the_follow_up_in_every_interleaving";
    let scenario = "two copies of the follow-up ExecuteCharge, two workers, every interleaving";
    let open = |sim: &Sim| {
        let mut desk = desk(sim, Face::FourVerbs, 2);
        let follow_up = FaultRule::at("broker.payments.send").message_type(EXECUTE_CHARGE);
        sim.inject(follow_up.duplicate());
        let payment = desk.payment("pay-1");
        desk.send(&payment);
        desk
    };
    let found_it_gone = |trace: &Trace| {
        trace.events().iter().any(|event| {
            matches!(&event.kind, EventKind::Response { service, status: 404 } if service == "provider")
        })
    };
    let reached = "a copy of the follow-up found its request deleted by the other copy";
    explore(test, scenario, open, found_it_gone, reached);
}

/// Runs `open`'s scenario in every interleaving of the first
/// [`BRANCHING_CHOICES`] choices; fails with the shortest schedule that
/// breaks exactly-once, or if `reached` held in no schedule (then the test
/// would prove nothing: a sometimes-condition).
fn explore(
    test: &str,
    scenario: &str,
    open: fn(&Sim) -> PaymentDesk,
    interesting: fn(&Trace) -> bool,
    reached: &str,
) {
    let report = Explorer::new(move |sim: &Sim| {
        let mut desk = open(sim);
        if let Err(err) = desk.world.run_until_quiet(MAX_STEPS) {
            let headline = format!("the run did not end: {err}");
            return Err(Violation::new("terminates", &headline, vec![], sim));
        }
        desk.violation(1)
    })
    .seed(SEED)
    .max_depth(BRANCHING_CHOICES)
    .sometimes(reached, interesting)
    .run();
    if let Some(violation) = &report.counterexample {
        let how_often = format!(
            "{} of {} schedules break it; this is the shortest",
            report.violations, report.schedules
        );
        violation
            .to_failure()
            .detail(scenario)
            .detail(how_often)
            .test_name(test)
            .panic();
    }
    report.assert_explored();
}

#[test]
fn two_payments_are_two_charges_with_four_verbs() {
    let test = "two_payments_are_two_charges_with_four_verbs";
    let sim = Sim::from_env_or(SEED);
    let mut desk = desk(&sim, Face::FourVerbs, 1);
    sim.inject(FaultRule::at("http.provider.post").fail_after());
    pay_twice_with_a_late_copy(&mut desk, test);
}
