//! Test helpers for Shipping (Part F, exercise 16): a world with Shipping
//! and Billing's invoice desk, Orders' side of the conversation (it sends
//! `ShipOrder` by claim check), the orders shipped in the tests, and the
//! consistency report as a [`Violation`] in the course's words.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use harness::{
    Broker, Envelope, Failure, FaultPoint, HandlerContext, MessageRef, Sim, Violation, World,
};

use crate::shipping::{
    Anomaly, InvoiceDesk, Line, MAX_MESSAGE_BYTES, SHIPPING_QUEUE, ShipOrder, Shipping,
    ShippingAudit, claim_check,
};

/// Enough steps for a few hundred orders with their retries.
pub const MAX_STEPS: usize = 200_000;

/// The fillings of a wedding's tables, in turn.
const FILLINGS: [&str; 6] = [
    "meat",
    "mushrooms",
    "quark and potatoes",
    "swiss cheese",
    "strawberry",
    "sauerkraut",
];

/// A home order: one table, two lines (12 ruskie, 8 meat), a small invoice.
pub fn home_order(order_id: &str, customer: &str, deliver_to: &str) -> ShipOrder {
    ShipOrder {
        order_id: order_id.to_string(),
        customer: customer.to_string(),
        deliver_to: deliver_to.to_string(),
        lines: vec![
            Line {
                table: 1,
                filling: "ruskie".to_string(),
                count: 12,
            },
            Line {
                table: 1,
                filling: "meat".to_string(),
                count: 8,
            },
        ],
    }
}

/// A wedding: 200 tables with six fillings each, 1,200 lines. Its invoice
/// data is about 100 KiB, over the broker's 64 KiB.
pub fn wedding(order_id: &str) -> ShipOrder {
    let mut lines = Vec::new();
    for table in 1..=200 {
        for (n, filling) in FILLINGS.iter().enumerate() {
            lines.push(Line {
                table,
                filling: filling.to_string(),
                count: 10 + (table + n as u32) % 7,
            });
        }
    }
    ShipOrder {
        order_id: order_id.to_string(),
        customer: "Zosia and Kuba".to_string(),
        deliver_to: "Dworek pod Lipami, Zakopane".to_string(),
        lines,
    }
}

/// Shipping and Billing's invoice desk in one world, the orders shipped so
/// far, and a switch that says whether the world is delivering (faults
/// meant for Shipping strike only then, see [`ShippingWorld::delivering`]).
pub struct ShippingWorld {
    /// The simulation.
    pub sim: Sim,
    /// The broker (64 KiB messages).
    pub broker: Broker,
    /// The world.
    pub world: World,
    /// Shipping, with the lesson's handler.
    pub shipping: Shipping,
    /// Billing's invoice desk.
    pub desk: InvoiceDesk,
    /// Every order shipped, in order.
    pub shipped: Vec<ShipOrder>,
    delivering: Arc<AtomicBool>,
}

impl ShippingWorld {
    /// A world around `shipping` (its endpoint on one worker) and a desk.
    pub fn open(shipping: &Shipping) -> ShippingWorld {
        ShippingWorld::build(shipping, false)
    }

    /// The same world, for the explorer: once a handler of Shipping fails,
    /// the run finishes one way (every later choice takes its first
    /// option).
    pub fn one_way_after_a_failure(shipping: &Shipping) -> ShippingWorld {
        ShippingWorld::build(shipping, true)
    }

