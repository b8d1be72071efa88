//! The payment provider: a third party's HTTP API that takes the
//! customers' money (Part E, exercise 15). It is not the shop's code, not
//! the shop's store, not the shop's broker: its work cannot join the
//! shop's transaction, and its calls fail *after* they did their work.
//!
//! It is a real `axum` service, served in-process in the tests (through
//! [`harness::http::HttpClient::in_process`], with the fault points
//! `http.provider.<method>`) and on 127.0.0.1 by `serve`. It keeps a
//! [`Ledger`] of every charge, and it has two faces:
//!
//! - (a) `POST /charges` honours an idempotency reference: the same
//!   `Idempotency-Key` with the same body charges once. It answers a
//!   repeated reference with the same charge but a **new** authorisation
//!   code, as providers that authorise every call do: the caller that wants
//!   one code must keep the first answer.
//! - (b) it keeps no keys and offers the four-verb protocol instead, over
//!   `/requests/{id}` (see [`requests`]).
//!
//! Every malformed or hostile request gets a 4xx with a JSON body
//! `{"error": ...}`, never a 5xx or a panic: the shop's own guards
//! ([`crate::http::guarded`]) bound bodies and heads, and ids are checked.
//! [`ProviderClient`] is the caller's side.
//!
//! ```
//! use harness::Sim;
//! use shop::provider::{ChargeRequest, Provider};
//!
//! let sim = Sim::new(1);
//! let provider = Provider::new();
//! let client = provider.client(&sim);
//! let request = ChargeRequest { order_id: "c-1".into(), amount: 2_400 };
//! let first = client.charge("ref-1", &request).unwrap();
//! let again = client.charge("ref-1", &request).unwrap();
//! assert_eq!(provider.charges().len(), 1); // charged once
//! assert_eq!(first.charge_id, again.charge_id);
//! assert_ne!(first.auth_code, again.auth_code); // a new code per answer
//! ```

mod client;
mod ledger;
pub mod requests;

pub use client::{ProviderClient, ProviderError};
pub use ledger::{Charge, ChargeRequest, Charged, Ledger, Origin};

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use harness::Sim;
use harness::http::HttpClient;
use serde_json::json;

use crate::http::{
    ApiError, ApiPath, HeaderMap, IntoResponse, Json, JsonBody, Response, StatusCode,
    check_idempotency_key, guarded, idempotency_key,
};
use requests::{Executed, Refusal, Requests, Slot, Stored};

/// The provider's name in fault points and traces (`http.provider.post`).
pub const PROVIDER: &str = "provider";

/// The longest request id the provider accepts (a UUID is 36 characters).
pub const MAX_REQUEST_ID: usize = 64;

/// The payment provider. Cheap to clone: clones share the ledger and the
/// stored requests.
#[derive(Clone, Default)]
pub struct Provider {
    state: Arc<Mutex<Books>>,
}

/// Everything the provider keeps.
#[derive(Default)]
struct Books {
    ledger: Ledger,
    requests: Requests,
}

impl Provider {
    /// A provider that charged nobody yet.
    pub fn new() -> Provider {
        Provider::default()
    }

    /// Its HTTP API.
    pub fn router(&self) -> Router {
        self.router_with(Router::new())
    }

    /// Its HTTP API with `extra` routes of another service on the same
    /// port (the demo's shop), behind the same guards.
    pub fn router_with(&self, extra: Router) -> Router {
        let api = Router::new()
            .route("/charges", post(charge).get(list_charges))
            .route(
                "/requests/{id}",
                get(show_request)
                    .put(put_request)
                    .post(execute_request)
                    .delete(delete_request),
            )
            .with_state(self.clone())
            .merge(extra)
            .fallback(unknown_path)
            .method_not_allowed_fallback(wrong_method);
        guarded(api)
    }

    /// A client that calls it in-process, with the fault points
    /// `http.provider.*` of `sim`.
    pub fn client(&self, sim: &Sim) -> ProviderClient {
        ProviderClient::new(HttpClient::in_process(sim, PROVIDER, self.router()))
    }

    /// Every charge made, in order.
    pub fn charges(&self) -> Vec<Charge> {
        self.books().ledger.charges().to_vec()
    }

