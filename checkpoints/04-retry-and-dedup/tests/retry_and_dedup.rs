//! Exercise 04: a submit only puts a `SendSubmitOrder` command on the shop's
//! own queue, and the broker retries its handler until it succeeds. A
//! duplicate command, a `SubmitOrder` sent again, a lost acknowledgement and
//! a redelivery after the lease ran out must all end in exactly one order,
//! and nothing in a dead-letter queue. The HTTP API keeps everything
//! exercises 02 and 03 promised.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::http::{HttpClient, HttpResponse, serve_on_loopback};
use harness::{
    Broker, Envelope, Error, EventKind, Explorer, Failure, Fault, FaultPoint, FaultRule,
    MessageRef, SCRIPT_VARIABLE, Sim, Violation, World,
};
use retry_and_dedup::client::ShopClient;
use retry_and_dedup::http::{MAX_BODY_BYTES, router};
use retry_and_dedup::orders::Orders;
use retry_and_dedup::{ORDERS_QUEUE, SHOP_QUEUE, Shop, SubmitOrder};
use serde_json::{Value, json};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 4;

/// The shop, the broker, and the Orders service behind it.
struct Town {
    shop: Shop,
    orders: Orders,
    broker: Broker,
    world: World,
}

impl Town {
    /// Lets the broker deliver every message: the shop's handler and Orders
    /// handle them all, retries included.
    fn deliver(&mut self) {
        self.world.run_until_quiet(1_000).unwrap();
    }

    /// Every copy of `SubmitOrder` the shop sent for the cart.
    fn submit_orders(&self, cart_id: &str) -> Vec<SubmitOrder> {
        let sent = self.broker.sent_to(ORDERS_QUEUE).unwrap();
        sent.iter()
            .filter_map(|message| message.body::<SubmitOrder>().ok())
            .filter(|submit| submit.cart_id == cart_id)
            .collect()
    }

    /// How many orders Orders made from the cart, once every message is in.
    fn order_count(&mut self, cart_id: &str) -> usize {
        self.deliver();
        self.orders.of_cart(cart_id).unwrap().len()
    }

    /// Every message given up on, in the shop's queue and in Orders' queue,
    /// and why.
    fn dead_letters(&self, sim: &Sim) -> Vec<(MessageRef, String)> {
        let mut dead = Vec::new();
        for queue in [SHOP_QUEUE, ORDERS_QUEUE] {
            for letter in self.broker.dead_letters(queue).unwrap() {
                dead.push((sim.message_ref(&letter.envelope), letter.reason));
            }
        }
        dead
    }
}

/// A fresh town, a raw HTTP client for the shop, and the shop's app.
fn open_shop(sim: &Sim) -> (Town, HttpClient, ShopClient) {
    let broker = Broker::new(sim);
    let shop = Shop::new(sim, &broker);
    let orders = Orders::new(sim);
    let mut world = World::new(sim, &broker);
    shop.add_to(&mut world);
    orders.add_to(&mut world);
    let http = HttpClient::in_process(sim, "shop", router(shop.clone(), orders.clone()));
    let app = ShopClient::new(sim, http.clone());
    let town = Town {
        shop,
        orders,
        broker,
        world,
    };
    (town, http, app)
}

/// Ola's cart with ruskie in it, made through the app.
fn olas_cart(sim: &Sim, app: &ShopClient) -> String {
    sim.set_actor("Ola's app");
    let cart_id = app.create_cart("ola").unwrap();
    app.add_item(&cart_id, "ruskie").unwrap();
    sim.set_actor("test");
    cart_id
}

/// The `SubmitOrder` the shop sends for Ola's cart `c-1`.
fn olas_submit_order() -> SubmitOrder {
    SubmitOrder {
        cart_id: "c-1".to_string(),
        customer: "ola".to_string(),
        items: vec!["ruskie".to_string()],
        deliver_to: "Rynek 1".to_string(),
    }
}

/// A failure report: what went wrong in the course's words, the steps of
/// the run, the seed, the replay command and a sequence diagram on disk.
fn explain(sim: &Sim, test: &str, what: &str) -> String {
    Failure::new(sim, what).test_name(test).finish()
}

