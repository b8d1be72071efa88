//! The consistency report: do Orders, Billing and Marketing tell the same
//! story? For every order it compares the items in the order, and the
//! `AddItem`s Orders finished (acknowledged), with the items each
//! subscriber heard of, and counts what does not match:
//!
//! - **lost**: Orders finished an `AddItem`, but a subscriber never heard of
//!   the item, or the order does not have it;
//! - **ghost**: a subscriber heard of an item that the order does not have,
//!   and that no `AddItem` Orders finished asked for;
//! - **duplicate**: an item in the order, or heard of, more than once.
//!
//! An item in the order that a subscriber has not heard of *yet*, because
//! Orders gave up on its `AddItem` (dead-lettered), is **stuck**, not lost:
//! replaying the dead letter publishes it. Stuck is better than wrong.

use std::collections::BTreeSet;
use std::fmt;

use harness::{Broker, Error};

use crate::downstream::Subscriber;
use crate::orders::{AddItem, ITEM_ADDED, Orders};

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

/// How a lost update happens.
const OVERWRITTEN: &str = "two AddItems for one order were handled at the same time, and the \
    later save overwrote the earlier one: a save must be refused (if-match) when someone else \
    wrote the order since it was read.";

/// How a ghost happens.
const GHOST: &str = "Orders announced a change it never kept: ItemAdded went out before the \
    order was saved, then the save failed. Save first; publish only what is kept.";

/// How a duplicate happens.
const DUPLICATE: &str = "one AddItem changed the order more than once: a copy must find the \
    item there and leave the order alone (and of two copies handled at the same time, the \
    store must refuse the second save).";

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
    /// Items in an order that a subscriber never heard of.
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
    /// Compares `orders` with `subscribers` for each of `order_ids`.
    pub fn of(
        orders: &Orders,
        subscribers: &[&Subscriber],
        broker: &Broker,
        order_ids: &[String],
    ) -> Result<Audit, Error> {
        let requests = Requests::of(broker);
        let mut audit = Audit {
            orders: order_ids.len(),
            items: 0,
            given_up: requests.given_up.len(),
            seen: Vec::new(),
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
        for order_id in order_ids {
            let in_order = orders.added_to(order_id)?;
            audit.items += in_order.len();
            audit.find_duplicates(order_id, None, &in_order);
            audit.find_lost_updates(order_id, &in_order, &requests);
            for (index, subscriber) in subscribers.iter().enumerate() {
                let heard = subscriber.heard_of(order_id)?;
                audit.seen[index].items += heard.len();
                audit.find_duplicates(order_id, Some(subscriber.name()), &heard);
                audit.compare(order_id, subscriber.name(), &in_order, &heard, &requests);
            }
        }
        Ok(audit)
    }

    /// True when nothing was lost, invented or doubled.
    pub fn is_consistent(&self) -> bool {
        self.lost.is_empty() && self.ghosts.is_empty() && self.duplicates.is_empty()
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

    /// Items Orders finished adding that the order does not have: another
    /// write overwrote the one that added them.
    fn find_lost_updates(&mut self, order_id: &str, in_order: &[String], requests: &Requests) {
        for filling in requests.done_for(order_id) {
            if !in_order.contains(&filling) {
                let what = format!(
                    "Orders finished AddItem({filling}) for order {order_id}, but the order \
                     does not have {filling}: another write overwrote it"
                );
                self.lost
                    .push(Anomaly::new(order_id, &filling, what, OVERWRITTEN));
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

/// The `AddItem`s Orders finished, and those it gave up on.
struct Requests {
    /// The (order, filling) of every `AddItem` Orders acknowledged.
    done: BTreeSet<(String, String)>,
    /// The (order, filling) of every `AddItem` Orders dead-lettered and
    /// never acknowledged in another copy.
    given_up: BTreeSet<(String, String)>,
}

impl Requests {
    fn of(broker: &Broker) -> Requests {
        let mut done = BTreeSet::new();
        let mut dead = BTreeSet::new();
        for finished in broker.finished_log() {
            if finished.queue != crate::ORDERS_QUEUE {
                continue;
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
        Requests { done, given_up }
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
            "  Orders:     {}, {} added; {} given up (AddItem dead-lettered)",
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
        let kinds = [
            ("lost", &self.lost, "in an order, never heard of downstream"),
            (
                "stuck",
                &self.stuck,
                "in an order, its AddItem dead-lettered: replay it",
            ),
            (
                "ghost",
                &self.ghosts,
                "heard of downstream, not in the order",
            ),
            (
                "duplicate",
                &self.duplicates,
                "in an order or heard of twice",
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
