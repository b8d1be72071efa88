//! The scenarios of the shop's HTTP API, written once: exercise 02 runs
//! them against its lesson (the front whose submit makes the order), and
//! the shop's own tests (`shop/tests/front_http.rs`) against the shop's
//! front, with Orders behind the broker. Each function is one test: it
//! builds the story on an [`ApiUnderTest`] and fails with a report in the
//! course's words when the API breaks its promise.

use std::sync::{Arc, Mutex};

use harness::http::{HttpClient, HttpResponse};
use harness::{Error, Failure, FaultRule, Sim, ensure};
use serde_json::{Value, json};

use super::{Storefront, error_message, is_write, submit_with_key};
use crate::client::ShopClient;
use crate::front::CartRules;
use crate::front::direct::{ApiRules, Carts, router};
use crate::{Line, Order};

/// How the app makes a cart: the shop's own [`ShopClient::create_cart`], or
/// exercise 02's `app::create_cart`.
pub type CreateCartFn = fn(&ShopClient, &str) -> Result<String, Error>;

/// How the app puts an item into a cart: [`ShopClient::add_item`], or
/// exercise 02's `app::add_item`.
pub type AddItemFn = fn(&ShopClient, &str, &str) -> Result<(), Error>;

/// A shop's HTTP API under test, with the app that talks to it.
pub struct ApiUnderTest {
    /// The simulation everything runs in.
    pub sim: Sim,
    /// A raw HTTP client for the API.
    pub http: HttpClient,
    /// The shop's app (it retries when an answer is lost).
    pub app: ShopClient,
    create_cart: CreateCartFn,
    add_item: AddItemFn,
    behind: Behind,
}

/// What the API stands on.
enum Behind {
    /// Exercise 02's front: the submit makes the order itself.
    Direct(Carts),
    /// The shop's own front: the submit queues a command, and Orders makes
    /// the order once the broker delivered it.
    Queued(Box<Storefront>),
}

impl ApiUnderTest {
    /// Exercise 02's API: `rules` change the carts, and the app names carts
    /// and items with `create_cart` and `add_item` (exercise 02's tests pass
    /// its lesson: `ApiUnderTest::direct(&sim, RULES, app::create_cart,
    /// app::add_item)`).
    pub fn direct(
        sim: &Sim,
        rules: ApiRules,
        create_cart: CreateCartFn,
        add_item: AddItemFn,
    ) -> ApiUnderTest {
        let carts = Carts::new(sim);
        let http = HttpClient::in_process(sim, "shop", router(carts.clone(), rules));
        ApiUnderTest {
            sim: sim.clone(),
            app: ShopClient::new(sim, http.clone()),
            http,
            create_cart,
            add_item,
            behind: Behind::Direct(carts),
        }
    }

    /// The shop's own API, with its own handlers and Orders behind the
    /// broker.
    ///
    /// ```
    /// use shop::testing::front::scenarios::{self, ApiUnderTest};
    /// let mut api = ApiUnderTest::queued(&harness::Sim::new(4));
    /// scenarios::submit_answers_202_with_a_location_to_poll(&mut api);
    /// ```
    pub fn queued(sim: &Sim) -> ApiUnderTest {
        let front = Storefront::open(sim, CartRules::QUEUED, |world, shop, orders| {
            shop.add_to(world);
            orders.add_to(world);
        });
        ApiUnderTest {
            sim: sim.clone(),
            http: front.http.clone(),
            app: front.app.clone(),
            create_cart: ShopClient::create_cart,
            add_item: ShopClient::add_item,
            behind: Behind::Queued(Box::new(front)),
        }
    }

    /// Lets the broker deliver every message (nothing to deliver when the
    /// submit makes the order itself).
    pub fn deliver(&mut self) {
        match &mut self.behind {
            Behind::Direct(_) => {}
            Behind::Queued(front) => front.deliver(),
        }
    }

