//! The caller's side of the provider: one method per call, each telling
//! what came back in the terms a message handler decides on
//! ([`ProviderError`]):
//!
//! - `2xx`: it worked; here is the answer.
//! - no answer at all (a lost response, a failed send), or a `5xx`:
//!   **nobody knows** whether it happened ([`ProviderError::Unknown`]).
//! - `429 Too Many Requests`, or a `503` with `Retry-After`: it did not
//!   happen, and the provider asks to wait before asking again
//!   ([`ProviderError::Wait`]).
//! - any other `4xx`: it did not happen and never will
//!   ([`ProviderError::Refused`]).
//!
//! What the handler does with each (retry now, retry later, dead-letter) is
//! the handler's decision, not the client's.

use std::fmt;
use std::time::Duration;

use harness::http::{HttpClient, HttpResponse};

use super::ledger::{ChargeRequest, Charged};

/// Why a call to the provider did not give the answer asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderError {
    /// No answer, or a `5xx` without `Retry-After`: the provider may or may
    /// not have done it. Asking again with the same reference or URL is
    /// safe, and the only way to know.
    Unknown(String),
    /// `429 Too Many Requests`, or a `503` with `Retry-After`: nothing was
    /// done, and the provider asks the caller to wait `delay` first.
    Wait {
        /// The provider's `Retry-After` (1 s when a `429` gives none).
        delay: Duration,
        /// What was asked and answered.
        reason: String,
    },
    /// Any other `4xx`, or an answer that makes no sense: it did not
    /// happen, and asking again will not change that.
    Refused(String),
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::Unknown(reason) | ProviderError::Refused(reason) => f.write_str(reason),
            ProviderError::Wait { delay, reason } => {
                write!(f, "{reason} (wait {} s)", delay.as_secs_f64())
            }
        }
    }
}

impl std::error::Error for ProviderError {}

/// How long to wait after a `429` that does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);

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
    ) -> Result<Charged, ProviderError> {
        let what = format!("POST /charges (Idempotency-Key {reference})");
        let sent = self
            .http
            .with_header("Idempotency-Key", reference)
            .post_json("/charges", request);
        let response = answered(&what, sent)?;
        read_charged(&what, &response)
    }

    /// Face (b): `PUT url`, storing the request; nothing is executed.
    pub fn put_request(&self, url: &str, request: &ChargeRequest) -> Result<(), ProviderError> {
        let what = format!("PUT {url}");
        answered(&what, self.http.put_json(url, request))?;
        Ok(())
    }

    /// Face (b): `POST url`, executing the stored request once; a repeated
    /// `POST` gets the stored answer again.
    pub fn execute(&self, url: &str) -> Result<Charged, ProviderError> {
        let what = format!("POST {url}");
        let response = answered(&what, self.http.post(url))?;
        read_charged(&what, &response)
    }

    /// Face (b): `DELETE url`, forgetting the request and its answer.
    pub fn forget(&self, url: &str) -> Result<(), ProviderError> {
        let what = format!("DELETE {url}");
        answered(&what, self.http.delete(url))?;
        Ok(())
    }
}

/// The response if it was a 2xx; otherwise what the answer (or its
/// absence) means.
fn answered(
    what: &str,
    sent: Result<HttpResponse, harness::Error>,
) -> Result<HttpResponse, ProviderError> {
    let response = sent.map_err(|err| {
        ProviderError::Unknown(format!(
            "{what}: no answer from the provider ({err}); it may or may not have happened"
        ))
    })?;
    if response.is_success() {
        return Ok(response);
    }
    let status = response.status.as_u16();
    let said = format!(
        "{what}: the provider answered {status}: {}",
        response.text()
    );
    match (status, response.retry_after()) {
        (429, wait) => Err(ProviderError::Wait {
            delay: wait.unwrap_or(DEFAULT_WAIT),
            reason: said,
        }),
        (503, Some(wait)) => Err(ProviderError::Wait {
            delay: wait,
            reason: said,
        }),
        _ if response.status.is_server_error() => Err(ProviderError::Unknown(said)),
        _ => Err(ProviderError::Refused(said)),
    }
}

fn read_charged(what: &str, response: &HttpResponse) -> Result<Charged, ProviderError> {
    response.json::<Charged>().map_err(|err| {
        ProviderError::Refused(format!(
            "{what}: the provider's answer is not a charge: {err}"
        ))
    })
}
