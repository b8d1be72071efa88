//! EXERCISE 15: the HTTP side of the Payment handler, which takes Ola's
//! money at the payment provider, a third party. Its calls fail *after*
//! they did their work, and the handler runs again and again: every
//! function here must be safe to run twice, on two workers at once.
//!
//! (a) `charge`: the provider honours an idempotency reference.
//! (b) `send_request`, `execute`, `clean_up`: the provider keeps no keys;
//!     it stores a request under a URL (`PUT`), executes it once (`POST`,
//!     a repeated `POST` replays the answer) and forgets it (`DELETE`).
//!
//! The shop calls them (`shop/src/payments.rs`): it publishes
//! `PaymentBooked` with the code you return, and marks the request booked.
//! `failed` decides what the broker does with the message when a call
//! did not get its answer.

use harness::{HandlerContext, HandlerError};
use shop::orders::BookPayment;
use shop::payments::{ExecuteCharge, Payments};
use shop::provider::{Charged, ProviderError};
use uuid::Uuid;

/// The namespace of charge references: the same request gives the same
/// reference on every attempt, on every worker, days later.
const CHARGES: Uuid = Uuid::from_u128(0xc4a2_6e00_0000_4000_8000_0000_0000_0015);

/// (a) Takes the money for `book`, once, and gives the answer every attempt
/// must publish: the first one the handler kept.
pub fn charge(
    payments: &Payments,
    _ctx: &mut HandlerContext,
    book: &BookPayment,
) -> Result<Charged, HandlerError> {
    // An earlier attempt got an answer: publish that one, again.
    if let Some(charged) = payments.captured(book)? {
        return Ok(charged);
    }
    // Named after the request, not the attempt: a retry is the same charge.
    let reference = Uuid::new_v5(&CHARGES, book.id.as_bytes()).to_string();
    let request = Payments::charge_request(book);
    let charged = payments
        .provider()
        .charge(&reference, &request)
        .map_err(failed)?;
    // Kept before anything is published; if another attempt kept one
    // first, that one wins.
    payments.capture(book, &charged)
}

/// (b) Inside the `BookPayment` handler, before its commit: stores the
/// request at the provider under a URL of this attempt's own, and returns
/// it. Executes nothing: the commit has not happened yet.
pub fn send_request(
    payments: &Payments,
    ctx: &mut HandlerContext,
    book: &BookPayment,
) -> Result<String, HandlerError> {
    // A new id for every attempt: an aborted attempt's request can be
    // deleted without touching the one that commits.
    let url = format!("/requests/{}", ctx.new_message_id());
    // Registered before the PUT: if the attempt dies after it, the URL is
    // known and gets deleted.
    payments.register_attempt(book, &url)?;
    payments
        .provider()
        .put_request(&url, &Payments::charge_request(book))
        .map_err(failed)?;
    Ok(url)
}

/// (b) Handling the follow-up, after the commit: executes the stored
/// request. A repeated `POST` (a retry, a copy of the follow-up) gets the
/// stored answer: the same code.
pub fn execute(
    payments: &Payments,
    _ctx: &mut HandlerContext,
    follow_up: &ExecuteCharge,
) -> Result<Charged, HandlerError> {
    payments.provider().execute(&follow_up.url).map_err(failed)
}

/// (b) Once the follow-up is handled: deletes every request the attempts
/// stored, the executed one (registered too) and the aborted ones.
/// Deleting twice is harmless: a later copy of the follow-up does it again.
pub fn clean_up(
    payments: &Payments,
    _ctx: &mut HandlerContext,
    follow_up: &ExecuteCharge,
) -> Result<(), HandlerError> {
    for url in payments.attempts(follow_up)? {
        payments.provider().forget(&url).map_err(failed)?;
    }
    Ok(())
}

/// What the broker does with the message when a call to the provider did
/// not get its answer.
fn failed(error: ProviderError) -> HandlerError {
    match error {
        // Nobody knows whether it happened: try again (the same reference
        // or URL makes that safe).
        ProviderError::Unknown(reason) => HandlerError::transient(reason),
        // Nothing happened, and the provider asked us to wait: the
        // message comes back once `delay` has passed. At once, it would be
        // refused again, and spend an attempt.
        ProviderError::Wait { delay, reason } => HandlerError::retry_after(delay, reason),
        // It did not happen and never will: a person must look.
        ProviderError::Refused(reason) => HandlerError::unrecoverable(reason),
    }
}