    /// Every order made from the cart, once every message is in.
    pub fn orders(&mut self, cart_id: &str) -> Vec<Order> {
        self.deliver();
        let orders = match &self.behind {
            Behind::Direct(carts) => carts.orders(cart_id),
            Behind::Queued(front) => front.orders.of_cart(cart_id),
        };
        orders.unwrap()
    }

    /// How many documents the shop's store holds: carts, and once there
    /// are submits, their records (and in exercise 02, the orders).
    pub fn document_count(&self) -> usize {
        match &self.behind {
            Behind::Direct(carts) => carts.document_count(),
            Behind::Queued(front) => front.shop.document_count(),
        }
    }

    /// The cart's customer and lines, if the cart exists.
    pub fn cart(&self, cart_id: &str) -> Option<(String, Vec<Line>)> {
        match &self.behind {
            Behind::Direct(carts) => carts
                .cart(cart_id)
                .unwrap()
                .map(|cart| (cart.customer, cart.lines)),
            Behind::Queued(front) => front
                .shop
                .cart(cart_id)
                .unwrap()
                .map(|cart| (cart.customer, cart.lines)),
        }
    }

    /// The cart's lines (none if there is no such cart).
    pub fn lines(&self, cart_id: &str) -> Vec<Line> {
        self.cart(cart_id)
            .map(|(_, lines)| lines)
            .unwrap_or_default()
    }

    /// The app makes a cart for `customer`, its way.
    pub fn create_cart(&self, customer: &str) -> Result<String, Error> {
        (self.create_cart)(&self.app, customer)
    }

    /// The app puts `name` into the cart, its way.
    pub fn add_item(&self, cart_id: &str, name: &str) -> Result<(), Error> {
        (self.add_item)(&self.app, cart_id, name)
    }

    /// Ola's cart with ruskie in it, made by the app.
    pub fn olas_cart(&self) -> String {
        self.sim.set_actor("Ola's app");
        let cart_id = self.create_cart("ola").unwrap();
        self.add_item(&cart_id, "ruskie").unwrap();
        self.sim.set_actor("test");
        cart_id
    }
}

// ----- identity chosen by the client -----

/// The answer to "make a cart" is lost; the app retries. One cart.
pub fn lost_response_does_not_create_two_carts(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    sim.inject(FaultRule::at("http.shop.*").fail_after());
    sim.set_actor("Ola's app");
    let created = api.create_cart("ola");
    sim.set_actor("test");
    let carts = api.document_count();
    ensure(created.is_ok() && carts == 1, &sim, || {
        format!(
            "Ola asked for one new cart and the shop now holds {carts} carts — a duplicate \
             cart: the answer to the first request was lost, the app retried, and the server \
             made up a new id for the retry, so it could not tell it was the same request \
             (the app got {created:?})"
        )
    });
}

/// The answer to "add ruskie" is lost; the app retries. One line.
pub fn lost_response_does_not_add_an_item_twice(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    sim.set_actor("Ola's app");
    let cart_id = api.create_cart("ola").unwrap();
    sim.inject(FaultRule::at("http.shop.*").fail_after());
    let added = api.add_item(&cart_id, "ruskie");
    sim.set_actor("test");
    let lines = api.lines(&cart_id);
    ensure(added.is_ok() && lines.len() == 1, &sim, || {
        format!(
            "Ola added ruskie once and her cart now has {} lines: {lines:?} — a duplicate \
             line: the answer was lost, the app retried, and the server added the retry as \
             a new line (the app got {added:?})",
            lines.len()
        )
    });
}

/// The same `PUT` of a cart and of a line, twice: 201, then 200.
pub fn put_cart_twice_is_harmless(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    let ola = json!({ "customer": "ola" });
    let ruskie = json!({ "name": "ruskie" });
    let line = "/carts/c-1/items/l-1";
    let steps = [
        ("PUT /carts/c-1", "/carts/c-1", &ola, 201),
        ("PUT /carts/c-1/items/l-1", line, &ruskie, 201),
        ("a late retry of PUT /carts/c-1", "/carts/c-1", &ola, 200),
        (
            "a late retry of PUT /carts/c-1/items/l-1",
            line,
            &ruskie,
            200,
        ),
    ];
    for (what, path, body, expected) in steps {
        let response = api.http.put_json(path, body).unwrap();
        ensure(response.status == expected, &sim, || {
            format!(
                "{what} answered {} {}, not {expected}: the client names the cart and its \
                 lines (a UUID it made), so that a retry names the same thing and the shop \
                 can answer it without doing it twice",
                response.status,
                response.text()
            )
        });
    }
    let lines = api.lines("c-1");
    ensure(lines.len() == 1, &sim, || {
        format!("after the retries cart c-1 should hold its one line, but holds {lines:?}")
    });
}

