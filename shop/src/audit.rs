//! The consistency report: do Orders, Billing and Marketing tell the story
//! the customers wrote? For every order it compares the order with what its
//! customer asked for, in the order they asked; and the `AddItem`s Orders
//! finished (acknowledged) with the items Billing and Marketing heard of.
//! It counts what does not match:
//!
//! - **reordered**: the order is not what its customer asked for last (a
//!   late copy of an earlier request was applied after a later one);
//! - **lost**: Orders finished an `AddItem`, but a subscriber never heard of
//!   the item;
//! - **ghost**: a subscriber heard of an item that the order does not have,
//!   and that no `AddItem` Orders finished asked for;
//! - **duplicate**: an item in the order, or heard of, more than once.
//!
//! It also follows every booking Orders finished (a `BookPayment` it
//! acknowledged): Marketing must count it once, and the mailer must send
//! its receipt, its invoice and its thank-you letter once. More is a
//! **duplicate**, less is **lost**.
//!
//! And what Marketing heard of each order's moments: every first item
//! added to it (`FirstItemAdded`), once; its coupon, if an item took the
//! order to 100 zł (`CouponEarned`). Fewer first items or no coupon is
//! **lost**, more is a **duplicate**, others are **ghosts**.
//!
//! An item in the order that a subscriber has not heard of *yet*, because
//! Orders gave up on its `AddItem` (dead-lettered), is **stuck**, not lost:
//! replaying the dead letter publishes it. Stuck is better than wrong. An
//! order with a request given up is not compared with what its customer
//! asked for: it is stuck until the dead letter is replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use harness::{Broker, Error};
use serde::Deserialize;

use crate::downstream::{MARKETING, Subscriber};
use crate::intent::Intent;
use crate::mailer::Mailer;
use crate::orders::documents::Moments;
use crate::orders::{AddItem, BookPayment, ITEM_ADDED};
use crate::town::AnyOrders;

/// One mismatch between Orders and a subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// The order.
    pub order_id: String,
    /// The filling concerned.
    pub filling: String,
    /// What went wrong, in a sentence.
    pub what: String,
    /// How that happens, in the course's words.
    pub why: &'static str,
}

impl Anomaly {
    fn new(order_id: &str, filling: &str, what: String, why: &'static str) -> Anomaly {
        Anomaly {
            order_id: order_id.to_string(),
            filling: filling.to_string(),
            what,
            why,
        }
    }
}

/// How a lost event happens.
const LOST: &str = "Orders kept the change but never announced it: an attempt saved the item \
    and failed to publish, and the retry found the item saved and published nothing. A retry \
    cannot tell whether the last publish went out: publish regardless.";

/// How an order ends up other than its customer asked.
const REORDERED: &str = "a late copy of an earlier request was applied again, after a later \
    request: each request alone is idempotent, but not when copies come out of order. The \
    order's items cannot tell \"done before\" from \"not done yet\"; the request's id can.";

/// How a ghost happens.
const GHOST: &str = "Orders announced a change it never kept: ItemAdded went out before the \
    order was saved, then the save failed. Save first; publish only what is kept.";

/// How a duplicate happens.
const DUPLICATE: &str = "one AddItem changed the order more than once: a copy must find the \
    item there and leave the order alone (and of two copies handled at the same time, the \
    store must refuse the second save).";

/// How a message counts twice.
const REPUBLISHED: &str = "a message went out again — from a retry, or from a late copy of \
    the request behind it — with a new message id, so its receiver could not tell it was a \
    copy, and acted on it twice. A message sent again must keep its id: derive the id from the \
    message it answers.";

/// How two messages become one.
const COLLIDED: &str = "two different messages went out with the same id, so the receiver took \
    the second for a copy of the first and dropped it. A derived id must tell apart every \
    message that can be sent: which incoming message it answers, which endpoint sends it, \
    which of that handler's messages it is.";

/// How a decided message is lost.
const NOT_KEPT: &str = "an attempt decided to send it while it changed the order, then could \
    not send it; the retry found the request done and decided again, from the order as it is \
    now, which said nothing. What a request sends must be decided once, when it changes the \
    order, and kept with the change (in the same write) until it is out.";

/// How a message is decided twice.
const DECIDED_AGAIN: &str = "a retry, or a late copy, decided again what to send, from the \
    order as it is now; the order had changed since the first attempt, so it announced what \
    the first attempt never decided. What a request sends must be decided once, when it \
    changes the order, and kept with the change (in the same write) until it is out.";

