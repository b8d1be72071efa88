//! Exercise 16: Shipping's label (96 KiB), a wedding's invoice (about
//! 100 KiB) and the body of `ShipOrder` are too large for the broker's
//! 64 KiB: they travel through the blob store, and a blob is a side effect
//! like a message. Every blob a message names must hold what the message
//! promises (its hash), come from the attempt that committed, and be the
//! only blob left once everything is delivered.
//!
//! The tests put a fault before and after every call to the blob store,
//! the shipments store and the broker; race two copies of one `ShipOrder`
//! on two workers (every interleaving, with the harness explorer) and two
//! orders on two workers; send a copy late, after its body was consumed;
//! and read the blobs: the hash against the bytes, the address on the
//! label, the lines of the invoice.

use claim_check::shipping;
use harness::{EventKind, Explorer, Fault, FaultRule, Sim, Trace, Violation, ensure};
use shop::shipping::{
    INVOICES_QUEUE, LABEL_READY, LabelReady, MAX_MESSAGE_BYTES, SHIPPING_QUEUE, UNIT_PRICE,
    claim_check::blob_of, label,
};
use shop::testing::shipping::{ShippingWorld, fail, home_order, wedding};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 16;

/// The explorer tries every option of the first choices of a run (which
/// worker takes the next call), and the first option after them.
const BRANCHING_CHOICES: usize = 8;

/// The same for the late loser: fewer choices reach it (the winner runs
/// to its end once chosen), in a quarter of the time.
const LATE_LOSER_CHOICES: usize = 6;

/// Every call of Shipping's conversation that can fail.
const CALLS: [&str; 7] = [
    "blob.payloads.get",
    "blob.payloads.put",
    "blob.payloads.delete",
    "kv.shipments.get",
    "kv.shipments.put",
    "broker.LabelReady.publish",
    "broker.invoices.send",
];

fn olas_order() -> shop::shipping::ShipOrder {
    home_order("c-1", "Ola", "Rynek 1, Kraków")
}

// ----- one order -----

#[test]
fn a_home_order_ships_with_one_label_and_one_invoice() {
    let test = "a_home_order_ships_with_one_label_and_one_invoice";
    let scenario = "Orders shipped Ola's order c-1 (two lines); nothing failed";
    let sim = Sim::from_env_or(SEED);
    let mut town = ShippingWorld::open(&shipping(&sim));
    town.ship(&olas_order());
    let checks = town.deliver().and_then(|()| town.check_shipped());
    if let Err(violation) = checks {
        fail(violation, test, scenario);
    }
    let announced: Vec<(LabelReady, usize)> = town
        .broker
        .sent_log()
        .iter()
        .filter(|sent| sent.destination == LABEL_READY)
        .map(|sent| (sent.envelope.body().unwrap(), sent.envelope.size_in_bytes()))
        .collect();
    let (ready, size) = &announced[0];
    ensure(
        ready.blob.starts_with("labels/")
            && ready.blob.contains("c-1")
            && ready.blob.ends_with(".pdf"),
        &sim,
        || {
            format!(
                "the label of order c-1 is at `{}`: keep labels under `labels/`, named for their order, ending in `.pdf`",
                ready.blob
            )
        },
    );
    ensure(*size < 1_024, &sim, || {
        format!(
            "LabelReady takes {size} bytes on the wire: it should carry the blob's name, not the label"
        )
    });
    let bytes = town.shipping.payloads().get(&ready.blob).unwrap().unwrap();
    ensure(bytes.len() > MAX_MESSAGE_BYTES, &sim, || {
        format!(
            "the label is {} bytes: the shop's labels are larger than a message may be",
            bytes.len()
        )
    });
    let header = label::header(&bytes);
    ensure(header.contains("To: Ola, Rynek 1, Kraków"), &sim, || {
        format!("the label of Ola's order is not addressed to her:\n{header}")
    });
    let invoice = town.desk.invoice("c-1").unwrap().unwrap().data;
    let descriptions: Vec<&str> = invoice
        .lines
        .iter()
        .map(|line| line.description.as_str())
        .collect();
    ensure(
        invoice.total == 20 * UNIT_PRICE
            && descriptions[0].contains("ruskie")
            && descriptions[1].contains("meat"),
        &sim,
        || {
            format!(
                "Billing's invoice for c-1 is not Ola's 12 ruskie and 8 meat: {descriptions:?}, {} grosze",
                invoice.total
            )
        },
    );
}

