//! Exercise 17: the whole system, every part of the two days wired
//! together, under seeded faults. The tests submit carts over HTTP and let
//! everything run to quiet (no sleeps), then read every service's stores
//! (the consistency report, `shop/src/system/report.rs`): one order per
//! cart, one charge of the right amount, one label, the stock reserved
//! once and given back once if and only if the payment was declined, a
//! coupon if and only if it was earned, no token, blob or stored request
//! left over; and every dead letter parked at once, with its reason.
//!
//! They put a fault before and after every call of the saga (its store,
//! the token store, the blob store, the broker, the provider); race carts
//! on two workers; send a decline twice, a copy of it late, and a
//! `PaymentBooked` after the order was cancelled; and restore dead letters
//! after many other messages went through.

use harness::{
    Condition, DocumentStore, Envelope, Error, EventKind, Fault, FaultRule, HandlerError,
    MessageId, Sim, headers,
};
use shop::orders::kv::TOKEN_HEADER;
use shop::orders::{PAYMENT_BOOKED, PaymentBooked};
use shop::shipping::SHIPPING_QUEUE;
use shop::system::chaos::Profile;
use shop::system::saga::{PAYMENT_DECLINED, PaymentDeclined};
use shop::system::{Cart, FILLINGS, MAX_ATTEMPTS, Problem, Running, Stage};
use whole_system::open;

/// The default seed; `HARNESS_SEED=<n>` replaces it.
const SEED: u64 = 17;

/// A street the courier does not know yet.
const NEW_STREET: &str = "Nowa 7, Kraków";

/// A filling the kitchen does not make yet.
const NEW_FILLING: &str = "pineapple";

fn olas_cart() -> Cart {
    Cart::new("c-1", "Ola", &["ruskie", "meat", "ruskie"])
}

/// Seven portions: worth a coupon.
fn kubas_cart() -> Cart {
    Cart::new("c-2", "Kuba", &["cabbage"; 7])
}

/// Twenty portions: over the card's limit, declined.
fn zosias_cart() -> Cart {
    Cart::new("c-3", "Zosia", &["spinach"; 20])
}

fn submit_all(system: &mut Running, carts: &[Cart], test: &str) {
    for cart in carts {
        if let Err(err) = system.submit(cart) {
            let scenario = format!("{} submitted cart {}", cart.customer, cart.id);
            system.fail(
                format!("the shop did not accept the cart: {err}"),
                test,
                &scenario,
            );
        }
    }
}

fn stage_of(system: &Running, order: &str) -> Option<Stage> {
    let saga = system.saga(order).expect("the saga store answers");
    saga.map(|saga| saga.stage)
}

fn releases_of(system: &Running, order: &str) -> Vec<u32> {
    let stock = system.stock_of(order).expect("the kitchen answers");
    let releases = stock
        .moves
        .iter()
        .filter(|done| done.kind == "ReleaseStock");
    releases.map(|done| done.portions).collect()
}

// ----- one cart through every service -----

#[test]
fn a_cart_goes_through_every_service_once() {
    let test = "a_cart_goes_through_every_service_once";
    let scenario = "Ola (3 portions) and Kuba (7 portions) submit their carts; nothing fails";
    let sim = Sim::from_env_or(SEED);
    let mut system = open(&sim, Profile::None);
    let carts = [olas_cart(), kubas_cart()];
    submit_all(&mut system, &carts, test);
    system.deliver();
    system.check(&carts, true, test, scenario);
    let charges = system.provider.charges();
    let olas: Vec<u64> = charges
        .iter()
        .filter(|c| c.order_id == "c-1")
        .map(|c| c.amount)
        .collect();
    if olas != [5_400] {
        let headline = format!("Ola's order c-1 costs 5400 grosze; the provider charged {olas:?}");
        system.fail(headline, test, scenario);
    }
    if system.marketing.has_coupon("c-1").unwrap() || !system.marketing.has_coupon("c-2").unwrap() {
        let headline = "a coupon goes to Kuba's order c-2 (126 zł), not to Ola's c-1 (54 zł)";
        system.fail(headline.to_string(), test, scenario);
    }
}

// ----- classify: retry what may pass, park what never will -----