/// The letters the mailer sends for each booking.
const LETTERS: [&str; 3] = ["receipt", "invoice", "thank you"];

/// A stuck item is not an anomaly: replaying the dead letter fixes it.
const STUCK: &str = "Orders saved the item, then gave up on publishing it: the AddItem waits \
    in the dead-letter queue until someone replays it.";

/// What one subscriber saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// `billing` or `marketing`.
    pub subscriber: String,
    /// The `ItemAdded` events it handled, repeats included.
    pub events: usize,
    /// The items it heard of (each order's fillings, counted once).
    pub items: usize,
}

/// The report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    /// The orders compared.
    pub orders: usize,
    /// The items added to them, as Orders has them.
    pub items: usize,
    /// Items whose every `AddItem` Orders gave up on (dead-lettered).
    pub given_up: usize,
    /// Billing's and Marketing's side.
    pub seen: Vec<Seen>,
    /// The bookings Orders finished, and what they came to (grosze).
    pub bookings: (usize, u64),
    /// What Marketing counted of them (grosze).
    pub counted: u64,
    /// The letters the mailer sent.
    pub letters: usize,
    /// Whether Orders tells Marketing of first items and coupons: if not,
    /// they are not compared.
    pub moments: Moments,
    /// First items added to the orders, and how many Marketing heard of.
    pub first_items: (usize, usize),
    /// Coupons the orders earned, and how many Marketing granted.
    pub coupons: (usize, usize),
    /// Orders that are not what their customer asked for last.
    pub reordered: Vec<Anomaly>,
    /// Orders with a request Orders gave up on (dead-lettered): not
    /// compared with what their customer asked for.
    pub stuck_orders: usize,
    /// Items Orders finished adding that a subscriber never heard of.
    pub lost: Vec<Anomaly>,
    /// Items in an order that a subscriber has not heard of because Orders
    /// gave up on their `AddItem`: replaying the dead letter fixes them.
    pub stuck: Vec<Anomaly>,
    /// Items a subscriber heard of that are not in the order.
    pub ghosts: Vec<Anomaly>,
    /// Items in an order, or heard of, more than once.
    pub duplicates: Vec<Anomaly>,
}

impl Audit {
    /// Compares each order of `intents` with what its customer asked for,
    /// and with what `subscribers` heard of it.
    pub fn of(
        orders: &AnyOrders,
        subscribers: &[&Subscriber],
        mailer: &Mailer,
        broker: &Broker,
        intents: &BTreeMap<String, Intent>,
    ) -> Result<Audit, Error> {
        let requests = Requests::of(broker);
        let mut audit = Audit {
            orders: intents.len(),
            items: 0,
            given_up: requests.given_up.len(),
            seen: Vec::new(),
            bookings: (0, 0),
            counted: 0,
            letters: 0,
            moments: orders.moments(),
            first_items: (0, 0),
            coupons: (0, 0),
            reordered: Vec::new(),
            stuck_orders: 0,
            lost: Vec::new(),
            stuck: Vec::new(),
            ghosts: Vec::new(),
            duplicates: Vec::new(),
        };
        for subscriber in subscribers {
            audit.seen.push(Seen {
                subscriber: subscriber.name().to_string(),
                events: count_events(broker, subscriber.name()),
                items: 0,
            });
        }
        for (order_id, intent) in intents {
            let in_order = orders.added_to(order_id)?;
            audit.items += in_order.len();
            audit.find_duplicates(order_id, None, &in_order);
            if requests.stuck_orders.contains(order_id) {
                audit.stuck_orders += 1;
            } else {
                let booked = orders.payment_booked(order_id)?;
                audit.compare_with_intent(order_id, intent, &in_order, booked);
                let bookings = requests.bookings_of(order_id);
                for subscriber in subscribers.iter().filter(|s| s.name() == MARKETING) {
                    let counted = subscriber.bookings_of(order_id)?.total;
                    audit.compare_bookings(order_id, &bookings, counted);
                    if audit.moments == Moments::Announced {
                        let firsts = subscriber.first_items_of(order_id)?;
                        audit.compare_first_items(order_id, &intent.first_items, &firsts);
                        let granted = subscriber.has_coupon(order_id)?;
                        audit.compare_coupon(order_id, intent.coupon, granted);
                    }
                }
                let letters: Vec<String> = mailer
                    .letters_about(order_id)?
                    .into_iter()
                    .map(|letter| letter.kind)
                    .collect();
                audit.compare_letters(order_id, &bookings, &letters);
            }
            for (index, subscriber) in subscribers.iter().enumerate() {
                let heard = subscriber.heard_of(order_id)?;
                audit.seen[index].items += heard.len();
                audit.find_duplicates(order_id, Some(subscriber.name()), &heard);
                audit.compare(order_id, subscriber.name(), &in_order, &heard, &requests);
            }
        }
        Ok(audit)
    }

