//! Test helpers over the whole town (exercises 05–08): the consistency
//! report as a failing test's report, and a customer who keeps changing
//! her order.

use harness::{Error, EventKind, Failure, Sim};
use serde::Deserialize;

use crate::demo::Demo;
use crate::testing::storm;
use crate::town::Town;

/// What the report reads of a message: the request's id (events and
/// letters have none), its order, its filling (payments and letters have
/// none).
#[derive(Deserialize)]
struct About {
    #[serde(default)]
    id: String,
    order_id: String,
    #[serde(default)]
    filling: String,
}

/// The messages the report points at when the trouble is not with one
/// item: payments, letters and coupons.
const ORDER_MESSAGES: [&str; 6] = [
    "BookPayment",
    "CancelPayment",
    "PaymentBooked",
    "SendEmail",
    "SendInvoice",
    "CouponEarned",
];

/// Runs the town's consistency report and fails the test `test`, in the
/// course's words, at the first thing that is not as the customers asked:
/// reordered, lost, ghost or duplicate. `scenario` says what happened. The
/// report marks (`▶`) the late copies of the order's requests and the
/// messages about the item, or about the order as a whole.
///
/// ```
/// use harness::Sim;
/// use shop::orders::documents::Orders;
/// use shop::testing::world::assert_as_asked;
/// use shop::town::Town;
///
/// let sim = Sim::new(1);
/// let mut town = Town::open(&sim, Orders::new(&sim));
/// let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
/// town.add_item("Ola", &order, "meat").unwrap();
/// town.deliver().unwrap();
/// assert_as_asked(&town, "doc_test", "Ola added meat"); // passes
/// ```
#[track_caller]
pub fn assert_as_asked(town: &Town, test: &str, scenario: &str) {
    // The run as it was, before the audit's own reads join the trace.
    let run = town.sim.trace();
    let audit = town
        .audit()
        .expect("the consistency report can read every store");
    let (kind, anomaly) = if let Some(reordered) = audit.reordered.first() {
        ("reordered", reordered)
    } else if let Some(lost) = audit.lost.first() {
        ("lost", lost)
    } else if let Some(ghost) = audit.ghosts.first() {
        ("ghost", ghost)
    } else if let Some(duplicate) = audit.duplicates.first() {
        ("duplicate", duplicate)
    } else {
        return;
    };
    let mut failure = Failure::from_trace(
        town.sim.seed(),
        run.clone(),
        format!("{kind}: {}", anomaly.what),
    )
    .detail(scenario)
    .detail(anomaly.why)
    .detail(format!("the consistency report:\n{audit}"))
    .test_name(test);
    let mut seen = Vec::new();
    let mut marked = Vec::new();
    for sent in town.broker.sent_log() {
        let Ok(about) = sent.envelope.body::<About>() else {
            continue;
        };
        if about.order_id != anomaly.order_id {
            continue;
        }
        let late_copy = !about.id.is_empty() && seen.contains(&about.id);
        let same_item = !anomaly.filling.is_empty() && about.filling == anomaly.filling;
        let whole_order = anomaly.filling.is_empty()
            && ORDER_MESSAGES.contains(&sent.envelope.message_type.as_str());
        if late_copy || same_item || whole_order {
            marked.push(sent.envelope.id);
        }
        seen.push(about.id);
    }
    for event in run.events() {
        if let EventKind::Sent { message, .. } | EventKind::Published { message, .. } = &event.kind
            && marked.contains(&message.id)
        {
            failure = failure.highlight(event.seq);
        }
    }
    failure.panic();
}

