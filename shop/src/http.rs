//! The shop's HTTP API. Every error is answered with a JSON body
//! `{"error": "..."}` that says what was wrong; nothing answers 500.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Cart, KeyRecord, Line, Order, Outcome, Shop, SubmitError};

/// The largest request body the API accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct App {
    /// The shop's data.
    pub shop: Shop,
    /// The Orders service, asked for the order a submit led to.
    pub orders: Arc<dyn PlacedOrders>,
    /// The idempotency keys of the requests being processed right now.
    pub in_flight: InFlight,
}

/// Where the API finds the order a cart became: the Orders service, on
/// documents (Part A, [`crate::front::orders::Orders`]) or on SQL (Parts
/// B–C, [`crate::orders::Orders`]).
pub trait PlacedOrders: Send + Sync + 'static {
    /// Every order made from the cart.
    fn of_cart(&self, cart_id: &str) -> Result<Vec<Order>, harness::Error>;
}

impl PlacedOrders for crate::orders::Orders {
    fn of_cart(&self, cart_id: &str) -> Result<Vec<Order>, harness::Error> {
        crate::orders::Orders::of_cart(self, cart_id)
    }
}

impl PlacedOrders for crate::front::orders::Orders {
    fn of_cart(&self, cart_id: &str) -> Result<Vec<Order>, harness::Error> {
        crate::front::orders::Orders::of_cart(self, cart_id)
    }
}

/// The shop's API, asking `orders` for the order a submit led to.
pub fn router(shop: Shop, orders: impl PlacedOrders) -> Router {
    let app = App {
        shop,
        orders: Arc::new(orders),
        in_flight: InFlight::default(),
    };
    Router::new()
        .route("/carts/{cart_id}", get(get_cart).put(put_cart))
        .route("/carts/{cart_id}/items/{line_id}", put(put_line))
        .route("/carts/{cart_id}/submit", post(submit))
        .route("/carts/{cart_id}/order", get(get_order))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

/// The body of `PUT /carts/{id}`.
#[derive(Deserialize)]
struct NewCart {
    customer: String,
}

/// The body of a request that adds a line.
#[derive(Deserialize)]
struct NewLine {
    name: String,
}

/// The body of `POST /carts/{id}/submit`.
#[derive(Deserialize, Serialize)]
pub struct SubmitRequest {
    /// Where to bring the order.
    pub deliver_to: String,
}

/// `PUT /carts/{id}`: the client names the cart.
async fn put_cart(
    State(app): State<App>,
    Path(cart_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: NewCart = parse_json(body)?;
    let outcome = app.shop.create_cart(&cart_id, &request.customer)?;
    let status = status_of(outcome, &format!("cart {cart_id}"))?;
    let cart = app.shop.cart(&cart_id)?.unwrap_or_default();
    Ok((status, Json(cart_view(&cart_id, &cart))).into_response())
}

/// `GET /carts/{id}`.
async fn get_cart(
    State(app): State<App>,
    Path(cart_id): Path<String>,
) -> Result<Response, ApiError> {
    match app.shop.cart(&cart_id)? {
        Some(cart) => Ok(Json(cart_view(&cart_id, &cart)).into_response()),
        None => Err(ApiError::unknown_cart(&cart_id)),
    }
}

/// `PUT /carts/{id}/items/{line_id}`: the client names the line.
async fn put_line(
    State(app): State<App>,
    Path((cart_id, line_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: NewLine = parse_json(body)?;
    let line = Line {
        id: line_id,
        name: request.name,
    };
    let outcome = app.shop.add_line(&cart_id, line.clone())?;
    let status = status_of(outcome, &format!("line {} of cart {cart_id}", line.id))?;
    Ok((status, Json(line)).into_response())
}

/// `POST /carts/{id}/submit`.
async fn submit(
    State(app): State<App>,
    Path(cart_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: SubmitRequest = parse_json(body)?;
    let Some(key) = idempotency_key(&headers) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a submit needs an Idempotency-Key header: a new UUID for each submit, the same \
             for its retries",
        ));
    };
    let Some(_in_flight) = app.in_flight.begin(&format!("{cart_id}/{key}")) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "a request with this Idempotency-Key is still in progress: try again later",
        ));
    };
    let fingerprint = fingerprint(&cart_id, &request);
    if let Some(record) = app.shop.key_record(&cart_id, &key)? {
        if record.fingerprint != fingerprint {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was used for a different request: use a new key for a new \
                 request",
            ));
        }
        return Ok(stored_answer(&record));
    }
    // The answer is decided now. The shop stores it with the key when it
    // accepts the cart, so that a later retry gets it again.
    let location = format!("/carts/{cart_id}/order");
    let record = KeyRecord {
        fingerprint,
        status: 202,
        location: location.clone(),
        body: json!({ "cart": cart_id, "state": "accepted", "order": location }),
    };
    app.shop
        .submit(&cart_id, &request.deliver_to, Some((&key, &record)))?;
    Ok(stored_answer(&record))
}