    fn build(shipping: &Shipping, one_way: bool) -> ShippingWorld {
        let sim = shipping.sim().clone();
        let broker = Broker::new(&sim);
        let mut world = World::new(&sim, &broker);
        if one_way {
            broker.set_max_message_bytes(MAX_MESSAGE_BYTES);
            let handler = shipping.clone();
            world.add_endpoint(
                SHIPPING_QUEUE,
                move |ctx: &mut HandlerContext, message: &Envelope| {
                    let handled = handler.handle(ctx, message);
                    if handled.is_err() {
                        ctx.sim().stop_branching();
                    }
                    handled
                },
            );
        } else {
            shipping.add_to(&mut world, &broker);
        }
        let desk = InvoiceDesk::new(&sim, shipping.payloads());
        desk.add_to(&mut world);
        ShippingWorld {
            sim,
            broker,
            world,
            shipping: shipping.clone(),
            desk,
            shipped: Vec::new(),
            delivering: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Orders ships `ship`: it uploads the body to `bodies/<message id>`
    /// and sends the ticket to Shipping. Returns the ticket (to send a copy
    /// later).
    pub fn ship(&mut self, ship: &ShipOrder) -> Envelope {
        self.sim.set_actor("orders");
        let message = Envelope::new(self.sim.new_message_id(), "ShipOrder", ship)
            .with_header(harness::headers::CORRELATION_ID, ship.order_id.as_str());
        let blob = format!("bodies/{}", message.id.as_uuid());
        let ticket = claim_check::check_in(self.shipping.payloads(), &blob, &message)
            .expect("Orders can upload the body of ShipOrder");
        self.world
            .send(SHIPPING_QUEUE, ticket.clone())
            .expect("the shipping queue exists");
        self.sim.set_actor("test");
        if !self
            .shipped
            .iter()
            .any(|known| known.order_id == ship.order_id)
        {
            self.shipped.push(ship.clone());
        }
        ticket
    }

    /// Sends a copy of `ticket` (the same id), as a broker redelivery or a
    /// sender's retry would.
    pub fn resend(&mut self, ticket: &Envelope) {
        self.sim.set_actor("orders");
        self.world
            .send(SHIPPING_QUEUE, ticket.clone())
            .expect("the shipping queue exists");
        self.sim.set_actor("test");
    }

    /// Delivers until nothing is left; a run that never ends is a
    /// violation.
    pub fn deliver(&mut self) -> Result<(), Violation> {
        self.delivering.store(true, Ordering::SeqCst);
        let quiet = self.world.run_until_quiet(MAX_STEPS);
        self.delivering.store(false, Ordering::SeqCst);
        match quiet {
            Ok(_) => Ok(()),
            Err(err) => {
                let headline = format!("stuck: the run did not end: {err}");
                Err(Violation::new(
                    "every delivery ends",
                    &headline,
                    vec![],
                    &self.sim,
                ))
            }
        }
    }

    /// A condition for [`harness::FaultRule::when`]: true while the world
    /// delivers, so that a fault strikes Shipping and the desk, never the
    /// test's own uploads and checks.
    pub fn delivering(&self) -> impl Fn(&FaultPoint) -> bool + Send + Sync + 'static {
        let delivering = self.delivering.clone();
        move |_: &FaultPoint| delivering.load(Ordering::SeqCst)
    }

    /// The consistency report over every order shipped.
    pub fn audit(&self) -> ShippingAudit {
        ShippingAudit::of(&self.broker, &self.shipping, &self.desk, &self.shipped)
            .expect("the consistency report can read every store")
    }

    /// The first anomaly of the consistency report, as a violation whose
    /// headline names it (stuck, lost, ghost, duplicate, garbage) and
    /// whose trace is the run's, without the report's own reads.
    pub fn check(&self) -> Result<(), Violation> {
        self.check_with(ShippingAudit::first)
    }

    /// [`ShippingAudit::first_but_garbage`] as a violation: each order
    /// shipped once, with its label and its invoice, whatever else is left
    /// in the blob store.
    pub fn check_shipped(&self) -> Result<(), Violation> {
        self.check_with(ShippingAudit::first_but_garbage)
    }

    fn check_with(&self, first: fn(&ShippingAudit) -> Option<&Anomaly>) -> Result<(), Violation> {
        let run = self.sim.trace();
        let audit = self.audit();
        let Some(anomaly) = first(&audit) else {
            return Ok(());
        };
        let messages: Vec<MessageRef> = anomaly
            .messages
            .iter()
            .map(|id| MessageRef {
                label: self.sim.label(*id),
                message_type: String::new(),
                id: *id,
            })
            .collect();
        let headline = format!("{}: {}", anomaly.kind, anomaly.what);
        let mut violation = Violation::new("shipped exactly once", &headline, messages, &self.sim);
        violation.recording.trace = run;
        Err(violation)
    }

    /// Fails the test `test` unless the consistency report finds nothing
    /// wrong; `scenario` says what happened.
    #[track_caller]
    pub fn assert_consistent(&self, test: &str, scenario: &str) {
        if let Err(violation) = self.check() {
            fail(violation, test, scenario);
        }
    }
}

/// Fails the test `test` with `violation`'s report, and `scenario`.
#[track_caller]
pub fn fail(violation: Violation, test: &str, scenario: &str) -> ! {
    let failure: Failure = violation.to_failure();
    failure.detail(scenario).test_name(test).panic()
}
