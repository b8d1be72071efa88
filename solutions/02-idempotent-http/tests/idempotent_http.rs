//! Exercise 02: over HTTP, a retry must be harmless — for creating a cart,
//! adding an item and submitting — and every mistake gets a clear 4xx.
//!
//! Most scenarios are the shop's own, written once in
//! `shop/src/testing/front/scenarios.rs` (the shop's tests run them on its
//! own front); here they run on your `src/api.rs` and `src/app.rs`.

use harness::{FaultRule, Sim, ensure};
use idempotent_http::RULES;
use idempotent_http::app::{add_item, create_cart};
use shop::testing::front::scenarios::{self, ApiUnderTest};
use shop::testing::front::{
    bound_calls, ensure_try_again_later, error_message, fail_write_of_the_submit, is_write,
    submit_with_key,
};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 2;

/// A fresh shop whose API changes carts the way `src/api.rs` says, with the
/// app that names carts and items the way `src/app.rs` says.
fn open_api() -> ApiUnderTest {
    let sim = Sim::from_env_or(SEED);
    ApiUnderTest::direct(&sim, RULES, create_cart, add_item)
}

// ----- identity chosen by the client -----

#[test]
fn lost_response_does_not_create_two_carts() {
    scenarios::lost_response_does_not_create_two_carts(&mut open_api());
}

#[test]
fn lost_response_does_not_add_an_item_twice() {
    scenarios::lost_response_does_not_add_an_item_twice(&mut open_api());
}

#[test]
fn put_cart_twice_is_harmless() {
    scenarios::put_cart_twice_is_harmless(&mut open_api());
}

#[test]
fn reusing_an_id_for_something_else_is_409() {
    scenarios::reusing_an_id_for_something_else_is_409(&mut open_api());
}

#[test]
fn two_portions_of_the_same_filling_are_two_lines() {
    let api = open_api();
    let sim = api.sim.clone();
    sim.set_actor("Ola's app");
    let cart_id = api.create_cart("ola").unwrap();
    sim.note("Ola wants two portions of ruskie: she adds ruskie, then ruskie again");
    let first = api.add_item(&cart_id, "ruskie");
    let second = api.add_item(&cart_id, "ruskie");
    sim.set_actor("test");
    let lines = api.lines(&cart_id);
    let two_ruskie = lines.len() == 2 && lines.iter().all(|line| line.name == "ruskie");
    ensure(
        first.is_ok() && second.is_ok() && two_ruskie && lines[0].id != lines[1].id,
        &sim,
        || {
            format!(
                "Ola added ruskie twice, on purpose, and her cart holds {lines:?} (the app got \
                 {first:?} and {second:?}) — a lost line: a second portion of the same filling \
                 is a new line, with an id of its own; only the same id is the same line"
            )
        },
    );
}

#[test]
fn each_new_cart_is_a_new_cart() {
    let api = open_api();
    let sim = api.sim.clone();
    sim.set_actor("Ola's app");
    sim.note("Ola starts a cart for lunch, and another for her friends");
    let lunch = api.create_cart("ola");
    let friends = api.create_cart("ola");
    sim.set_actor("test");
    let made = |cart: &Result<String, harness::Error>| {
        cart.as_ref()
            .is_ok_and(|cart_id| api.cart(cart_id).is_some())
    };
    let both_there = made(&lunch) && made(&friends);
    ensure(
        both_there && lunch.as_ref().ok() != friends.as_ref().ok() && api.document_count() == 2,
        &sim,
        || {
            format!(
                "Ola created two carts and got {lunch:?} and {friends:?}; the shop holds {} \
                 carts — a lost cart: an id names one new thing, made once per new request \
                 (and sent again only with its retries), never derived from who asks",
                api.document_count()
            )
        },
    );
}

// ----- submitting with an Idempotency-Key -----

#[test]
fn submit_answers_202_with_a_location_to_poll() {
    scenarios::submit_answers_202_with_a_location_to_poll(&mut open_api());
}

#[test]
fn retry_with_the_same_key_replays_the_answer() {
    scenarios::retry_with_the_same_key_replays_the_answer(&mut open_api());
}

#[test]
fn same_key_with_another_payload_is_422() {
    scenarios::same_key_with_another_payload_is_422(&mut open_api());
}

#[test]
fn twin_still_in_flight_gets_409() {
    scenarios::twin_still_in_flight_gets_409(&mut open_api());
}

#[test]
fn missing_idempotency_key_is_400() {
    scenarios::missing_idempotency_key_is_400(&mut open_api());
}

#[test]
fn store_failure_during_submit_then_retry_gets_one_order() {
    // The store fails each write of the submit in turn; the app retries
    // with the same key and must end up with one order and a success.
    for nth in 1..=5 {
        let mut api = open_api();
        let sim = api.sim.clone();
        let cart_id = api.olas_cart();
        fail_write_of_the_submit(&sim, nth);
        let first = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1").unwrap();
        if first.is_success() {
            break; // the submit has fewer writes: every failure point is covered
        }
        ensure_try_again_later(&sim, &first);
        sim.note("the app retries with the same key");
        let retry = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1").unwrap();
        let orders = api.orders(&cart_id).len();
        ensure(retry.is_success() && orders == 1, &sim, || {
            format!(
                "the store failed at write #{nth} of the submit; the retry with the same key \
                 got {} {} and the cart has {orders} orders — the key's record and the order \
                 must be written in one batch, or a failure between them leaves an order \
                 whose key nobody remembers",
                retry.status,
                retry.text()
            )
        });
    }
}

#[test]
fn a_new_submit_of_a_submitted_cart_is_409() {
    scenarios::a_new_submit_of_a_submitted_cart_is_409(&mut open_api());
}

// (Every mistake gets a clear 4xx with a JSON error, and the API works over a
// real socket: that is the shop's own API code, tested in
// `shop/tests/front_http.rs`.)

#[test]
fn a_store_that_stays_down_is_503_not_a_hang() {
    let mut api = open_api();
    let sim = api.sim.clone();
    let cart_id = api.olas_cart();
    sim.note("the store refuses every write from now on");
    sim.inject(
        FaultRule::at("kv.shop.*")
            .when(is_write)
            .always()
            .fail_before(),
    );
    bound_calls(&sim, "kv.shop.*", 50, "one submit");
    let response = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1").unwrap();
    let orders = api.orders(&cart_id).len();
    ensure(
        response.status == 503 && error_message(&response).is_some() && orders == 0,
        &sim,
        || {
            format!(
                "with the store down, the submit answered {} {} and the cart has {orders} \
                 orders — it should answer 503 with a JSON error at once (try again later), so \
                 that the app, which retries, decides when",
                response.status,
                response.text()
            )
        },
    );
}
