//! The shop's HTTP API. What a client can rely on:
//!
//! - **A `202 Accepted` is a promise kept.** A submit is answered 202 only
//!   once the request is durably recorded with its `Idempotency-Key` (with
//!   the shop's own front: the key's record and the cart that remembers
//!   it, in one batch, before the command is queued). So at any moment
//!   after a 202 — before, during or after the background handler runs —
//!   the same key with another body gets 422, another key gets 409, and
//!   the same request gets the same 202 again. There is no window in which
//!   a request is accepted and then silently dropped.
//! - **Every error is JSON**, `{"error": "..."}` with a message that says
//!   what was wrong: the shop's own, axum's rejections (a path that is not
//!   UTF-8, a body too large) and anything else a layer answers; nothing
//!   answers 500. A request so broken that the HTTP library refuses it
//!   before the router sees it — a request line that is not HTTP, a path
//!   over 64 KiB, headers over 400 KiB — gets the library's status with a
//!   JSON body too, from the shop's server ([`crate::serve::serve_bounded`]).
//! - **Bodies are JSON objects**, sent with `Content-Type: application/json`
//!   (415 otherwise), at most [`MAX_BODY_BYTES`] (413).
//! - **Requests are bounded**: a path of at most [`MAX_URI_BYTES`] (414),
//!   headers of at most [`MAX_HEADER_BYTES`] (431), an `Idempotency-Key` of
//!   at most [`MAX_KEY_BYTES`] printable ASCII characters, sent once (400),
//!   and a body that arrives within [`BODY_READ_TIMEOUT`] (408; the time to
//!   send the head is bounded by the server, [`crate::serve`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::routing::{get, post, put};
use harness::Sim;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{KeyRecord, Line, Order, Outcome, Shop, SubmitError};

mod requests;

pub use requests::{ApiPath, JsonBody, check_idempotency_key};
use requests::{bounded_head, json_errors, read_body_in_time};

// What a handler written outside the shop (an exercise's) needs to answer.
pub use axum::Json;
pub use axum::http::{HeaderMap, StatusCode};
pub use axum::response::{IntoResponse, Response};

/// The largest request body the API accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The longest path (with its query) the API accepts, in bytes.
pub const MAX_URI_BYTES: usize = 2 * 1024;

/// The most header bytes (names and values) the API accepts.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The longest `Idempotency-Key` the API accepts, in bytes (a UUID is 36).
pub const MAX_KEY_BYTES: usize = 255;

/// How long the API waits for a request's body, once its head arrived.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the API needs from the shop's front, whatever its shape: the
/// shop's own ([`router`]) or the one whose submit makes the order itself
/// ([`crate::front::direct::router`], exercise 02).
pub trait Front: Send + Sync + 'static {
    /// The simulation: the ids the server makes come from it.
    fn sim(&self) -> &Sim;
    /// Creates a cart for `customer` under `cart_id`.
    fn create_cart(&self, cart_id: &str, customer: &str) -> Result<Outcome, harness::Error>;
    /// Puts a line into the cart.
    fn add_line(&self, cart_id: &str, line: Line) -> Result<Outcome, harness::Error>;
    /// The cart as the API shows it (`id`, `customer`, `lines`,
    /// `submitted`), if it exists.
    fn cart_view(&self, cart_id: &str) -> Result<Option<Value>, harness::Error>;
    /// Submits the cart, storing `record` under its key if there is one.
    fn submit(
        &self,
        cart_id: &str,
        deliver_to: &str,
        record: Option<(&str, &KeyRecord)>,
    ) -> Result<(), SubmitError>;
    /// The record of a submit sent with this idempotency key, if any.
    fn key_record(&self, cart_id: &str, key: &str) -> Result<Option<KeyRecord>, harness::Error>;
    /// The order the cart became, once there is one.
    fn order_of(&self, cart_id: &str) -> Result<Option<Order>, harness::Error>;
    /// A retry of a recorded submit (same key, same body) arrived: make
    /// sure its work goes on. Nothing to do for a front whose record is
    /// written with the work itself (the default).
    fn resume_submit(&self, cart_id: &str, key: &str, deliver_to: &str) -> Result<(), SubmitError> {
        let _ = (cart_id, key, deliver_to);
        Ok(())
    }
}

