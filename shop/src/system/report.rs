//! The consistency report of the whole system, once every message is
//! delivered: for each submitted cart exactly one order, one charge of the
//! cart's amount, one label (with the hash `LabelReady` promised), the
//! stock reserved once and given back once if and only if the payment was
//! declined, a coupon if and only if the order crossed [`COUPON_AT`]; and
//! nothing left over: no tokens, no blobs nobody references, no requests at
//! the provider. A conversation parked in the dead-letter queue is not an
//! anomaly, but it is listed: a person must look at it.

use std::collections::BTreeSet;
use std::fmt;

use harness::{Envelope, Error};

use super::saga::Stage;
use super::services::CARD_LIMIT;
use super::{Cart, System};
use crate::orders::COUPON_AT;
use crate::shipping::{ShipOrder, ShippingAudit};

/// What the report found, each entry one sentence in the course's words.
#[derive(Clone, Debug, Default)]
pub struct SystemReport {
    /// The carts checked.
    pub carts: usize,
    /// Conversations parked in a dead-letter queue: `(order, why)`.
    pub parked: Vec<(String, String)>,
    /// Something that should have happened did not.
    pub lost: Vec<String>,
    /// Something happened twice.
    pub duplicates: Vec<String>,
    /// Something happened that should not have.
    pub ghosts: Vec<String>,
    /// Something was left behind: a token, a blob, a stored request.
    pub garbage: Vec<String>,
}

impl SystemReport {
    /// Checks `carts` against every service's stores. The run is over: its
    /// faults stop, so that the report's own reads do not fail.
    pub fn of(system: &System, carts: &[Cart]) -> Result<SystemReport, Error> {
        system.sim.stop_faults();
        let mut report = SystemReport {
            carts: carts.len(),
            ..SystemReport::default()
        };
        for (_queue, letter) in system.dead_letters() {
            let order = conversation_of(&letter.envelope);
            let why = format!(
                "{} was dead-lettered after {} attempt(s): {}",
                letter.envelope.message_type, letter.attempts, letter.reason
            );
            report.parked.push((order, why));
        }
        let mut shipped = Vec::new();
        for cart in carts {
            if report.is_parked(&cart.id) {
                continue;
            }
            report.cart(system, cart, &mut shipped)?;
        }
        let audit = ShippingAudit::of(&system.broker, &system.shipping, &system.desk, &shipped)?;
        for anomaly in audit
            .lost
            .iter()
            .chain(&audit.ghosts)
            .chain(&audit.duplicates)
        {
            report.push(anomaly.kind, anomaly.what.clone());
        }
        if report.parked.is_empty() {
            report.leftovers(system)?;
        }
        Ok(report)
    }

    /// Whether `order`'s conversation waits in a dead-letter queue.
    pub fn is_parked(&self, order: &str) -> bool {
        self.parked.iter().any(|(parked, _)| parked == order)
    }

    /// True when nothing is lost, duplicated, ghostly or left behind.
    pub fn is_consistent(&self) -> bool {
        self.first().is_none()
    }

    /// The first anomaly, lost first (usually the cause of the others).
    pub fn first(&self) -> Option<&String> {
        self.lost
            .first()
            .or(self.duplicates.first())
            .or(self.ghosts.first())
            .or(self.garbage.first())
    }

    /// `lost / duplicate / ghost / garbage` counts, on one line.
    pub fn counts(&self) -> String {
        format!(
            "{} lost, {} duplicate, {} ghost, {} garbage, {} parked",
            self.lost.len(),
            self.duplicates.len(),
            self.ghosts.len(),
            self.garbage.len(),
            self.parked.len()
        )
    }

    fn push(&mut self, kind: &str, what: String) {
        match kind {
            "lost" | "stuck" => self.lost.push(what),
            "duplicate" => self.duplicates.push(what),
            "ghost" => self.ghosts.push(what),
            _ => self.garbage.push(what),
        }
    }

    fn cart(
        &mut self,
        system: &System,
        cart: &Cart,
        shipped: &mut Vec<ShipOrder>,
    ) -> Result<(), Error> {
        let id = &cart.id;
        let Some(saga) = system.saga(id)? else {
            self.lost.push(format!(
                "cart {id} was submitted (202) and no order was made"
            ));
            return Ok(());
        };
        let declined = cart.amount() > CARD_LIMIT;
        let expected = if declined {
            Stage::Cancelled
        } else {
            Stage::Shipped
        };
        if saga.stage != expected {
            self.lost.push(format!(
                "order {id} ended {:?}, not {expected:?}, and nothing of it is in a dead-letter queue",
                saga.stage
            ));
        }
        if saga.items != cart.items {
            self.ghosts.push(format!(
                "order {id} holds {:?}; the cart held {:?}",
                saga.items, cart.items
            ));
        }
        self.charges(system, cart, declined);
        self.stock(system, cart, declined)?;
        self.coupon(system, cart, declined)?;
        let labels = system.shipping.payloads().list(&format!("labels/{id}/"))?;
        match (declined, labels.len()) {
            (false, 1) | (true, 0) => {}
            (false, 0) => self
                .lost
                .push(format!("order {id} was paid and has no label")),
            (false, n) => self
                .duplicates
                .push(format!("order {id} has {n} label blobs: {labels:?}")),
            (true, _) => self.ghosts.push(format!(
                "order {id} was declined and has a label: {labels:?}"
            )),
        }
        if !declined {
            shipped.push(ShipOrder {
                order_id: id.clone(),
                customer: cart.customer.clone(),
                deliver_to: cart.deliver_to.clone(),
                lines: super::saga::lines_of(&cart.items),
            });
        }
        Ok(())
    }

