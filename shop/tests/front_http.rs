//! The shop's HTTP API and its app, as Part A leaves them (exercises 02–04):
//! client-chosen ids, idempotent PUT, the `Idempotency-Key` header, 202
//! Accepted, and JSON errors for everything. These were the regression
//! tests of exercises 02–04; they test the shop's own `Shop`, handler and
//! Orders service (`shop/src/front.rs`, `shop/src/front/orders.rs`). The
//! scenarios exercise 02 shares are written once, in
//! `shop/src/testing/front/scenarios.rs`; the server's own refusals are
//! tested over a real socket at the end.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::http::{HttpClient, RunningServer, serve_on_loopback};
use harness::{Failure, FaultRule, Sim, ensure};
use serde_json::{Value, json};
use shop::client::ShopClient;
use shop::front::CartRules;
use shop::http::{MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_KEY_BYTES, MAX_URI_BYTES, router};
use shop::serve::{ReadTimeouts, serve_bounded};
use shop::testing::front::scenarios::{self, ApiUnderTest};
use shop::testing::front::{HttpResponse, Storefront, error_message, is_write, submit_with_key};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 4;

/// A fresh storefront with the shop's own handlers, a raw HTTP client for
/// the shop, and the shop's app.
fn open_shop(sim: &Sim) -> (Storefront, HttpClient, ShopClient) {
    let front = Storefront::open(sim, CartRules::QUEUED, |world, shop, orders| {
        shop.add_to(world);
        orders.add_to(world);
    });
    let (http, app) = (front.http.clone(), front.app.clone());
    (front, http, app)
}

/// The shop's own API, for the scenarios it shares with exercise 02
/// (`shop/src/testing/front/scenarios.rs`).
fn open_api() -> ApiUnderTest {
    ApiUnderTest::queued(&Sim::from_env_or(SEED))
}

/// Ola's cart with ruskie in it, made through the app.
fn olas_cart(sim: &Sim, app: &ShopClient) -> String {
    sim.set_actor("Ola's app");
    let cart_id = app.create_cart("ola").unwrap();
    app.add_item(&cart_id, "ruskie").unwrap();
    sim.set_actor("test");
    cart_id
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
    scenarios::same_key_with_another_payload_is_422(&mut ApiUnderTest::queued(&Sim::from_env_or(
        SEED,
    )));
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
fn broker_failure_at_submit_is_503_and_a_retry_gets_the_order() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    sim.note("the broker refuses the shop's SendSubmitOrder command");
    sim.inject(FaultRule::at("broker.shop.send").fail_before());
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.note("the app retries with the same key");
    let retry = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    let orders = town.order_count(&cart_id);
    ensure(
        first.status == 503
            && error_message(&first).is_some()
            && retry.status == 202
            && orders == 1,
        &sim,
        || {
            format!(
                "the broker refused the submit's command: the shop answered {} {}, the retry \
                 with the same key got {} {}, and the cart has {orders} orders — the first \
                 answer should be 503 with a JSON error (nothing is queued: try again), the \
                 retry 202, and Orders should make one order",
                first.status,
                first.text(),
                retry.status,
                retry.text()
            )
        },
    );
}

#[test]
fn a_new_click_after_a_503_is_never_told_a_lie() {
    // The broker refuses the submit's command (503), and Ola does not retry
    // that request: she clicks Submit again, a new click with a new key, to
    // the same address and then to another. Whatever the shop answers must
    // be true: "submitted already, on its way" only if the order comes.
    for address in ["Rynek 1", "Floriańska 3"] {
        let sim = Sim::from_env_or(SEED);
        let (mut town, http, app) = open_shop(&sim);
        let cart_id = olas_cart(&sim, &app);
        sim.note("the broker refuses the shop's SendSubmitOrder command");
        sim.inject(FaultRule::at("broker.shop.send").fail_before());
        let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
        sim.note(&format!("Ola clicks Submit again, to {address}: a new key"));
        let second = submit_with_key(&http, &cart_id, "k-2", address).unwrap();
        town.deliver();
        let orders = town.orders.of_cart(&cart_id).unwrap();
        let to_rynek = orders.len() == 1 && orders[0].deliver_to == "Rynek 1";
        let told_to_retry = second.status == 503;
        let honest = match second.status.as_u16() {
            202 => orders.len() == 1 && orders[0].deliver_to == address,
            409 => to_rynek && (address == "Rynek 1" || second.text().contains("Rynek 1")),
            _ => told_to_retry,
        };
        ensure(first.status == 503 && honest, &sim, || {
            format!(
                "the broker refused the first submit's command ({} {}); Ola's new click, to \
                 {address}, was told {} {}, and Orders made {orders:?} — a 202 must make its \
                 order, and a 409 (\"submitted already, on its way\") must be true, and say \
                 where the order goes if that is not where Ola asked: the shop recorded the \
                 first submit, so it must get its command queued, or say 503",
                first.status,
                first.text(),
                second.status,
                second.text()
            )
        });
    }
}

