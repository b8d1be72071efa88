//! What the key-value store holds after a run, for Part D's demo: how big
//! the order documents grew against the item limit, and what messaging
//! data they still hold.

use std::fmt;

use std::collections::BTreeSet;

use harness::{Broker, Error, EventKind, Sim};

use super::{MAX_ORDER_BYTES, ORDERS_STORE, Orders, TOKEN_STORE, token_of};

/// The order documents after a run.
#[derive(Clone, Debug)]
pub struct StoreReport {
    /// The size of the largest order document, in bytes.
    pub largest: usize,
    /// Writes of an order refused because the document outgrew
    /// [`MAX_ORDER_BYTES`].
    pub too_large: usize,
    /// Outbox entries still in the orders once everything is delivered:
    /// messages of finished requests that nobody will clean up.
    pub stale_entries: usize,
    /// Processed ids the orders still keep.
    pub ids_in_orders: usize,
    /// Pending pointers still in the orders once everything is delivered
    /// (exercise 13): transactions nobody finished.
    pub pending_left: usize,
    /// Outbox documents still staged once everything is delivered
    /// (exercise 13): left by commits that failed, never sent.
    pub staged_left: usize,
    /// Tokens left in the token store that no message still in flight (a
    /// dead letter included) carries: nobody will ever consume them.
    pub tokens_left: usize,
    /// Tokens no message carries: minted by an attempt that lost (its write
    /// of the order was refused, or it crashed before it), never sent.
    pub orphan_tokens: usize,
}

impl StoreReport {
    /// Reads the documents of `order_ids` and counts from `sim`'s trace.
    pub fn of(sim: &Sim, orders: &Orders, order_ids: &[String]) -> Result<StoreReport, Error> {
        let trace = sim.trace();
        let too_large = trace
            .events()
            .iter()
            .filter(|event| match &event.kind {
                EventKind::HandlerFailed { error, .. } => error.contains("over the limit"),
                _ => false,
            })
            .count();
        let mut report = StoreReport {
            largest: 0,
            too_large,
            stale_entries: 0,
            ids_in_orders: 0,
            pending_left: 0,
            staged_left: 0,
            tokens_left: 0,
            orphan_tokens: 0,
        };
        for order_id in order_ids {
            let Some(found) = orders.find_order(order_id)? else {
                continue;
            };
            report.largest = report.largest.max(found.value.size());
            report.stale_entries += found.value.outbox.len();
            report.ids_in_orders += found.value.processed.len();
            report.pending_left += usize::from(found.value.pending.is_some());
            report.staged_left += orders.outbox().staged(order_id)?.len();
        }
        Ok(report)
    }

    /// The same report, with the tokens left in `orders`' token store once
    /// `broker` is quiet (a town of tokens, exercise 14).
    pub fn counting_tokens(self, orders: &Orders, broker: &Broker) -> Result<StoreReport, Error> {
        let mut dead = BTreeSet::new();
        for queue in broker.queue_names() {
            for letter in broker.dead_letters(&queue)? {
                dead.extend(token_of(&letter.envelope).map(str::to_string));
            }
        }
        let sent: BTreeSet<String> = broker
            .sent_log()
            .iter()
            .filter_map(|record| token_of(&record.envelope).map(str::to_string))
            .collect();
        let mut report = self;
        for (token, _) in orders.tokens().left() {
            if !sent.contains(&token) {
                report.orphan_tokens += 1;
            } else if !dead.contains(&token) {
                report.tokens_left += 1;
            }
        }
        Ok(report)
    }

    /// True when no write was refused as too large, no finished request
    /// left messages or a pending pointer in its order, and no token is
    /// left behind: neither of a delivered message nor an orphan.
    pub fn is_clean(&self) -> bool {
        self.too_large == 0
            && self.stale_entries == 0
            && self.pending_left == 0
            && self.tokens_left == 0
            && self.orphan_tokens == 0
    }
}

impl fmt::Display for StoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  Documents:  the largest order is {} bytes (limit {MAX_ORDER_BYTES}); they keep {} \
             processed ids and {} stale outbox entries",
            self.largest, self.ids_in_orders, self.stale_entries
        )?;
        if self.too_large > 0 {
            writeln!(
                f,
                "  ITEM TOO LARGE: {} writes to store {ORDERS_STORE} refused: the orders outgrew \
                 the item limit",
                self.too_large
            )?;
        }
        if self.staged_left > 0 {
            writeln!(
                f,
                "  Outbox documents: {} left by commits that failed, never sent (a TTL or a \
                 sweep removes them)",
                self.staged_left
            )?;
        }
        if self.pending_left > 0 {
            writeln!(
                f,
                "  UNFINISHED: {} orders still point to a pending transaction when every \
                 request is done",
                self.pending_left
            )?;
        }
        if self.stale_entries > 0 {
            writeln!(
                f,
                "  GARBAGE: {} outbox entries of finished requests left in the orders",
                self.stale_entries
            )?;
        }
        if self.tokens_left > 0 {
            writeln!(
                f,
                "  GARBAGE: {} tokens left in store {TOKEN_STORE} by messages no longer in \
                 flight: nobody consumed them",
                self.tokens_left
            )?;
        }
        if self.orphan_tokens > 0 {
            writeln!(
                f,
                "  GARBAGE: {} orphan tokens in store {TOKEN_STORE}, minted by attempts that \
                 lost and never sent: nobody cleaned them up",
                self.orphan_tokens
            )?;
        }
        Ok(())
    }
}
