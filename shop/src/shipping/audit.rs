//! The consistency report of Shipping, once every message is handled: for
//! each order shipped, one label that holds what `LabelReady` promises,
//! one invoice, and nothing else in the blob store. Whatever is not so is
//! an [`Anomaly`], named in the course's words: stuck, lost, ghost,
//! duplicate, garbage.

use std::collections::BTreeSet;
use std::fmt;

use harness::{Broker, Error, MessageId};

use super::{
    INVOICES_QUEUE, InvoiceDesk, LABEL_READY, LabelReady, SHIPPING_QUEUE, ShipOrder, Shipment,
    Shipping, UNIT_PRICE, label, sha256_hex,
};

/// One thing that is not as it should be.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// `stuck`, `lost`, `ghost`, `duplicate` or `garbage`.
    pub kind: &'static str,
    /// What is wrong, in one sentence.
    pub what: String,
    /// The messages it is about.
    pub messages: Vec<MessageId>,
}

/// What the report found. Read the kinds in this order: the first one
/// found is usually the cause of the others.
#[derive(Clone, Debug, Default)]
pub struct ShippingAudit {
    /// Orders the report looked at.
    pub orders: usize,
    /// Messages given up on (dead-lettered).
    pub stuck: Vec<Anomaly>,
    /// A shipment, a label or an invoice missing.
    pub lost: Vec<Anomaly>,
    /// A label or an invoice that is not the committed one.
    pub ghosts: Vec<Anomaly>,
    /// One order announced or invoiced twice.
    pub duplicates: Vec<Anomaly>,
    /// Blobs nobody will read.
    pub garbage: Vec<Anomaly>,
}

impl ShippingAudit {
    /// Checks the orders `shipped` against what Shipping, Billing's desk and
    /// the broker hold. Run it once everything is delivered.
    pub fn of(
        broker: &Broker,
        shipping: &Shipping,
        desk: &InvoiceDesk,
        shipped: &[ShipOrder],
    ) -> Result<ShippingAudit, Error> {
        let mut audit = ShippingAudit {
            orders: shipped.len(),
            ..ShippingAudit::default()
        };
        audit.stuck_messages(broker, shipping)?;
        let mut referenced = BTreeSet::new();
        let mut lost_attempts = BTreeSet::new();
        for ship in shipped {
            let shipment = shipping.load(&ship.order_id)?.0;
            let winner = shipment
                .committed
                .as_ref()
                .map(|committed| committed.attempt);
            if let Some(committed) = &shipment.committed {
                referenced.insert(committed.label.clone());
            }
            for effect in &shipment.side_effects {
                if Some(effect.attempt) != winner {
                    lost_attempts.insert(effect.blob.clone());
                }
            }
            audit.labels(broker, shipping, ship, &shipment)?;
            audit.invoices(broker, shipping, desk, ship)?;
        }
        audit.leftovers(shipping, &referenced, &lost_attempts);
        Ok(audit)
    }

    /// The first anomaly, in the order stuck, lost, ghost, duplicate,
    /// garbage.
    pub fn first(&self) -> Option<&Anomaly> {
        self.first_but_garbage().or(self.garbage.first())
    }

    /// The first anomaly about the orders themselves: stuck, lost, ghost or
    /// duplicate (garbage apart).
    pub fn first_but_garbage(&self) -> Option<&Anomaly> {
        self.stuck
            .first()
            .or(self.lost.first())
            .or(self.ghosts.first())
            .or(self.duplicates.first())
    }

    /// True when nothing is wrong.
    pub fn is_consistent(&self) -> bool {
        self.first().is_none()
    }

    fn stuck_messages(&mut self, broker: &Broker, shipping: &Shipping) -> Result<(), Error> {
        for queue in [SHIPPING_QUEUE, INVOICES_QUEUE] {
            for letter in broker.dead_letters(queue)? {
                let label = shipping.sim().label(letter.envelope.id);
                self.stuck.push(Anomaly {
                    kind: "stuck",
                    what: format!(
                        "{}({label}) was given up on after {} attempts: {}",
                        letter.envelope.message_type, letter.attempts, letter.reason
                    ),
                    messages: vec![letter.envelope.id],
                });
            }
        }
        Ok(())
    }

    fn labels(
        &mut self,
        broker: &Broker,
        shipping: &Shipping,
        ship: &ShipOrder,
        shipment: &Shipment,
    ) -> Result<(), Error> {
        let order = &ship.order_id;
        let announced = label_ready_of(broker, order);
        let Some(committed) = &shipment.committed else {
            self.lost.push(anomaly(
                "lost",
                format!("order {order} was never shipped: no attempt committed"),
                vec![],
            ));
            return Ok(());
        };
        if announced.is_empty() {
            let what = format!("order {order} was shipped, but no LabelReady went out");
            self.lost.push(anomaly("lost", what, vec![]));
        }
        if announced.len() > 1 {
            let labels = labels_of(shipping, &announced);
            let what = format!(
                "order {order}'s label was announced {} times, with different ids ({labels}): the courier prints two parcels",
                announced.len()
            );
            let ids = announced.iter().map(|(id, _)| *id).collect();
            self.duplicates.push(anomaly("duplicate", what, ids));
        }
        for (id, ready) in &announced {
            if let Some(what) = ghost_label(shipping, ship, committed, ready)? {
                let what = format!("LabelReady({}) {what}", shipping.sim().label(*id));
                self.ghosts.push(anomaly("ghost", what, vec![*id]));
            }
        }
        Ok(())
    }