#[test]
fn a_new_submit_of_a_submitted_cart_is_409() {
    scenarios::a_new_submit_of_a_submitted_cart_is_409(&mut open_api());
}

// ----- every mistake gets a clear 4xx with a JSON error -----

/// Asserts a 4xx answer with a JSON error whose message contains `hint`.
fn assert_json_error(sim: &Sim, what: &str, response: &HttpResponse, status: u16, hint: &str) {
    let message = error_message(response).unwrap_or_default();
    ensure(
        response.status == status && message.to_lowercase().contains(hint),
        sim,
        || {
            format!(
                "{what} should get {status} with a JSON body {{\"error\": \"...{hint}...\"}}, \
                 but got {} {}",
                response.status,
                response.text()
            )
        },
    );
}

#[test]
fn malformed_json_is_400_with_a_json_error() {
    let sim = Sim::from_env_or(SEED);
    let (_town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    let response = http
        .with_header("Content-Type", "application/json")
        .with_header("Idempotency-Key", "\"k-1\"")
        .send(
            harness::http::Method::POST,
            &format!("/carts/{cart_id}/submit"),
            b"{\"deliver_to\": ".to_vec(),
        )
        .unwrap();
    assert_json_error(&sim, "a submit with broken JSON", &response, 400, "json");
}

#[test]
fn unknown_cart_is_404_with_a_json_error() {
    let sim = Sim::from_env_or(SEED);
    let (_town, http, _app) = open_shop(&sim);
    let response = http.get("/carts/no-such-cart").unwrap();
    assert_json_error(
        &sim,
        "GET of an unknown cart",
        &response,
        404,
        "no-such-cart",
    );
    let response = submit_with_key(&http, "no-such-cart", "k-1", "Rynek 1").unwrap();
    assert_json_error(&sim, "a submit of an unknown cart", &response, 404, "cart");
}

#[test]
fn oversized_body_is_413_with_a_json_error() {
    let sim = Sim::from_env_or(SEED);
    let (_town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    let response =
        submit_with_key(&http, &cart_id, "k-1", &"x".repeat(MAX_BODY_BYTES + 1)).unwrap();
    assert_json_error(
        &sim,
        "a submit with a huge body",
        &response,
        413,
        "too large",
    );
}

#[test]
fn wrong_method_is_405_and_unknown_path_is_404_with_a_json_error() {
    let sim = Sim::from_env_or(SEED);
    let (_town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    let response = http.delete(&format!("/carts/{cart_id}")).unwrap();
    assert_json_error(&sim, "DELETE of a cart", &response, 405, "method");
    let response = http.get("/pierogi").unwrap();
    assert_json_error(&sim, "GET /pierogi", &response, 404, "no such resource");
}

// ----- the real thing, over a socket -----

#[test]
fn the_shop_works_over_a_real_socket() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, _in_process, _app) = open_shop(&sim);
    let router = router(town.shop.clone(), town.orders.clone());
    let server = serve_on_loopback(router).unwrap();
    let http = HttpClient::at_url(&sim, "shop", &server.url()).unwrap();
    let app = ShopClient::new(&sim, http.clone());

    let cart_id = app.create_cart("ola").unwrap();
    app.add_item(&cart_id, "ruskie").unwrap();
    app.add_item(&cart_id, "z kapustą").unwrap();
    let submitted = app.submit(&cart_id, "Rynek 1, Kraków").unwrap();
    town.deliver();
    let location = submitted
        .header("Location")
        .unwrap_or(&format!("/carts/{cart_id}/order"))
        .to_string();
    let order: Value = http.get(&location).unwrap().json().unwrap();
    assert_eq!(
        order["items"],
        json!(["ruskie", "z kapustą"]),
        "the order over the socket: {order}"
    );

    let broken = http
        .with_header("Content-Type", "application/json")
        .send(
            harness::http::Method::PUT,
            &format!("/carts/{cart_id}"),
            b"not json".to_vec(),
        )
        .unwrap();
    assert!(
        broken.status.is_client_error() && error_message(&broken).is_some(),
        "a broken request over the socket should get a 4xx with a JSON error, got {broken:?}"
    );
    server.shutdown().unwrap();
}

// ----- a 202 is a promise kept, at any timing -----

/// What a submit with the same key and another address, and one with a
/// new key, were answered.
struct LateRequests {
    reused_key: HttpResponse,
    new_key: HttpResponse,
}

/// Sends, right now, the same key `k-1` with another address and a new
/// key `k-2`, as a client might while the first submit is being handled.
fn send_late_requests(sim: &Sim, http: &HttpClient, cart_id: &str) -> LateRequests {
    let actor = sim.actor();
    sim.set_actor("a second request");
    sim.note("the same key with another address, then a new key");
    let reused_key = submit_with_key(http, cart_id, "k-1", "Floriańska 3").unwrap();
    let new_key = submit_with_key(http, cart_id, "k-2", "Floriańska 3").unwrap();
    sim.set_actor(&actor);
    LateRequests {
        reused_key,
        new_key,
    }
}

/// Asserts that the 202 given to `k-1` (to Rynek 1) was kept: the late
/// requests were refused (422, 409), and Orders made one order, to Rynek 1.
fn assert_the_202_was_kept(
    sim: &Sim,
    when: &str,
    late: &LateRequests,
    town: &mut Storefront,
    cart_id: &str,
) {
    town.deliver();
    let orders = town.orders.of_cart(cart_id).unwrap();
    let reused_message = error_message(&late.reused_key).unwrap_or_default();
    let refused = late.reused_key.status == 422
        && reused_message.contains("Idempotency-Key")
        && late.new_key.status == 409
        && error_message(&late.new_key).is_some();
    let one_order_to_rynek = orders.len() == 1 && orders[0].deliver_to == "Rynek 1";
    ensure(refused && one_order_to_rynek, sim, || {
        format!(
            "the shop answered 202 to a submit with Idempotency-Key k-1 (to Rynek 1); \
             {when}, the same key with another address got {} {} and a new key got {} {}, \
             and Orders made {orders:?}. A 202 says the request is recorded with its key: \
             from then on the same key with another body is 422, another key is 409, and \
             the one order goes where the 202 said — a request answered 202 and then \
             dropped is a lost submission",
            late.reused_key.status,
            late.reused_key.text(),
            late.new_key.status,
            late.new_key.text()
        )
    });
}

#[test]
fn a_202_is_kept_before_the_handler_runs() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    assert_eq!(first.status, 202, "the first submit: {first:?}");
    let late = send_late_requests(&sim, &http, &cart_id);
    sim.note("the same request again, before the handler runs");
    let retry = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    ensure(
        retry.status == 202 && retry.body == first.body,
        &sim,
        || format!("a retry of the accepted submit should get its 202 again, got {retry:?}"),
    );
    assert_the_202_was_kept(
        &sim,
        "before the shop's handler ran",
        &late,
        &mut town,
        &cart_id,
    );
}

