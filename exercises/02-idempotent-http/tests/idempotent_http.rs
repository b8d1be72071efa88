//! Exercise 02: over HTTP, a retry must be harmless — for creating a cart,
//! adding an item and submitting — and every mistake gets a clear 4xx.

use std::sync::{Arc, Mutex};

use harness::http::{HttpClient, HttpResponse};
use harness::{Error, Failure, FaultRule, Sim};
use idempotent_http::RULES;
use idempotent_http::app::{add_item, create_cart};
use serde_json::{Value, json};
use shop::client::ShopClient;
use shop::front::direct::{Carts, router};
use shop::testing::front::{bound_calls, error_message, is_write, submit_with_key};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 2;

/// A fresh shop, a raw HTTP client for it, and the shop's app.
fn open_shop(sim: &Sim) -> (Carts, HttpClient, ShopClient) {
    let carts = Carts::new(sim);
    let http = HttpClient::in_process(sim, "shop", router(carts.clone(), RULES));
    let app = ShopClient::new(sim, http.clone());
    (carts, http, app)
}

/// Ola's cart with ruskie in it, made through the app.
fn olas_cart(sim: &Sim, app: &ShopClient) -> String {
    sim.set_actor("Ola's app");
    let cart_id = create_cart(app, "ola").unwrap();
    add_item(app, &cart_id, "ruskie").unwrap();
    sim.set_actor("test");
    cart_id
}

/// A failure report: what went wrong in the course's words, the steps of
/// the run, the seed, the replay command and a sequence diagram on disk.
fn explain(sim: &Sim, test: &str, what: &str) -> String {
    Failure::new(sim, what).test_name(test).finish()
}

fn order_count(carts: &Carts, cart_id: &str) -> usize {
    carts.orders(cart_id).unwrap().len()
}

// ----- identity chosen by the client -----

#[test]
fn lost_response_does_not_create_two_carts() {
    let sim = Sim::from_env_or(SEED);
    let (shop, _http, app) = open_shop(&sim);
    let test = "lost_response_does_not_create_two_carts";
    sim.inject(FaultRule::at("http.shop.*").fail_after());
    sim.set_actor("Ola's app");
    let created = create_cart(&app, "ola");
    sim.set_actor("test");
    let carts = shop.document_count();
    assert!(
        created.is_ok() && carts == 1,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "Ola asked for one new cart and the shop now holds {carts} carts — a duplicate \
                 cart: the answer to the first request was lost, the app retried, and the server \
                 made up a new id for the retry, so it could not tell it was the same request \
                 (the app got {created:?})"
            )
        )
    );
}

#[test]
fn lost_response_does_not_add_an_item_twice() {
    let sim = Sim::from_env_or(SEED);
    let (shop, _http, app) = open_shop(&sim);
    let test = "lost_response_does_not_add_an_item_twice";
    sim.set_actor("Ola's app");
    let cart_id = create_cart(&app, "ola").unwrap();
    sim.inject(FaultRule::at("http.shop.*").fail_after());
    let added = add_item(&app, &cart_id, "ruskie");
    sim.set_actor("test");
    let lines = shop
        .cart(&cart_id)
        .unwrap()
        .map(|cart| cart.lines)
        .unwrap_or_default();
    assert!(
        added.is_ok() && lines.len() == 1,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "Ola added ruskie once and her cart now has {} lines: {lines:?} — a duplicate \
                 line: the answer was lost, the app retried, and the server added the retry as \
                 a new line (the app got {added:?})",
                lines.len()
            )
        )
    );
}

#[test]
fn put_cart_twice_is_harmless() {
    let sim = Sim::from_env_or(SEED);
    let (shop, http, _app) = open_shop(&sim);
    let test = "put_cart_twice_is_harmless";
    let ola = json!({ "customer": "ola" });
    let ruskie = json!({ "name": "ruskie" });
    let steps = [
        ("PUT /carts/c-1", "/carts/c-1", &ola, 201),
        (
            "PUT /carts/c-1/items/l-1",
            "/carts/c-1/items/l-1",
            &ruskie,
            201,
        ),
        ("a late retry of PUT /carts/c-1", "/carts/c-1", &ola, 200),
        (
            "a late retry of PUT /carts/c-1/items/l-1",
            "/carts/c-1/items/l-1",
            &ruskie,
            200,
        ),
    ];
    for (what, path, body, expected) in steps {
        let response = http.put_json(path, body).unwrap();
        assert!(
            response.status == expected,
            "{}",
            explain(
                &sim,
                test,
                &format!(
                    "{what} answered {} {}, not {expected}: the client names the cart and its \
                     lines (a UUID it made), so that a retry names the same thing and the shop \
                     can answer it without doing it twice",
                    response.status,
                    response.text()
                )
            )
        );
    }
    let lines = shop
        .cart("c-1")
        .unwrap()
        .map(|cart| cart.lines)
        .unwrap_or_default();
    assert!(
        lines.len() == 1,
        "{}",
        explain(
            &sim,
            test,
            &format!("after the retries cart c-1 should hold its one line, but holds {lines:?}")
        )
    );
}

