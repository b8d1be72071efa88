//! The outbox: one middleware that makes any handler of Orders safe against
//! crashes and copies, over the relational store.
//!
//! A handler only *describes* what a request does: how the order changes
//! (it changes a plain [`Order`](crate::Order)) and which messages go out (it adds them
//! to an [`Outgoing`]). The middleware does everything else: it loads and
//! saves the order, remembers which requests it handled, stores the
//! outgoing messages with the change, sends them, and marks them sent.
//!
//! The middleware is the lesson of exercises 09 and 11, so the shop only
//! defines its seam, [`Middleware`]: a plain function that gets the
//! [`Outbox`] (the database and the way out to the broker) and one
//! [`Delivery`] (the request, with its handler). Everything such a function
//! needs is here: [`table`] has the outbox's tables and statements,
//! [`Outbox::dispatch`] sends one stored message, and [`steps`] has the
//! short steps (load, write) of exercise 11's middleware. The shop's own
//! middleware, [`in_one_transaction`], is what Orders uses unless told
//! otherwise.

mod delivery;
mod journal;
mod outgoing;
pub mod steps;
pub mod table;

pub use delivery::{Delivery, Request};
pub use journal::{Journal, OutboxReport, Stored};
pub use outgoing::{Kind, Outbound, Outgoing};

use harness::sql::SqlStore;
use harness::{Envelope, Error, HandlerContext, HandlerError};

use crate::chaos::Chaos;

/// The seam the exercises fill: handles one delivery of a request, exactly
/// once as far as anyone can tell, however often it is delivered and
/// wherever a crash strikes. `Ok` acknowledges the message; an error gives
/// it back to the broker, which delivers it again.
///
/// ```
/// use harness::{HandlerContext, HandlerError, Sim};
/// use shop::orders::Orders;
/// use shop::outbox::{Delivery, Outbox, in_one_transaction};
///
/// /// Says which request it handles, then lets the shop's own middleware
/// /// handle it.
/// fn talkative(
///     outbox: &Outbox,
///     ctx: &mut HandlerContext,
///     request: &Delivery,
/// ) -> Result<(), HandlerError> {
///     ctx.sim().note(&format!("handling request {}", request.id()));
///     in_one_transaction(outbox, ctx, request)
/// }
///
/// let orders = Orders::with_middleware(&Sim::new(1), talkative);
/// assert!(orders.of_cart("c-1").unwrap().is_empty());
/// ```
pub type Middleware =
    fn(outbox: &Outbox, ctx: &mut HandlerContext, request: &Delivery) -> Result<(), HandlerError>;

/// The outbox over one database: its tables, and the chaos monkeys between
/// it and the broker. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    db: SqlStore,
    /// The chaos monkeys between the endpoint and the broker.
    monkeys: Chaos,
}

impl Outbox {
    /// An outbox over `db` (its tables must exist: [`table::create_tables`])
    /// that sends through `monkeys`.
    pub fn new(db: &SqlStore, monkeys: &Chaos) -> Outbox {
        Outbox {
            db: db.clone(),
            monkeys: monkeys.clone(),
        }
    }

    /// The database: the orders, `processed` and `outbox`, where one
    /// transaction can change them all.
    pub fn database(&self) -> &SqlStore {
        &self.db
    }

    /// Sends one message now (not when the handler returns), through the
    /// monkeys: published on its topic or sent to its queue, with the id,
    /// headers and body it has.
    pub fn dispatch(&self, ctx: &mut HandlerContext, outbound: &Outbound) -> Result<(), Error> {
        self.monkeys.send(
            &outbound.envelope,
            &mut |message: &Envelope| match outbound.kind {
                Kind::Publish => ctx.publish_immediately(&outbound.destination, message.clone()),
                Kind::Send => ctx.send_immediately(&outbound.destination, message.clone()),
            },
        )
    }
}

/// The shop's own middleware: the change, the processed mark and the
/// outgoing messages in one transaction (a copy of a handled request skips
/// it); then what the outbox holds for the request and has not sent, as
/// stored; then the mark that it went out.
///
/// The transaction holds the database while the handler runs, which is
/// why exercise 11 splits it into short steps.
pub fn in_one_transaction(
    outbox: &Outbox,
    ctx: &mut HandlerContext,
    request: &Delivery,
) -> Result<(), HandlerError> {
    outbox.database().transaction(|tx| {
        if table::is_processed(tx, request.id())? {
            return Ok(());
        }
        let mut order = request.load(tx)?;
        let outgoing = request.run_handler(ctx, &mut order)?;
        request.save(tx, &order)?;
        table::mark_processed(tx, request)?;
        table::store(tx, request.id(), &outgoing)
    })?;
    for outbound in table::pending(outbox.database(), request.id())? {
        outbox.dispatch(ctx, &outbound)?;
    }
    table::mark_dispatched(outbox.database(), request.id())?;
    Ok(())
}