/// Every call the saga makes, and the services' calls around it.
const CALLS: [&str; 12] = [
    "kv.sagas.get",
    "kv.sagas.put",
    "kv.tokens.batch",
    "kv.tokens.delete",
    "kv.kitchen.put",
    "blob.payloads.put",
    "blob.payloads.get",
    "broker.payments.send",
    "broker.shipping.send",
    "broker.OrderShipped.publish",
    "broker.PaymentBooked.publish",
    "http.provider.post",
];

#[test]
fn a_failure_that_may_pass_is_retried_not_dead_lettered() {
    let test = "a_failure_that_may_pass_is_retried_not_dead_lettered";
    for point in CALLS {
        for fault in [Fault::FailBefore, Fault::FailAfter] {
            let scenario = format!(
                "Ola and Kuba submit their carts; the first two calls at {point} fail ({fault:?}: {})",
                if fault == Fault::FailBefore {
                    "nothing happened"
                } else {
                    "it happened, and the caller was told it failed"
                }
            );
            let sim = Sim::from_env_or(SEED);
            sim.inject(FaultRule::at(point).times(2).inject(fault));
            let mut system = open(&sim, Profile::None);
            let carts = [olas_cart(), kubas_cart()];
            submit_all(&mut system, &carts, test);
            system.deliver();
            if let Some((queue, letter)) = system.dead_letters().first() {
                let headline = format!(
                    "{}({}) was dead-lettered from {queue}: \"{}\"; that failure passes when tried again",
                    letter.envelope.message_type,
                    sim.label(letter.envelope.id),
                    letter.reason
                );
                system.fail(headline, test, &scenario);
            }
            system.check(&carts, true, test, &scenario);
        }
    }
}

/// The failures two workers make for each other: somebody else wrote the
/// document first, or the lease ran out and the message went to another
/// worker. The next attempt reads the new version; neither is poison.
#[test]
fn a_conflict_or_an_expired_lease_is_retried() {
    let test = "a_conflict_or_an_expired_lease_is_retried";
    let scenario = "two workers hold copies of order c-1's messages: one writes the saga's document first, \
                    and the other's lease runs out";
    let sim = Sim::from_env_or(SEED);
    let system = open(&sim, Profile::None);
    let store = DocumentStore::new(&sim, shop::system::saga::SAGAS_STORE);
    store.put("c-1", "c-1", &1, Condition::CreateOnly).unwrap();
    let conflict = store
        .put("c-1", "c-1", &2, Condition::CreateOnly)
        .expect_err("the second create is a conflict");
    let expired = Error::LeaseExpired {
        queue: shop::ORDERS_QUEUE.to_string(),
        message: "LabelReady(m7)".to_string(),
    };
    for failure in [conflict, expired] {
        let classified = (whole_system::LESSON.classify)(&Problem::Failed(failure.clone()));
        if let HandlerError::Unrecoverable(reason) = classified {
            let headline = format!(
                "\"{failure}\" was classified as poison (\"{reason}\"): the message would be dead-lettered, \
                 and its order stuck, though the next attempt passes"
            );
            system.fail(headline, test, scenario);
        }
    }
}