#[test]
fn reusing_an_id_for_something_else_is_409() {
    let sim = Sim::from_env_or(SEED);
    let (shop, http, _app) = open_shop(&sim);
    let test = "reusing_an_id_for_something_else_is_409";
    let steps = [
        (
            "PUT /carts/c-1 for Ola",
            "/carts/c-1",
            json!({ "customer": "ola" }),
            201,
        ),
        (
            "PUT /carts/c-1 for Bob",
            "/carts/c-1",
            json!({ "customer": "bob" }),
            409,
        ),
        (
            "PUT /carts/c-1/items/l-1 ruskie",
            "/carts/c-1/items/l-1",
            json!({ "name": "ruskie" }),
            201,
        ),
        (
            "PUT /carts/c-1/items/l-1 pruskie",
            "/carts/c-1/items/l-1",
            json!({ "name": "pruskie" }),
            409,
        ),
    ];
    for (what, path, body, expected) in steps {
        let response = http.put_json(path, &body).unwrap();
        assert!(
            response.status == expected && error_message(&response).is_some() == (expected == 409),
            "{}",
            explain(
                &sim,
                test,
                &format!(
                    "{what} answered {} {}, not {expected}: the same id with a different body is \
                     not a retry but a mistake, and must be refused with 409 and a JSON error, \
                     never merged or overwritten",
                    response.status,
                    response.text()
                )
            )
        );
    }
    let cart = shop.cart("c-1").unwrap().unwrap_or_default();
    assert!(
        cart.customer == "ola" && cart.lines.len() == 1 && cart.lines[0].name == "ruskie",
        "{}",
        explain(
            &sim,
            test,
            &format!("cart c-1 should still be Ola's with ruskie, but is {cart:?}")
        )
    );
}

#[test]
fn two_portions_of_the_same_filling_are_two_lines() {
    let sim = Sim::from_env_or(SEED);
    let (shop, _http, app) = open_shop(&sim);
    let test = "two_portions_of_the_same_filling_are_two_lines";
    sim.set_actor("Ola's app");
    let cart_id = create_cart(&app, "ola").unwrap();
    sim.note("Ola wants two portions of ruskie: she adds ruskie, then ruskie again");
    let first = add_item(&app, &cart_id, "ruskie");
    let second = add_item(&app, &cart_id, "ruskie");
    sim.set_actor("test");
    let lines = shop
        .cart(&cart_id)
        .unwrap()
        .map(|cart| cart.lines)
        .unwrap_or_default();
    let two_ruskie = lines.len() == 2 && lines.iter().all(|line| line.name == "ruskie");
    assert!(
        first.is_ok() && second.is_ok() && two_ruskie && lines[0].id != lines[1].id,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "Ola added ruskie twice, on purpose, and her cart holds {lines:?} (the app got \
                 {first:?} and {second:?}) — a lost line: a second portion of the same filling \
                 is a new line, with an id of its own; only the same id is the same line"
            )
        )
    );
}

#[test]
fn each_new_cart_is_a_new_cart() {
    let sim = Sim::from_env_or(SEED);
    let (shop, _http, app) = open_shop(&sim);
    let test = "each_new_cart_is_a_new_cart";
    sim.set_actor("Ola's app");
    sim.note("Ola starts a cart for lunch, and another for her friends");
    let lunch = create_cart(&app, "ola");
    let friends = create_cart(&app, "ola");
    sim.set_actor("test");
    let (Ok(lunch), Ok(friends)) = (lunch, friends) else {
        panic!(
            "{}",
            explain(&sim, test, "Ola could not create her two carts")
        );
    };
    let both_there = shop.cart(&lunch).unwrap().is_some() && shop.cart(&friends).unwrap().is_some();
    assert!(
        lunch != friends && both_there && shop.document_count() == 2,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "Ola created two carts and got the ids {lunch:?} and {friends:?}; the shop holds \
                 {} carts — a lost cart: an id names one new thing, made once per new request \
                 (and sent again only with its retries), never derived from who asks",
                shop.document_count()
            )
        )
    );
}

// ----- submitting with an Idempotency-Key -----