#[test]
fn a_202_is_kept_while_the_handler_runs() {
    // The late requests arrive at each store call and each send of the
    // shop's background handler in turn.
    for point in ["kv.shop.*", "broker.orders.send"] {
        for nth in 1..=6 {
            let sim = Sim::from_env_or(SEED);
            let (mut town, http, app) = open_shop(&sim);
            let cart_id = olas_cart(&sim, &app);
            let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
            assert_eq!(first.status, 202, "the first submit: {first:?}");
            let slot: Arc<Mutex<Option<LateRequests>>> = Arc::default();
            let (late_sim, late_http, late_cart, late_slot) =
                (sim.clone(), http.clone(), cart_id.clone(), slot.clone());
            sim.inject(FaultRule::at(point).nth(nth).interleave(move || {
                let late = send_late_requests(&late_sim, &late_http, &late_cart);
                *late_slot.lock().unwrap() = Some(late);
            }));
            town.deliver();
            let Some(late) = slot.lock().unwrap().take() else {
                break; // the handler makes fewer calls: every moment is covered
            };
            let when = format!("while the shop's handler ran (at its call #{nth} of {point})");
            assert_the_202_was_kept(&sim, &when, &late, &mut town, &cart_id);
        }
    }
}

#[test]
fn two_new_submits_racing_get_one_202_and_one_409() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    // Ola's phone submits (k-2, to Floriańska 3) right before the laptop's
    // submit (k-1, to Rynek 1) writes to the store.
    let phone: Arc<Mutex<Option<HttpResponse>>> = Arc::default();
    let (phone_sim, phone_http, phone_cart, slot) =
        (sim.clone(), http.clone(), cart_id.clone(), phone.clone());
    sim.inject(
        FaultRule::at("kv.shop.*")
            .when(is_write)
            .interleave(move || {
                phone_sim.set_actor("Ola's phone");
                let answer = submit_with_key(&phone_http, &phone_cart, "k-2", "Floriańska 3");
                *slot.lock().unwrap() = Some(answer.unwrap());
                phone_sim.set_actor("Ola's laptop");
            }),
    );
    sim.set_actor("Ola's laptop");
    let laptop = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.set_actor("test");
    let phone = phone.lock().unwrap().take();
    let Some(phone) = phone else {
        Failure::new(&sim, "the laptop's submit never wrote to the store").panic();
    };
    town.deliver();
    let orders = town.orders.of_cart(&cart_id).unwrap();
    let answers = [(&laptop, "Rynek 1"), (&phone, "Floriańska 3")];
    let accepted: Vec<&str> = answers
        .iter()
        .filter(|(answer, _)| answer.status == 202)
        .map(|(_, address)| *address)
        .collect();
    let refused = answers
        .iter()
        .filter(|(answer, _)| answer.status == 409 && error_message(answer).is_some())
        .count();
    ensure(
        accepted.len() == 1
            && refused == 1
            && orders.len() == 1
            && orders[0].deliver_to == accepted[0],
        &sim,
        || {
            format!(
                "two submits of one cart with different keys raced: the laptop (to Rynek 1) got \
                 {} {}, the phone (to Floriańska 3) got {} {}, and Orders made {orders:?}. One \
                 of them must get 202 and the order must go where that 202 said; the other \
                 must get 409 with a JSON error — two 202s for one cart promise two orders",
                laptop.status,
                laptop.text(),
                phone.status,
                phone.text()
            )
        },
    );
}