/// An id sent again with another body is a mistake: 409, nothing changes.
pub fn reusing_an_id_for_something_else_is_409(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    let line = "/carts/c-1/items/l-1";
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
            line,
            json!({ "name": "ruskie" }),
            201,
        ),
        (
            "PUT /carts/c-1/items/l-1 pruskie",
            line,
            json!({ "name": "pruskie" }),
            409,
        ),
    ];
    for (what, path, body, expected) in steps {
        let response = api.http.put_json(path, &body).unwrap();
        let json_error = error_message(&response).is_some();
        ensure(
            response.status == expected && json_error == (expected == 409),
            &sim,
            || {
                format!(
                    "{what} answered {} {}, not {expected}: the same id with a different body \
                     is not a retry but a mistake, and must be refused with 409 and a JSON \
                     error, never merged or overwritten",
                    response.status,
                    response.text()
                )
            },
        );
    }
    let cart = api.cart("c-1");
    let olas_ruskie = cart.as_ref().is_some_and(|(customer, lines)| {
        customer == "ola" && lines.len() == 1 && lines[0].name == "ruskie"
    });
    ensure(olas_ruskie, &sim, || {
        format!("cart c-1 should still be Ola's with ruskie, but is {cart:?}")
    });
}

// ----- submitting with an Idempotency-Key -----

/// A submit answers 202 with a `Location`, where the order shows up.
pub fn submit_answers_202_with_a_location_to_poll(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    let cart_id = api.olas_cart();
    let response = api.app.submit(&cart_id, "Rynek 1, Kraków").unwrap();
    let location = response.header("Location").unwrap_or_default().to_string();
    ensure(
        response.status == 202 && location.starts_with('/'),
        &sim,
        || {
            format!(
                "the submit answered {} with Location {location:?}: it should answer \
                 202 Accepted (\"we have your request; the order follows\") with a Location \
                 the app can poll for the order",
                response.status
            )
        },
    );
    sim.note("the order is made (through the broker, if there is one); then the app polls");
    api.deliver();
    let order = api.http.get(&location).unwrap();
    let body: Value = order.json().unwrap_or_default();
    ensure(
        order.status == 200
            && body["deliver_to"] == "Rynek 1, Kraków"
            && body["items"] == json!(["ruskie"]),
        &sim,
        || format!("GET {location} should show Ola's order, but answered {order:?}"),
    );
}

/// The answer to a submit is lost; retries with the same key get the same
/// answer, and one order is made.
pub fn retry_with_the_same_key_replays_the_answer(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    let cart_id = api.olas_cart();
    sim.inject(FaultRule::at("http.shop.post").fail_after());
    sim.note("Ola submits; the shop does it, but its answer is lost");
    let lost = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1");
    sim.note("the app retries with the same Idempotency-Key");
    let retry = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1").unwrap();
    api.deliver();
    sim.note("and once more, after the order was made");
    let again = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1").unwrap();
    let orders = api.orders(&cart_id).len();
    ensure(
        lost.is_err() && retry.status == 202 && orders == 1,
        &sim,
        || {
            format!(
                "the submit went through but its answer was lost; the retry with the same \
                 Idempotency-Key got {} {} and the cart has {orders} orders — the retry should \
                 get the original answer again (202), replayed from what was stored with the \
                 key, and nothing should run twice",
                retry.status,
                retry.text()
            )
        },
    );
    let same = again.status == retry.status
        && again.header("Location") == retry.header("Location")
        && again.body == retry.body;
    ensure(same, &sim, || {
        format!(
            "two retries with the same key got different answers: {retry:?} then {again:?} — \
             a replay returns the stored answer, the same every time"
        )
    });
}

