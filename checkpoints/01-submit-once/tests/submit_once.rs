//! Exercise 01: a cart is submitted exactly once, whatever the customer
//! clicks and whatever the store does.

use std::sync::{Arc, Mutex};

use harness::{FaultRule, Sim, ensure, ensure_eq};
use shop::testing::front::{bound_calls, is_write};
use submit_once::{Carts, SubmitError, submit};

/// The default seed; `HARNESS_SEED=<n>` replaces it (the replay command
/// printed with a failure sets it).
const SEED: u64 = 1;

/// Ola's cart with two pierogi in it, in a fresh shop.
fn olas_cart(sim: &Sim) -> Carts {
    let carts = Carts::new(sim);
    carts.create_cart("cart-1", "ola").unwrap();
    carts.add_item("cart-1", "ruskie").unwrap();
    carts.add_item("cart-1", "z kapustą").unwrap();
    sim.note("Ola's cart cart-1 holds ruskie and z kapustą");
    carts
}

fn order_count(carts: &Carts) -> usize {
    carts.orders("cart-1").unwrap().len()
}

#[test]
fn submit_creates_an_order_with_the_cart_items() {
    let sim = Sim::from_env_or(SEED);
    let carts = olas_cart(&sim);
    let result = submit(&carts, "cart-1");
    ensure(result.is_ok(), &sim, || {
        format!("submitting Ola's cart should create her order; submit returned {result:?}")
    });
    let orders = carts.orders("cart-1").unwrap();
    let content: Vec<(&str, &[String])> = orders
        .iter()
        .map(|order| (order.customer.as_str(), order.items.as_slice()))
        .collect();
    let expected = ["ruskie".to_string(), "z kapustą".to_string()];
    ensure_eq(
        content,
        vec![("ola", &expected[..])],
        &sim,
        || "Ola's cart should become one order, hers, with the cart's items",
    );
}

#[test]
fn unknown_cart_is_not_found() {
    let sim = Sim::from_env_or(SEED);
    let result = submit(&Carts::new(&sim), "no-such-cart");
    ensure(matches!(result, Err(SubmitError::NotFound)), &sim, || {
        format!(
            "submitting a cart that does not exist should say NotFound, but returned {result:?}"
        )
    });
}

#[test]
fn double_submit_creates_one_order() {
    let sim = Sim::from_env_or(SEED);
    let carts = olas_cart(&sim);
    sim.note("Ola clicks Submit");
    let first = submit(&carts, "cart-1");
    sim.note("Ola clicks Submit again");
    let second = submit(&carts, "cart-1");

    ensure(first.is_ok(), &sim, || {
        format!("the first submit failed: {first:?}")
    });
    let orders = order_count(&carts);
    ensure(orders == 1, &sim, || {
        format!(
            "double submit created {orders} orders for cart cart-1 — a duplicate order: \
             the second submit did not see that the cart was already submitted"
        )
    });
    ensure(
        matches!(second, Err(SubmitError::AlreadySubmitted)),
        &sim,
        || {
            format!(
                "the second submit should be refused with AlreadySubmitted (so that the page \
                 can say \"you have already ordered\"), but it returned {second:?}"
            )
        },
    );
    // The same second click, while the store refuses each of its reads in
    // turn: a submit that cannot read the cart cannot know it is new.
    for nth in 1..=4 {
        let Some((sim, second, orders)) = second_click_with_a_failed_read(nth) else {
            break; // the submit makes fewer reads: every failure is covered
        };
        ensure(orders == 1 && second.is_err(), &sim, || {
            format!(
                "the store failed read #{nth} of the second submit, which returned {second:?}, \
                 and cart cart-1 has {orders} orders — a duplicate order: a read that failed \
                 says nothing about the cart, so the submit must fail, not go on as if the \
                 cart were new"
            )
        });
    }
}

/// Tab 2 submits the whole cart at the moment `rule` picks in tab 1's
/// submit; returns tab 1's and tab 2's results (`None` for tab 2 if the
/// moment never came).
fn race(
    sim: &Sim,
    carts: &Carts,
    rule: harness::FaultRuleBuilder,
) -> (
    Result<String, SubmitError>,
    Option<Result<String, SubmitError>>,
) {
    let tab_2_result: Arc<Mutex<Option<Result<String, SubmitError>>>> = Arc::default();
    let (tab_2, tab_2_sim, slot) = (carts.clone(), sim.clone(), tab_2_result.clone());
    sim.inject(rule.interleave(move || {
        tab_2_sim.set_actor("tab 2");
        tab_2_sim.note("tab 2 submits the cart");
        let result = submit(&tab_2, "cart-1");
        *slot.lock().unwrap() = Some(result);
        tab_2_sim.set_actor("tab 1");
    }));
    sim.set_actor("tab 1");
    let tab_1 = submit(carts, "cart-1");
    sim.set_actor("test");
    let tab_2 = tab_2_result.lock().unwrap().take();
    (tab_1, tab_2)
}