// ----- requests the shop does not take, each with a clear JSON error -----

#[test]
fn a_body_that_is_not_a_json_object_is_refused() {
    let sim = Sim::from_env_or(SEED);
    let (town, http, _app) = open_shop(&sim);
    let body = br#"{"customer": "ola"}"#.to_vec();
    let cases = [
        ("text/plain", body.clone(), 415, "content-type"),
        (
            "application/x-www-form-urlencoded",
            body.clone(),
            415,
            "content-type",
        ),
        ("application/json", br#"["ola"]"#.to_vec(), 400, "object"),
        (
            "application/json; charset=utf-8",
            b"\"ola\"".to_vec(),
            400,
            "object",
        ),
    ];
    for (content_type, body, status, hint) in cases {
        let response = http
            .with_header("Content-Type", content_type)
            .send(harness::http::Method::PUT, "/carts/c-1", body.clone())
            .unwrap();
        let what = format!(
            "PUT /carts/c-1 with Content-Type {content_type} and body {}",
            String::from_utf8_lossy(&body)
        );
        assert_json_error(&sim, &what, &response, status, hint);
    }
    let response = http
        .send(harness::http::Method::PUT, "/carts/c-1", body)
        .unwrap();
    assert_json_error(
        &sim,
        "PUT /carts/c-1 without a Content-Type",
        &response,
        415,
        "content-type",
    );
    ensure(
        town.shop.cart("c-1").unwrap().is_none(),
        &sim,
        || "a refused request made cart c-1 all the same",
    );
}

#[test]
fn an_unreadable_path_is_400_with_a_json_error() {
    let sim = Sim::from_env_or(SEED);
    let (_town, http, _app) = open_shop(&sim);
    let response = http.get("/carts/%FF").unwrap();
    assert_json_error(&sim, "GET /carts/%FF", &response, 400, "path");
    let response = http
        .put_json("/carts/%FF/items/l-1", &json!({ "name": "ruskie" }))
        .unwrap();
    assert_json_error(&sim, "PUT /carts/%FF/items/l-1", &response, 400, "path");
}

#[test]
fn an_oversized_path_is_414_and_oversized_headers_are_431() {
    let sim = Sim::from_env_or(SEED);
    let (_town, http, _app) = open_shop(&sim);
    let long_path = format!("/carts/{}", "c".repeat(MAX_URI_BYTES));
    let response = http.get(&long_path).unwrap();
    assert_json_error(&sim, "a GET of a 2 KiB path", &response, 414, "path");
    let padded = http.with_header("X-Padding", &"x".repeat(MAX_HEADER_BYTES));
    let response = padded.get("/carts/c-1").unwrap();
    assert_json_error(
        &sim,
        "a GET with 8 KiB of headers",
        &response,
        431,
        "headers",
    );
}

#[test]
fn an_idempotency_key_the_shop_cannot_keep_is_400() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let cart_id = olas_cart(&sim, &app);
    let long_key = "k".repeat(MAX_KEY_BYTES + 1);
    for (key, what) in [
        (long_key.as_str(), "a 256-byte Idempotency-Key"),
        (
            "klucz-żółwia",
            "an Idempotency-Key with letters outside ASCII",
        ),
        ("two words", "an Idempotency-Key with a space"),
    ] {
        let response = submit_with_key(&http, &cart_id, key, "Rynek 1").unwrap();
        assert_json_error(&sim, what, &response, 400, "idempotency-key");
    }
    let twice = submit_with_two_keys(town.shop.clone(), town.orders.clone(), &cart_id);
    assert_json_error(
        &sim,
        "a submit with two Idempotency-Key headers",
        &twice,
        400,
        "idempotency-key",
    );
    let orders = town.order_count(&cart_id);
    let good = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    ensure(orders == 0 && good.status == 202, &sim, || {
        format!(
            "the refused submits made {orders} orders, and a good one afterwards got {} {} \
             — a refused request must leave no trace",
            good.status,
            good.text()
        )
    });
}