/// The same key with another body is a client bug: 422, one order.
pub fn same_key_with_another_payload_is_422(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    let cart_id = api.olas_cart();
    let first = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1").unwrap();
    api.deliver();
    sim.note("the same key again, but with another address");
    let reused = submit_with_key(&api.http, &cart_id, "k-1", "Floriańska 3").unwrap();
    let message = error_message(&reused).unwrap_or_default();
    ensure(
        first.is_success() && reused.status == 422 && message.contains("Idempotency-Key"),
        &sim,
        || {
            format!(
                "a submit that reuses an Idempotency-Key with another body got {} {} — it is \
                 not a retry but a client bug: answer 422 with a JSON error that names the \
                 Idempotency-Key, and do not replay the other request's answer",
                reused.status,
                reused.text()
            )
        },
    );
    let orders = api.orders(&cart_id);
    ensure(
        orders.len() == 1 && orders[0].deliver_to == "Rynek 1",
        &sim,
        || format!("there should be one order, to Rynek 1, but there are {orders:?}"),
    );
}

/// A retry arrives while its twin (same key) is still running: 409 for the
/// retry, 202 for the first, one order.
pub fn twin_still_in_flight_gets_409(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    let cart_id = api.olas_cart();
    // The twin arrives while the first request is still working: right
    // before its first write to the store.
    let twin_answer: Arc<Mutex<Option<Result<HttpResponse, Error>>>> = Arc::default();
    let (twin_http, twin_sim, twin_cart, slot) = (
        api.http.clone(),
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
    let first = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.set_actor("test");
    let twin = twin_answer.lock().unwrap().take();
    let orders = api.orders(&cart_id).len();
    let Some(Ok(twin)) = twin else {
        Failure::new(
            &sim,
            format!("the twin request did not get an answer: {twin:?}"),
        )
        .panic();
    };
    ensure(
        twin.status == 409 && error_message(&twin).is_some() && first.status == 202 && orders == 1,
        &sim,
        || {
            format!(
                "a retry arrived while its twin (same Idempotency-Key) was still running: the \
                 retry got {} {}, the first request got {} {}, and the cart has {orders} orders \
                 — the retry should get 409 with a JSON error (\"still in progress, try again \
                 later\") and leave the work to the first request, which answers 202",
                twin.status,
                twin.text(),
                first.status,
                first.text()
            )
        },
    );
}

/// A submit without an `Idempotency-Key`: 400 naming the header, no order.
pub fn missing_idempotency_key_is_400(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    let cart_id = api.olas_cart();
    let path = format!("/carts/{cart_id}/submit");
    let response = api
        .http
        .post_json(&path, &json!({ "deliver_to": "Rynek 1" }))
        .unwrap();
    let message = error_message(&response).unwrap_or_default();
    let orders = api.orders(&cart_id).len();
    ensure(
        response.status == 400 && message.contains("Idempotency-Key") && orders == 0,
        &sim,
        || {
            format!(
                "a submit without an Idempotency-Key header got {} {} and made {orders} orders \
                 — without a key a retry cannot be recognised, so refuse it with 400 and a JSON \
                 error that says the Idempotency-Key header is required",
                response.status,
                response.text()
            )
        },
    );
}

/// A new click (new key) on a submitted cart: 409, one order.
pub fn a_new_submit_of_a_submitted_cart_is_409(api: &mut ApiUnderTest) {
    let sim = api.sim.clone();
    let cart_id = api.olas_cart();
    let first = submit_with_key(&api.http, &cart_id, "k-1", "Rynek 1").unwrap();
    api.deliver();
    sim.note("Ola clicks Submit again: a new click, a new key");
    let second = submit_with_key(&api.http, &cart_id, "k-2", "Rynek 1").unwrap();
    let orders = api.orders(&cart_id).len();
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