/// How the API answers `POST /carts/{cart_id}/submit` (given the cart id,
/// the headers and the body): [`submit_once_per_key`], or an exercise's.
pub type SubmitRoute =
    Arc<dyn Fn(&App, &str, &HeaderMap, &SubmitRequest) -> Result<Response, ApiError> + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct App {
    /// The shop's front: carts, submits, and where their orders are.
    pub front: Arc<dyn Front>,
    /// The idempotency keys of the requests being processed right now.
    pub in_flight: InFlight,
    /// How a submit is answered.
    pub submit: SubmitRoute,
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

/// The shop's front and the Orders service behind it, as one [`Front`].
struct ShopFront<O> {
    shop: Shop,
    orders: O,
}

impl<O: PlacedOrders> Front for ShopFront<O> {
    fn sim(&self) -> &Sim {
        self.shop.sim()
    }

    fn create_cart(&self, cart_id: &str, customer: &str) -> Result<Outcome, harness::Error> {
        self.shop.create_cart(cart_id, customer)
    }

    fn add_line(&self, cart_id: &str, line: Line) -> Result<Outcome, harness::Error> {
        self.shop.add_line(cart_id, line)
    }

    fn cart_view(&self, cart_id: &str) -> Result<Option<Value>, harness::Error> {
        let cart = self.shop.cart(cart_id)?;
        Ok(cart.map(|cart| cart_view(cart_id, &cart.customer, &cart.lines, cart.submitted)))
    }

    fn submit(
        &self,
        cart_id: &str,
        deliver_to: &str,
        record: Option<(&str, &KeyRecord)>,
    ) -> Result<(), SubmitError> {
        self.shop.submit(cart_id, deliver_to, record)
    }

    fn key_record(&self, cart_id: &str, key: &str) -> Result<Option<KeyRecord>, harness::Error> {
        self.shop.key_record(cart_id, key)
    }

    fn order_of(&self, cart_id: &str) -> Result<Option<Order>, harness::Error> {
        Ok(self.orders.of_cart(cart_id)?.into_iter().next())
    }

    fn resume_submit(&self, cart_id: &str, key: &str, deliver_to: &str) -> Result<(), SubmitError> {
        self.shop.resume_submit(cart_id, key, deliver_to)
    }
}

/// The shop's API, asking `orders` for the order a submit led to.
pub fn router(shop: Shop, orders: impl PlacedOrders) -> Router {
    api(ShopFront { shop, orders }, Arc::new(submit_once_per_key))
}

/// The API over any [`Front`]: carts and lines named by the client (`PUT`),
/// submits answered by `submit`, the order to poll, and JSON errors for
/// everything else.
pub fn api(front: impl Front, submit: SubmitRoute) -> Router {
    routes(front, submit, Router::new())
}

/// The same, with extra routes (for example the older `POST` ones).
pub fn routes(front: impl Front, submit: SubmitRoute, extra: Router<App>) -> Router {
    let app = App {
        front: Arc::new(front),
        in_flight: InFlight::default(),
        submit,
    };
    extra
        .route("/carts/{cart_id}", get(get_cart).put(put_cart))
        .route("/carts/{cart_id}/items/{line_id}", put(put_line))
        .route("/carts/{cart_id}/submit", post(submit_route))
        .route("/carts/{cart_id}/order", get(get_order))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(BODY_READ_TIMEOUT, read_body_in_time))
        .layer(from_fn(bounded_head))
        .layer(map_response(json_errors))
        .with_state(app)
}

/// The same router, waiting at most `limit` for a request's body (a
/// server for tests sets a short one; [`routes`] sets [`BODY_READ_TIMEOUT`]).
pub fn with_body_timeout(router: Router, limit: Duration) -> Router {
    router.layer(from_fn_with_state(limit, read_body_in_time))
}

/// The body of a request that makes a cart.
#[derive(Deserialize)]
pub struct NewCart {
    /// Who owns the cart.
    pub customer: String,
}

/// The body of a request that adds a line.
#[derive(Deserialize)]
pub struct NewLine {
    /// What is in the line: `ruskie` …
    pub name: String,
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
    ApiPath(cart_id): ApiPath<String>,
    JsonBody(request): JsonBody<NewCart>,
) -> Result<Response, ApiError> {
    let outcome = app.front.create_cart(&cart_id, &request.customer)?;
    let status = status_of(outcome, &format!("cart {cart_id}"))?;
    let cart = app.front.cart_view(&cart_id)?.unwrap_or_default();
    Ok((status, Json(cart)).into_response())
}

