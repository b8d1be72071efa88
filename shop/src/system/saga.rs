//! The Orders saga, orchestrated: the one place that knows where every
//! order stands, and the state machine that moves it ([`on`]).
//!
//! ```text
//! Submitted --OrderPlaced--> PaymentRequested --PaymentBooked--> Paid --LabelReady--> Shipped
//!            ReserveStock,          |  (pivot: from Paid on,          ShipOrder        AnnounceShipped
//!            RequestPayment         |   only forward)
//!                                   +--PaymentDeclined--> Cancelled (the lesson's on_declined)
//!                                                         ReleaseStock
//! ```
//!
//! One document per order ([`SagaOrder`], `kv.sagas.*`) holds the stage,
//! the ids of the messages applied (a handful per order) and the commands
//! decided and not yet sent: exercise 08's inline outbox, so that the new
//! stage and the commands commit in one if-match write. Every command
//! carries a token (Part D) minted before that write, under an id derived
//! from the message that decided it: a retry mints the same token again.

use harness::{Envelope, Error, HandlerContext, HandlerError, MessageId, headers};
use serde::{Deserialize, Serialize};

use super::{Lesson, Problem, System};
use crate::SubmitOrder;
use crate::orders::kv::TOKEN_HEADER;
use crate::orders::{BookPayment, PAYMENT_BOOKED, PaymentBooked};
use crate::outbox::{Kind, Outbound};
use crate::payments::PAYMENTS_QUEUE;
use crate::shipping::{LABEL_READY, LabelReady, Line, SHIPPING_QUEUE, ShipOrder, claim_check};

/// Where an order stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// The cart was submitted; nothing decided yet.
    #[default]
    Submitted,
    /// Stock reserved, payment asked for.
    PaymentRequested,
    /// The money is taken: the pivot. From here on, only forward.
    Paid,
    /// The label is ready; Marketing heard of it.
    Shipped,
    /// The payment was declined; the stock given back.
    Cancelled,
}

/// What happened, as the saga hears it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The front sent `SubmitOrder`.
    OrderPlaced(SubmitOrder),
    /// Payment took the money.
    PaymentBooked(PaymentBooked),
    /// The provider refused the card.
    PaymentDeclined(PaymentDeclined),
    /// Shipping's label is in the blob store.
    LabelReady(LabelReady),
}

/// What the saga asks the other services to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// The kitchen puts the order's pierogi aside.
    ReserveStock,
    /// Payment takes the money.
    RequestPayment,
    /// The compensation of a declined payment: the kitchen gives the
    /// order's pierogi back.
    ReleaseStock,
    /// Shipping ships it.
    ShipOrder,
    /// Tell whoever listens (Marketing) that the order left.
    AnnounceShipped,
}

/// One step of the state machine: the new stage and the commands to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The stage after the event.
    pub stage: Stage,
    /// What to send, in order.
    pub commands: Vec<Command>,
}

impl Step {
    /// Go to `stage` and send `commands`.
    pub fn to(stage: Stage, commands: &[Command]) -> Step {
        Step {
            stage,
            commands: commands.to_vec(),
        }
    }

    /// Stay where we are, send nothing: a copy, or an event that comes late.
    pub fn stay(stage: Stage) -> Step {
        Step::to(stage, &[])
    }
}

/// The state machine. Every arm but the decline is here; the decline is the
/// lesson's ([`Lesson::on_declined`]).
pub fn on(order: &SagaOrder, event: &Event, lesson: &Lesson) -> Step {
    use Command::*;
    match (order.stage, event) {
        (Stage::Submitted, Event::OrderPlaced(_)) => {
            Step::to(Stage::PaymentRequested, &[ReserveStock, RequestPayment])
        }
        // The pivot.
        (Stage::PaymentRequested, Event::PaymentBooked(_)) => Step::to(Stage::Paid, &[ShipOrder]),
        (_, Event::PaymentDeclined(declined)) => (lesson.on_declined)(order, declined),
        (Stage::Paid, Event::LabelReady(_)) => Step::to(Stage::Shipped, &[AnnounceShipped]),
        // A copy, or an event for a stage the order has left.
        (stage, _) => Step::stay(stage),
    }
}

/// The topic of `PaymentDeclined`.
pub const PAYMENT_DECLINED: &str = "PaymentDeclined";

/// The topic of `OrderShipped`.
pub const ORDER_SHIPPED: &str = "OrderShipped";

/// The kitchen's queue.
pub const KITCHEN_QUEUE: &str = "kitchen";

/// The store of the saga's documents (fault points `kv.sagas.*`).
pub const SAGAS_STORE: &str = "sagas";