/// The same, pointing at the steps about some messages (`m3`).
fn explain_pointing_at(sim: &Sim, test: &str, what: &str, messages: &[String]) -> String {
    let mut failure = Failure::new(sim, what).test_name(test);
    for message in messages {
        failure = failure.highlight_message(message);
    }
    failure.finish()
}

/// The same, pointing at every `SubmitOrder` sent and every order written.
fn explain_orders(sim: &Sim, test: &str, what: &str) -> String {
    let mut failure = Failure::new(sim, what).test_name(test);
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
    failure.finish()
}

/// The `error` message of a JSON error body, if the body is one.
fn error_message(response: &HttpResponse) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    body["error"].as_str().map(str::to_string)
}

fn is_write(point: &FaultPoint) -> bool {
    point.name.ends_with(".put") || point.name.ends_with(".batch")
}

fn submit_with_key(
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

/// Ola's other tab puts z kapustą into the cart; the shop's answer.
fn other_tab_adds_an_item(sim: &Sim, http: &HttpClient, cart_id: &str) -> HttpResponse {
    let actor = sim.actor();
    sim.set_actor("Ola's other tab");
    let path = format!("/carts/{cart_id}/items/l-2");
    let added = http.put_json(&path, &json!({ "name": "z kapustą" }));
    sim.set_actor(&actor);
    added.unwrap()
}

/// An answer's status (or its absence).
fn status_text(answer: &Result<HttpResponse, Error>) -> String {
    match answer {
        Ok(response) => response.status.to_string(),
        Err(err) => format!("no answer ({err})"),
    }
}

/// The labels (`m3`) of the messages of one type the broker took, in order.
fn labels_of(sim: &Sim, broker: &Broker, queue: &str) -> Vec<String> {
    broker
        .sent_to(queue)
        .unwrap()
        .iter()
        .map(|message| sim.label(message.id))
        .collect()
}

// ----- exercise 04: retries are automatic, duplicates are harmless -----

#[test]
fn duplicate_command_is_acked_not_dead_lettered() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, _http, app) = open_shop(&sim);
    let test = "duplicate_command_is_acked_not_dead_lettered";
    let cart_id = olas_cart(&sim, &app);
    sim.note("the broker takes SendSubmitOrder, but its answer is lost: the app retries");
    sim.inject(FaultRule::at("broker.shop.send").fail_after());
    sim.set_actor("Ola's app");
    let submitted = app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    town.deliver();
    let orders = town.orders.of_cart(&cart_id).unwrap().len();
    let dead = town.dead_letters(&sim);
    let commands = labels_of(&sim, &town.broker, SHOP_QUEUE);
    let dead_labels: Vec<String> = dead.iter().map(|(what, _)| what.label.clone()).collect();
    let dead_text: Vec<String> = dead
        .iter()
        .map(|(what, reason)| format!("{what}: {reason}"))
        .collect();
    assert!(
        submitted.is_ok() && dead.is_empty() && orders == 1,
        "{}",
        explain_pointing_at(
            &sim,
            test,
            &format!(
                "a duplicate command was dead-lettered: the shop's queue got SendSubmitOrder \
                 {} times ({}) because the app retried a submit whose answer was lost; the \
                 first copy made the order (Orders has {orders} for the cart), and the handler \
                 failed the next one for good ({}). A duplicate is not an error — its work is done. \
                 Acknowledge it and do nothing: a dead-letter queue is for messages someone \
                 must look at, and replaying this one would be wrong (Ola's app was told {})",
                commands.len(),
                commands.join(", "),
                dead_text.join("; "),
                status_text(&submitted)
            ),
            &dead_labels
        )
    );
}

#[test]
fn flag_persisted_only_after_send_left() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, _http, app) = open_shop(&sim);
    let test = "flag_persisted_only_after_send_left";
    let cart_id = olas_cart(&sim, &app);
    sim.note("the broker refuses the first SubmitOrder");
    sim.inject(FaultRule::at("broker.orders.send").fail_before());
    sim.set_actor("Ola's app");
    let submitted = app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    town.deliver();
    let sent = town.submit_orders(&cart_id).len();
    let orders = town.orders.of_cart(&cart_id).unwrap().len();
    let cart = town.shop.cart(&cart_id).unwrap().unwrap_or_default();
    assert!(
        submitted.is_ok() && sent >= 1 && orders >= 1,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "lost submission: Ola's app was told {}, the cart says submitted = {}, yet \
                 {sent} SubmitOrder reached the broker and Orders made {orders} orders. The \
                 handler saved `submitted` and returned; only then did the world send the \
                 SubmitOrder it had held back — and that send failed. The broker gave the \
                 command back, and the retry found the cart submitted and did not send again. \
                 A flag that says \"sent\" may only be saved once the message has left",
                status_text(&submitted),
                cart.submitted
            )
        )
    );
}