    /// True when nothing was reordered, lost, invented or doubled.
    pub fn is_consistent(&self) -> bool {
        self.reordered.is_empty()
            && self.lost.is_empty()
            && self.ghosts.is_empty()
            && self.duplicates.is_empty()
    }

    /// Items found more than once in the order (`subscriber` is `None`) or
    /// in what a subscriber heard of it.
    fn find_duplicates(&mut self, order_id: &str, subscriber: Option<&str>, items: &[String]) {
        for (index, filling) in items.iter().enumerate() {
            let times = items.iter().filter(|other| *other == filling).count();
            let first = items.iter().position(|other| other == filling) == Some(index);
            if times > 1 && first {
                let what = match subscriber {
                    None => format!("order {order_id} has {filling} {times} times"),
                    Some(name) => {
                        format!("{name} heard {times} times that order {order_id} got {filling}")
                    }
                };
                self.duplicates
                    .push(Anomaly::new(order_id, filling, what, DUPLICATE));
            }
        }
    }

    /// Differences between the order and what its customer asked for last.
    fn compare_with_intent(
        &mut self,
        order_id: &str,
        intent: &Intent,
        in_order: &[String],
        booked: bool,
    ) {
        for filling in &intent.items {
            if !in_order.contains(filling) {
                let what = format!(
                    "order {order_id} does not have {filling}, but its customer added it last"
                );
                self.reordered
                    .push(Anomaly::new(order_id, filling, what, REORDERED));
            }
        }
        for filling in in_order {
            if !intent.items.contains(filling) {
                let what =
                    format!("order {order_id} has {filling}, but its customer took it off last");
                self.reordered
                    .push(Anomaly::new(order_id, filling, what, REORDERED));
            }
        }
        if booked != intent.payment_booked {
            let (is, asked) = match booked {
                true => ("booked", "cancelled"),
                false => ("not booked", "booked"),
            };
            let what = format!(
                "the payment of order {order_id} is {is}, but the last payment request {asked} it"
            );
            self.reordered
                .push(Anomaly::new(order_id, "", what, REORDERED));
        }
    }

    /// What Marketing counted of the order's bookings, against the
    /// bookings Orders finished.
    fn compare_bookings(&mut self, order_id: &str, bookings: &[u64], counted: u64) {
        let total: u64 = bookings.iter().sum();
        self.bookings.0 += bookings.len();
        self.bookings.1 += total;
        self.counted += counted;
        if counted == total {
            return;
        }
        let what = format!(
            "Marketing counted {} of bookings for order {order_id}, but its {} came to {}",
            money(counted),
            plural(bookings.len(), "booking"),
            money(total)
        );
        if counted > total {
            self.duplicates
                .push(Anomaly::new(order_id, "", what, REPUBLISHED));
        } else {
            self.lost.push(Anomaly::new(order_id, "", what, COLLIDED));
        }
    }

    /// The first items Marketing heard were added to the order, against
    /// those its customer added.
    fn compare_first_items(&mut self, order_id: &str, expected: &[String], heard: &[String]) {
        self.first_items.0 += expected.len();
        self.first_items.1 += heard.len();
        if heard == expected {
            return;
        }
        let what = if heard.is_empty() {
            format!(
                "Marketing never heard that order {order_id} got its first item ({})",
                expected.join(", ")
            )
        } else {
            format!(
                "Marketing heard {} that order {order_id} got its first item ({}), but it got \
                 its first item {} ({})",
                times(heard.len()),
                heard.join(", "),
                times(expected.len()),
                expected.join(", ")
            )
        };
        let filling = expected
            .first()
            .or(heard.first())
            .cloned()
            .unwrap_or_default();
        if heard.len() > expected.len() {
            self.duplicates
                .push(Anomaly::new(order_id, &filling, what, DECIDED_AGAIN));
        } else if heard.len() < expected.len() {
            self.lost
                .push(Anomaly::new(order_id, &filling, what, NOT_KEPT));
        } else {
            self.ghosts
                .push(Anomaly::new(order_id, &filling, what, DECIDED_AGAIN));
        }
    }

