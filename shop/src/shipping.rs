//! Shipping (Part F, exercise 16): ships a paid order. It renders the
//! parcel's label, a PDF of about 96 KiB, keeps it in the blob store and
//! announces it with `LabelReady { blob, sha256 }`; it sends Billing the
//! invoice data, one line per table of the order. The broker takes
//! messages of at most 64 KiB ([`MAX_MESSAGE_BYTES`]): a label never fits,
//! and a wedding's invoice does not either.
//!
//! `ShipOrder` itself arrives by claim check ([`claim_check`]): Orders
//! uploads its body to the blob store and sends a ticket. The shipment is
//! one [`Shipment`] document per order in the key-value store
//! (`kv.shipments.*`), written with if-match, with Part D's outbox inside.
//! Blobs live in one blob store (`blob.payloads.*`): labels under
//! `labels/`, message bodies under `bodies/`.
//!
//! The blob uploads are side effects outside the store's transaction, like
//! the messages: how Shipping handles `ShipOrder` is the lesson, a
//! [`HandleShipOrder`] exercise 16 writes. Billing's side, which takes the
//! invoice, is here: [`InvoiceDesk`].
//!
//! ```
//! use harness::Sim;
//! use shop::shipping::Shipping;
//!
//! let sim = Sim::new(1);
//! let shipping = Shipping::new(&sim, |_shipping, _ctx, _message| Ok(()));
//! assert!(shipping.payloads().is_empty());
//! ```

mod audit;
mod billing;
pub mod claim_check;
pub mod demo;
pub mod label;
mod sha256;

pub use audit::{Anomaly, ShippingAudit};
pub use billing::{INVOICES_STORE, Invoice, InvoiceDesk};
pub use sha256::sha256_hex;
/// The id of a processing attempt is a UUID.
pub use uuid::Uuid;

use harness::{
    BlobStore, Broker, Condition, DocumentStore, Envelope, Error, HandlerContext, HandlerError,
    Sim, Version, World, headers,
};
use serde::{Deserialize, Serialize};

use crate::chaos::Chaos;
use crate::outbox::{Kind, Outbound};

/// The largest message the broker takes in Part F: 64 KiB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The queue Shipping reads.
pub const SHIPPING_QUEUE: &str = "shipping";

/// The queue of Billing's invoice desk.
pub const INVOICES_QUEUE: &str = "invoices";

/// The topic of `LabelReady`.
pub const LABEL_READY: &str = "LabelReady";

/// The shipments store (fault points `kv.shipments.*`).
pub const SHIPMENTS_STORE: &str = "shipments";

/// The blob store of labels and message bodies (fault points
/// `blob.payloads.*`).
pub const PAYLOADS: &str = "payloads";

/// The price of one pierogi, in grosze, on the invoice.
pub const UNIT_PRICE: u64 = 150;

/// Orders asks Shipping to ship a paid order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShipOrder {
    /// The order.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// Where the parcel goes.
    pub deliver_to: String,
    /// What is in it.
    pub lines: Vec<Line>,
}

impl ShipOrder {
    /// How many pierogi the order holds.
    pub fn parcels(&self) -> u64 {
        self.lines.iter().map(|line| u64::from(line.count)).sum()
    }
}

/// One line of an order: so many pierogi of one filling, for one table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Which table of the party (a home order has one).
    pub table: u32,
    /// The filling.
    pub filling: String,
    /// How many.
    pub count: u32,
}

/// Shipping announces a label: where it is and what it must hash to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelReady {
    /// The order.
    pub order_id: String,
    /// The label's path in the blob store.
    pub blob: String,
    /// The SHA-256 of the label's bytes, in hex.
    pub sha256: String,
}

/// What Billing needs to invoice an order: one line per line of the order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceData {
    /// The order.
    pub order_id: String,
    /// Who pays.
    pub customer: String,
    /// The lines, as printed.
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines, in grosze.
    pub total: u64,
}

/// One printed line of an invoice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// What it is, as printed.
    pub description: String,
    /// How many.
    pub count: u32,
    /// The amount, in grosze.
    pub amount: u64,
}

/// One side effect an attempt announced before making it: the blob it
/// uploads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideEffect {
    /// The processing attempt.
    pub attempt: Uuid,
    /// The blob's path.
    pub blob: String,
}

/// The attempt whose work counts, and its label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Committed {
    /// The attempt.
    pub attempt: Uuid,
    /// Its label's path in the blob store.
    pub label: String,
    /// The SHA-256 of its label, in hex.
    pub sha256: String,
}

