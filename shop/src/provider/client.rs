//! The caller's side of the provider: one method per call, each mapping
//! what came back to what a message handler must do with it.
//!
//! - `2xx`: it worked; here is the answer.
//! - `429`, `5xx`, or no answer at all (a lost response, a failed send):
//!   **nobody knows** whether it happened. A transient
//!   [`HandlerError`]: the message comes back, and the handler tries again,
//!   with the same reference or URL. A `Retry-After` is in the reason.
//! - any other `4xx`: it did not happen and never will. Unrecoverable: the
//!   message goes to the dead-letter queue at once, where a person looks.

use harness::HandlerError;
use harness::http::{HttpClient, HttpResponse};

use super::ledger::{ChargeRequest, Charged};

/// Calls the payment provider over HTTP (in-process or on a socket).
/// Cheap to clone.
#[derive(Clone)]
pub struct ProviderClient {
    http: HttpClient,
}

impl ProviderClient {
    /// A client over `http` (whose service names the fault points).
    pub fn new(http: HttpClient) -> ProviderClient {
        ProviderClient { http }
    }

    /// Face (a): `POST /charges` with `reference` as the `Idempotency-Key`.
    /// The same reference and body charge once, however often sent.
    pub fn charge(
        &self,
        reference: &str,
        request: &ChargeRequest,
    ) -> Result<Charged, HandlerError> {
        let what = format!("POST /charges (Idempotency-Key {reference})");
        let sent = self
            .http
            .with_header("Idempotency-Key", reference)
            .post_json("/charges", request);
        let response = answered(&what, sent)?;
        read_charged(&what, &response)
    }

    /// Face (b): `PUT url`, storing the request; nothing is executed.
    pub fn put_request(&self, url: &str, request: &ChargeRequest) -> Result<(), HandlerError> {
        let what = format!("PUT {url}");
        answered(&what, self.http.put_json(url, request))?;
        Ok(())
    }

    /// Face (b): `POST url`, executing the stored request once; a repeated
    /// `POST` gets the stored answer again.
    pub fn execute(&self, url: &str) -> Result<Charged, HandlerError> {
        let what = format!("POST {url}");
        let response = answered(&what, self.http.post(url))?;
        read_charged(&what, &response)
    }

    /// Face (b): `DELETE url`, forgetting the request and its answer.
    pub fn forget(&self, url: &str) -> Result<(), HandlerError> {
        let what = format!("DELETE {url}");
        answered(&what, self.http.delete(url))?;
        Ok(())
    }
}

/// The response if it was a 2xx; otherwise the error that says what the
/// handler must do.
fn answered(
    what: &str,
    sent: Result<HttpResponse, harness::Error>,
) -> Result<HttpResponse, HandlerError> {
    let response = sent.map_err(|err| {
        HandlerError::transient(format!(
            "{what}: no answer from the provider ({err}); it may or may not have happened"
        ))
    })?;
    let status = response.status.as_u16();
    if response.is_success() {
        return Ok(response);
    }
    if status == 429 || response.status.is_server_error() {
        let wait = match response.retry_after() {
            Some(wait) => format!("; it asks to wait {} s", wait.as_secs()),
            None => String::new(),
        };
        return Err(HandlerError::transient(format!(
            "{what}: the provider answered {status}{wait}; try again later: {}",
            response.text()
        )));
    }
    Err(HandlerError::unrecoverable(format!(
        "{what}: the provider refused with {status}: {}",
        response.text()
    )))
}

fn read_charged(what: &str, response: &HttpResponse) -> Result<Charged, HandlerError> {
    response.json::<Charged>().map_err(|err| {
        HandlerError::unrecoverable(format!(
            "{what}: the provider's answer is not a charge: {err}"
        ))
    })
}