/// One order, with the cart's items; one tab succeeded and the other was
/// refused.
fn check_one_winner(
    sim: &Sim,
    carts: &Carts,
    moment: &str,
    tab_1: &Result<String, SubmitError>,
    tab_2: &Result<String, SubmitError>,
) {
    let orders = carts.orders("cart-1").unwrap();
    ensure(orders.len() == 1, sim, || {
        format!(
            "two tabs racing created {} orders for cart cart-1 — a duplicate order: tab 2 \
             submitted {moment}, and tab 1's write did not check that the cart was still \
             the version it had read",
            orders.len()
        )
    });
    let winners = [tab_1, tab_2].iter().filter(|r| r.is_ok()).count();
    let loser_refused = [tab_1, tab_2].iter().any(|r| {
        matches!(
            r,
            Err(SubmitError::Conflict) | Err(SubmitError::AlreadySubmitted)
        )
    });
    ensure(winners == 1 && loser_refused, sim, || {
        format!(
            "exactly one tab should succeed and the other be refused (Conflict or \
             AlreadySubmitted); tab 2 submitted {moment}, tab 1 got {tab_1:?}, tab 2 got \
             {tab_2:?}"
        )
    });
}

/// The first submit succeeds; the store then refuses read #`nth` of the
/// second. Returns the second submit's result and the number of orders;
/// `None` when the second submit makes fewer reads.
fn second_click_with_a_failed_read(nth: u32) -> Option<(Sim, Result<String, SubmitError>, usize)> {
    let sim = Sim::from_env_or(SEED);
    let carts = olas_cart(&sim);
    submit(&carts, "cart-1").ok()?;
    sim.note(&format!(
        "Ola clicks Submit again; the store fails read #{nth}"
    ));
    let struck = Arc::new(Mutex::new(false));
    let seen = struck.clone();
    // Only the second submit's reads count, not the test's own.
    let during = Arc::new(Mutex::new(true));
    let (probe_during, fault_during) = (during.clone(), during.clone());
    let reading = move |point: &harness::FaultPoint, during: &Mutex<bool>| {
        *during.lock().unwrap() && !is_write(point)
    };
    let probe = FaultRule::at("kv.shop.*").when(move |point| reading(point, &probe_during));
    sim.inject(probe.nth(nth).interleave(move || {
        *seen.lock().unwrap() = true;
    }));
    let fault = FaultRule::at("kv.shop.*").when(move |point| reading(point, &fault_during));
    sim.inject(fault.nth(nth).fail_before());
    let second = submit(&carts, "cart-1");
    *during.lock().unwrap() = false;
    let orders = order_count(&carts);
    let struck = *struck.lock().unwrap();
    struck.then_some((sim, second, orders))
}

#[test]
fn racing_tabs_create_one_order() {
    // Tab 2 submits right between tab 1's read of the cart and its first
    // write; then, in fresh shops, right before each of tab 1's store calls.
    let sim = Sim::from_env_or(SEED);
    let carts = olas_cart(&sim);
    let first_write = FaultRule::at("kv.shop.*").when(is_write);
    let (tab_1, tab_2) = race(&sim, &carts, first_write);
    ensure(
        tab_2.is_some(),
        &sim,
        || "tab 1's submit never wrote to the store",
    );
    let moment = "between tab 1's read and its write";
    check_one_winner(&sim, &carts, moment, &tab_1, &tab_2.unwrap());
    for nth in 1..=6 {
        let sim = Sim::from_env_or(SEED);
        let carts = olas_cart(&sim);
        let (tab_1, tab_2) = race(&sim, &carts, FaultRule::at("kv.shop.*").nth(nth));
        let Some(tab_2) = tab_2 else {
            break; // tab 1 makes fewer store calls: every moment is covered
        };
        let moment = format!("right before tab 1's store call #{nth}");
        check_one_winner(&sim, &carts, &moment, &tab_1, &tab_2);
        let order = &carts.orders("cart-1").unwrap()[0];
        let cart = carts.cart("cart-1").unwrap().unwrap_or_default();
        ensure(order.items == cart.items(), &sim, || {
            format!(
                "tab 2 submitted {moment}; the order holds {:?} but the cart {:?}: the order \
                 must be made from the cart as it was written",
                order.items,
                cart.items()
            )
        });
    }
}

