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

/// (a) Takes the money for `book`, once, and gives the answer every attempt
/// must publish.
pub fn charge(
    payments: &Payments,
    ctx: &mut HandlerContext,
    book: &BookPayment,
) -> Result<Charged, HandlerError> {
    // A fresh reference, so the provider never confuses two charges.
    let reference = ctx.new_message_id().to_string();
    let request = Payments::charge_request(book);
    let charged = payments
        .provider()
        .charge(&reference, &request)
        .map_err(failed)?;
    Ok(charged)
}

/// (b) Inside the `BookPayment` handler, before its commit: stores the
/// request at the provider, and returns the URL it is stored under.
pub fn send_request(
    payments: &Payments,
    _ctx: &mut HandlerContext,
    book: &BookPayment,
) -> Result<String, HandlerError> {
    let url = format!("/requests/{}", book.id);
    payments
        .provider()
        .put_request(&url, &Payments::charge_request(book))
        .map_err(failed)?;
    // Charge at once, while we are at it: the follow-up's POST will only
    // replay the answer.
    payments.provider().execute(&url).map_err(failed)?;
    Ok(url)
}

/// (b) Handling the follow-up, after the commit: the provider's answer for
/// the stored request.
pub fn execute(
    payments: &Payments,
    _ctx: &mut HandlerContext,
    follow_up: &ExecuteCharge,
) -> Result<Charged, HandlerError> {
    payments.provider().execute(&follow_up.url).map_err(failed)
}

/// (b) Once the follow-up is handled: leave nothing behind at the
/// provider.
pub fn clean_up(
    _payments: &Payments,
    _ctx: &mut HandlerContext,
    _follow_up: &ExecuteCharge,
) -> Result<(), HandlerError> {
    Ok(())
}

/// What the broker does with the message when a call to the provider did
/// not get its answer.
fn failed(error: ProviderError) -> HandlerError {
    match error {
        // Nobody knows whether it happened: try again (the same reference
        // or URL makes that safe).
        ProviderError::Unknown(reason) => HandlerError::transient(reason),
        // Too many requests: try again.
        ProviderError::Wait { reason, .. } => HandlerError::transient(reason),
        // It did not happen and never will: a person must look.
        ProviderError::Refused(reason) => HandlerError::unrecoverable(reason),
    }
}