#[test]
fn a_poison_message_is_dead_lettered_at_once() {
    let test = "a_poison_message_is_dead_lettered_at_once";
    let scenario = format!(
        "Ola orders pierogi to {NEW_STREET} (no courier goes there yet), Kuba orders {NEW_FILLING} \
         (the kitchen does not make them), somebody sends a SubmitOrder whose body is not one, \
         and Zosia orders as usual"
    );
    let sim = Sim::from_env_or(SEED);
    let mut system = open(&sim, Profile::None);
    let ola = olas_cart().to(NEW_STREET);
    let kuba = Cart::new("c-2", "Kuba", &["ruskie", NEW_FILLING]);
    let zosia = Cart::new("c-3", "Zosia", &["meat"; 2]);
    submit_all(&mut system, &[ola, kuba], test);
    let unreadable = Envelope::new(sim.new_message_id(), "SubmitOrder", &("cart", 9))
        .with_header(headers::CORRELATION_ID, "c-9");
    system.broker.send(shop::ORDERS_QUEUE, unreadable).unwrap();
    submit_all(&mut system, std::slice::from_ref(&zosia), test);
    system.deliver();
    // Each poison message parked at once, with a reason a person can act on.
    let expected = [
        ("c-1", "ShipOrder", NEW_STREET),
        ("c-2", "SubmitOrder", NEW_FILLING),
        ("c-9", "SubmitOrder", "SubmitOrder"),
    ];
    let letters = system.dead_letters();
    for (order, message_type, says) in expected {
        let found = letters
            .iter()
            .find(|(_, letter)| letter.envelope.correlation_id() == Some(order));
        let Some((_, letter)) = found else {
            system.fail(
                format!("no {message_type} of order {order} is in a dead-letter queue: lost"),
                test,
                &scenario,
            );
        };
        if letter.attempts != 1 {
            let headline = format!(
                "{message_type}({}) of order {order} was tried {} times before it was dead-lettered: a poison \
                 message is retried until the broker gives up (at {MAX_ATTEMPTS}), and every message behind \
                 it waits; it can never succeed as it is",
                sim.label(letter.envelope.id),
                letter.attempts
            );
            system.fail(headline, test, &scenario);
        }
        if letter.envelope.message_type != message_type || !letter.reason.contains(says) {
            let headline = format!(
                "the dead letter of order {order} is {} with the reason \"{}\": a person needs the {message_type} \
                 and a reason that names {says}",
                letter.envelope.message_type, letter.reason
            );
            system.fail(headline, test, &scenario);
        }
    }
    // Stuck, not wrong: Ola's order is paid and waits; Kuba's has no order and no charge.
    let stuck = [("c-1", Some(Stage::Paid), 1), ("c-2", None, 0)];
    for (order, stage, charged) in stuck {
        let charges = system
            .provider
            .charges()
            .iter()
            .filter(|c| c.order_id == order)
            .count();
        let coupon = system.marketing.has_coupon(order).unwrap();
        let labels = system
            .shipping
            .payloads()
            .list(&format!("labels/{order}/"))
            .unwrap();
        if stage_of(&system, order) != stage || charges != charged || coupon || !labels.is_empty() {
            let headline = format!(
                "order {order} is parked and must stay as it was ({stage:?}, {charged} charge, no label, no coupon); \
                 it is {:?}, charged {charges} times, labels {labels:?}, coupon {coupon}",
                stage_of(&system, order)
            );
            system.fail(headline, test, &scenario);
        }
    }
    system.check(&[zosia], false, test, &scenario);
}

// ----- compensate once -----

fn decline(sim: &Sim, cart: &Cart) -> Envelope {
    let declined = PaymentDeclined {
        order_id: cart.id.clone(),
        amount: cart.amount(),
        reason: "the card takes at most 30000 grosze at once".to_string(),
    };
    Envelope::new(sim.new_message_id(), PAYMENT_DECLINED, &declined)
        .with_header(headers::CORRELATION_ID, &cart.id)
}

#[test]
fn a_declined_payment_is_compensated_once() {
    let test = "a_declined_payment_is_compensated_once";
    let scenario = "Zosia's cart (20 portions) is over her card's limit: the provider declines it, and the \
                    broker fails after publishing the decline, so Payment declines again (a new event); \
                    Ola orders as usual; then a copy of the decline and a PaymentBooked for Zosia's order \
                    come late, after ten more orders";
    let sim = Sim::from_env_or(SEED);
    sim.inject(FaultRule::at("broker.PaymentDeclined.publish").fail_after());
    sim.inject(FaultRule::at("kv.sagas.put").nth(9).fail_before());
    let mut system = open(&sim, Profile::None);
    let mut carts = vec![zosias_cart(), olas_cart()];
    submit_all(&mut system, &carts, test);
    system.deliver();
    let copy = decline(&sim, &zosias_cart());
    for n in 0..10 {
        let cart = Cart::new(&format!("c-{}", 10 + n), "Bartek", &["meat"]);
        submit_all(&mut system, std::slice::from_ref(&cart), test);
        carts.push(cart);
    }
    system
        .broker
        .publish(PAYMENT_DECLINED, copy.clone())
        .unwrap();
    system.broker.publish(PAYMENT_DECLINED, copy).unwrap();
    let booked = PaymentBooked {
        order_id: "c-3".to_string(),
        amount: zosias_cart().amount(),
        auth_code: "late-1".to_string(),
    };
    system
        .broker
        .publish(
            PAYMENT_BOOKED,
            Envelope::new(sim.new_message_id(), PAYMENT_BOOKED, &booked),
        )
        .unwrap();
    system.deliver();
    let released = releases_of(&system, "c-3");
    if released != [20] {
        let headline = format!(
            "the kitchen gave Zosia's order c-3 back {} time(s) ({released:?} portions); a declined payment \
             is compensated once, with the order's 20 portions",
            released.len()
        );
        system.fail(headline, test, scenario);
    }
    if stage_of(&system, "c-3") != Some(Stage::Cancelled) {
        let headline = format!(
            "Zosia's order c-3 is {:?} after its payment was declined",
            stage_of(&system, "c-3")
        );
        system.fail(headline, test, scenario);
    }
    system.check(&carts, true, test, scenario);
}

