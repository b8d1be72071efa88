//! Exercise 03: a submit sends `SubmitOrder` through the broker, and the
//! Orders service makes the order. A failure of the broker or of the store
//! at any point must leave neither a lost submission nor a ghost message.
//! (What the HTTP API promised in exercise 02 is tested with the shop:
//! `shop/tests/front_http.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_submit::RULES;
use harness::http::{HttpClient, HttpResponse};
use harness::{Error, Fault, FaultRule, Sim, ensure};
use shop::client::ShopClient;
use shop::testing::front::{
    Storefront, bound_calls, ensure_try_again_later, error_message, fail_write_of_the_submit,
    is_write, other_tab_adds_an_item, submit_with_key,
};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 2;

/// A fresh storefront whose shop submits the way `src/submit.rs` says (and
/// Orders behind the broker), a raw HTTP client for it, and the app.
fn open_shop(sim: &Sim) -> (Storefront, HttpClient, ShopClient) {
    let front = Storefront::open(sim, RULES, |world, _shop, orders| orders.add_to(world));
    let (http, app) = (front.http.clone(), front.app.clone());
    (front, http, app)
}

/// Ola's cart with ruskie in it, made through the app.
fn olas_cart(sim: &Sim, app: &ShopClient) -> String {
    sim.set_actor("Ola's app");
    let cart_id = app.create_cart("ola").unwrap();
    app.add_item(&cart_id, "ruskie").unwrap();
    sim.set_actor("test");
    cart_id
}

/// An answer (or its absence), in a few words.
fn answer_text(answer: &Result<HttpResponse, Error>) -> String {
    match answer {
        Ok(response) => format!("{} {}", response.status, response.text()),
        Err(err) => format!("no answer ({err})"),
    }
}

// ----- exercise 03: the submission becomes a message -----

#[test]
fn broker_failure_does_not_lose_the_submission() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, _http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    sim.note("the broker refuses the first SubmitOrder; the app retries");
    sim.inject(FaultRule::at("broker.orders.send").fail_before());
    sim.set_actor("Ola's app");
    let submitted = app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    let orders = town.order_count(&cart_id);
    let sent = town.submit_orders(&cart_id).len();
    ensure(submitted.is_ok() && sent >= 1 && orders >= 1, &sim, || {
        format!(
            "lost submission: Ola's app was told {}, but the shop sent {sent} SubmitOrder \
             and Orders made {orders} orders — the cart was marked submitted before \
             SubmitOrder got out, the send failed, and the retry found the cart submitted \
             and sent nothing. Nobody will ever make this order",
            answer_text(&submitted)
        )
    });
    broker_down_for_a_while_is_503_until_it_is_back();
}

/// The second half of `broker_failure_does_not_lose_the_submission`: the
/// broker refuses every send for a while, longer than the app retries.
/// The shop must say so (503), not 202, and when the broker is back a new
/// click gets the order through.
fn broker_down_for_a_while_is_503_until_it_is_back() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, _http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    sim.note("the broker refuses every send for a while");
    let down = Arc::new(AtomicBool::new(true));
    let still_down = down.clone();
    sim.inject(
        FaultRule::at("broker.orders.send")
            .when(move |_| still_down.load(Ordering::SeqCst))
            .always()
            .fail_before(),
    );
    bound_calls(&sim, "broker.orders.send", 30, "one submit");
    sim.set_actor("Ola's app");
    let while_down = app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    let sent_while_down = town.submit_orders(&cart_id).len();
    down.store(false, Ordering::SeqCst);
    sim.note("the broker is back; Ola clicks Submit again");
    sim.set_actor("Ola's app");
    let again = app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    let orders = town.order_count(&cart_id);
    let refused = matches!(&while_down, Err(err) if err.to_string().contains("503"));
    ensure(
        refused && sent_while_down == 0 && again.is_ok() && orders >= 1,
        &sim,
        || {
            format!(
                "lost submission: while the broker was down, Ola's app was told {} (and \
                 {sent_while_down} SubmitOrder got out); once it was back, her new click was \
                 told {} and Orders made {orders} orders. A submit whose SubmitOrder did not get \
                 out must say so (503, try again) and leave the cart ready to be sent, never \
                 answer 202",
                answer_text(&while_down),
                answer_text(&again)
            )
        },
    );
}