#[test]
fn submit_answers_202_with_a_location_to_poll() {
    let sim = Sim::from_env_or(SEED);
    let (_shop, http, app) = open_shop(&sim);
    let test = "submit_answers_202_with_a_location_to_poll";
    let cart_id = olas_cart(&sim, &app);
    let response = app.submit(&cart_id, "Rynek 1, Kraków").unwrap();
    let location = response.header("Location").unwrap_or_default().to_string();
    assert!(
        response.status == 202 && location.starts_with('/'),
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "the submit answered {} with Location {location:?}: it should answer \
                 202 Accepted (\"we have your request; the order follows\") with a Location \
                 the app can poll for the order",
                response.status
            )
        )
    );
    let order = http.get(&location).unwrap();
    let body: Value = order.json().unwrap_or_default();
    assert!(
        order.status == 200
            && body["deliver_to"] == "Rynek 1, Kraków"
            && body["items"] == json!(["ruskie"]),
        "{}",
        explain(
            &sim,
            test,
            &format!("GET {location} should show Ola's order, but answered {order:?}")
        )
    );
}

#[test]
fn retry_with_the_same_key_replays_the_answer() {
    let sim = Sim::from_env_or(SEED);
    let (shop, http, app) = open_shop(&sim);
    let test = "retry_with_the_same_key_replays_the_answer";
    let cart_id = olas_cart(&sim, &app);
    sim.inject(FaultRule::at("http.shop.post").fail_after());
    sim.note("Ola submits; the shop does it, but its answer is lost");
    let lost = submit_with_key(&http, &cart_id, "k-1", "Rynek 1");
    sim.note("the app retries with the same Idempotency-Key");
    let retry = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.note("and once more");
    let again = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    let orders = order_count(&shop, &cart_id);
    assert!(
        lost.is_err() && retry.status == 202 && orders == 1,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "the submit went through but its answer was lost; the retry with the same \
                 Idempotency-Key got {} {} and the cart has {orders} orders — the retry should \
                 get the original answer again (202), replayed from what was stored with the key, \
                 and nothing should run twice",
                retry.status,
                retry.text()
            )
        )
    );
    assert!(
        again.status == retry.status
            && again.header("Location") == retry.header("Location")
            && again.body == retry.body,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "two retries with the same key got different answers: {retry:?} then {again:?} — \
                 a replay returns the stored answer, the same every time"
            )
        )
    );
}

#[test]
fn same_key_with_another_payload_is_422() {
    let sim = Sim::from_env_or(SEED);
    let (shop, http, app) = open_shop(&sim);
    let test = "same_key_with_another_payload_is_422";
    let cart_id = olas_cart(&sim, &app);
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.note("the same key again, but with another address");
    let reused = submit_with_key(&http, &cart_id, "k-1", "Floriańska 3").unwrap();
    let message = error_message(&reused).unwrap_or_default();
    assert!(
        first.is_success() && reused.status == 422 && message.contains("Idempotency-Key"),
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "a submit that reuses an Idempotency-Key with another body got {} {} — it is not \
                 a retry but a client bug: answer 422 with a JSON error that names the \
                 Idempotency-Key, and do not replay the other request's answer",
                reused.status,
                reused.text()
            )
        )
    );
    let orders = shop.orders(&cart_id).unwrap();
    assert!(
        orders.len() == 1 && orders[0].deliver_to == "Rynek 1",
        "{}",
        explain(
            &sim,
            test,
            &format!("there should be one order, to Rynek 1, but there are {orders:?}")
        )
    );
}

#[test]
fn twin_still_in_flight_gets_409() {
    let sim = Sim::from_env_or(SEED);
    let (shop, http, app) = open_shop(&sim);
    let test = "twin_still_in_flight_gets_409";
    let cart_id = olas_cart(&sim, &app);

    // The twin arrives while the first request is still working: right
    // before its first write to the store.
    let twin_answer: Arc<Mutex<Option<Result<HttpResponse, Error>>>> = Arc::default();
    let (twin_http, twin_sim, twin_cart, slot) = (
        http.clone(),
        sim.clone(),
        cart_id.clone(),
        twin_answer.clone(),
    );
    sim.inject(
        FaultRule::at("kv.shop.*")
            .when(is_write)
            .interleave(move || {
                twin_sim.set_actor("twin");
                twin_sim.note(
                    "a retry with the same key arrives while the first request is still running",
                );
                *slot.lock().unwrap() =
                    Some(submit_with_key(&twin_http, &twin_cart, "k-1", "Rynek 1"));
                twin_sim.set_actor("first");
            }),
    );
    sim.set_actor("first");
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.set_actor("test");
    let twin = twin_answer.lock().unwrap().take();
    let Some(Ok(twin)) = twin else {
        panic!(
            "{}",
            explain(
                &sim,
                test,
                &format!("the twin request did not get an answer: {twin:?}")
            )
        );
    };
    let orders = order_count(&shop, &cart_id);
    assert!(
        twin.status == 409 && error_message(&twin).is_some() && first.status == 202 && orders == 1,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "a retry arrived while its twin (same Idempotency-Key) was still running: the \
                 retry got {} {}, the first request got {} {}, and the cart has {orders} orders — \
                 the retry should get 409 with a JSON error (\"still in progress, try again \
                 later\") and leave the work to the first request, which answers 202",
                twin.status,
                twin.text(),
                first.status,
                first.text()
            )
        )
    );
}