#[test]
fn a_late_decline_never_compensates_a_paid_order() {
    let test = "a_late_decline_never_compensates_a_paid_order";
    let scenario = format!(
        "Kuba's order is paid and shipped; Ola's is paid and waits for a courier to {NEW_STREET}; then, after \
         ten more orders, a PaymentDeclined for each comes late (an old decline of a card replaced since), twice"
    );
    let sim = Sim::from_env_or(SEED);
    let mut system = open(&sim, Profile::None);
    let ola = olas_cart().to(NEW_STREET);
    let mut carts = vec![kubas_cart()];
    submit_all(&mut system, &[kubas_cart(), ola.clone()], test);
    system.deliver();
    for n in 0..10 {
        let cart = Cart::new(&format!("c-{}", 10 + n), "Bartek", &["meat"]);
        submit_all(&mut system, std::slice::from_ref(&cart), test);
        carts.push(cart);
    }
    for cart in [kubas_cart(), ola, kubas_cart()] {
        system
            .broker
            .publish(PAYMENT_DECLINED, decline(&sim, &cart))
            .unwrap();
    }
    system.deliver();
    let paid = [("Kuba", "c-2", Stage::Shipped), ("Ola", "c-1", Stage::Paid)];
    for (name, order, stage) in paid {
        let released = releases_of(&system, order);
        if !released.is_empty() || stage_of(&system, order) != Some(stage) {
            let headline = format!(
                "{name}'s order {order} was paid ({stage:?}); after a late decline it is {:?} and the kitchen gave \
                 back {released:?} portions: a paid order was cancelled or compensated (the pivot is behind it: \
                 only forward)",
                stage_of(&system, order)
            );
            system.fail(headline, test, &scenario);
        }
    }
    system.check(&carts, false, test, &scenario);
}

// ----- restore -----