#[test]
fn sender_side_duplicates_create_one_order() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, _http, _app) = open_shop(&sim);
    let test = "sender_side_duplicates_create_one_order";
    // The test plays the shop: it sends SubmitOrder, is told the send
    // failed although the broker took it, and sends it again — a new
    // message with a new id, for the same cart.
    sim.set_actor("shop");
    sim.note("sends SubmitOrder for cart c-1; the broker takes it, but its answer is lost");
    sim.inject(FaultRule::at("broker.orders.send").fail_after());
    let mut attempts = 0;
    loop {
        attempts += 1;
        let copy = Envelope::new(sim.new_message_id(), "SubmitOrder", &olas_submit_order());
        if town.broker.send(ORDERS_QUEUE, copy).is_ok() || attempts == 3 {
            break;
        }
        sim.note("no answer from the broker: sends SubmitOrder again");
    }
    sim.set_actor("test");
    let orders = town.order_count("c-1");
    let copies = labels_of(&sim, &town.broker, ORDERS_QUEUE);
    assert!(
        orders == 1,
        "{}",
        explain_orders(
            &sim,
            test,
            &format!(
                "duplicate order: the shop sent SubmitOrder for cart c-1 {} times ({}: two \
                 messages with different ids, because the broker's answer to the first was \
                 lost), and Orders made {orders} orders from them. Ola gets her ruskie twice, \
                 and pays twice. Both copies name the same cart: let that decide which order \
                 they make, so that the second one finds it made",
                copies.len(),
                copies.join(" and ")
            )
        )
    );
}

/// Orders on two workers, and a slow database: its first call takes 40 s,
/// longer than the 30 s lease on the message. The broker hands the same
/// `SubmitOrder` to the second worker while the first is still on it.
fn slow_database_scenario(sim: &Sim) -> Result<(), Violation> {
    let broker = Broker::new(sim);
    let orders = Orders::new(sim);
    let mut world = World::new(sim, &broker);
    orders.add_to(&mut world);
    world.set_workers(ORDERS_QUEUE, 2).unwrap();
    sim.note("the orders database is slow: its first call takes 40 s, the lease lasts 30 s");
    sim.inject(FaultRule::at("kv.orders.*").delay(Duration::from_secs(40)));
    sim.set_actor("shop");
    let submit = Envelope::new(sim.new_message_id(), "SubmitOrder", &olas_submit_order());
    let label = sim.message_ref(&submit);
    world.send(ORDERS_QUEUE, submit).unwrap();
    sim.set_actor("test");
    if let Err(err) = world.run_until_quiet(1_000) {
        let headline = format!("the world did not settle: {err}");
        return Err(Violation::new("terminates", &headline, vec![label], sim));
    }
    let made = orders.of_cart("c-1").unwrap();
    let dead = broker.dead_letters(ORDERS_QUEUE).unwrap();
    if made.len() == 1 && dead.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = made.iter().map(|order| order.id.as_str()).collect();
    let mut headline = format!(
        "{}: one message, {label}, was handled twice — the first handling waited 40 s for the \
         slow database, its 30 s lease ran out, and the broker handed the same message out \
         again, to whichever worker was free (maybe while the first was still running) — and \
         Orders made {} orders {ids:?}. Two handlings at the same time can both find \"no \
         order yet\": only the store's own write can refuse the second",
        if made.is_empty() {
            "lost order"
        } else {
            "duplicate order"
        },
        made.len()
    );
    if let Some(letter) = dead.first() {
        headline = format!(
            "the redelivered {label} was dead-lettered ({}) — Orders made {} orders {ids:?}. \
             A copy of a message that is done already must be acknowledged, not given up",
            letter.reason,
            made.len()
        );
    }
    Err(Violation::new(
        "one order per cart, nothing dead-lettered",
        &headline,
        vec![label],
        sim,
    ))
}