/// A storm test: `storm(sim, n)` runs the demo with `n` orders in `sim`.
/// Runs it with `orders` orders, in a fresh simulation of `seed`; if the
/// consistency report finds anything, fails the test `test` like
/// [`assert_as_asked`], with the smallest storm of that seed that still
/// fails ([`storm::shrink`]): a short run instead of hundreds of steps.
///
/// ```
/// use harness::Sim;
/// use shop::demo::{self, Profile};
/// use shop::orders::documents::Orders;
/// use shop::testing::world::assert_storm_as_asked;
///
/// let storm = |sim: &Sim, n| demo::run(sim, Profile::None, n, Orders::new);
/// assert_storm_as_asked(7, 3, storm, "doc_test", "three orders, no monkeys"); // passes
/// ```
#[track_caller]
pub fn assert_storm_as_asked(
    seed: u64,
    orders: usize,
    storm: impl Fn(&Sim, usize) -> Result<Demo, Error>,
    test: &str,
    scenario: &str,
) {
    let failing = storm::shrink(orders, |n| {
        let sim = Sim::new(seed);
        let demo = storm(&sim, n).expect("the storm runs to its end");
        (!demo.audit.is_consistent()).then_some(demo)
    });
    if let Some(shrunk) = failing {
        let scenario = format!("{scenario}; {}", shrunk.describe());
        assert_as_asked(&shrunk.run.town, test, &scenario);
    }
}

/// Fails the test `test` when `order` lacks an item that Orders finished
/// adding and nobody removed (a lost update: a later write overwrote the
/// one that added it, or a refused write was taken for done). `scenario`
/// says what happened; the report marks every write of the orders store.
#[track_caller]
pub fn assert_no_lost_update(town: &Town, order: &str, test: &str, scenario: &str) {
    let run = town.sim.trace();
    let items = town
        .orders
        .added_to(order)
        .expect("the orders store can be read");
    let Some(missing) = town
        .intent_of(order)
        .items
        .into_iter()
        .find(|filling| !items.contains(filling))
    else {
        return;
    };
    let mut failure = Failure::from_trace(
        town.sim.seed(),
        run.clone(),
        format!("lost: Orders finished the AddItem({missing}) of order {order}, but the order does not have it"),
    )
    .detail(scenario)
    .detail(
        "a later write overwrote the one that added it, or the write that was to add it was \
         refused and the AddItem was acknowledged anyway. Every write of the order (the one \
         that clears an outbox too) must be refused (if-match) when someone wrote the order \
         since it was read; and a refused write means someone else wrote first — perhaps \
         another request, not a copy of this one: read again and retry, never call it done",
    )
    .test_name(test);
    for event in run.events() {
        if let EventKind::Wrote { store, .. } = &event.kind
            && store == "orders"
        {
            failure = failure.highlight(event.seq);
        }
    }
    failure.panic();
}

/// Keeps the order busy: `rounds` times, `customer` adds mushrooms and takes
/// them off, and the payment service books the payment and cancels it; four
/// requests a round, each delivered before the next. The order ends as it
/// began: without mushrooms, its payment not booked. (For an Orders that
/// takes all four requests.)
///
/// A late copy that comes after all of them is still a copy: a test sends
/// one after a few dozen rounds.
///
/// ```
/// use harness::Sim;
/// use shop::orders::documents::Orders;
/// use shop::testing::world::change_many_times;
/// use shop::town::Town;
///
/// let sim = Sim::new(1);
/// let mut town = Town::open(&sim, Orders::new(&sim));
/// let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
/// change_many_times(&mut town, "Ola", &order, 2).unwrap();
/// assert!(town.orders.added_to(&order).unwrap().is_empty());
/// ```
pub fn change_many_times(
    town: &mut Town,
    customer: &str,
    order: &str,
    rounds: usize,
) -> Result<(), Error> {
    for _ in 0..rounds {
        town.add_item(customer, order, "mushrooms")?;
        town.deliver()?;
        town.remove_item(customer, order, "mushrooms")?;
        town.deliver()?;
        town.book_payment(order, 4_500)?;
        town.deliver()?;
        town.cancel_payment(order)?;
        town.deliver()?;
    }
    Ok(())
}