#[test]
fn two_orders_on_two_workers_get_their_own_labels() {
    let test = "two_orders_on_two_workers_get_their_own_labels";
    let scenario = "Orders shipped Ola's c-1 and Bartek's c-2 at once; two workers of Shipping \
                    handled them side by side";
    for schedule in 0..10 {
        let sim = Sim::from_env_or(SEED + schedule);
        let mut town = ShippingWorld::open(&shipping(&sim));
        town.world.set_workers(SHIPPING_QUEUE, 2).unwrap();
        town.ship(&olas_order());
        town.ship(&home_order("c-2", "Bartek", "Długa 7, Gdańsk"));
        // The report checks that each label names its order and address.
        let checks = town.deliver().and_then(|()| town.check_shipped());
        if let Err(violation) = checks {
            fail(violation, test, scenario);
        }
    }
}

// ----- too large for the broker -----

#[test]
fn a_weddings_invoice_reaches_billing() {
    // 1,200 lines of invoice data: about 100 KiB, over the broker's 64 KiB.
    // With faults before and after the calls that carry it.
    let test = "a_weddings_invoice_reaches_billing";
    let faults: [Option<(&str, Fault)>; 5] = [
        None,
        Some(("blob.payloads.put", Fault::FailAfter)),
        Some(("blob.payloads.get", Fault::FailBefore)),
        Some(("blob.payloads.delete", Fault::FailAfter)),
        Some(("broker.invoices.send", Fault::FailAfter)),
    ];
    for fault in faults {
        let sim = Sim::from_env_or(SEED);
        let mut town = ShippingWorld::open(&shipping(&sim));
        let mut scenario = "Orders shipped Zosia and Kuba's wedding, c-7: 200 tables, 1,200 lines \
                            of invoice data, and Ola's order c-1"
            .to_string();
        if let Some((call, fault)) = fault {
            scenario.push_str(&format!("; the 2nd call to {call} failed ({fault})"));
            let rule = FaultRule::at(call).when(town.delivering()).nth(2);
            sim.inject(rule.inject(fault));
        }
        town.ship(&wedding("c-7"));
        town.ship(&olas_order());
        let checks = town.deliver().and_then(|()| town.check());
        if let Err(violation) = checks {
            fail(violation, test, &scenario);
        }
        let invoice = town.desk.invoice("c-7").unwrap().unwrap().data;
        let second_table = invoice
            .lines
            .iter()
            .filter(|line| line.description.contains("table 2 "))
            .count();
        ensure(
            invoice.lines.len() == 1_200 && second_table == 6,
            &sim,
            || {
                format!(
                    "Billing's invoice for the wedding has {} lines, {second_table} for table 2: not the 1,200 lines, six per table, it was sent",
                    invoice.lines.len()
                )
            },
        );
    }
}

// ----- two attempts at once -----

#[test]
fn the_published_hash_matches_the_label_under_two_attempts() {
    // Two copies of one ShipOrder, two workers, every interleaving of their
    // calls: whichever attempt commits, the label LabelReady names holds
    // the bytes it promises, and nothing else is left.
    let test = "the_published_hash_matches_the_label_under_two_attempts";
    let report = Explorer::new(two_copies)
        .seed(SEED)
        .max_depth(BRANCHING_CHOICES)
        .sometimes("both copies uploaded a label", both_uploaded_a_label)
        .sometimes(
            "a write of the shipment was refused",
            a_shipment_write_was_refused,
        )
        .run();
    if let Some(violation) = report.counterexample.as_ref() {
        let how_often = format!(
            "{} of {} schedules break it; this is the shortest",
            report.violations, report.schedules
        );
        violation
            .to_failure()
            .detail("two copies of ShipOrder(c-1), two workers of Shipping, every interleaving")
            .detail(how_often)
            .test_name(test)
            .panic();
    }
    // The copies raced: each rendered and uploaded a label, and one of
    // them was refused a write.
    report.assert_explored();
}