/// Runs `scenario` under every schedule the world can take (the explorer)
/// and fails with the shortest that breaks it. A replay command names one
/// schedule (`HARNESS_SCRIPT`); then only that one runs.
fn explore(scenario: fn(&Sim) -> Result<(), Violation>) {
    let sim = Sim::from_env_or(SEED);
    if std::env::var(SCRIPT_VARIABLE).is_ok() {
        if let Err(violation) = scenario(&sim) {
            violation.panic();
        }
        return;
    }
    let report = Explorer::new(scenario).seed(sim.seed()).run();
    assert!(report.exhausted, "{report}");
    report.assert_no_violation();
}

#[test]
fn lease_expiry_redelivery_creates_one_order() {
    explore(slow_database_scenario);
}

#[test]
fn automatic_retries_converge() {
    // Eight customers submit while the broker or a store fails, one way per
    // customer; how often (once or twice) is drawn from the seed. The broker
    // retries whatever failed. Every cart must end with exactly one order,
    // holding what the cart holds, and nothing in a dead-letter queue.
    let sim = Sim::from_env_or(SEED);
    let (mut town, _http, app) = open_shop(&sim);
    let test = "automatic_retries_converge";
    let storms = [
        ("broker.shop.send", Fault::FailBefore),
        ("kv.shop.batch", Fault::FailBefore),
        ("broker.orders.send", Fault::Duplicate),
        ("kv.orders.put", Fault::FailAfter),
        ("broker.shop.send", Fault::FailAfter),
        ("broker.orders.send", Fault::FailBefore),
        ("broker.orders.send", Fault::FailAfter),
        ("kv.shop.batch", Fault::FailAfter),
    ];
    let customers = ["ola", "bob", "ewa", "jan", "ala", "tom", "iza", "max"];
    let mut story = Vec::new();
    for (customer, (point, fault)) in customers.into_iter().zip(storms) {
        sim.set_actor(&format!("{customer}'s app"));
        let cart_id = app.create_cart(customer).unwrap();
        app.add_item(&cart_id, "ruskie").unwrap();
        let times = 1 + sim.random_below(2) as u32;
        // The faults strike only while this customer's submit is handled.
        let storm = Arc::new(AtomicBool::new(true));
        let during = storm.clone();
        sim.note(&format!("{point} fails {times} times ({fault:?})"));
        sim.inject(
            FaultRule::at(point)
                .when(move |_| during.load(Ordering::SeqCst))
                .times(times)
                .inject(fault),
        );
        let submitted = app.submit(&cart_id, "Rynek 1");
        sim.set_actor("test");
        town.deliver();
        storm.store(false, Ordering::SeqCst);
        let told = status_text(&submitted);
        story.push((
            customer,
            cart_id,
            format!("{point} {fault:?} ×{times}"),
            told,
        ));
    }
    let mut wrong = Vec::new();
    for (customer, cart_id, faults, told) in &story {
        let orders = town.orders.of_cart(cart_id).unwrap();
        let cart = town.shop.cart(cart_id).unwrap().unwrap_or_default();
        let items: Vec<String> = cart.lines.iter().map(|line| line.name.clone()).collect();
        let failure = match orders.len() {
            0 => "lost submission: no order",
            1 if orders[0].items == items => continue,
            1 => "the order holds other pierogi than the cart",
            _ => "duplicate order",
        };
        wrong.push(format!(
            "{customer} ({faults}; the app was told {told}): {failure} — {} orders",
            orders.len()
        ));
    }
    for (message, reason) in town.dead_letters(&sim) {
        wrong.push(format!(
            "{message} was dead-lettered: {reason} — a retried or duplicate message must \
             be handled or acknowledged, never given up"
        ));
    }
    assert!(
        wrong.is_empty(),
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "after the broker retried everything, {} things are wrong:\n      {}",
                wrong.len(),
                wrong.join("\n      ")
            )
        )
    );
}