#[test]
fn a_restore_after_the_fix_completes_the_order_once() {
    let test = "a_restore_after_the_fix_completes_the_order_once";
    let scenario = format!(
        "Ola orders to {NEW_STREET} and Kuba orders {NEW_FILLING}: both parked; ten more orders go \
         through, the first of them (c-10) to {NEW_STREET} too; then the courier learns the street, the \
         kitchen the filling, and the operator restores the dead letters of c-1, c-2 and c-10, one order \
         at a time (LabelReady's first publish fails after it went out)"
    );
    let sim = Sim::from_env_or(SEED);
    let mut system = open(&sim, Profile::None);
    let ola = olas_cart().to(NEW_STREET);
    let kuba = Cart::new("c-2", "Kuba", &["ruskie", NEW_FILLING]);
    let mut carts = vec![ola, kuba];
    submit_all(&mut system, &carts, test);
    system.deliver();
    for n in 0..10 {
        let mut cart = Cart::new(&format!("c-{}", 10 + n), "Bartek", &["meat"]);
        if n == 0 {
            cart = cart.to(NEW_STREET);
        }
        submit_all(&mut system, std::slice::from_ref(&cart), test);
        carts.push(cart);
    }
    system.deliver();
    let parked: Vec<(String, Envelope)> = system
        .dead_letters()
        .into_iter()
        .map(|(queue, letter)| (queue, letter.envelope))
        .collect();
    system.courier.learn(NEW_STREET);
    system.menu.learn(NEW_FILLING);
    sim.inject(FaultRule::at("broker.LabelReady.publish").fail_after());
    for order in ["c-1", "c-2", "c-10"] {
        let letters: Vec<MessageId> = parked
            .iter()
            .filter(|(_, letter)| letter.correlation_id() == Some(order))
            .map(|(_, letter)| letter.id)
            .collect();
        let restored = match system.restore(order) {
            Ok(restored) => restored,
            Err(err) => system.fail(
                format!("the restore of order {order} failed: {err}"),
                test,
                &scenario,
            ),
        };
        if letters.is_empty() || restored != letters {
            let headline = format!(
                "the restore of order {order} put back {} message(s) ({}); its dead letters were {}: a replay is \
                 the same message, with its id, its token and its correlation",
                restored.len(),
                labels(&sim, &restored),
                labels(&sim, &letters)
            );
            system.fail(headline, test, &scenario);
        }
    }
    system.deliver();
    if let Some((queue, letter)) = system.dead_letters().first() {
        let headline = format!(
            "after the restore, {}({}) of order {} is in {queue}'s dead-letter queue: \"{}\"",
            letter.envelope.message_type,
            sim.label(letter.envelope.id),
            shop::system::report::conversation_of(&letter.envelope),
            letter.reason
        );
        system.fail(headline, test, &scenario);
    }
    // The replayed ShipOrder is the one that was parked: same id, and its
    // token consumed once Shipping was done with it.
    let (_, ship) = parked
        .iter()
        .find(|(queue, _)| queue == SHIPPING_QUEUE)
        .expect("parked");
    let mut replayed = false;
    let mut acked_after_replay = false;
    for event in sim.trace().events() {
        match &event.kind {
            EventKind::Replayed { queue, message }
                if queue == SHIPPING_QUEUE && message.id == ship.id =>
            {
                replayed = true;
            }
            EventKind::Acked { queue, message }
                if queue == SHIPPING_QUEUE && message.id == ship.id =>
            {
                acked_after_replay |= replayed;
            }
            _ => {}
        }
    }
    let token = ship.header(TOKEN_HEADER).unwrap_or("none");
    let token_left = system.tokens.left().iter().any(|(left, _)| left == token);
    if !acked_after_replay || token_left {
        let headline = format!(
            "the parked ShipOrder({}) of order c-1 was {}; its token {token} is {}",
            sim.label(ship.id),
            if acked_after_replay {
                "replayed and handled"
            } else {
                "never replayed and handled, as itself"
            },
            if token_left {
                "still in the token store"
            } else {
                "consumed"
            }
        );
        system.fail(headline, test, &scenario);
    }
    system.check(&carts, true, test, &scenario);
}

fn labels(sim: &Sim, ids: &[MessageId]) -> String {
    let labels: Vec<String> = ids.iter().map(|id| sim.label(*id)).collect();
    format!("[{}]", labels.join(", "))
}

// ----- everything at once -----

/// How many seeds the property tries here; `scripts/soak-17.sh` tries 1,000.
const SEEDS: u64 = 12;

/// A random cart: 1 to 22 portions (over 16 is declined, 6 or more earns a
/// coupon).
fn random_cart(sim: &Sim, n: usize) -> Cart {
    let portions = 1 + sim.random_below(22) as usize;
    let items: Vec<&str> = (0..portions)
        .map(|_| FILLINGS[sim.random_below(FILLINGS.len() as u64) as usize])
        .collect();
    Cart::new(&format!("c-{n}"), "Gosia", &items)
}

#[test]
fn every_cart_completes_exactly_once_under_chaos() {
    let test = "every_cart_completes_exactly_once_under_chaos";
    let first = Sim::from_env_or(SEED).seed();
    for seed in first..first + SEEDS {
        let scenario = format!(
            "seed {seed}, every fault profile at once: eight carts race on two workers, one to {NEW_STREET} and one \
             with {NEW_FILLING}; once all is quiet the operator fixes both and restores their dead letters"
        );
        let sim = Sim::new(seed);
        let mut system = open(&sim, Profile::All);
        let mut carts = vec![
            Cart::new("c-1", "Ola", &["ruskie", NEW_FILLING]),
            Cart::new("c-2", "Kuba", &["meat"; 3]).to(NEW_STREET),
        ];
        for n in 3..=8 {
            carts.push(random_cart(&sim, n));
        }
        submit_all(&mut system, &carts, test);
        system.deliver();
        system.courier.learn(NEW_STREET);
        system.menu.learn(NEW_FILLING);
        for order in ["c-1", "c-2"] {
            if let Err(err) = system.restore(order) {
                system.fail(
                    format!("the restore of order {order} failed: {err}"),
                    test,
                    &scenario,
                );
            }
        }
        system.deliver();
        system.check(&carts, true, test, &scenario);
    }
}