/// The provider refused the card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentDeclined {
    /// The order.
    pub order_id: String,
    /// What was asked, in grosze.
    pub amount: u64,
    /// Why, as the provider says it.
    pub reason: String,
}

/// The order left: Marketing may grant a coupon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderShipped {
    /// The order.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// What it was worth, in grosze.
    pub amount: u64,
}

/// The kitchen puts aside, or gives back, an order's portions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockMove {
    /// The order.
    pub order_id: String,
    /// How many portions.
    pub portions: u32,
}

/// One order's saga as the store keeps it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SagaOrder {
    /// The order (the cart's id).
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// One portion per item.
    pub items: Vec<String>,
    /// Where the parcel goes.
    pub deliver_to: String,
    /// Where it stands.
    pub stage: Stage,
    /// The ids of the messages applied: a copy finds its id here.
    pub processed: Vec<MessageId>,
    /// Commands decided and not yet known to be sent, with their ids and
    /// tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<Outbound>,
}

/// The price of one portion (a dozen pierogi), in grosze.
pub const PORTION_PRICE: u64 = 12 * crate::shipping::UNIT_PRICE;

impl SagaOrder {
    /// What the order costs, in grosze.
    pub fn amount(&self) -> u64 {
        self.items.len() as u64 * PORTION_PRICE
    }
}

impl Event {
    /// The event a message carries. A body that does not read as its type
    /// says is [`Problem::Failed`] with `Error::BadBody`.
    pub fn read(message: &Envelope) -> Result<Event, Problem> {
        let event = match message.message_type.as_str() {
            "SubmitOrder" => Event::OrderPlaced(message.body()?),
            PAYMENT_BOOKED => Event::PaymentBooked(message.body()?),
            PAYMENT_DECLINED => Event::PaymentDeclined(message.body()?),
            LABEL_READY => Event::LabelReady(message.body()?),
            other => {
                return Err(Problem::Invalid(format!(
                    "the saga does not handle {other}"
                )));
            }
        };
        Ok(event)
    }

    /// The order it is about.
    pub fn order_id(&self) -> &str {
        match self {
            Event::OrderPlaced(placed) => &placed.cart_id,
            Event::PaymentBooked(booked) => &booked.order_id,
            Event::PaymentDeclined(declined) => &declined.order_id,
            Event::LabelReady(ready) => &ready.order_id,
        }
    }
}

impl System {
    /// Handles one message of the saga's queue; a failure goes through the
    /// lesson's `classify`.
    pub fn handle_saga(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        self.saga_step(ctx, message)
            .map_err(|problem| (self.lesson.classify)(&problem))
    }

    fn saga_step(&self, ctx: &mut HandlerContext, message: &Envelope) -> Result<(), Problem> {
        let event = Event::read(message)?;
        let order_id = event.order_id().to_string();
        let found = self.sagas.get::<SagaOrder>(&order_id, &order_id)?;
        let (mut order, mut version) = match found {
            Some(document) => (document.value, Some(document.version)),
            None => (self.new_saga(&event)?, None),
        };
        if !order.processed.contains(&message.id) {
            // Decide, mint, commit: the stage and the commands in one write.
            let step = on(&order, &event, &self.lesson);
            for command in &step.commands {
                let outbound = self.command(message, &order, *command)?;
                order.outbox.push(outbound);
            }
            order.stage = step.stage;
            order.processed.push(message.id);
            version = Some(self.save_saga(&order, version)?);
        }
        if order.outbox.is_empty() {
            return Ok(());
        }
        // Send what is stored (again, after a crash: the same ids and tokens).
        for outbound in &order.outbox {
            self.dispatch(ctx, outbound)?;
        }
        order.outbox.clear();
        self.save_saga(&order, version)?;
        Ok(())
    }

    /// Only `SubmitOrder` starts a saga, and only for a cart the kitchen
    /// can cook: anything else can never succeed as it is.
    fn new_saga(&self, event: &Event) -> Result<SagaOrder, Problem> {
        let Event::OrderPlaced(placed) = event else {
            return Err(Problem::Invalid(format!(
                "there is no order {} (yet) for this event",
                event.order_id()
            )));
        };
        if placed.items.is_empty() {
            return Err(Problem::Invalid(format!(
                "cart {} is empty",
                placed.cart_id
            )));
        }
        for item in &placed.items {
            if !self.menu.cooks(item) {
                return Err(Problem::Invalid(format!(
                    "cart {}: the kitchen makes no pierogi with {item}",
                    placed.cart_id
                )));
            }
        }
        Ok(SagaOrder {
            order_id: placed.cart_id.clone(),
            customer: placed.customer.clone(),
            items: placed.items.clone(),
            deliver_to: placed.deliver_to.clone(),
            ..SagaOrder::default()
        })
    }