#[test]
fn lost_acknowledgement_of_submit_order_creates_one_order() {
    // The broker takes the first SubmitOrder but the shop's handler is told
    // the send failed: the handler fails and the broker runs it again.
    let sim = Sim::from_env_or(SEED);
    let (mut town, _http, app) = open_shop(&sim);
    let test = "lost_acknowledgement_of_submit_order_creates_one_order";
    let cart_id = olas_cart(&sim, &app);
    sim.note("the broker takes the first SubmitOrder, but its answer is lost");
    sim.inject(FaultRule::at("broker.orders.send").fail_after());
    sim.set_actor("Ola's app");
    let submitted = app.submit(&cart_id, "Rynek 1");
    sim.set_actor("test");
    let orders = town.order_count(&cart_id);
    let copies = labels_of(&sim, &town.broker, ORDERS_QUEUE);
    assert!(
        submitted.is_ok() && orders == 1,
        "{}",
        explain_orders(
            &sim,
            test,
            &format!(
                "{} order: the broker took SubmitOrder but the shop's handler was told the \
                 send failed, so the broker ran the handler again and it sent SubmitOrder \
                 again — {} copies ({}) — and Orders made {orders} orders. A sender that \
                 cannot tell \"lost\" from \"sent\" sends again: the receiver must make the \
                 second copy harmless",
                if orders == 0 { "no" } else { "duplicate" },
                copies.len(),
                copies.join(", ")
            )
        )
    );
}

// ----- still true from exercise 03: no ghost, a frozen cart -----

#[test]
fn no_ghost_submit_order() {
    // The store fails each write of the shop's handler in turn. Whenever a
    // SubmitOrder leaves, the cart must be durably accepted: frozen.
    for nth in 1..=3 {
        let sim = Sim::from_env_or(SEED);
        let (mut town, http, app) = open_shop(&sim);
        let test = "no_ghost_submit_order";
        let cart_id = olas_cart(&sim, &app);
        sim.note(&format!("the store fails write #{nth} of the submit"));
        sim.inject(
            FaultRule::at("kv.shop.*")
                .when(is_write)
                .nth(nth)
                .fail_before(),
        );
        // A probe at every send of SubmitOrder: is the cart accepted now?
        let seen: Arc<Mutex<Vec<bool>>> = Arc::default();
        let (probe, shop, probed_cart) = (seen.clone(), town.shop.clone(), cart_id.clone());
        sim.inject(
            FaultRule::at("broker.orders.send")
                .always()
                .interleave(move || {
                    let cart = shop.cart(&probed_cart).ok().flatten();
                    let accepted = cart.is_some_and(|cart| cart.accepted);
                    probe.lock().unwrap().push(accepted);
                }),
        );
        let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
        town.deliver();
        let seen = seen.lock().unwrap().clone();
        assert!(
            first.status == 202 && !seen.is_empty() && seen.iter().all(|accepted| *accepted),
            "{}",
            explain(
                &sim,
                test,
                &format!(
                    "ghost SubmitOrder: with write #{nth} of the submit failing, the submit \
                     answered {} and SubmitOrder left {} times; the cart was accepted in the \
                     store at those moments: {seen:?}. A SubmitOrder for a cart that is not \
                     accepted orders something the shop never decided: save the decision \
                     before the message leaves",
                    first.status,
                    seen.len()
                )
            )
        );
    }
}

#[test]
fn cart_is_frozen_once_accepted() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let test = "cart_is_frozen_once_accepted";
    let cart_id = olas_cart(&sim, &app);
    // Ola's other tab adds z kapustą just as the shop sends SubmitOrder.
    let added: Arc<Mutex<Option<HttpResponse>>> = Arc::default();
    let (slot, tab_sim, tab_http, tab_cart) =
        (added.clone(), sim.clone(), http.clone(), cart_id.clone());
    sim.inject(FaultRule::at("broker.orders.send").interleave(move || {
        *slot.lock().unwrap() = Some(other_tab_adds_an_item(&tab_sim, &tab_http, &tab_cart));
    }));
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    town.deliver();
    let added = added.lock().unwrap().take();
    let sent = town.submit_orders(&cart_id);
    let orders = town.orders.of_cart(&cart_id).unwrap();
    let refused = added
        .as_ref()
        .is_some_and(|added| added.status == 409 && error_message(added).is_some());
    assert!(
        first.status == 202
            && refused
            && !sent.is_empty()
            && sent.iter().all(|copy| copy.items == ["ruskie"])
            && orders.iter().all(|order| order.items == ["ruskie"]),
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "the cart changed after it was accepted: while the shop sent SubmitOrder, \
                 Ola's other tab added z kapustą and got {}. The shop sent {sent:?} and \
                 Orders made {orders:?}. A copy sent before the change and one sent after \
                 would order different pierogi — once accepted, the cart must refuse changes \
                 with 409 and a JSON error",
                added
                    .as_ref()
                    .map(|added| format!("{} {}", added.status, added.text()))
                    .unwrap_or_else(|| "no chance to try".to_string())
            )
        )
    );
}