#[test]
fn no_ghost_submit_order() {
    // The store fails each write of the submit in turn. Whenever SubmitOrder
    // went out, the cart must be durably accepted: it can no longer change.
    for nth in 1..=5 {
        let sim = Sim::from_env_or(SEED);
        let (town, http, app) = open_shop(&sim);
        let cart_id = olas_cart(&sim, &app);
        fail_write_of_the_submit(&sim, nth);
        let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
        if first.is_success() {
            break; // the submit has fewer writes: every failure point is covered
        }
        let added = other_tab_adds_an_item(&sim, &http, &cart_id);
        let sent = town.submit_orders(&cart_id);
        ensure(sent.is_empty() || added.status == 409, &sim, || {
            format!(
                "ghost SubmitOrder: the shop sent SubmitOrder with {:?}, then the store \
                 failed (write #{nth}) and the submit answered {} — yet the cart never \
                 changed: Ola's other tab could still add z kapustą to it ({}). Orders will \
                 make an order from a cart the shop never accepted. Save the decision \
                 before the message leaves",
                sent[0].items, first.status, added.status
            )
        });
    }
}

#[test]
fn cart_is_frozen_once_accepted() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    sim.inject(FaultRule::at("broker.orders.send").fail_before());
    sim.note("Ola submits; the broker refuses SubmitOrder the first time");
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    let added = other_tab_adds_an_item(&sim, &http, &cart_id);
    ensure(
        added.status == 409 && error_message(&added).is_some(),
        &sim,
        || {
            format!(
                "the cart changed after it was accepted: the submit answered {}, and then Ola's \
                 other tab added z kapustą ({} {}). A SubmitOrder sent before and one re-sent \
                 after would order different pierogi — once accepted, the cart must refuse \
                 changes with 409 and a JSON error",
                first.status,
                added.status,
                added.text()
            )
        },
    );
    sim.note("the app retries the submit with the same key");
    let retry = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    town.deliver();
    let sent = town.submit_orders(&cart_id);
    let orders = town.orders.of_cart(&cart_id).unwrap();
    ensure(
        retry.is_success()
            && !sent.is_empty()
            && sent.iter().all(|copy| copy.items == ["ruskie"])
            && orders.iter().all(|order| order.items == ["ruskie"]),
        &sim,
        || {
            format!(
                "after the retry ({} {}) every SubmitOrder and every order should hold exactly \
                 Ola's ruskie, but the shop sent {sent:?} and Orders made {orders:?}",
                retry.status,
                retry.text()
            )
        },
    );
}

#[test]
fn client_retries_converge() {
    // Eight customers submit while the broker or the store fails, in turn:
    // how and how often is drawn from the seed. Then those who got no
    // success click Submit again. Every cart must end with its SubmitOrder
    // sent and its order made, every copy holding what the cart holds.
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let points = ["broker.orders.send", "kv.shop.batch"];
    let faults = [Fault::FailBefore, Fault::FailAfter];
    let mut story = Vec::new();
    let customers = ["ola", "bob", "ewa", "jan", "ala", "tom", "iza", "max"];
    for (turn, customer) in customers.into_iter().enumerate() {
        sim.set_actor(&format!("{customer}'s app"));
        let cart_id = app.create_cart(customer).unwrap();
        app.add_item(&cart_id, "ruskie").unwrap();
        let point = points[turn % 2];
        let fault = faults[sim.random_below(2) as usize];
        let times = 1 + sim.random_below(3) as u32;
        // The faults strike only while this customer's submit runs.
        let storm = Arc::new(AtomicBool::new(true));
        let during = storm.clone();
        sim.note(&format!("{point} fails {times} times ({fault:?})"));
        sim.inject(
            FaultRule::at(point)
                .when(move |_| during.load(Ordering::SeqCst))
                .times(times)
                .inject(fault),
        );
        let first = app.submit(&cart_id, "Rynek 1");
        storm.store(false, Ordering::SeqCst);
        let mut told = answer_text(&first);
        if first.is_err() {
            sim.note(&format!("{customer} clicks Submit again"));
            let again = submit_with_key(&http, &cart_id, &format!("{customer}-2"), "Rynek 1");
            told = format!("{told}, then {}", answer_text(&again));
        }
        story.push((
            customer,
            cart_id,
            format!("{point} failed {times}× ({fault:?})"),
            told,
        ));
    }
    sim.set_actor("test");
    town.deliver();
    for (customer, cart_id, faults, told) in &story {
        let sent = town.submit_orders(cart_id);
        let orders = town.orders.of_cart(cart_id).unwrap();
        ensure(!sent.is_empty() && !orders.is_empty(), &sim, || {
            format!(
                "lost submission: {customer}'s cart never reached Orders ({} SubmitOrder \
                 sent, {} orders) — {faults}; the app was told: {told}. A submit that \
                 failed half-way must leave the cart in a state from which a retry sends \
                 SubmitOrder again",
                sent.len(),
                orders.len()
            )
        });
        let cart = town.shop.cart(cart_id).unwrap().unwrap_or_default();
        let items: Vec<String> = cart.lines.iter().map(|line| line.name.clone()).collect();
        ensure(sent.iter().all(|copy| copy.items == items), &sim, || {
            format!(
                "{customer}'s cart holds {items:?}, but the shop sent {sent:?} — every copy \
                 of SubmitOrder must carry what the cart holds ({faults}; the app was \
                 told: {told})"
            )
        });
    }
}