#[test]
fn missing_idempotency_key_is_400() {
    let sim = Sim::from_env_or(SEED);
    let (shop, http, app) = open_shop(&sim);
    let test = "missing_idempotency_key_is_400";
    let cart_id = olas_cart(&sim, &app);
    let response = http
        .post_json(
            &format!("/carts/{cart_id}/submit"),
            &json!({ "deliver_to": "Rynek 1" }),
        )
        .unwrap();
    let message = error_message(&response).unwrap_or_default();
    let orders = order_count(&shop, &cart_id);
    assert!(
        response.status == 400 && message.contains("Idempotency-Key") && orders == 0,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "a submit without an Idempotency-Key header got {} {} and made {orders} orders — \
                 without a key a retry cannot be recognised, so refuse it with 400 and a JSON \
                 error that says the Idempotency-Key header is required",
                response.status,
                response.text()
            )
        )
    );
}

#[test]
fn store_failure_during_submit_then_retry_gets_one_order() {
    // The store fails each write of the submit in turn; the app retries
    // with the same key and must end up with one order and a success.
    for nth in 1..=5 {
        let sim = Sim::from_env_or(SEED);
        let (shop, http, app) = open_shop(&sim);
        let test = "store_failure_during_submit_then_retry_gets_one_order";
        let cart_id = olas_cart(&sim, &app);
        sim.note(&format!("the store fails write #{nth} of the submit"));
        sim.inject(
            FaultRule::at("kv.shop.*")
                .when(is_write)
                .nth(nth)
                .fail_before(),
        );
        let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
        if first.is_success() {
            break; // the submit has fewer writes: every failure point is covered
        }
        assert!(
            first.status == 503 && error_message(&first).is_some(),
            "{}",
            explain(
                &sim,
                test,
                &format!(
                    "when the store fails, the shop should answer 503 with a JSON error (try \
                     again), but answered {} {}",
                    first.status,
                    first.text()
                )
            )
        );
        sim.note("the app retries with the same key");
        let retry = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
        let orders = order_count(&shop, &cart_id);
        assert!(
            retry.is_success() && orders == 1,
            "{}",
            explain(
                &sim,
                test,
                &format!(
                    "the store failed at write #{nth} of the submit; the retry with the same key \
                     got {} {} and the cart has {orders} orders — the key's record and the order \
                     must be written in one batch, or a failure between them leaves an order \
                     whose key nobody remembers",
                    retry.status,
                    retry.text()
                )
            )
        );
    }
}

#[test]
fn a_new_submit_of_a_submitted_cart_is_409() {
    let sim = Sim::from_env_or(SEED);
    let (shop, http, app) = open_shop(&sim);
    let test = "a_new_submit_of_a_submitted_cart_is_409";
    let cart_id = olas_cart(&sim, &app);
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.note("Ola clicks Submit again: a new click, a new key");
    let second = submit_with_key(&http, &cart_id, "k-2", "Rynek 1").unwrap();
    let orders = order_count(&shop, &cart_id);
    assert!(
        first.is_success()
            && second.status == 409
            && error_message(&second).is_some()
            && orders == 1,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "a second submit (new key) of a submitted cart got {} {} and the cart has \
                 {orders} orders — it should be refused with 409 and a JSON error, one order",
                second.status,
                second.text()
            )
        )
    );
}

// (Every mistake gets a clear 4xx with a JSON error, and the API works over a
// real socket: that is the shop's own API code, tested in
// `shop/tests/front_http.rs`.)

#[test]
fn a_store_that_stays_down_is_503_not_a_hang() {
    let sim = Sim::from_env_or(SEED);
    let (shop, http, app) = open_shop(&sim);
    let test = "a_store_that_stays_down_is_503_not_a_hang";
    let cart_id = olas_cart(&sim, &app);
    sim.note("the store refuses every write from now on");
    sim.inject(
        FaultRule::at("kv.shop.*")
            .when(is_write)
            .always()
            .fail_before(),
    );
    bound_calls(&sim, "kv.shop.*", 50, "one submit");
    let response = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    let orders = order_count(&shop, &cart_id);
    assert!(
        response.status == 503 && error_message(&response).is_some() && orders == 0,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "with the store down, the submit answered {} {} and the cart has {orders} \
                 orders — it should answer 503 with a JSON error at once (try again later), so \
                 that the app, which retries, decides when",
                response.status,
                response.text()
            )
        )
    );
}