    /// The ids of the requests it still keeps (face b): after a clean run,
    /// none.
    pub fn stored_requests(&self) -> Vec<String> {
        self.books().requests.ids()
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        // Its handlers never panic while holding the lock; if one did, the
        // books are still whole (every change is one assignment).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `POST /charges` (face a).
async fn charge(
    State(provider): State<Provider>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<ChargeRequest>,
) -> Result<Response, ApiError> {
    check_idempotency_key(&headers)?;
    check_charge(&request)?;
    let reference = idempotency_key(&headers);
    let mut books = provider.books();
    let earlier = reference
        .as_deref()
        .and_then(|reference| books.ledger.with_reference(reference))
        .cloned();
    let Some(earlier) = earlier else {
        let origin = Origin {
            reference,
            request: None,
        };
        let charged = books.ledger.charge(&request, origin);
        return Ok((StatusCode::CREATED, Json(charged)).into_response());
    };
    if earlier.order_id != request.order_id || earlier.amount != request.amount {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the Idempotency-Key was used for charge {} of {} grosze for order {}: a key \
                 names one request, send a new key for another",
                earlier.charge_id, earlier.amount, earlier.order_id
            ),
        ));
    }
    let charged = books.ledger.answer_again(&earlier);
    Ok((StatusCode::OK, Json(charged)).into_response())
}

/// `GET /charges`: the ledger.
async fn list_charges(State(provider): State<Provider>) -> Json<Vec<Charge>> {
    Json(provider.charges())
}

/// `PUT /requests/{id}`: store, execute nothing.
async fn put_request(
    State(provider): State<Provider>,
    ApiPath(id): ApiPath<String>,
    JsonBody(request): JsonBody<ChargeRequest>,
) -> Result<Response, ApiError> {
    check_request_id(&id)?;
    check_charge(&request)?;
    match provider.books().requests.put(&id, request) {
        Ok(Stored::New) => Ok(StatusCode::CREATED.into_response()),
        Ok(Stored::Again) => Ok(StatusCode::OK.into_response()),
        Err(refusal) => Err(refused(&id, refusal)),
    }
}

/// `POST /requests/{id}`: execute once; a repeat replays the response.
async fn execute_request(
    State(provider): State<Provider>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    check_request_id(&id)?;
    let mut books = provider.books();
    let Books { ledger, requests } = &mut *books;
    match requests.execute(&id, ledger) {
        Ok(Executed::Now(charged)) => Ok((StatusCode::CREATED, Json(charged)).into_response()),
        Ok(Executed::Before(charged)) => Ok((StatusCode::OK, Json(charged)).into_response()),
        Err(refusal) => Err(refused(&id, refusal)),
    }
}

/// `DELETE /requests/{id}`: forget it (idempotent: 204 either way).
async fn delete_request(
    State(provider): State<Provider>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    check_request_id(&id)?;
    provider.books().requests.delete(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /requests/{id}`: what the provider keeps under the id (for people
/// with `curl`; the protocol itself never needs it).
async fn show_request(
    State(provider): State<Provider>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_request_id(&id)?;
    match provider.books().requests.get(&id) {
        Some(Slot::Stored(request)) => Ok(Json(
            json!({ "id": id, "state": "stored", "request": request }),
        )),
        Some(Slot::Executed(request, response)) => Ok(Json(json!({
            "id": id, "state": "executed", "request": request, "response": response
        }))),
        None => Err(refused(&id, Refusal::NoRequest)),
    }
}

fn refused(id: &str, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::OtherBody => ApiError::new(
            StatusCode::CONFLICT,
            format!("request {id} is stored with another body: an id names one request"),
        ),
        Refusal::ExecutedAlready => ApiError::new(
            StatusCode::CONFLICT,
            format!("request {id} was executed already: an id is used once, take a new one"),
        ),
        Refusal::NoRequest => ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "there is no request {id}: PUT it first; after a DELETE it is gone, and \
                 nothing is executed"
            ),
        ),
    }
}

/// 400 unless the id is 1 to [`MAX_REQUEST_ID`] letters, digits, `-` or `_`.
fn check_request_id(id: &str) -> Result<(), ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if id.is_empty() || id.len() > MAX_REQUEST_ID || !id.chars().all(allowed) {
        let shown: String = id.chars().take(MAX_REQUEST_ID).collect();
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "`{shown}` is not a request id: 1 to {MAX_REQUEST_ID} letters, digits, `-` or \
                 `_` (a UUID is best)"
            ),
        ));
    }
    Ok(())
}

/// 400 for a charge of nothing or for nobody.
fn check_charge(request: &ChargeRequest) -> Result<(), ApiError> {
    if request.amount == 0 || request.order_id.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a charge needs an order_id and an amount of at least 1 grosz",
        ));
    }
    Ok(())
}

async fn unknown_path() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such resource: the provider offers /charges and /requests/{id} (see the README of \
         exercise 15)",
    )
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this resource does not support that method: POST /charges; PUT, POST, DELETE or GET \
         /requests/{id}",
    )
}