    /// Whether Marketing granted the order's coupon, against whether the
    /// order earned it.
    fn compare_coupon(&mut self, order_id: &str, earned: bool, granted: bool) {
        self.coupons.0 += usize::from(earned);
        self.coupons.1 += usize::from(granted);
        if earned && !granted {
            let what = format!(
                "order {order_id} reached 100 zł, but Marketing never granted its customer the \
                 coupon"
            );
            self.lost.push(Anomaly::new(order_id, "", what, NOT_KEPT));
        } else if granted && !earned {
            let what = format!(
                "Marketing granted the customer of order {order_id} a coupon, but the order \
                 never reached 100 zł"
            );
            self.ghosts
                .push(Anomaly::new(order_id, "", what, DECIDED_AGAIN));
        }
    }

    /// The letters the mailer sent about the order: one of each kind per
    /// booking.
    fn compare_letters(&mut self, order_id: &str, bookings: &[u64], letters: &[String]) {
        self.letters += letters.len();
        for kind in LETTERS {
            let sent = letters.iter().filter(|letter| *letter == kind).count();
            if sent == bookings.len() {
                continue;
            }
            let what = format!(
                "the customer of order {order_id} got {} for {}",
                plural(sent, &format!("{kind} letter")),
                plural(bookings.len(), "booking")
            );
            if sent > bookings.len() {
                self.duplicates
                    .push(Anomaly::new(order_id, "", what, REPUBLISHED));
            } else {
                self.lost.push(Anomaly::new(order_id, "", what, COLLIDED));
            }
        }
    }

    fn compare(
        &mut self,
        order_id: &str,
        subscriber: &str,
        in_order: &[String],
        heard: &[String],
        requests: &Requests,
    ) {
        for filling in requests.done_for(order_id) {
            if !heard.contains(&filling) {
                let what = format!(
                    "Orders added {filling} to order {order_id}, but {subscriber} never heard of it"
                );
                self.lost.push(Anomaly::new(order_id, &filling, what, LOST));
            }
        }
        for filling in in_order {
            if !heard.contains(filling) && !requests.is_done(order_id, filling) {
                let what = format!(
                    "order {order_id} has {filling}; {subscriber} will hear of it when the \
                     dead-lettered AddItem is replayed"
                );
                self.stuck
                    .push(Anomaly::new(order_id, filling, what, STUCK));
            }
        }
        for filling in heard {
            if !in_order.contains(filling) && !requests.is_done(order_id, filling) {
                let what = format!(
                    "{subscriber} heard that order {order_id} got {filling}, but the order \
                     does not have it"
                );
                self.ghosts
                    .push(Anomaly::new(order_id, filling, what, GHOST));
            }
        }
    }
}

/// The requests Orders finished, and those it gave up on.
struct Requests {
    /// The (order, filling) of every `AddItem` Orders acknowledged.
    done: BTreeSet<(String, String)>,
    /// The (order, filling) of every `AddItem` Orders dead-lettered and
    /// never acknowledged in another copy.
    given_up: BTreeSet<(String, String)>,
    /// The orders with a request (of any kind) Orders dead-lettered and
    /// never acknowledged in another copy.
    stuck_orders: BTreeSet<String>,
    /// The amount of every `BookPayment` Orders acknowledged, by order and
    /// request id (each request once, however many copies came).
    bookings: BTreeMap<String, BTreeMap<String, u64>>,
}

/// What the audit reads of any request: its id and its order.
#[derive(Deserialize)]
struct AnyRequest {
    id: String,
    order_id: String,
}

impl Requests {
    fn of(broker: &Broker) -> Requests {
        let mut done = BTreeSet::new();
        let mut dead = BTreeSet::new();
        let mut finished_requests = BTreeSet::new();
        let mut dead_requests = BTreeMap::new();
        let mut bookings: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for finished in broker.finished_log() {
            if finished.queue != crate::ORDERS_QUEUE {
                continue;
            }
            if finished.acked
                && finished.envelope.message_type == "BookPayment"
                && let Ok(book) = finished.envelope.body::<BookPayment>()
            {
                let of_order = bookings.entry(book.order_id).or_default();
                of_order.insert(book.id, book.amount);
            }
            if let Ok(request) = finished.envelope.body::<AnyRequest>() {
                if finished.acked {
                    finished_requests.insert(request.id);
                } else {
                    dead_requests.insert(request.id, request.order_id);
                }
            }
            if finished.envelope.message_type != "AddItem" {
                continue;
            }
            let Ok(add) = finished.envelope.body::<AddItem>() else {
                continue;
            };
            let item = (add.order_id, add.filling);
            if finished.acked {
                done.insert(item);
            } else {
                dead.insert(item);
            }
        }
        let given_up = dead.difference(&done).cloned().collect();
        let stuck_orders = dead_requests
            .into_iter()
            .filter(|(id, _)| !finished_requests.contains(id))
            .map(|(_, order_id)| order_id)
            .collect();
        Requests {
            done,
            given_up,
            stuck_orders,
            bookings,
        }
    }