fn both_uploaded_a_label(trace: &Trace) -> bool {
    let uploads = trace.events().iter().filter(|event| {
        matches!(&event.kind, EventKind::Blob { path, action, .. }
            if path.starts_with("labels/") && action == "stored")
    });
    uploads.count() >= 2
}

fn a_shipment_write_was_refused(trace: &Trace) -> bool {
    trace.events().iter().any(
        |event| matches!(&event.kind, EventKind::Conflict { store, .. } if store == "shipments"),
    )
}

/// One schedule: two copies of Ola's ShipOrder, two workers.
fn two_copies(sim: &Sim) -> Result<(), Violation> {
    let mut town = ShippingWorld::one_way_after_a_failure(&shipping(sim));
    town.world.set_workers(SHIPPING_QUEUE, 2).unwrap();
    sim.note("two copies of one ShipOrder arrive; two workers");
    let ticket = town.ship(&olas_order());
    town.resend(&ticket);
    town.deliver()?;
    town.check()
}

#[test]
fn a_late_losers_blobs_are_removed_when_its_cleanup_fails() {
    // Two copies, two workers, every interleaving, as above; and the
    // second delete of a label fails, before or after it took effect. In
    // the schedule this test is about, the winner cleans up and consumes
    // the body, then the late loser uploads its label, is refused the
    // commit, and fails to delete its own label: its redelivery finds the
    // body gone. Nothing may be left in the blob store but the label
    // LabelReady names.
    let test = "a_late_losers_blobs_are_removed_when_its_cleanup_fails";
    for fault in [Fault::FailBefore, Fault::FailAfter] {
        let report = Explorer::new(move |sim: &Sim| two_copies_with(sim, fault))
            .seed(SEED)
            .max_depth(LATE_LOSER_CHOICES)
            .sometimes(
                "an attempt uploaded its label after the body was consumed",
                uploaded_after_the_body_was_consumed,
            )
            .run();
        if let Some(violation) = report.counterexample.as_ref() {
            let how_often = format!(
                "{} of {} schedules break it; this is the shortest",
                report.violations, report.schedules
            );
            violation
                .to_failure()
                .detail(format!(
                    "two copies of ShipOrder(c-1), two workers of Shipping, every interleaving; \
                     the second delete of a label fails ({fault})"
                ))
                .detail(how_often)
                .test_name(test)
                .panic();
        }
        report.assert_explored();
    }
}

fn uploaded_after_the_body_was_consumed(trace: &Trace) -> bool {
    let blob = |event: &harness::Event, prefix: &str, done: &str| {
        matches!(&event.kind, EventKind::Blob { path, action, .. }
            if path.starts_with(prefix) && action == done)
    };
    let events = trace.events();
    let consumed = events.iter().position(|e| {
        blob(e, "bodies/", "deleted") && {
            let EventKind::Blob { path, .. } = &e.kind else {
                return false;
            };
            path.matches('/').count() == 1
        }
    });
    consumed.is_some_and(|at| events.iter().skip(at).any(|e| blob(e, "labels/", "stored")))
}

/// Two copies of Ola's ShipOrder, two workers; the second delete of a
/// label fails with `fault`.
fn two_copies_with(sim: &Sim, fault: Fault) -> Result<(), Violation> {
    let label = |point: &harness::FaultPoint| {
        point
            .key
            .as_deref()
            .is_some_and(|key| key.starts_with("labels/"))
    };
    sim.inject(
        FaultRule::at("blob.payloads.delete")
            .when(label)
            .nth(2)
            .inject(fault),
    );
    two_copies(sim)
}

// ----- faults before and after every call -----

/// Ships Ola's order while call `nth` to `call` fails with `fault`; the
/// world with everything delivered, and what happened.
fn ship_with_a_fault(call: &str, fault: Fault, nth: u32) -> (ShippingWorld, String) {
    ship_with_faults(&[(call, fault, nth)])
}