#[test]
fn every_copy_of_submit_order_goes_to_one_address() {
    // SubmitOrder got out, then the store failed the write after it. Ola
    // clicks Submit again, with another address: whatever the shop
    // answers, every copy it sends must go where the cart was accepted to.
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    sim.note("the store fails the submit's write after SubmitOrder got out");
    let sent = Arc::new(AtomicBool::new(false));
    let after_send = sent.clone();
    sim.inject(
        FaultRule::at("broker.orders.send")
            .always()
            .interleave(move || {
                after_send.store(true, Ordering::SeqCst);
            }),
    );
    let once_sent = sent.clone();
    sim.inject(
        FaultRule::at("kv.shop.*")
            .when(move |point| is_write(point) && once_sent.load(Ordering::SeqCst))
            .fail_before(),
    );
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1");
    sim.note("Ola clicks Submit again, now to Floriańska 3");
    let second = submit_with_key(&http, &cart_id, "k-2", "Floriańska 3");
    town.deliver();
    let copies = town.submit_orders(&cart_id);
    let cart = town.shop.cart(&cart_id).unwrap().unwrap_or_default();
    let addresses: Vec<&str> = copies.iter().map(|copy| copy.deliver_to.as_str()).collect();
    ensure(
        !copies.is_empty() && addresses.iter().all(|address| *address == cart.deliver_to),
        &sim,
        || {
            format!(
                "the shop sent SubmitOrder to {addresses:?} while the cart says {:?} (the \
                 submits were told {} and {}): once the cart is accepted, its address is \
                 decided like its pierogi — every copy of SubmitOrder, sent now or on a retry, \
                 must carry the same",
                cart.deliver_to,
                answer_text(&first),
                answer_text(&second)
            )
        },
    );
}

/// How Ola's first submit fails, in `every_202_goes_to_the_address_it_was_given`:
/// before the send, at the send, and after it.
const FIRST_SUBMIT_FAILS: [&str; 3] = [
    "the broker refuses SubmitOrder",
    "the broker takes SubmitOrder but reports an error",
    "the store fails the write after SubmitOrder got out",
];

/// Makes Ola's first submit fail the way `how` says (one of
/// [`FIRST_SUBMIT_FAILS`]).
fn fail_the_first_submit(sim: &Sim, how: &str) {
    sim.note(how);
    let broker = FaultRule::at("broker.orders.send");
    if how == FIRST_SUBMIT_FAILS[0] {
        sim.inject(broker.fail_before());
    } else if how == FIRST_SUBMIT_FAILS[1] {
        sim.inject(broker.fail_after());
    } else {
        let sent = Arc::new(AtomicBool::new(false));
        let after_send = sent.clone();
        sim.inject(broker.interleave(move || after_send.store(true, Ordering::SeqCst)));
        sim.inject(
            FaultRule::at("kv.shop.*")
                .when(move |point| is_write(point) && sent.load(Ordering::SeqCst))
                .fail_before(),
        );
    }
}