    fn invoices(
        &mut self,
        broker: &Broker,
        shipping: &Shipping,
        desk: &InvoiceDesk,
        ship: &ShipOrder,
    ) -> Result<(), Error> {
        let order = &ship.order_id;
        let sent: BTreeSet<MessageId> = broker
            .sent_log()
            .into_iter()
            .filter(|sent| sent.destination == INVOICES_QUEUE)
            .filter(|sent| sent.envelope.correlation_id() == Some(order.as_str()))
            .map(|sent| sent.envelope.id)
            .collect();
        if sent.len() > 1 {
            let ids: Vec<MessageId> = sent.into_iter().collect();
            let what = format!(
                "order {order} was invoiced {} times, with different ids ({}): Billing charges twice",
                ids.len(),
                ids.iter()
                    .map(|id| shipping.sim().label(*id))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.duplicates.push(anomaly("duplicate", what, ids));
        }
        let Some(invoice) = desk.invoice(order)? else {
            let what = format!("Billing has no invoice for order {order}");
            self.lost.push(anomaly("lost", what, vec![]));
            return Ok(());
        };
        let total = ship.parcels() * UNIT_PRICE;
        if invoice.data.lines.len() != ship.lines.len() || invoice.data.total != total {
            let what = format!(
                "Billing's invoice for order {order} has {} lines and a total of {} grosze; the order has {} lines, {total} grosze",
                invoice.data.lines.len(),
                invoice.data.total,
                ship.lines.len()
            );
            self.ghosts
                .push(anomaly("ghost", what, vec![invoice.message]));
        }
        Ok(())
    }

    fn leftovers(
        &mut self,
        shipping: &Shipping,
        referenced: &BTreeSet<String>,
        lost_attempts: &BTreeSet<String>,
    ) {
        let Ok(paths) = shipping.payloads().list("") else {
            return;
        };
        for path in paths {
            if referenced.contains(&path) {
                continue;
            }
            let what = if lost_attempts.contains(&path) {
                format!(
                    "the blob {path}, uploaded by an attempt that did not commit, is still in the blob store"
                )
            } else if path.starts_with("bodies/") {
                format!(
                    "the message body {path} is still in the blob store: nobody will read it again"
                )
            } else {
                format!("the blob {path} is in the blob store, but no committed shipment names it")
            };
            self.garbage.push(anomaly("garbage", what, vec![]));
        }
    }
}

fn anomaly(kind: &'static str, what: String, messages: Vec<MessageId>) -> Anomaly {
    Anomaly {
        kind,
        what,
        messages,
    }
}

/// Every `LabelReady` published about `order`, once per id.
fn label_ready_of(broker: &Broker, order: &str) -> Vec<(MessageId, LabelReady)> {
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for sent in broker.sent_log() {
        if !sent.published || sent.destination != LABEL_READY {
            continue;
        }
        let Ok(ready) = sent.envelope.body::<LabelReady>() else {
            continue;
        };
        if ready.order_id == order && seen.insert(sent.envelope.id) {
            found.push((sent.envelope.id, ready));
        }
    }
    found
}

fn labels_of(shipping: &Shipping, announced: &[(MessageId, LabelReady)]) -> String {
    announced
        .iter()
        .map(|(id, ready)| format!("{} naming {}", shipping.sim().label(*id), ready.blob))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What is wrong with the label `ready` announces, if anything.
fn ghost_label(
    shipping: &Shipping,
    ship: &ShipOrder,
    committed: &super::Committed,
    ready: &LabelReady,
) -> Result<Option<String>, Error> {
    let Some(bytes) = shipping.payloads().get(&ready.blob)? else {
        return Ok(Some(format!(
            "names the label {}, which is not in the blob store (deleted as another attempt's?)",
            ready.blob
        )));
    };
    let header = label::header(&bytes);
    let rendered = header
        .lines()
        .find(|line| line.starts_with("Rendered at:"))
        .unwrap_or("Rendered at: unknown")
        .to_string();
    if sha256_hex(&bytes) != ready.sha256 {
        return Ok(Some(format!(
            "promises a label with hash {}…, but {} holds other bytes ({rendered}): another attempt overwrote it after the hash was taken",
            &ready.sha256[..ready.sha256.len().min(8)],
            ready.blob
        )));
    }
    if ready.blob != committed.label || ready.sha256 != committed.sha256 {
        return Ok(Some(format!(
            "names {} ({rendered}), the label of an attempt that did not commit; the committed one is {}",
            ready.blob, committed.label
        )));
    }
    let addressed = format!("To: {}, {}", ship.customer, ship.deliver_to);
    if !header.contains(&format!("Order: {}", ship.order_id)) || !header.contains(&addressed) {
        return Ok(Some(format!(
            "names {}, whose label does not say \"Order: {}\" and \"{addressed}\":\n{header}",
            ready.blob, ship.order_id
        )));
    }
    Ok(None)
}

impl fmt::Display for ShippingAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_consistent() {
            return writeln!(
                f,
                "  Consistent: {} orders, each with one label and one invoice, and no garbage in the blob store",
                self.orders
            );
        }
        for (name, found) in [
            ("STUCK", &self.stuck),
            ("LOST", &self.lost),
            ("GHOST", &self.ghosts),
            ("DUPLICATE", &self.duplicates),
            ("GARBAGE", &self.garbage),
        ] {
            if let Some(first) = found.first() {
                writeln!(f, "  {name}: {} (e.g. {})", found.len(), first.what)?;
            }
        }
        Ok(())
    }
}