/// `GET /carts/{id}`.
async fn get_cart(
    State(app): State<App>,
    ApiPath(cart_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    match app.front.cart_view(&cart_id)? {
        Some(cart) => Ok(Json(cart).into_response()),
        None => Err(ApiError::unknown_cart(&cart_id)),
    }
}

/// `PUT /carts/{id}/items/{line_id}`: the client names the line.
async fn put_line(
    State(app): State<App>,
    ApiPath((cart_id, line_id)): ApiPath<(String, String)>,
    JsonBody(request): JsonBody<NewLine>,
) -> Result<Response, ApiError> {
    let line = Line {
        id: line_id,
        name: request.name,
    };
    let outcome = app.front.add_line(&cart_id, line.clone())?;
    let status = status_of(outcome, &format!("line {} of cart {cart_id}", line.id))?;
    Ok((status, Json(line)).into_response())
}

/// `POST /carts/{id}/submit`, answered by the app's [`SubmitRoute`].
async fn submit_route(
    State(app): State<App>,
    ApiPath(cart_id): ApiPath<String>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<SubmitRequest>,
) -> Result<Response, ApiError> {
    check_idempotency_key(&headers)?;
    (app.submit)(&app, &cart_id, &headers, &request)
}

/// The shop's own answer to a submit: once per `Idempotency-Key`. 400
/// without a key, 409 while a twin with the same key runs, 422 when the key
/// was used for another request, the stored answer for a retry, and 202
/// with a `Location` to poll for a new submit.
pub fn submit_once_per_key(
    app: &App,
    cart_id: &str,
    headers: &HeaderMap,
    request: &SubmitRequest,
) -> Result<Response, ApiError> {
    let Some(key) = idempotency_key(headers) else {
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
    let fingerprint = fingerprint(cart_id, request);
    if let Some(record) = app.front.key_record(cart_id, &key)? {
        if record.fingerprint != fingerprint {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was used for a different request: use a new key for a new \
                 request",
            ));
        }
        // A retry of a request that was recorded: its work may have
        // stopped half-way (the command was not queued), so go on with it.
        app.front
            .resume_submit(cart_id, &key, &request.deliver_to)?;
        return Ok(stored_answer(&record));
    }
    // The answer is decided now, and the front stores it with the key
    // before we answer (the shop's own: with the cart, before it queues
    // the command), so that a 202 is never forgotten.
    let record = accepted(cart_id, fingerprint);
    app.front
        .submit(cart_id, &request.deliver_to, Some((&key, &record)))?;
    Ok(stored_answer(&record))
}

/// The record of a submit that was accepted: 202, and where to poll for
/// the order.
pub fn accepted(cart_id: &str, fingerprint: String) -> KeyRecord {
    let location = format!("/carts/{cart_id}/order");
    KeyRecord {
        fingerprint,
        status: 202,
        location: location.clone(),
        body: json!({ "cart": cart_id, "state": "accepted", "order": location }),
    }
}

/// `GET /carts/{id}/order`: the order made from the cart, once there is one.
async fn get_order(
    State(app): State<App>,
    ApiPath(cart_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    if app.front.cart_view(&cart_id)?.is_none() {
        return Err(ApiError::unknown_cart(&cart_id));
    }
    match app.front.order_of(&cart_id)? {
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
pub fn cart_view(cart_id: &str, customer: &str, lines: &[Line], submitted: bool) -> Value {
    json!({
        "id": cart_id,
        "customer": customer,
        "lines": lines,
        "submitted": submitted,
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
pub fn parse_json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let limit = format!("the request body is too large: at most {MAX_BODY_BYTES} bytes");
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, limit)
        } else {
            ApiError::new(rejection.status(), rejection.body_text())
        }
    })?;
    let not_expected = |err: serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not the JSON this endpoint expects: {err}"),
        )
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(not_expected)?;
    // serde would read a struct from an array too (`["ola"]`): a body is
    // an object with named fields, or a mistake.
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body must be a JSON object with named fields, not {value}"),
        ));
    }
    serde_json::from_value(value).map_err(not_expected)
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

    /// 404: there is no such cart.
    pub fn unknown_cart(cart_id: &str) -> ApiError {
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
            SubmitError::AcceptedForAnotherAddress(address) => ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "this cart was accepted for delivery to {address:?}, and its order goes \
                     there: submit it again with that address (the order cannot move any more)"
                ),
            ),
            SubmitError::Store(err) => ApiError::from(err),
            SubmitError::Broker(err) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the shop could not pass the order on, please try again: {err}"),
            ),
        }
    }
}