    fn charges(&mut self, system: &System, cart: &Cart, declined: bool) {
        let id = &cart.id;
        let charges: Vec<u64> = system
            .provider
            .charges()
            .iter()
            .filter(|charge| &charge.order_id == id)
            .map(|charge| charge.amount)
            .collect();
        match (declined, charges.len()) {
            (true, 0) => {}
            (true, _) => self
                .ghosts
                .push(format!("order {id} was declined and charged {charges:?}")),
            (false, 0) => self.lost.push(format!("order {id} was never charged")),
            (false, 1) if charges[0] == cart.amount() => {}
            (false, 1) => self.ghosts.push(format!(
                "order {id} was charged {} grosze; it costs {}",
                charges[0],
                cart.amount()
            )),
            (false, _) => self.duplicates.push(format!(
                "order {id} was charged {} times: {charges:?}",
                charges.len()
            )),
        }
    }

    fn stock(&mut self, system: &System, cart: &Cart, declined: bool) -> Result<(), Error> {
        let id = &cart.id;
        let stock = system.stock_of(id)?;
        let portions = cart.items.len() as u32;
        for (kind, wanted) in [("ReserveStock", 1), ("ReleaseStock", usize::from(declined))] {
            let moves: Vec<u32> = stock
                .moves
                .iter()
                .filter(|done| done.kind == kind)
                .map(|done| done.portions)
                .collect();
            if moves.iter().any(|&moved| moved != portions) {
                self.ghosts.push(format!("the kitchen's {kind} of order {id} moved {moves:?} portions; the order has {portions}"));
            }
            match moves.len().cmp(&wanted) {
                std::cmp::Ordering::Equal => {}
                std::cmp::Ordering::Less => self.lost.push(format!("order {id}: no {kind} reached the kitchen")),
                std::cmp::Ordering::Greater if wanted == 0 => self.ghosts.push(format!(
                    "order {id} was paid, and the kitchen gave its stock back ({kind}): it was compensated"
                )),
                std::cmp::Ordering::Greater => self.duplicates.push(format!(
                    "order {id}: the kitchen did {kind} {} times: compensated more than once",
                    moves.len()
                )),
            }
        }
        Ok(())
    }

    fn coupon(&mut self, system: &System, cart: &Cart, declined: bool) -> Result<(), Error> {
        let id = &cart.id;
        let earned = !declined && cart.amount() >= COUPON_AT;
        match (earned, system.marketing.has_coupon(id)?) {
            (true, false) => self.lost.push(format!(
                "order {id} crossed {COUPON_AT} grosze and earned no coupon"
            )),
            (false, true) => self
                .ghosts
                .push(format!("order {id} has a coupon it did not earn")),
            _ => {}
        }
        Ok(())
    }

    fn leftovers(&mut self, system: &System) -> Result<(), Error> {
        for (token, receiver) in system.tokens.left() {
            self.garbage
                .push(format!("token {token} for {receiver} was never consumed"));
        }
        let mut referenced = BTreeSet::new();
        for key in system.shipping.shipments().keys() {
            let (shipment, _) = system.shipping.load(&key.1)?;
            if let Some(committed) = shipment.committed {
                referenced.insert(committed.label);
            }
        }
        for blob in system.shipping.payloads().list("")? {
            if !referenced.contains(&blob) {
                self.garbage
                    .push(format!("blob {blob} is referenced by nobody"));
            }
        }
        for request in system.provider.stored_requests() {
            self.garbage
                .push(format!("the provider still stores request {request}"));
        }
        Ok(())
    }
}

/// The order a message belongs to: its correlation id, or the order (or
/// cart) its body names.
pub fn conversation_of(envelope: &Envelope) -> String {
    if let Some(order) = envelope.correlation_id() {
        return order.to_string();
    }
    let named = ["order_id", "cart_id"]
        .into_iter()
        .find_map(|field| envelope.body.get(field).and_then(|value| value.as_str()));
    named.unwrap_or("?").to_string()
}

impl fmt::Display for SystemReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} carts: {}", self.carts, self.counts())?;
        for (order, why) in &self.parked {
            writeln!(f, "  parked  {order}: {why}")?;
        }
        let kinds = [
            ("lost", &self.lost),
            ("duplicate", &self.duplicates),
            ("ghost", &self.ghosts),
            ("garbage", &self.garbage),
        ];
        for (kind, entries) in kinds {
            for what in entries {
                writeln!(f, "  {kind:<9} {what}")?;
            }
        }
        Ok(())
    }
}
