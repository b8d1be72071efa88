//! Test helpers for Part A (the shop's front, exercises 01–04), and for the
//! shop's own tests of its HTTP API.

pub mod scenarios;

use harness::http::HttpClient;
pub use harness::http::HttpResponse;
use harness::{
    Broker, Envelope, Error, EventKind, Failure, FaultPoint, FaultRule, MessageRef, Sim, World,
    ensure,
};
use serde_json::{Value, json};

use crate::client::ShopClient;
use crate::front::CartRules;
use crate::front::orders::Orders;
use crate::http::router;
use crate::{ORDERS_QUEUE, SHOP_QUEUE, Shop, SubmitOrder};

/// True for a write to a store (`put`, `batch` or `delete`); a read is
/// `get` or `list`. Fault rules use it to strike only the writes.
///
/// ```
/// use harness::FaultRule;
/// use shop::testing::front::is_write;
/// // Fail the second write to the shop's store, whatever it is.
/// let rule = FaultRule::at("kv.shop.*").when(is_write).nth(2).fail_before();
/// # let _ = rule;
/// ```
pub fn is_write(point: &FaultPoint) -> bool {
    ["put", "batch", "delete"]
        .iter()
        .any(|operation| point.name.ends_with(&format!(".{operation}")))
}

/// The storefront of exercises 03–04: the shop and the Orders service on
/// one broker, the shop's HTTP API, a raw HTTP client for it and the app.
pub struct Storefront {
    /// The shop: carts and the `SendSubmitOrder` command.
    pub shop: Shop,
    /// The Orders service, on documents.
    pub orders: Orders,
    /// The broker between them.
    pub broker: Broker,
    /// Runs the handlers.
    pub world: World,
    /// A raw HTTP client for the shop's API.
    pub http: HttpClient,
    /// The shop's app, which retries.
    pub app: ShopClient,
}

impl Storefront {
    /// A fresh storefront whose shop adds lines and submits by `rules`;
    /// `add_handlers` adds the shop and Orders to the world with the
    /// handlers under test.
    ///
    /// ```
    /// use shop::front::CartRules;
    /// use shop::testing::front::Storefront;
    /// let sim = harness::Sim::new(1);
    /// let mut front = Storefront::open(&sim, CartRules::QUEUED, |world, shop, orders| {
    ///     shop.add_to(world);
    ///     orders.add_to(world);
    /// });
    /// let cart_id = front.olas_cart(&sim);
    /// front.app.submit(&cart_id, "Rynek 1").unwrap();
    /// assert_eq!(front.order_count(&cart_id), 1);
    /// ```
    pub fn open(
        sim: &Sim,
        rules: CartRules,
        add_handlers: impl FnOnce(&mut World, &Shop, &Orders),
    ) -> Storefront {
        let broker = Broker::new(sim);
        let shop = Shop::new(sim, &broker).with_rules(rules);
        let orders = Orders::new(sim);
        let mut world = World::new(sim, &broker);
        add_handlers(&mut world, &shop, &orders);
        let http = HttpClient::in_process(sim, "shop", router(shop.clone(), orders.clone()));
        let app = ShopClient::new(sim, http.clone());
        Storefront {
            shop,
            orders,
            broker,
            world,
            http,
            app,
        }
    }

    /// Ola's cart with ruskie in it, made through the app.
    pub fn olas_cart(&self, sim: &Sim) -> String {
        sim.set_actor("Ola's app");
        let cart_id = self.app.create_cart("ola").unwrap();
        self.app.add_item(&cart_id, "ruskie").unwrap();
        sim.set_actor("test");
        cart_id
    }

    /// Lets the broker deliver every message: the shop's handler and Orders
    /// handle them all, retries included.
    pub fn deliver(&mut self) {
        if let Err(err) = self.world.run_until_quiet(1_000) {
            let headline = format!(
                "the handlers did not settle within 1,000 deliveries ({err}): a message is \
                 retried for ever, or handlers keep sending each other messages"
            );
            Failure::new(self.shop.sim(), headline).panic();
        }
    }

    /// Every copy of `SubmitOrder` the shop sent for the cart.
    pub fn submit_orders(&self, cart_id: &str) -> Vec<SubmitOrder> {
        let sent = self.broker.sent_to(ORDERS_QUEUE).unwrap();
        sent.iter()
            .filter_map(|message| message.body::<SubmitOrder>().ok())
            .filter(|submit| submit.cart_id == cart_id)
            .collect()
    }

    /// How many orders Orders made from the cart, once every message is in.
    pub fn order_count(&mut self, cart_id: &str) -> usize {
        self.deliver();
        self.orders.of_cart(cart_id).unwrap().len()
    }

    /// Every message given up on, in the shop's queue and in Orders' queue,
    /// and why.
    pub fn dead_letters(&self, sim: &Sim) -> Vec<(MessageRef, String)> {
        let mut dead = Vec::new();
        for queue in [SHOP_QUEUE, ORDERS_QUEUE] {
            for letter in self.broker.dead_letters(queue).unwrap() {
                dead.push((sim.message_ref(&letter.envelope), letter.reason));
            }
        }
        dead
    }
}