// ----- identity chosen by the client -----

#[test]
fn lost_response_does_not_create_two_carts() {
    let sim = Sim::from_env_or(SEED);
    let (town, _http, app) = open_shop(&sim);
    let test = "lost_response_does_not_create_two_carts";
    sim.inject(FaultRule::at("http.shop.*").fail_after());
    sim.set_actor("Ola's app");
    let created = app.create_cart("ola");
    sim.set_actor("test");
    let carts = town.shop.document_count();
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
    let (town, _http, app) = open_shop(&sim);
    let test = "lost_response_does_not_add_an_item_twice";
    sim.set_actor("Ola's app");
    let cart_id = app.create_cart("ola").unwrap();
    sim.inject(FaultRule::at("http.shop.*").fail_after());
    let added = app.add_item(&cart_id, "ruskie");
    sim.set_actor("test");
    let lines = town
        .shop
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
    let (town, http, _app) = open_shop(&sim);
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
    let lines = town
        .shop
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
    let (town, http, _app) = open_shop(&sim);
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
    let cart = town.shop.cart("c-1").unwrap().unwrap_or_default();
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

// ----- submitting with an Idempotency-Key -----

#[test]
fn submit_answers_202_with_a_location_to_poll() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let test = "submit_answers_202_with_a_location_to_poll";
    let cart_id = olas_cart(&sim, &app);
    let response = app.submit(&cart_id, "Rynek 1, Kraków").unwrap();
    let location = response.header("Location").unwrap_or_default().to_string();
    sim.note("the broker delivers SubmitOrder to Orders; then the app polls");
    town.deliver();
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
    let (mut town, http, app) = open_shop(&sim);
    let test = "retry_with_the_same_key_replays_the_answer";
    let cart_id = olas_cart(&sim, &app);
    sim.inject(FaultRule::at("http.shop.post").fail_after());
    sim.note("Ola submits; the shop does it, but its answer is lost");
    let lost = submit_with_key(&http, &cart_id, "k-1", "Rynek 1");
    sim.note("the app retries with the same Idempotency-Key");
    let retry = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.note("the shop handles the commands; then the app sends the submit once more");
    town.deliver();
    let again = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    let orders = town.order_count(&cart_id);
    assert!(
        lost.is_err() && retry.status == 202 && orders == 1,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "the submit went through but its answer was lost; the retry with the same \
                 Idempotency-Key got {} {} and the cart has {orders} orders — the retry should \
                 get the original answer again (202), and nothing should run twice",
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
    let (mut town, http, app) = open_shop(&sim);
    let test = "same_key_with_another_payload_is_422";
    let cart_id = olas_cart(&sim, &app);
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    town.deliver();
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
    town.deliver();
    let orders = town.orders.of_cart(&cart_id).unwrap();
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
    let (mut town, http, app) = open_shop(&sim);
    let test = "twin_still_in_flight_gets_409";
    let cart_id = olas_cart(&sim, &app);

    // The twin arrives while the first request is still working: right
    // before it queues its command.
    let twin_answer: Arc<Mutex<Option<Result<HttpResponse, Error>>>> = Arc::default();
    let (twin_http, twin_sim, twin_cart, slot) = (
        http.clone(),
        sim.clone(),
        cart_id.clone(),
        twin_answer.clone(),
    );
    sim.inject(FaultRule::at("broker.shop.send").interleave(move || {
        twin_sim.set_actor("twin");
        twin_sim.note("a retry with the same key arrives while the first request is still running");
        *slot.lock().unwrap() = Some(submit_with_key(&twin_http, &twin_cart, "k-1", "Rynek 1"));
        twin_sim.set_actor("first");
    }));
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
    let orders = town.order_count(&cart_id);
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
    let (mut town, http, app) = open_shop(&sim);
    let test = "missing_idempotency_key_is_400";
    let cart_id = olas_cart(&sim, &app);
    let response = http
        .post_json(
            &format!("/carts/{cart_id}/submit"),
            &json!({ "deliver_to": "Rynek 1" }),
        )
        .unwrap();
    let message = error_message(&response).unwrap_or_default();
    let orders = town.order_count(&cart_id);
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
fn broker_failure_at_submit_is_503_and_a_retry_gets_the_order() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let test = "broker_failure_at_submit_is_503_and_a_retry_gets_the_order";
    let cart_id = olas_cart(&sim, &app);
    sim.note("the broker refuses the shop's SendSubmitOrder command");
    sim.inject(FaultRule::at("broker.shop.send").fail_before());
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    sim.note("the app retries with the same key");
    let retry = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    let orders = town.order_count(&cart_id);
    assert!(
        first.status == 503
            && error_message(&first).is_some()
            && retry.status == 202
            && orders == 1,
        "{}",
        explain(
            &sim,
            test,
            &format!(
                "the broker refused the submit's command: the shop answered {} {}, the retry                  with the same key got {} {}, and the cart has {orders} orders — the first                  answer should be 503 with a JSON error (nothing is queued: try again), the                  retry 202, and Orders should make one order",
                first.status,
                first.text(),
                retry.status,
                retry.text()
            )
        )
    );
}

#[test]
fn a_new_submit_of_a_submitted_cart_is_409() {
    let sim = Sim::from_env_or(SEED);
    let (mut town, http, app) = open_shop(&sim);
    let test = "a_new_submit_of_a_submitted_cart_is_409";
    let cart_id = olas_cart(&sim, &app);
    let first = submit_with_key(&http, &cart_id, "k-1", "Rynek 1").unwrap();
    town.deliver();
    sim.note("Ola clicks Submit again: a new click, a new key");
    let second = submit_with_key(&http, &cart_id, "k-2", "Rynek 1").unwrap();
    let orders = town.order_count(&cart_id);
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

// ----- every mistake gets a clear 4xx with a JSON error -----

/// Asserts a 4xx answer with a JSON error whose message contains `hint`.
fn assert_json_error(
    sim: &Sim,
    test: &str,
    what: &str,
    response: &HttpResponse,
    status: u16,
    hint: &str,
) {
    let message = error_message(response).unwrap_or_default();
    assert!(
        response.status == status && message.to_lowercase().contains(hint),
        "{}",
        explain(
            sim,
            test,
            &format!(
                "{what} should get {status} with a JSON body {{\"error\": \"...{hint}...\"}}, \
                 but got {} {}",
                response.status,
                response.text()
            )
        )
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
    assert_json_error(
        &sim,
        "malformed_json_is_400_with_a_json_error",
        "a submit with broken JSON",
        &response,
        400,
        "json",
    );
}

#[test]
fn unknown_cart_is_404_with_a_json_error() {
    let sim = Sim::from_env_or(SEED);
    let (_town, http, _app) = open_shop(&sim);
    let test = "unknown_cart_is_404_with_a_json_error";
    let response = http.get("/carts/no-such-cart").unwrap();
    assert_json_error(
        &sim,
        test,
        "GET of an unknown cart",
        &response,
        404,
        "no-such-cart",
    );
    let response = submit_with_key(&http, "no-such-cart", "k-1", "Rynek 1").unwrap();
    assert_json_error(
        &sim,
        test,
        "a submit of an unknown cart",
        &response,
        404,
        "cart",
    );
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
        "oversized_body_is_413_with_a_json_error",
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
    let test = "wrong_method_is_405_and_unknown_path_is_404_with_a_json_error";
    let cart_id = olas_cart(&sim, &app);
    let response = http.delete(&format!("/carts/{cart_id}")).unwrap();
    assert_json_error(&sim, test, "DELETE of a cart", &response, 405, "method");
    let response = http.get("/pierogi").unwrap();
    assert_json_error(
        &sim,
        test,
        "GET /pierogi",
        &response,
        404,
        "no such resource",
    );
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