/// `GET /carts/{id}/order`: the order made from the cart, once there is one.
async fn get_order(
    State(app): State<App>,
    Path(cart_id): Path<String>,
) -> Result<Response, ApiError> {
    if app.shop.cart(&cart_id)?.is_none() {
        return Err(ApiError::unknown_cart(&cart_id));
    }
    match app.orders.of_cart(&cart_id)?.into_iter().next() {
        Some(order) => Ok(Json(order).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("cart {cart_id} has no order yet: submit it, then ask again in a moment"),
        )),
    }
}

async fn unknown_path() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such resource: see the README for the shop's API",
    )
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this resource does not support that method: see the README for the shop's API",
    )
}

/// The JSON a client sees for a cart.
fn cart_view(cart_id: &str, cart: &Cart) -> serde_json::Value {
    json!({
        "id": cart_id,
        "customer": cart.customer,
        "lines": cart.lines,
        "submitted": cart.submitted,
    })
}

/// The value of the `Idempotency-Key` header. The IETF draft makes it a
/// quoted string (`Idempotency-Key: "8e03978e-..."`); plain values are
/// accepted too. `None` when it is missing or empty.
pub fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("idempotency-key")?.to_str().ok()?;
    let key = value.trim().trim_matches('"');
    if key.is_empty() {
        None
    } else {
        Some(key.to_string())
    }
}

/// What identifies a request for its idempotency key: method, path and body.
pub fn fingerprint(cart_id: &str, request: &SubmitRequest) -> String {
    let body = serde_json::to_string(request).unwrap_or_default();
    format!("POST /carts/{cart_id}/submit {body}")
}

/// The answer stored with an idempotency key, as an HTTP response: a retry
/// gets exactly this.
pub fn stored_answer(record: &KeyRecord) -> Response {
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
    let headers = [(header::LOCATION, record.location.clone())];
    (status, headers, Json(record.body.clone())).into_response()
}

/// 201 for a new resource, 200 for a retry, 409 for an id reused by mistake
/// or a change to a submitted cart.
pub fn status_of(outcome: Outcome, what: &str) -> Result<StatusCode, ApiError> {
    match outcome {
        Outcome::Created => Ok(StatusCode::CREATED),
        Outcome::Unchanged => Ok(StatusCode::OK),
        Outcome::Conflict => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{what} exists with other content: a retry sends the same body; something new needs a new id"
            ),
        )),
        Outcome::Frozen => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{what} cannot be added: the cart was submitted and can no longer change"),
        )),
    }
}

/// Reads a JSON body, or says what is wrong with it.
fn parse_json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let limit = format!("the request body is too large: at most {MAX_BODY_BYTES} bytes");
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, limit)
        } else {
            ApiError::new(rejection.status(), rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not the JSON this endpoint expects: {err}"),
        )
    })
}

/// The idempotency keys being processed right now, so that a retry that
/// arrives while its twin is still running can be told to wait. (One server
/// process keeps them in memory; several would keep them in the store, with
/// an expiry.)
#[derive(Clone, Default)]
pub struct InFlight {
    keys: Arc<Mutex<HashSet<String>>>,
}

impl InFlight {
    /// Marks `key` as in flight until the returned guard is dropped; `None`
    /// when it is in flight already.
    pub fn begin(&self, key: &str) -> Option<InFlightGuard> {
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if keys.insert(key.to_string()) {
            Some(InFlightGuard {
                keys: self.keys.clone(),
                key: key.to_string(),
            })
        } else {
            None
        }
    }
}

/// Holds an idempotency key in flight; dropping it lets the key go.
pub struct InFlightGuard {
    keys: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        keys.remove(&self.key);
    }
}

/// An error answer: a status code and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    /// The status code (4xx for the client's mistakes, 503 when the store failed).
    pub status: StatusCode,
    /// What was wrong, for a person to read.
    pub message: String,
}

impl ApiError {
    /// An error answer.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn unknown_cart(cart_id: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("there is no cart {cart_id}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<harness::Error> for ApiError {
    fn from(err: harness::Error) -> ApiError {
        match err {
            harness::Error::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, err.to_string())
            }
            harness::Error::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, err.to_string()),
            _ => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the shop's store failed, please try again: {err}"),
            ),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(err: SubmitError) -> ApiError {
        match err {
            SubmitError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "there is no such cart to submit")
            }
            SubmitError::AlreadySubmitted => ApiError::new(
                StatusCode::CONFLICT,
                "this cart was submitted already: its order is made or on its way",
            ),
            SubmitError::Conflict => ApiError::new(
                StatusCode::CONFLICT,
                "the cart changed while it was being submitted: reload it and try again",
            ),
            SubmitError::Store(err) => ApiError::from(err),
            SubmitError::Broker(err) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the shop could not pass the order on, please try again: {err}"),
            ),
        }
    }
}