#[test]
fn every_202_goes_to_the_address_it_was_given() {
    // Ola's submit fails half-way (503). She clicks Submit again, now to
    // Floriańska 3. If the shop refuses that (4xx), her app sends her first
    // submit again. Whatever the shop answered 202 to, the order must go
    // where that request said.
    for how in FIRST_SUBMIT_FAILS {
        let sim = Sim::from_env_or(SEED);
        let (mut town, http, app) = open_shop(&sim);
        let cart_id = olas_cart(&sim, &app);
        fail_the_first_submit(&sim, how);
        let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1");
        sim.note("Ola clicks Submit again, now to Floriańska 3");
        let second = submit_with_key(&http, &cart_id, "k-2", "Floriańska 3").unwrap();
        let mut answers = vec![("Floriańska 3", second.clone())];
        if !second.is_success() {
            ensure(
                second.status.is_client_error() && error_message(&second).is_some(),
                &sim,
                || {
                    format!(
                        "{how}; Ola's new click, to Floriańska 3, got {} {} — if the shop does \
                         not take a request it says why with a 4xx and a JSON error (a 503 \
                         says \"try again\", and trying again would not help)",
                        second.status,
                        second.text()
                    )
                },
            );
            sim.note("the app sends Ola's first submit again, to Rynek 1");
            let again = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
            answers.push(("Rynek 1", again));
        }
        town.deliver();
        let orders = town.orders.of_cart(&cart_id).unwrap();
        let told: Vec<String> = answers
            .iter()
            .map(|(to, answer)| format!("to {to}: {} {}", answer.status, answer.text()))
            .collect();
        let accepted = answers.iter().any(|(_, answer)| answer.is_success());
        ensure(accepted && !orders.is_empty(), &sim, || {
            format!(
                "lost submission: {how} (the first submit was told {}); then the shop answered \
                 {told:?} and Orders made {} orders — Ola has no order and no submit left that \
                 would make one",
                answer_text(&first),
                orders.len()
            )
        });
        for (address, answer) in &answers {
            let elsewhere: Vec<&str> = orders
                .iter()
                .map(|order| order.deliver_to.as_str())
                .filter(|to| to != address)
                .collect();
            ensure(!answer.is_success() || elsewhere.is_empty(), &sim, || {
                format!(
                    "a dishonest 202: {how}; the submit to {address} was told {} {}, but \
                     Orders made orders to {elsewhere:?} — the cart was accepted for the first \
                     address, and a copy of SubmitOrder may be out already. A click with \
                     another address must be refused (409, saying where the order goes), not \
                     answered 202 for an order that goes elsewhere",
                    answer.status,
                    answer.text()
                )
            });
        }
    }
}

// ----- the submit keeps its answers -----

#[test]
fn store_failure_during_submit_then_retry_gets_the_order() {
    // The store fails each write of the submit in turn; the app retries
    // with the same key and must end up with a success and the order (a
    // second copy of it is possible here: exercise 04 removes it).
    for nth in 1..=5 {
        let sim = Sim::from_env_or(SEED);
        let (mut town, http, app) = open_shop(&sim);
        let cart_id = olas_cart(&sim, &app);
        fail_write_of_the_submit(&sim, nth);
        let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
        if first.is_success() {
            break; // the submit has fewer writes: every failure point is covered
        }
        ensure_try_again_later(&sim, &first);
        sim.note("the app retries with the same key");
        let retry = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
        let orders = town.order_count(&cart_id);
        ensure(retry.is_success() && orders >= 1, &sim, || {
            format!(
                "the store failed at write #{nth} of the submit; the retry with the same key \
                 got {} {} and the cart has {orders} orders — the retry must get the \
                 submit through, and the key's record may only say 202 once it did",
                retry.status,
                retry.text()
            )
        });
    }
}

#[test]
fn a_new_submit_of_a_submitted_cart_is_409() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.note("Ola clicks Submit again: a new click, a new key");
    let second = submit_with_key(&http, &cart_id, "k-2", "Rynek 1").unwrap();
    let orders = town.order_count(&cart_id);
    ensure(
        first.is_success()
            && second.status == 409
            && error_message(&second).is_some()
            && orders == 1,
        &sim,
        || {
            format!(
                "a second submit (new key) of a submitted cart got {} {} and the cart has \
                 {orders} orders — it should be refused with 409 and a JSON error, one order",
                second.status,
                second.text()
            )
        },
    );
}