/// Ships Ola's order while each `(call, fault, nth)` strikes.
fn ship_with_faults(faults: &[(&str, Fault, u32)]) -> (ShippingWorld, String) {
    let sim = Sim::from_env_or(SEED);
    let mut town = ShippingWorld::open(&shipping(&sim));
    let mut failed = Vec::new();
    for &(call, fault, nth) in faults {
        sim.note(&format!("call #{nth} to {call} fails ({fault})"));
        let rule = FaultRule::at(call).when(town.delivering()).nth(nth);
        sim.inject(rule.inject(fault));
        failed.push(format!("call #{nth} to {call} failed ({fault})"));
    }
    town.ship(&olas_order());
    let scenario = format!(
        "Orders shipped Ola's order c-1; {}, and Shipping tried again",
        failed.join(", then ")
    );
    if let Err(violation) = town.deliver() {
        fail(violation, "ship_with_a_fault", &scenario);
    }
    (town, scenario)
}

#[test]
fn a_failed_attempts_label_is_never_published() {
    let test = "a_failed_attempts_label_is_never_published";
    for call in CALLS {
        for fault in [Fault::FailBefore, Fault::FailAfter] {
            for nth in 1..=3 {
                let (town, scenario) = ship_with_a_fault(call, fault, nth);
                if let Err(violation) = town.check_shipped() {
                    fail(violation, test, &scenario);
                }
            }
        }
    }
}

#[test]
fn no_garbage_in_the_blob_store_once_all_is_delivered() {
    let test = "no_garbage_in_the_blob_store_once_all_is_delivered";
    for call in CALLS {
        for fault in [Fault::FailBefore, Fault::FailAfter] {
            for nth in 1..=3 {
                let (town, scenario) = ship_with_a_fault(call, fault, nth);
                if let Err(violation) = town.check() {
                    fail(violation, test, &scenario);
                }
            }
        }
    }
    // A commit that fails leaves an attempt's blobs to clean up; then the
    // cleanup fails too, and the next delivery must finish it.
    for fault in [Fault::FailBefore, Fault::FailAfter] {
        for nth in 1..=3 {
            let commit = ("kv.shipments.put", Fault::FailBefore, 2);
            let (town, scenario) =
                ship_with_faults(&[commit, ("blob.payloads.delete", fault, nth)]);
            if let Err(violation) = town.check() {
                fail(violation, test, &scenario);
            }
        }
    }
}

// ----- a copy after the body was consumed -----

#[test]
fn a_copy_whose_body_was_consumed_is_dropped() {
    let test = "a_copy_whose_body_was_consumed_is_dropped";
    let scenario = "Orders shipped Ola's order c-1, then twenty more orders; then a copy of \
                    c-1's ShipOrder came, late, after its body was consumed";
    let sim = Sim::from_env_or(SEED);
    let mut town = ShippingWorld::open(&shipping(&sim));
    let ticket = town.ship(&olas_order());
    town.deliver().unwrap();
    for number in 2..=21 {
        town.ship(&home_order(
            &format!("c-{number}"),
            "Hania",
            "Piotrkowska 90, Łódź",
        ));
    }
    town.deliver().unwrap();
    // The body is consumed once the message is handled: gone from the blob
    // store, whoever took it.
    let body = blob_of(&ticket).unwrap().to_string();
    sim.note(&format!(
        "the body {body} was consumed: it is gone from the blob store"
    ));
    town.shipping.payloads().delete(&body).unwrap();
    town.resend(&ticket);
    let checks = town.deliver().and_then(|()| town.check_shipped());
    if let Err(violation) = checks {
        fail(violation, test, scenario);
    }
    let invoices = town
        .broker
        .sent_log()
        .iter()
        .filter(|sent| {
            sent.destination == INVOICES_QUEUE && sent.envelope.correlation_id() == Some("c-1")
        })
        .map(|sent| sent.envelope.id)
        .collect::<std::collections::BTreeSet<_>>();
    ensure(invoices.len() == 1, &sim, || {
        format!(
            "order c-1 was invoiced with {} different ids",
            invoices.len()
        )
    });
}