/// A shipment as the key-value store keeps it, one per order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    /// The order.
    pub order_id: String,
    /// Every blob an attempt registered, before uploading it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub side_effects: Vec<SideEffect>,
    /// The attempt that committed, once one did.
    pub committed: Option<Committed>,
    /// The committed attempt's messages, complete with their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<Outbound>,
}

impl Shipment {
    /// Notes that `attempt` is about to upload `blob`.
    pub fn register(&mut self, attempt: Uuid, blob: &str) {
        self.side_effects.push(SideEffect {
            attempt,
            blob: blob.to_string(),
        });
    }

    /// Makes `attempt` the one whose work counts: its label (at `blob`,
    /// with these bytes) and its messages.
    pub fn commit(&mut self, attempt: Uuid, blob: &str, label: &[u8], messages: Vec<Outbound>) {
        self.committed = Some(Committed {
            attempt,
            label: blob.to_string(),
            sha256: sha256_hex(label),
        });
        self.outbox = messages;
    }
}

/// How exercise 16 handles one delivery of `ShipOrder`. `Ok` acknowledges
/// the message; an error gives it back to the broker, which delivers it
/// again.
pub type HandleShipOrder = fn(
    shipping: &Shipping,
    ctx: &mut HandlerContext,
    message: &Envelope,
) -> Result<(), HandlerError>;

/// The Shipping service. Cheap to clone: clones share the stores.
#[derive(Clone)]
pub struct Shipping {
    sim: Sim,
    shipments: DocumentStore,
    payloads: BlobStore,
    monkeys: Chaos,
    handle: HandleShipOrder,
}

impl Shipping {
    /// Shipping with empty stores, handling `ShipOrder` with `handle`.
    pub fn new(sim: &Sim, handle: HandleShipOrder) -> Shipping {
        Shipping::over(sim, BlobStore::in_memory(sim, PAYLOADS), handle)
    }

    /// Shipping over the blob store `payloads` (on disk, for the demo).
    pub fn over(sim: &Sim, payloads: BlobStore, handle: HandleShipOrder) -> Shipping {
        Shipping {
            sim: sim.clone(),
            shipments: DocumentStore::new(sim, SHIPMENTS_STORE),
            payloads,
            monkeys: Chaos::new(sim),
            handle,
        }
    }

    /// Adds Shipping to the world as the endpoint that reads
    /// [`SHIPPING_QUEUE`], and makes the broker refuse messages over
    /// [`MAX_MESSAGE_BYTES`].
    pub fn add_to(&self, world: &mut World, broker: &Broker) {
        broker.set_max_message_bytes(MAX_MESSAGE_BYTES);
        let shipping = self.clone();
        world.add_endpoint(
            SHIPPING_QUEUE,
            move |ctx: &mut HandlerContext, message: &Envelope| shipping.handle(ctx, message),
        );
    }

    /// Handles one message of the shipping queue.
    pub fn handle(&self, ctx: &mut HandlerContext, message: &Envelope) -> Result<(), HandlerError> {
        match message.message_type.as_str() {
            "ShipOrder" => (self.handle)(self, ctx, message),
            other => Err(HandlerError::unrecoverable(format!(
                "Shipping does not handle {other}"
            ))),
        }
    }

    // ----- the incoming message -----

    /// The `ShipOrder` in `message`: its body is in the blob store.
    /// `Ok(None)` if the body is gone: an earlier copy consumed it.
    pub fn open_ship_order(&self, message: &Envelope) -> Result<Option<ShipOrder>, Error> {
        claim_check::open(&self.payloads, message)
    }

    /// Deletes the body of `message` from the blob store: it is consumed.
    pub fn consume(&self, message: &Envelope) -> Result<(), Error> {
        claim_check::consume(&self.payloads, message)
    }

    // ----- the shipment -----

    /// The shipment of `order_id` and its version; a new shipment and
    /// `None` if there is none yet.
    pub fn load(&self, order_id: &str) -> Result<(Shipment, Option<Version>), Error> {
        match self.shipments.get::<Shipment>(order_id, order_id)? {
            Some(found) => Ok((found.value, Some(found.version))),
            None => {
                let shipment = Shipment {
                    order_id: order_id.to_string(),
                    ..Shipment::default()
                };
                Ok((shipment, None))
            }
        }
    }

    /// Writes the shipment if nobody wrote it since `version` (create-only
    /// when `version` is `None`). Returns the new version. Somebody wrote
    /// first: `Error::Conflict`.
    pub fn save(
        &self,
        shipment: &Shipment,
        version: Option<Version>,
    ) -> Result<Option<Version>, Error> {
        let condition = match version {
            Some(version) => Condition::IfMatch(version),
            None => Condition::CreateOnly,
        };
        let id = &shipment.order_id;
        let saved = self.shipments.put(id, id, shipment, condition)?;
        Ok(Some(saved))
    }

