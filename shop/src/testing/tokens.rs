//! Test helpers for a town of tokens (exercise 14): requests with the token
//! the order page would give them, and the checks of what the token store
//! and the receivers' gates saw, each a [`Violation`] in the course's words.

use std::collections::{BTreeMap, BTreeSet};

use harness::{Broker, Envelope, MessageId, MessageRef, Sim, Violation};

use crate::ORDERS_QUEUE;
use crate::orders::kv::{Orders, TOKEN_HEADER, token_of};

/// `request` as the order page sends it in a town of tokens: a new token
/// for Orders is created first, and its id goes in the request's header.
///
/// # Panics
///
/// If the token store refuses the token (a test that injects faults into
/// it must do so after this call).
pub fn with_token(sim: &Sim, orders: &Orders, request: Envelope) -> Envelope {
    let token = sim.new_uuid().to_string();
    orders
        .tokens()
        .create(&token, &[ORDERS_QUEUE.to_string()])
        .expect("the token store takes a new token");
    request.with_header(TOKEN_HEADER, token)
}

/// A violation if a token that a message went out with is left in the
/// store once `broker` is quiet, apart from the tokens of dead letters
/// (still in flight: an operator may replay them). Dedup data must be
/// bounded by the messages in flight. (Orphans, tokens minted by an attempt
/// that lost and carried by no message, are [`no_orphan_token`]'s business.)
pub fn no_token_left(sim: &Sim, orders: &Orders, broker: &Broker) -> Result<(), Violation> {
    let mut in_flight = BTreeSet::new();
    for queue in broker.queue_names() {
        for letter in broker.dead_letters(&queue).unwrap_or_default() {
            in_flight.extend(token_of(&letter.envelope).map(str::to_string));
        }
    }
    let sent = broker.sent_log();
    let carrier_of = |token: &str| {
        sent.iter()
            .find(|record| token_of(&record.envelope) == Some(token))
    };
    let left: Vec<(String, String, MessageRef)> = orders
        .tokens()
        .left()
        .into_iter()
        .filter(|(token, _)| !in_flight.contains(token))
        .filter_map(|(token, receiver)| {
            let carrier = carrier_of(&token)?;
            Some((token, receiver, sim.message_ref(&carrier.envelope)))
        })
        .collect();
    let Some((_, receiver, label)) = left.first() else {
        return Ok(());
    };
    let headline = format!(
        "garbage: tokens left once every message is delivered: {}; the token of {label} is \
         still there for {receiver}: nobody consumed it, and nobody ever will",
        left.len()
    );
    let marked = vec![label.clone()];
    Err(Violation::new(
        "dedup data bounded by the messages in flight",
        &headline,
        marked,
        sim,
    ))
}

/// A violation if a token that no message ever carried is left in the store
/// once `broker` is quiet: an orphan, minted by an attempt that lost (its
/// save of the order was refused, or it crashed before it) and never sent.
/// No receiver will ever consume it; only its minter's clean-up can delete
/// it.
pub fn no_orphan_token(sim: &Sim, orders: &Orders, broker: &Broker) -> Result<(), Violation> {
    let mut carried = BTreeSet::new();
    for queue in broker.queue_names() {
        for letter in broker.dead_letters(&queue).unwrap_or_default() {
            carried.extend(token_of(&letter.envelope).map(str::to_string));
        }
    }
    for record in broker.sent_log() {
        carried.extend(token_of(&record.envelope).map(str::to_string));
    }
    let orphans: Vec<(String, String)> = orders
        .tokens()
        .left()
        .into_iter()
        .filter(|(token, _)| !carried.contains(token))
        .collect();
    let Some((token, receiver)) = orphans.first() else {
        return Ok(());
    };
    let headline = format!(
        "garbage: orphan tokens left once every message is delivered: {}; token {token} for \
         {receiver} was minted, but no message ever carried it: an attempt that lost made it, \
         and nobody will ever delete it",
        orphans.len()
    );
    Err(Violation::new("no orphan tokens", &headline, vec![], sim))
}

/// A violation unless every event Orders published to a subscriber carried
/// a token, and each receiver handled each event to the end once: a second
/// time means a second token for the same event, or the same token created
/// again after it was consumed.
pub fn each_event_admitted_once(
    sim: &Sim,
    orders: &Orders,
    broker: &Broker,
) -> Result<(), Violation> {
    let sent = broker.sent_log();
    let label_of = |id: MessageId| -> Option<MessageRef> {
        let found = sent.iter().find(|record| record.envelope.id == id)?;
        Some(sim.message_ref(&found.envelope))
    };
    for record in &sent {
        let event = record.published && record.handling.is_some() && !record.queues.is_empty();
        if event && token_of(&record.envelope).is_none() {
            let label = sim.message_ref(&record.envelope);
            let headline = format!(
                "unguarded: {label} went out without a token: {} cannot tell it from a copy",
                record.queues.join(" and ")
            );
            return Err(Violation::new(
                "every event has a token",
                &headline,
                vec![label],
                sim,
            ));
        }
    }
    let mut tokens: BTreeMap<(String, MessageId), Vec<String>> = BTreeMap::new();
    for admission in orders.tokens().admissions() {
        tokens
            .entry((admission.receiver.clone(), admission.message))
            .or_default()
            .push(admission.token);
    }
    for ((receiver, message), seen) in tokens {
        if seen.len() < 2 {
            continue;
        }
        let marked: Vec<MessageRef> = label_of(message).into_iter().collect();
        let label = sim.label(message);
        let how = if seen[0] == seen[1] {
            format!(
                "twice by token {}, created again after it was consumed: a retry made the same \
                 token anew",
                seen[0]
            )
        } else {
            format!(
                "by token {} and again by token {}: a retry minted new tokens for a message \
                 already sent",
                seen[0], seen[1]
            )
        };
        let headline = format!(
            "duplicate: {receiver} processed {label} {} times, let in {how}",
            seen.len()
        );
        let invariant = "processed once downstream";
        return Err(Violation::new(invariant, &headline, marked, sim));
    }
    Ok(())
}