/// Bounds what one click, request or delivery may do: once `pattern` is
/// called more than `limit` times the test fails with a message saying
/// so, instead of hanging. A loop that retries a store or a broker that
/// stays down, inside `within`, never ends; it should return the error and
/// let the caller (or the broker) try again later.
///
/// ```
/// use harness::Sim;
/// use shop::testing::front::bound_calls;
/// let sim = Sim::new(1);
/// bound_calls(&sim, "broker.orders.send", 20, "one submit");
/// ```
pub fn bound_calls(sim: &Sim, pattern: &str, limit: u32, within: &str) {
    let (bound_sim, pattern_text, within) = (sim.clone(), pattern.to_string(), within.to_string());
    // Every call past the limit fails the test: under a world, a panicking
    // handler is retried, and its retry must not slip through.
    let past_the_limit = FaultRule::at(pattern).nth(limit + 1).always();
    sim.inject(past_the_limit.interleave(move || {
        let headline = format!(
            "{within} called {pattern_text} more than {limit} times: it retries inside one \
             request and never gives up, so with a store or a broker that stays down it \
             hangs. Give up with the error and let the caller (or the broker) retry later"
        );
        Failure::new(&bound_sim, headline).panic();
    }));
}

/// The `SubmitOrder` the shop sends for Ola's cart `c-1` (ruskie, to Rynek 1).
pub fn olas_submit_order() -> SubmitOrder {
    SubmitOrder {
        cart_id: "c-1".to_string(),
        customer: "ola".to_string(),
        items: vec!["ruskie".to_string()],
        deliver_to: "Rynek 1".to_string(),
    }
}

/// `SubmitOrder` for Ola's cart `c-1` in an envelope with a new id.
pub fn olas_submit_order_envelope(sim: &Sim) -> Envelope {
    Envelope::new(sim.new_message_id(), "SubmitOrder", &olas_submit_order())
}

/// A failure report pointing at every `SubmitOrder` sent and every order
/// written, so that the duplicates stand out.
pub fn pointing_at_orders(sim: &Sim, headline: impl Into<String>) -> Failure {
    let mut failure = Failure::new(sim, headline);
    for event in sim.trace().events() {
        let points_at = match &event.kind {
            EventKind::Sent { queue, .. } => queue == ORDERS_QUEUE,
            EventKind::Wrote { store, .. } => store == "orders",
            _ => false,
        };
        if points_at {
            failure = failure.highlight(event.seq);
        }
    }
    failure
}

/// The labels (`m3`) of the messages the broker took for `queue`, in order.
pub fn labels_of(sim: &Sim, broker: &Broker, queue: &str) -> Vec<String> {
    broker
        .sent_to(queue)
        .unwrap()
        .iter()
        .map(|message| sim.label(message.id))
        .collect()
}

/// The `error` message of a JSON error body, if the body is one.
pub fn error_message(response: &HttpResponse) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    body["error"].as_str().map(str::to_string)
}

/// An answer's status (or its absence), for a failure report.
pub fn status_text(answer: &Result<HttpResponse, Error>) -> String {
    match answer {
        Ok(response) => response.status.to_string(),
        Err(err) => format!("no answer ({err})"),
    }
}

/// Makes the `nth` write to the shop's store (`kv.shop.*`) fail before it
/// writes: one crash point of a submit, for a test that tries each in turn
/// (and stops at the first `nth` the submit gets through: it writes fewer
/// times).
///
/// ```
/// use harness::Sim;
/// use shop::testing::front::{ensure_try_again_later, fail_write_of_the_submit};
/// # use shop::front::CartRules;
/// # use shop::testing::front::{Storefront, submit_with_key};
/// let sim = Sim::new(1);
/// # let front = Storefront::open(&sim, CartRules::QUEUED, |world, shop, orders| {
/// #     shop.add_to(world);
/// #     orders.add_to(world);
/// # });
/// # let cart_id = front.olas_cart(&sim);
/// fail_write_of_the_submit(&sim, 1);
/// let answer = submit_with_key(&front.http, &cart_id, "k-1", "Rynek 1").unwrap();
/// ensure_try_again_later(&sim, &answer);
/// ```
pub fn fail_write_of_the_submit(sim: &Sim, nth: u32) {
    sim.note(&format!("the store fails write #{nth} of the submit"));
    sim.inject(
        FaultRule::at("kv.shop.*")
            .when(is_write)
            .nth(nth)
            .fail_before(),
    );
}

/// Fails the test unless `answer` is what the shop says when its store
/// failed: `503` with a JSON error, so that the app tries again.
#[track_caller]
pub fn ensure_try_again_later(sim: &Sim, answer: &HttpResponse) {
    ensure(
        answer.status == 503 && error_message(answer).is_some(),
        sim,
        || {
            format!(
                "when the store fails, the shop should answer 503 with a JSON error (try \
                 again), but answered {} {}",
                answer.status,
                answer.text()
            )
        },
    );
}

/// `POST /carts/{cart_id}/submit` with the `Idempotency-Key` `key`.
pub fn submit_with_key(
    http: &HttpClient,
    cart_id: &str,
    key: &str,
    deliver_to: &str,
) -> Result<HttpResponse, Error> {
    http.with_header("Idempotency-Key", &format!("\"{key}\""))
        .post_json(
            &format!("/carts/{cart_id}/submit"),
            &json!({ "deliver_to": deliver_to }),
        )
}

/// Ola's other tab puts z kapustą into the cart (line `l-2`); the shop's
/// answer.
pub fn other_tab_adds_an_item(sim: &Sim, http: &HttpClient, cart_id: &str) -> HttpResponse {
    let actor = sim.actor();
    sim.set_actor("Ola's other tab");
    let path = format!("/carts/{cart_id}/items/l-2");
    let added = http.put_json(&path, &json!({ "name": "z kapustą" }));
    sim.set_actor(&actor);
    added.unwrap()
}