/// A submit with two `Idempotency-Key` headers, straight into the router
/// (the test client sends one value per header name).
fn submit_with_two_keys(
    shop: shop::Shop,
    orders: shop::front::orders::Orders,
    cart_id: &str,
) -> HttpResponse {
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/carts/{cart_id}/submit"))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "\"k-1\"")
        .header("Idempotency-Key", "\"k-2\"")
        .body(axum::body::Body::from(r#"{"deliver_to": "Rynek 1"}"#))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = router(shop, orders).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        HttpResponse {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        }
    })
}

// ----- a client that sends half a request, over a real socket -----

/// Sends `request` (raw bytes) to `server` and reads until the server
/// answers and closes, or 20 s pass (then the server held the connection).
fn exchange_raw(server: &RunningServer, request: &[u8]) -> Result<String, String> {
    let mut stream = TcpStream::connect(server.address()).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|err| err.to_string())?;
    // A server that refuses a huge head may close before reading all of
    // it: the write fails, and its answer is there to read all the same.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => Ok(String::from_utf8_lossy(&answer).to_string()),
        Err(err) => Err(format!(
            "after 20 s the server still held the connection ({err}); it had sent {:?}",
            String::from_utf8_lossy(&answer)
        )),
    }
}

#[test]
fn a_half_sent_request_is_cut_off_with_a_json_error() {
    let sim = Sim::from_env_or(SEED);
    let (town, _http, _app) = open_shop(&sim);
    let timeouts = ReadTimeouts {
        head: Duration::from_millis(300),
        body: Duration::from_millis(300),
    };
    let router = router(town.shop.clone(), town.orders.clone());
    let server = serve_bounded("127.0.0.1:0", router, timeouts).unwrap();

    let no_body = b"PUT /carts/c-1 HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
                    Content-Length: 40\r\n\r\n{\"customer\"";
    let answer = exchange_raw(&server, no_body);
    assert!(
        answer
            .as_ref()
            .is_ok_and(|text| text.starts_with("HTTP/1.1 408") && text.contains("\"error\"")),
        "a request that announces a 40-byte body and sends 11 bytes should get 408 with a JSON \
         error once the body timeout (300 ms) passed, but got {answer:?}"
    );

    let half_head = b"GET /carts/c-1 HTTP/1.1\r\nHost: shop\r\n";
    let answer = exchange_raw(&server, half_head);
    assert!(
        answer.is_ok(),
        "a client that never finishes its request's head should be cut off once the head \
         timeout (300 ms) passed, but: {answer:?}"
    );

    let big_head = format!(
        "GET /carts/c-1 HTTP/1.1\r\nHost: shop\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "x".repeat(MAX_HEADER_BYTES)
    );
    let answer = exchange_raw(&server, big_head.as_bytes());
    assert!(
        answer
            .as_ref()
            .is_ok_and(|text| text.starts_with("HTTP/1.1 431") && text.contains("\"error\"")),
        "a request with 8 KiB of headers over a socket should get 431 with a JSON error, but \
         got {answer:?}"
    );
    server.shutdown().unwrap();
}

// ----- what the HTTP library refuses by itself, over a real socket -----

/// The status and the JSON `error` of a raw answer, if it is a JSON error.
fn raw_json_error(answer: &str) -> Option<(u16, String)> {
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    let json = head
        .to_ascii_lowercase()
        .contains("content-type: application/json");
    let body: Value = serde_json::from_str(body).ok()?;
    let message = body["error"].as_str()?.to_string();
    json.then_some((status, message))
}

#[test]
fn requests_the_http_library_refuses_get_a_json_error() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, _http, _app) = open_shop(&sim);
    let router = router(town.shop.clone(), town.orders.clone());
    let server = serve_bounded("127.0.0.1:0", router, shop::serve::READ_TIMEOUTS).unwrap();
    let long_path = format!(
        "GET /carts/{} HTTP/1.1\r\nHost: shop\r\n\r\n",
        "c".repeat(70_000)
    );
    let huge_headers = format!(
        "GET /carts/c-1 HTTP/1.1\r\nHost: shop\r\nX-Padding: {}\r\n\r\n",
        "x".repeat(1_000_000)
    );
    let many_headers = format!(
        "GET /carts/c-1 HTTP/1.1\r\nHost: shop\r\n{}\r\n",
        (0..120)
            .map(|n| format!("X-Padding-{n}: x\r\n"))
            .collect::<String>()
    );
    let cases: [(&str, Vec<u8>, u16, &str); 5] = [
        (
            "a request line that is not HTTP",
            b"HELLO SHOP\r\n\r\n".to_vec(),
            400,
            "http",
        ),
        (
            "a Content-Length that is not a number",
            b"PUT /carts/c-1 HTTP/1.1\r\nHost: shop\r\nContent-Length: lots\r\n\r\n".to_vec(),
            400,
            "content-length",
        ),
        ("a 70 KB path", long_path.into_bytes(), 414, "path"),
        (
            "a megabyte of headers",
            huge_headers.into_bytes(),
            431,
            "headers",
        ),
        ("120 headers", many_headers.into_bytes(), 431, "headers"),
    ];
    for (what, request, status, hint) in cases {
        let answer = exchange_raw(&server, &request);
        let refusal = answer.as_deref().ok().and_then(raw_json_error);
        ensure(
            refusal.as_ref().is_some_and(|(got, message)| {
                *got == status && message.to_lowercase().contains(hint)
            }),
            &sim,
            || {
                format!(
                    "{what}, sent over a socket, should get {status} with a JSON error that \
                     mentions {hint:?} (the HTTP library refuses it before the router runs), \
                     but got {answer:?}"
                )
            },
        );
    }
    sim.note("after the refusals, the server still serves a good request");
    let http = HttpClient::at_url(&sim, "shop", &server.url()).unwrap();
    let app = ShopClient::new(&sim, http.clone());
    let cart_id = app.create_cart("ola").unwrap();
    app.add_item(&cart_id, "ruskie").unwrap();
    let submitted = app.submit(&cart_id, "Rynek 1").unwrap();
    town.deliver();
    let order: Value = http
        .get(&format!("/carts/{cart_id}/order"))
        .unwrap()
        .json()
        .unwrap();
    ensure(
        submitted.status == 202 && order["items"] == json!(["ruskie"]),
        &sim,
        || format!("a good submit over the socket got {submitted:?}, and its order is {order}"),
    );
    server.shutdown().unwrap();
}