    // ----- the label and the blobs -----

    /// A new id for one processing attempt.
    pub fn new_attempt(&self) -> Uuid {
        self.sim.new_uuid()
    }

    /// Renders the label of `ship` (it takes a while; its bytes include
    /// the time of rendering).
    pub fn render_label(&self, ctx: &mut HandlerContext, ship: &ShipOrder) -> Vec<u8> {
        label::render(ctx, ship)
    }

    /// Stores `bytes` in the blob store under `blob`, replacing any blob
    /// there.
    pub fn upload(&self, blob: &str, bytes: &[u8]) -> Result<(), Error> {
        self.payloads.put(blob, bytes)
    }

    /// Deletes the blob `blob` (nothing if there is none).
    pub fn delete(&self, blob: &str) -> Result<(), Error> {
        self.payloads.delete(blob)?;
        Ok(())
    }

    // ----- the messages -----

    /// `LabelReady` for `ship`'s label at `blob`, with the hash of `label`,
    /// to publish; its id is new.
    pub fn label_ready(
        &self,
        message: &Envelope,
        ship: &ShipOrder,
        blob: &str,
        label: &[u8],
    ) -> Outbound {
        let ready = LabelReady {
            order_id: ship.order_id.clone(),
            blob: blob.to_string(),
            sha256: sha256_hex(label),
        };
        self.outbound(
            message,
            &ship.order_id,
            Kind::Publish,
            LABEL_READY,
            LABEL_READY,
            &ready,
        )
    }

    /// `InvoiceData` for `ship`, to send to Billing, inline; its id is new.
    pub fn invoice(&self, message: &Envelope, ship: &ShipOrder) -> Outbound {
        let lines: Vec<InvoiceLine> = ship
            .lines
            .iter()
            .map(|line| InvoiceLine {
                description: format!(
                    "pierogi with {} for table {} of order {}",
                    line.filling, line.table, ship.order_id
                ),
                count: line.count,
                amount: u64::from(line.count) * UNIT_PRICE,
            })
            .collect();
        let invoice = InvoiceData {
            order_id: ship.order_id.clone(),
            customer: ship.customer.clone(),
            total: lines.iter().map(|line| line.amount).sum(),
            lines,
        };
        let to = Kind::Send;
        self.outbound(
            message,
            &ship.order_id,
            to,
            INVOICES_QUEUE,
            "InvoiceData",
            &invoice,
        )
    }

    /// The same message as a claim check: its body uploaded to `blob`, an
    /// empty body and the blob's path in the envelope.
    pub fn check_in(&self, blob: &str, outbound: Outbound) -> Result<Outbound, Error> {
        let ticket = claim_check::check_in(&self.payloads, blob, &outbound.envelope)?;
        Ok(Outbound {
            envelope: ticket,
            ..outbound
        })
    }

    /// Sends one message now, through the monkeys, as it is (its id, its
    /// headers, its body).
    pub fn dispatch(&self, ctx: &mut HandlerContext, outbound: &Outbound) -> Result<(), Error> {
        self.monkeys.send(
            &outbound.envelope,
            &mut |message: &Envelope| match outbound.kind {
                Kind::Publish => ctx.publish_immediately(&outbound.destination, message.clone()),
                Kind::Send => ctx.send_immediately(&outbound.destination, message.clone()),
            },
        )
    }

    fn outbound<T: Serialize>(
        &self,
        incoming: &Envelope,
        order_id: &str,
        kind: Kind,
        destination: &str,
        message_type: &str,
        body: &T,
    ) -> Outbound {
        let mut envelope = Envelope::new(self.sim.new_message_id(), message_type, body)
            .with_header(headers::CORRELATION_ID, order_id);
        if let Some(conversation) = incoming.conversation_id() {
            envelope = envelope.with_header(headers::CONVERSATION_ID, conversation);
        }
        Outbound {
            kind,
            destination: destination.to_string(),
            envelope,
        }
    }

    // ----- for the tests, the audit and the demo -----

    /// The shipments store.
    pub fn shipments(&self) -> &DocumentStore {
        &self.shipments
    }

    /// The blob store of labels and bodies.
    pub fn payloads(&self) -> &BlobStore {
        &self.payloads
    }

    /// The chaos monkeys on what Shipping sends (none at first).
    pub fn monkeys(&self) -> &Chaos {
        &self.monkeys
    }

    /// The simulation Shipping runs in.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }
}