/// Submits with a fault on the `nth` write of the submit; `None` when the
/// submit has fewer writes (nothing struck).
fn submit_with_fault(sim: &Sim, carts: &Carts, nth: u32, fail_after: bool) -> Option<SubmitError> {
    let rule = FaultRule::at("kv.shop.*").when(is_write).nth(nth);
    sim.inject(if fail_after {
        rule.fail_after()
    } else {
        rule.fail_before()
    });
    submit(carts, "cart-1").err()
}

#[test]
fn failed_write_leaves_no_half_submitted_cart() {
    // A crash at each write of the submit in turn: the store refuses the
    // write and nothing of it happens.
    for nth in 1..=5 {
        let sim = Sim::from_env_or(SEED);
        let carts = olas_cart(&sim);
        sim.note(&format!("the store fails write #{nth} of the submit"));
        let Some(err) = submit_with_fault(&sim, &carts, nth, false) else {
            break; // the submit has fewer writes: every crash point is covered
        };
        let orders = order_count(&carts);
        ensure(orders == 0, &sim, || {
            format!(
                "the submit failed at its write #{nth} ({err:?}) but an order exists: \
                 part of the submit was written and part was not — the cart and the \
                 order must be written in one atomic batch"
            )
        });
        sim.note("Ola sees an error and clicks Submit again");
        let retry = submit(&carts, "cart-1");
        let orders = order_count(&carts);
        ensure(retry.is_ok() && orders == 1, &sim, || {
            format!(
                "after the submit failed at its write #{nth}, the retry returned {retry:?} \
                 and cart cart-1 has {orders} orders — the cart was marked submitted \
                 without its order (a lost order): the cart and the order must be \
                 written in one atomic batch"
            )
        });
    }
}

#[test]
fn retry_after_lost_reply_creates_one_order() {
    // The store applies each write of the submit in turn, but the reply is
    // lost: Ola sees an error although something was written, and retries.
    for nth in 1..=5 {
        let sim = Sim::from_env_or(SEED);
        let carts = olas_cart(&sim);
        sim.note(&format!(
            "the store applies write #{nth} of the submit but its reply is lost"
        ));
        if submit_with_fault(&sim, &carts, nth, true).is_none() {
            break; // the submit has fewer writes: every crash point is covered
        }
        sim.note("Ola sees an error and clicks Submit again");
        let retry = submit(&carts, "cart-1");
        let orders = order_count(&carts);
        ensure(orders == 1, &sim, || {
            format!(
                "after a lost reply at write #{nth} and a retry, cart cart-1 has {orders} \
                 orders — {}",
                if orders == 0 {
                    "a lost order: the cart was marked submitted without its order \
                     (write them in one atomic batch)"
                } else {
                    "a duplicate order: the retry did not see that the cart was \
                     already submitted"
                }
            )
        });
        ensure(
            matches!(retry, Ok(_) | Err(SubmitError::AlreadySubmitted)),
            &sim,
            || {
                format!(
                    "the retry should be refused with AlreadySubmitted (or return the \
                     existing order), but it returned {retry:?}"
                )
            },
        );
    }
}

#[test]
fn a_store_that_stays_down_fails_the_submit() {
    // Every write fails: the submit must give up with an error (Ola sees
    // it and can try later), not retry inside one click for ever.
    let sim = Sim::from_env_or(SEED);
    let carts = olas_cart(&sim);
    sim.note("the store refuses every write from now on");
    sim.inject(
        FaultRule::at("kv.shop.*")
            .when(is_write)
            .always()
            .fail_before(),
    );
    bound_calls(&sim, "kv.shop.*", 50, "one submit");
    let result = submit(&carts, "cart-1");
    let orders = order_count(&carts);
    ensure(
        matches!(result, Err(SubmitError::Store(_))) && orders == 0,
        &sim,
        || {
            format!(
                "with the store down, the submit returned {result:?} and cart cart-1 has \
                 {orders} orders — it should fail with the store's error, so that Ola can \
                 try again later"
            )
        },
    );
}