    /// The amounts of the order's finished bookings.
    fn bookings_of(&self, order_id: &str) -> Vec<u64> {
        self.bookings
            .get(order_id)
            .map(|of_order| of_order.values().copied().collect())
            .unwrap_or_default()
    }

    fn is_done(&self, order_id: &str, filling: &str) -> bool {
        self.done
            .contains(&(order_id.to_string(), filling.to_string()))
    }

    /// The fillings of the order's finished `AddItem`s.
    fn done_for(&self, order_id: &str) -> Vec<String> {
        self.done
            .iter()
            .filter(|(order, _)| order == order_id)
            .map(|(_, filling)| filling.clone())
            .collect()
    }
}

/// How many `ItemAdded` events the subscriber handled to the end.
fn count_events(broker: &Broker, subscriber: &str) -> usize {
    broker
        .finished_log()
        .iter()
        .filter(|finished| finished.queue == subscriber && finished.acked)
        .filter(|finished| finished.envelope.message_type == ITEM_ADDED)
        .count()
}

impl fmt::Display for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  Orders:     {}, {} in them; {} given up (AddItem dead-lettered)",
            plural(self.orders, "order"),
            plural(self.items, "item"),
            plural(self.given_up, "item")
        )?;
        for seen in &self.seen {
            writeln!(
                f,
                "  {:<11} heard of {} ({} handled)",
                format!("{}:", capitalised(&seen.subscriber)),
                plural(seen.items, "item"),
                plural(seen.events, "ItemAdded event")
            )?;
        }
        writeln!(
            f,
            "  Bookings:   {} finished, {}; Marketing counted {}",
            self.bookings.0,
            money(self.bookings.1),
            money(self.counted)
        )?;
        writeln!(f, "  Mailer:     sent {}", plural(self.letters, "letter"))?;
        if self.moments == Moments::Announced {
            writeln!(
                f,
                "  Moments:    {} and {} earned; Marketing heard of {} and granted {}",
                plural(self.first_items.0, "first item"),
                plural(self.coupons.0, "coupon"),
                self.first_items.1,
                self.coupons.1
            )?;
        }
        let kinds = [
            (
                "reordered",
                &self.reordered,
                "an order other than its customer asked for last",
            ),
            (
                "lost",
                &self.lost,
                "in an order or booked, never heard of downstream",
            ),
            (
                "stuck",
                &self.stuck,
                "in an order, its AddItem dead-lettered: replay it",
            ),
            ("ghost", &self.ghosts, "heard of downstream, never happened"),
            (
                "duplicate",
                &self.duplicates,
                "in an order, heard of or counted twice",
            ),
        ];
        for (name, anomalies, meaning) in kinds {
            writeln!(
                f,
                "  {:<11} {:>4}  ({meaning})",
                format!("{name}:"),
                anomalies.len()
            )?;
            for anomaly in anomalies.iter().take(3) {
                writeln!(f, "               e.g. {}", anomaly.what)?;
            }
        }
        if self.stuck_orders > 0 {
            writeln!(
                f,
                "  ({} with a request dead-lettered: not compared with what was asked)",
                plural(self.stuck_orders, "order")
            )?;
        }
        if self.is_consistent() {
            writeln!(
                f,
                "  Consistent: Orders, Billing and Marketing tell the same story."
            )
        } else {
            writeln!(f, "  INCONSISTENT: Orders, Billing and Marketing disagree.")
        }
    }
}

/// `once`, `2 times`.
fn times(count: usize) -> String {
    match count {
        1 => "once".to_string(),
        _ => format!("{count} times"),
    }
}

/// `4500` grosze as `45.00 zł`.
fn money(grosze: u64) -> String {
    format!("{}.{:02} zł", grosze / 100, grosze % 100)
}

/// `1 order`, `2 orders`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