    fn save_saga(
        &self,
        order: &SagaOrder,
        version: Option<harness::Version>,
    ) -> Result<harness::Version, Error> {
        let condition = match version {
            Some(version) => harness::Condition::IfMatch(version),
            None => harness::Condition::CreateOnly,
        };
        let id = &order.order_id;
        self.sagas.put(id, id, order, condition)
    }

    /// The message for `command`, with an id derived from the incoming
    /// message's, the order as correlation and conversation, and a token
    /// for each receiver (minted again by a retry: the same one).
    fn command(
        &self,
        incoming: &Envelope,
        order: &SagaOrder,
        command: Command,
    ) -> Result<Outbound, Problem> {
        let (kind, destination, message_type, body) = self.command_body(order, command);
        let id = incoming.id.derived(message_type);
        let envelope = Envelope {
            id,
            message_type: message_type.to_string(),
            headers: Default::default(),
            body,
        }
        .with_header(headers::CORRELATION_ID, &order.order_id)
        .with_header(headers::CONVERSATION_ID, &order.order_id)
        .with_header(TOKEN_HEADER, id.to_string());
        let mut outbound = Outbound {
            kind,
            destination: destination.to_string(),
            envelope,
        };
        if command == Command::ShipOrder {
            // Too big for the broker with a wedding's lines: by claim check,
            // under a name of its own (a retry writes the same bytes again).
            let blob = format!(
                "bodies/{}/{}",
                order.order_id,
                super::services::SHIP_ORDER_BODY
            );
            let ticket =
                claim_check::check_in(self.shipping.payloads(), &blob, &outbound.envelope)?;
            outbound.envelope = ticket;
        }
        let receivers = match kind {
            Kind::Send => vec![destination.to_string()],
            Kind::Publish => self.broker.subscribers(destination),
        };
        match self.tokens.create(&id.to_string(), &receivers) {
            Ok(()) => {}
            Err(err) if err.is_conflict() => {} // minted by an earlier attempt
            Err(err) => return Err(err.into()),
        }
        Ok(outbound)
    }

    fn command_body(
        &self,
        order: &SagaOrder,
        command: Command,
    ) -> (Kind, &'static str, &'static str, serde_json::Value) {
        let portions = order.items.len() as u32;
        let order_id = order.order_id.clone();
        let json = |value: serde_json::Result<serde_json::Value>| value.unwrap_or_default();
        match command {
            Command::ReserveStock => (
                Kind::Send,
                KITCHEN_QUEUE,
                "ReserveStock",
                json(serde_json::to_value(StockMove { order_id, portions })),
            ),
            Command::ReleaseStock => (
                Kind::Send,
                KITCHEN_QUEUE,
                "ReleaseStock",
                json(serde_json::to_value(StockMove { order_id, portions })),
            ),
            Command::RequestPayment => {
                let book = BookPayment {
                    id: format!("{order_id}/payment"),
                    order_id,
                    amount: order.amount(),
                };
                (
                    Kind::Send,
                    PAYMENTS_QUEUE,
                    "BookPayment",
                    json(serde_json::to_value(book)),
                )
            }
            Command::ShipOrder => {
                let ship = ShipOrder {
                    order_id,
                    customer: order.customer.clone(),
                    deliver_to: order.deliver_to.clone(),
                    lines: lines_of(&order.items),
                };
                (
                    Kind::Send,
                    SHIPPING_QUEUE,
                    "ShipOrder",
                    json(serde_json::to_value(ship)),
                )
            }
            Command::AnnounceShipped => {
                let shipped = OrderShipped {
                    order_id,
                    customer: order.customer.clone(),
                    amount: order.amount(),
                };
                (
                    Kind::Publish,
                    ORDER_SHIPPED,
                    ORDER_SHIPPED,
                    json(serde_json::to_value(shipped)),
                )
            }
        }
    }

    /// Sends one stored message now, through the monkeys.
    fn dispatch(&self, ctx: &mut HandlerContext, outbound: &Outbound) -> Result<(), Error> {
        self.monkeys.send(
            &outbound.envelope,
            &mut |message: &Envelope| match outbound.kind {
                Kind::Publish => ctx.publish_immediately(&outbound.destination, message.clone()),
                Kind::Send => ctx.send_immediately(&outbound.destination, message.clone()),
            },
        )
    }
}

/// One line per filling, a dozen per portion, all for table 1.
pub fn lines_of(items: &[String]) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for item in items {
        match lines.iter_mut().find(|line| &line.filling == item) {
            Some(line) => line.count += 12,
            None => lines.push(Line {
                table: 1,
                filling: item.clone(),
                count: 12,
            }),
        }
    }
    lines
}
