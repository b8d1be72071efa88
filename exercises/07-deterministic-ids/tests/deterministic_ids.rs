//! Exercise 07: a message sent again must keep its id. Orders publishes
//! regardless (exercise 05), so a retry or a late copy of a request
//! publishes its event again; Billing and Marketing send their letters
//! again when they retry. Marketing and the mailer recognise a copy by its
//! message id, and by nothing else.

use deterministic_ids::{open_town, run_demo};
use harness::{EventKind, Failure, FaultRule, Sim, headers};
use shop::demo::Profile;
use shop::mailer::SEND_INVOICE;
use shop::testing::world::{assert_as_asked, assert_storm_as_asked};
use shop::town::Town;

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 7;

/// A town where Ola has placed order c-1.
fn olas_order(sim: &Sim) -> (Town, String) {
    let mut town = open_town(sim);
    let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    (town, order)
}

/// Fails the test when the customer of `order` did not get each of the
/// `expected` letters once.
fn assert_letters(town: &Town, order: &str, expected: &[&str], test: &str, scenario: &str) {
    let run = town.sim.trace();
    let letters: Vec<String> = town
        .mailer
        .letters_about(order)
        .unwrap()
        .into_iter()
        .map(|letter| letter.kind)
        .collect();
    for kind in expected {
        let got = letters.iter().filter(|letter| letter == kind).count();
        if got == 1 {
            continue;
        }
        let headline = match got {
            0 => format!("lost: the customer of order {order} never got the {kind} letter"),
            _ => format!(
                "duplicate: the customer of order {order} got the {kind} letter {got} times"
            ),
        };
        let mut failure = Failure::from_trace(town.sim.seed(), run.clone(), headline)
            .detail(scenario)
            .detail(format!("the mailer sent: {letters:?}"))
            .test_name(test);
        // Point at the letters asked for: look at their ids.
        for event in run.events() {
            if let EventKind::Sent { queue, .. } = &event.kind
                && queue == "mailer"
            {
                failure = failure.highlight(event.seq);
            }
        }
        failure.panic();
    }
}

// ----- a message sent again -----

#[test]
fn republished_event_keeps_its_id() {
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
        "republished_event_keeps_its_id",
        "the payment service booked Ola's payment, then cancelled it; then a late copy of \
         BookPayment came. Orders knew it (exercise 06) and booked nothing, but published \
         PaymentBooked again, as it must (exercise 05)",
    );
}

#[test]
fn retried_book_payment_is_counted_once() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    sim.note("the broker takes PaymentBooked, but its answer to Orders is lost");
    sim.inject(FaultRule::at("broker.PaymentBooked.publish").fail_after());
    town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "retried_book_payment_is_counted_once",
        "Orders booked Ola's payment and published PaymentBooked, but was told the publish \
         failed; the BookPayment came back, and its retry published PaymentBooked again",
    );
}

#[test]
fn retried_payment_booked_sends_each_letter_once() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    sim.note("the broker takes Billing's SendInvoice, but its answer to Billing is lost");
    sim.inject(
        FaultRule::at("broker.mailer.send")
            .message_type(SEND_INVOICE)
            .fail_after(),
    );
    town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "retried_payment_booked_sends_each_letter_once",
        "Billing asked the mailer for Ola's receipt and invoice, but was told the invoice \
         failed; PaymentBooked came back to Billing, and its retry asked for both again",
    );
}

// ----- what must keep working -----

#[test]
fn two_outputs_of_one_handler_have_distinct_ids() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    let test = "two_outputs_of_one_handler_have_distinct_ids";
    let scenario = "Billing handled one PaymentBooked and asked the mailer for two letters, a \
                    receipt (SendEmail) and an invoice (SendInvoice): two messages, so two ids";
    assert_letters(&town, &order, &["receipt", "invoice"], test, scenario);
    assert_as_asked(&town, test, scenario);
}

#[test]
fn same_event_two_endpoints_distinct_ids() {
    // Why the endpoint's name goes into the id: Billing and Marketing both
    // handle the same PaymentBooked (one message id) and both send a
    // SendEmail to the mailer.
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    let test = "same_event_two_endpoints_distinct_ids";
    let scenario = "Billing and Marketing both handled the same PaymentBooked and each asked \
                    the mailer for an email (SendEmail): Billing a receipt, Marketing a thank \
                    you. Two messages from two endpoints, so two ids";
    assert_letters(&town, &order, &["receipt", "thank you"], test, scenario);
    assert_as_asked(&town, test, scenario);
}

#[test]
fn booking_again_after_a_cancel_counts_again() {
    // A new request with the same content is not a copy: its event is a
    // new message too.
    let sim = Sim::from_env_or(SEED);
    let (mut town, order) = olas_order(&sim);
    town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    town.cancel_payment(&order).unwrap();
    town.deliver().unwrap();
    sim.note("the payment service books Ola's payment again: a new BookPayment");
    town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    assert_as_asked(
        &town,
        "booking_again_after_a_cancel_counts_again",
        "the payment service booked Ola's payment, cancelled it, then booked it again with a \
         new request: two bookings, two PaymentBooked events with the same content",
    );
}

#[test]
fn derived_ids_are_whole_uuids() {
    // A message id is a UUID: receivers may read it as one, and its 122
    // bits that look random are what keep two different messages apart.
    let sim = Sim::from_env_or(SEED);
    let test = "derived_ids_are_whole_uuids";
    let (mut town, order) = olas_order(&sim);
    town.add_item("Ola", &order, "meat").unwrap();
    town.book_payment(&order, 4_500).unwrap();
    town.deliver().unwrap();
    for sent in town.broker.sent_log() {
        let Some(sender) = sent.envelope.header(headers::SENDER) else {
            continue; // sent by the test or the order page: not derived
        };
        let uuid = sent.envelope.id.as_uuid();
        let version = uuid.get_version_num();
        if uuid.get_variant() == uuid::Variant::RFC4122 && (1..=8).contains(&version) {
            continue;
        }
        let label = sim.message_ref(&sent.envelope).label;
        Failure::new(
            &sim,
            format!(
                "malformed id: {sender} sent {} ({label}) with the id {uuid}, which is not a \
                 UUID: it has no version (the 13th digit) and no variant (RFC 9562)",
                sent.envelope.message_type
            ),
        )
        .detail(
            "a receiver that reads message ids as UUIDs refuses it; and a short hash padded \
             into an id is too small: 64 bits give two of a few billion messages the same id, \
             and the receiver drops the second as a copy (lost). Make a name-based UUID of the \
             name: `Uuid::new_v5(&namespace, name.as_bytes())`",
        )
        .detail("Ola added meat, then the payment service booked her payment")
        .highlight_message(&label)
        .test_name(test)
        .panic();
    }
}

// ----- all of it at once -----

#[test]
fn chaos_storm_counts_every_booking_once() {
    // The demo, smaller: thirty orders changed in rounds while every monkey
    // is loose and earlier requests come again, late.
    let seed = Sim::from_env_or(SEED).seed();
    let storm = |sim: &Sim, orders| run_demo(sim, Profile::All, orders);
    assert_storm_as_asked(
        seed,
        30,
        storm,
        "chaos_storm_counts_every_booking_once",
        "thirty orders, changed in rounds while every monkey was loose and earlier requests \
         came again, late (the demo, smaller: cargo run -p <this package> --example demo)",
    );
}
