//! The claim check: a message too large for the broker travels as a
//! ticket. Its body waits in the blob store, and the envelope on the queue
//! carries only the blob's path, in the [`CLAIM_CHECK`] header, with an
//! empty body.
//!
//! The body doubles as a token (Part D): the receiver deletes it once the
//! message is consumed, so a copy that finds no body is a copy of a message
//! that was consumed already, a duplicate.

use harness::{BlobStore, Envelope, Error};
use serde::de::DeserializeOwned;

/// The header that names the blob holding a claim-checked message's body.
pub const CLAIM_CHECK: &str = "claim-check";

/// Uploads `envelope`'s body to `blob` and returns the ticket: the same
/// message (id, type, headers) with an empty body and the [`CLAIM_CHECK`]
/// header. The upload replaces any blob there.
///
/// ```
/// use harness::{BlobStore, Envelope, MessageId, Sim};
/// use shop::shipping::claim_check::{CLAIM_CHECK, check_in, open};
///
/// let blobs = BlobStore::in_memory(&Sim::new(1), "payloads");
/// let big = Envelope::new(MessageId::from_u128(1), "InvoiceData", &vec![7u8; 1_000]);
/// let ticket = check_in(&blobs, "bodies/c-1/a-1/invoice", &big).unwrap();
/// assert_eq!(ticket.header(CLAIM_CHECK), Some("bodies/c-1/a-1/invoice"));
/// assert!(ticket.size_in_bytes() < 300);
/// assert_eq!(open::<Vec<u8>>(&blobs, &ticket).unwrap(), Some(vec![7u8; 1_000]));
/// ```
pub fn check_in(blobs: &BlobStore, blob: &str, envelope: &Envelope) -> Result<Envelope, Error> {
    let body = serde_json::to_vec(&envelope.body).map_err(|err| Error::BadBody {
        message_type: envelope.message_type.clone(),
        reason: err.to_string(),
    })?;
    blobs.put(blob, &body)?;
    let mut ticket = envelope.clone().with_header(CLAIM_CHECK, blob);
    ticket.body = serde_json::Value::Null;
    Ok(ticket)
}

/// The body of `envelope` as `T`: the inline body, or the claim-checked
/// one from the blob store. `Ok(None)` when the ticket's blob is gone: the
/// message was consumed already.
///
/// ```
/// use harness::{BlobStore, Envelope, MessageId, Sim};
/// use shop::shipping::claim_check::open;
///
/// let blobs = BlobStore::in_memory(&Sim::new(1), "payloads");
/// let small = Envelope::new(MessageId::from_u128(1), "LabelReady", &"inline");
/// assert_eq!(open::<String>(&blobs, &small).unwrap().as_deref(), Some("inline"));
/// ```
pub fn open<T: DeserializeOwned>(
    blobs: &BlobStore,
    envelope: &Envelope,
) -> Result<Option<T>, Error> {
    let Some(blob) = envelope.header(CLAIM_CHECK) else {
        return envelope.body().map(Some);
    };
    let Some(bytes) = blobs.get(blob)? else {
        return Ok(None);
    };
    let body = serde_json::from_slice(&bytes).map_err(|err| Error::BadBody {
        message_type: envelope.message_type.clone(),
        reason: format!("the body in blob {blob}: {err}"),
    })?;
    Ok(Some(body))
}

/// Deletes the claim-checked body of `envelope` (nothing for an inline
/// message): the token is consumed.
///
/// ```
/// use harness::{BlobStore, Envelope, MessageId, Sim};
/// use shop::shipping::claim_check::{check_in, consume, open};
///
/// let blobs = BlobStore::in_memory(&Sim::new(1), "payloads");
/// let ticket = check_in(&blobs, "bodies/m-1", &Envelope::new(MessageId::from_u128(1), "X", &1)).unwrap();
/// consume(&blobs, &ticket).unwrap();
/// assert_eq!(open::<u32>(&blobs, &ticket).unwrap(), None);
/// ```
pub fn consume(blobs: &BlobStore, envelope: &Envelope) -> Result<(), Error> {
    if let Some(blob) = envelope.header(CLAIM_CHECK) {
        blobs.delete(blob)?;
    }
    Ok(())
}

/// The blob a ticket points at, if `envelope` is one.
pub fn blob_of(envelope: &Envelope) -> Option<&str> {
    envelope.header(CLAIM_CHECK)
}
