//! HTTP, the real thing: `axum` services and a client that can fail the ways
//! the network fails, testable without a socket.
//!
//! - [`HttpClient::in_process`] drives an `axum::Router` directly (tower's
//!   `oneshot`): no socket, no runtime, no timing. This is what tests use.
//! - [`serve_on_loopback`] runs a router on `127.0.0.1` with an ephemeral
//!   port (for demos, and for the end-to-end test that a real network
//!   client works too); [`HttpClient::at_url`] talks to it with `hyper`.
//!
//! Either way the client is synchronous, like the exercises' handler code:
//! call it from tests or from handlers the world runs, not from an `async fn`.
//!
//! ```
//! use axum::{Router, routing::put};
//! use harness::http::{HttpClient, StatusCode};
//! use harness::{FaultRule, Sim};
//! use std::sync::{Arc, Mutex};
//!
//! // A tiny service that counts the PUTs it executed.
//! let executed = Arc::new(Mutex::new(0));
//! let counter = executed.clone();
//! let router = Router::new().route("/carts/{id}", put(move || async move {
//!     *counter.lock().unwrap() += 1;
//!     StatusCode::CREATED
//! }));
//!
//! let sim = Sim::new(1);
//! let shop = HttpClient::in_process(&sim, "shop", router);
//! sim.inject(FaultRule::at("http.shop.put").fail_after());
//!
//! // The server executes the request, but the response is lost …
//! let err = shop.put_json("/carts/c-1", &["Ruskie"]).unwrap_err();
//! assert!(err.is_injected());
//! // … so the client retries: the service must make that harmless.
//! let response = shop.put_json("/carts/c-1", &["Ruskie"]).unwrap();
//! assert_eq!(response.status, 201);
//! assert_eq!(*executed.lock().unwrap(), 2);
//! ```
//!
//! Fault points: `http.<service>.<method>`, the method in lower case
//! (`http.shop.post`, `http.payments.delete`), with the request's path as
//! the point's key:
//!
//! - [`Fault::FailBefore`] — failed before sending: the server never sees
//!   the request; the caller gets an error.
//! - [`Fault::FailAfter`] — the server executed the request but the response
//!   was lost: the caller gets an error.
//! - [`Fault::Duplicate`] — the request is sent twice (a retrying proxy): the
//!   server executes both, the caller sees the second response.
//! - [`Fault::Delay`] — the exchange takes that much simulated time.
//! - [`Fault::Drop`] — the request vanishes on the way: like fail before.
//! - [`Fault::Refuse`] — the server answers a 5xx, or `429 Too Many
//!   Requests` with `Retry-After`, without executing the request
//!   ([`FaultRuleBuilder::server_error`](crate::FaultRuleBuilder::server_error),
//!   [`FaultRuleBuilder::too_many_requests`](crate::FaultRuleBuilder::too_many_requests)):
//!   the caller gets that response, with a JSON body `{"error": ...}`.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::handshake;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tower::ServiceExt;

pub use axum::http::{HeaderMap, Method, StatusCode};

use crate::{Error, EventKind, Fault, FaultPoint, Sim};

/// How many times the in-process transport polls a service before it
/// concludes that the service waits for something that will never happen.
const MAX_POLLS: usize = 1_000;

/// A client for one HTTP service, with the service's fault points. Cheap to
/// clone; [`HttpClient::with_header`] gives a copy that sends one more header.
///
/// ```
/// use axum::{Json, Router, routing::post};
/// use harness::http::HttpClient;
/// use harness::Sim;
///
/// let router = Router::new().route("/echo", post(|Json(body): Json<serde_json::Value>| async move { Json(body) }));
/// let client = HttpClient::in_process(&Sim::new(1), "echo", router);
/// let response = client.post_json("/echo", &vec![1, 2, 3]).unwrap();
/// assert_eq!(response.status, 200);
/// assert_eq!(response.json::<Vec<i32>>().unwrap(), [1, 2, 3]);
/// ```
#[derive(Clone)]
pub struct HttpClient {
    sim: Sim,
    service: String,
    transport: Transport,
    headers: Vec<(String, String)>,
}

#[derive(Clone)]
enum Transport {
    InProcess(Router),
    Network(Arc<Network>),
}

struct Network {
    /// `http://host:port`, for messages.
    base_url: String,
    /// `host:port`: where to connect, and the `Host` header.
    authority: String,
    /// The base URL's path, without its last `/` (`""` for `http://host:port`).
    prefix: String,
    /// The client's own runtime, so that callers can stay synchronous.
    runtime: tokio::runtime::Runtime,
}

/// A request about to be sent.
struct Outgoing {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpClient {
    /// A client that hands requests straight to `router`, in this thread:
    /// no socket, no runtime, no timing. `service` names the fault points
    /// (`http.<service>.<method>`) and appears in the trace.
    ///
    /// The router's handlers run to completion inside the call, so they must
    /// not wait for anything that only another task or a timer could
    /// provide (plain handlers that call the harness's stores never do).
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let router = Router::new().route("/ping", get(|| async { "pong" }));
    /// let client = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", router);
    /// assert_eq!(client.get("/ping").unwrap().text(), "pong");
    /// ```
    pub fn in_process(sim: &Sim, service: &str, router: Router) -> HttpClient {
        HttpClient {
            sim: sim.clone(),
            service: service.to_string(),
            transport: Transport::InProcess(router),
            headers: Vec::new(),
        }
    }

    /// A client that sends requests over the network to `base_url` (such as
    /// [`RunningServer::url`]), with `hyper`. Plain `http://` only: every
    /// peer in the workshop is local.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use harness::http::{HttpClient, serve_on_loopback};
    ///
    /// let server = serve_on_loopback(Router::new().route("/ping", get(|| async { "pong" }))).unwrap();
    /// let client = HttpClient::at_url(&harness::Sim::new(1), "shop", &server.url()).unwrap();
    /// assert_eq!(client.get("/ping").unwrap().text(), "pong");
    /// ```
    pub fn at_url(sim: &Sim, service: &str, base_url: &str) -> Result<HttpClient, Error> {
        let base_url = base_url.trim_end_matches('/');
        let (authority, prefix) = split_http_url(base_url).ok_or_else(|| {
            Error::Other(format!(
                "cannot reach service {service} at `{base_url}`: expected a URL like \
                 `http://127.0.0.1:3000` (plain http, a host and a port), such as \
                 RunningServer::url() gives"
            ))
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| {
                Error::Other(format!("cannot start the HTTP client's runtime: {err}"))
            })?;
        Ok(HttpClient {
            sim: sim.clone(),
            service: service.to_string(),
            transport: Transport::Network(Arc::new(Network {
                base_url: base_url.to_string(),
                authority: authority.to_string(),
                prefix: prefix.to_string(),
                runtime,
            })),
            headers: Vec::new(),
        })
    }

    /// The service's name.
    ///
    /// ```
    /// let client = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", axum::Router::new());
    /// assert_eq!(client.service(), "shop");
    /// ```
    pub fn service(&self) -> &str {
        &self.service
    }

    /// A copy of this client that also sends the header `name: value` with
    /// every request (replacing an earlier value of the same header).
    ///
    /// ```
    /// use axum::{Router, http::HeaderMap, routing::post};
    /// let router = Router::new().route("/orders", post(|headers: HeaderMap| async move {
    ///     headers["idempotency-key"].to_str().unwrap().to_string()
    /// }));
    /// let shop = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", router);
    /// let response = shop.with_header("Idempotency-Key", "k-1").post("/orders").unwrap();
    /// assert_eq!(response.text(), "k-1");
    /// ```
    pub fn with_header(&self, name: &str, value: &str) -> HttpClient {
        let mut copy = self.clone();
        copy.headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        copy.headers.push((name.to_string(), value.to_string()));
        copy
    }

    /// `GET path`.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let router = Router::new().route("/carts/{id}", get(|| async { "[]" }));
    /// let shop = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", router);
    /// assert_eq!(shop.get("/carts/c-1").unwrap().status, 200);
    /// assert_eq!(shop.get("/nothing/here").unwrap().status, 404);
    /// ```
    pub fn get(&self, path: &str) -> Result<HttpResponse, Error> {
        self.send(Method::GET, path, Vec::new())
    }

    /// `DELETE path`.
    ///
    /// ```
    /// use axum::{Router, http::StatusCode, routing::delete};
    /// let router = Router::new().route("/requests/{id}", delete(|| async { StatusCode::NO_CONTENT }));
    /// let api = harness::http::HttpClient::in_process(&harness::Sim::new(1), "payments", router);
    /// assert_eq!(api.delete("/requests/r-1").unwrap().status, 204);
    /// ```
    pub fn delete(&self, path: &str) -> Result<HttpResponse, Error> {
        self.send(Method::DELETE, path, Vec::new())
    }

    /// `POST path` without a body (a command such as `/carts/c-1/submit`).
    ///
    /// ```
    /// use axum::{Router, http::StatusCode, routing::post};
    /// let router = Router::new().route("/carts/{id}/submit", post(|| async { StatusCode::ACCEPTED }));
    /// let shop = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", router);
    /// assert_eq!(shop.post("/carts/c-1/submit").unwrap().status, 202);
    /// ```
    pub fn post(&self, path: &str) -> Result<HttpResponse, Error> {
        self.send(Method::POST, path, Vec::new())
    }

    /// `POST path` with `body` as JSON.
    ///
    /// ```
    /// use axum::{Json, Router, http::StatusCode, routing::post};
    /// let router = Router::new().route("/carts", post(|Json(_cart): Json<Vec<String>>| async { StatusCode::CREATED }));
    /// let shop = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", router);
    /// assert_eq!(shop.post_json("/carts", &["Ruskie"]).unwrap().status, 201);
    /// ```
    pub fn post_json<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<HttpResponse, Error> {
        self.send_json(Method::POST, path, body)
    }

    /// `PUT path` with `body` as JSON.
    ///
    /// ```
    /// use axum::{Json, Router, routing::put};
    /// let router = Router::new().route("/carts/{id}", put(|Json(cart): Json<Vec<String>>| async move { Json(cart) }));
    /// let shop = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", router);
    /// let response = shop.put_json("/carts/c-1", &["Ruskie", "Meat"]).unwrap();
    /// assert_eq!(response.json::<Vec<String>>().unwrap(), ["Ruskie", "Meat"]);
    /// ```
    pub fn put_json<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<HttpResponse, Error> {
        self.send_json(Method::PUT, path, body)
    }

    fn send_json<T: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: &T,
    ) -> Result<HttpResponse, Error> {
        let bytes = serde_json::to_vec(body).map_err(|err| Error::BadBody {
            message_type: format!("request body of {method} {path}"),
            reason: err.to_string(),
        })?;
        self.with_header("Content-Type", "application/json")
            .send(method, path, bytes)
    }

    /// Sends any request: `method`, `path` and raw `body` (set its
    /// `Content-Type` with [`HttpClient::with_header`]). The other methods
    /// are shorthands for this one; all go through the fault point.
    ///
    /// ```
    /// use axum::{Router, routing::patch};
    /// use harness::http::{HttpClient, Method};
    /// let router = Router::new().route("/notes/{id}", patch(|body: String| async move { body }));
    /// let notes = HttpClient::in_process(&harness::Sim::new(1), "notes", router);
    /// let response = notes
    ///     .with_header("Content-Type", "text/plain")
    ///     .send(Method::PATCH, "/notes/1", b"hello".to_vec())
    ///     .unwrap();
    /// assert_eq!(response.text(), "hello");
    /// ```
    pub fn send(&self, method: Method, path: &str, body: Vec<u8>) -> Result<HttpResponse, Error> {
        if !path.starts_with('/') {
            return Err(Error::Other(format!(
                "HTTP path `{path}` must start with `/` (the client already knows the address of \
                 service {}): write `/{path}`",
                self.service
            )));
        }
        let request = Outgoing {
            method,
            path: path.to_string(),
            headers: self.headers.clone(),
            body,
        };
        let operation = request.method.as_str().to_ascii_lowercase();
        let point = FaultPoint::new("http", &self.service, &operation).with_key(path);
        match self.sim.fault_at(&point) {
            Some(Fault::FailBefore) | Some(Fault::Drop) => Err(Error::Injected {
                point: point.name,
                effect_applied: false,
            }),
            Some(Fault::FailAfter) => {
                self.exchange(&request)?;
                self.record_lost(&request);
                Err(Error::Injected {
                    point: point.name,
                    effect_applied: true,
                })
            }
            Some(Fault::Duplicate) => {
                self.exchange(&request)?;
                self.record_lost(&request);
                self.deliver(&request)
            }
            Some(Fault::Delay(duration)) => {
                self.sim.advance(duration);
                self.deliver(&request)
            }
            Some(Fault::Refuse {
                status,
                retry_after,
            }) => Ok(self.refuse(status, retry_after)),
            None => self.deliver(&request),
        }
    }

    /// The answer of an overloaded or broken server that did not execute
    /// the request.
    fn refuse(&self, status: u16, retry_after: Option<Duration>) -> HttpResponse {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        if let Some(wait) = retry_after {
            headers.insert(axum::http::header::RETRY_AFTER, wait.as_secs().into());
        }
        let error = format!(
            "{} did not execute the request: {status} (injected)",
            self.service
        );
        self.sim.record(EventKind::Response {
            service: self.service.clone(),
            status: status.as_u16(),
        });
        HttpResponse {
            status,
            headers,
            body: serde_json::json!({ "error": error })
                .to_string()
                .into_bytes(),
        }
    }

    /// The whole exchange, the caller getting the response.
    fn deliver(&self, request: &Outgoing) -> Result<HttpResponse, Error> {
        let response = self.exchange(request)?;
        self.sim.record(EventKind::Response {
            service: self.service.clone(),
            status: response.status.as_u16(),
        });
        Ok(response)
    }

    fn record_lost(&self, request: &Outgoing) {
        self.sim.record(EventKind::ResponseLost {
            service: self.service.clone(),
            method: request.method.to_string(),
            path: request.path.clone(),
        });
    }

    /// The request reaches the server, which answers.
    fn exchange(&self, request: &Outgoing) -> Result<HttpResponse, Error> {
        self.sim.record(EventKind::Request {
            service: self.service.clone(),
            method: request.method.to_string(),
            path: request.path.clone(),
        });
        match &self.transport {
            Transport::InProcess(router) => self.call_in_process(router, request),
            Transport::Network(network) => self.call_network(network, request),
        }
    }

    fn call_in_process(&self, router: &Router, request: &Outgoing) -> Result<HttpResponse, Error> {
        let mut builder = axum::http::Request::builder()
            .method(request.method.clone())
            .uri(&request.path);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let http_request = builder
            .body(Body::from(request.body.clone()))
            .map_err(|err| self.bad_request(request, err))?;
        let router = router.clone();
        let answer = async move {
            let response = match router.oneshot(http_request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await;
            (parts, bytes)
        };
        let (parts, bytes) = run_to_completion(answer).ok_or_else(|| {
            Error::Other(format!(
                "service {} did not finish {} {} in-process: a handler waits for a timer or \
                 another task, which never runs here. Handlers for in-process tests must run to \
                 completion (call the stores directly); serve the router with \
                 serve_on_loopback if it really needs to wait",
                self.service, request.method, request.path
            ))
        })?;
        let body = bytes.map_err(|err| {
            Error::Other(format!(
                "service {} failed while sending the body of its response to {} {}: {err}",
                self.service, request.method, request.path
            ))
        })?;
        Ok(HttpResponse {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        })
    }

    /// One request on a connection of its own. No pooled connections: a
    /// server may answer before it has read a request's body (a 413 for an
    /// oversized one) and then close the connection; a pooled copy of it
    /// would fail the NEXT request, at random. On loopback a new connection
    /// per request costs little, and every request stands on its own.
    fn call_network(&self, network: &Network, request: &Outgoing) -> Result<HttpResponse, Error> {
        let mut builder = axum::http::Request::builder()
            .method(request.method.clone())
            .uri(format!("{}{}", network.prefix, request.path))
            .header(axum::http::header::HOST, &network.authority);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let http_request = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|err| self.bad_request(request, err))?;
        let failed = |err: &dyn fmt::Display| {
            Error::Other(format!(
                "HTTP {} {}{} to service {} failed: {err}",
                request.method, network.base_url, request.path, self.service
            ))
        };
        network.runtime.block_on(async {
            let stream = TcpStream::connect(&network.authority)
                .await
                .map_err(|err| failed(&err))?;
            let (mut sender, connection) = handshake(TokioIo::new(stream))
                .await
                .map_err(|err| failed(&err))?;
            // The connection does the reading and writing while the request
            // waits for its response; it ends when `sender` is dropped.
            let exchange = async move {
                let response = sender.send_request(http_request).await?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await?.to_bytes();
                Ok::<_, hyper::Error>(HttpResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body: body.to_vec(),
                })
            };
            // A connection the server closed once it had answered is no error.
            let (response, _closed) = tokio::join!(exchange, connection);
            response.map_err(|err| failed(&err))
        })
    }

    fn bad_request(&self, request: &Outgoing, err: axum::http::Error) -> Error {
        Error::Other(format!(
            "cannot build {} {} for service {}: {err} (check the path and the header names and \
             values given to with_header)",
            request.method, request.path, self.service
        ))
    }
}

/// `http://host:port/prefix` → (`host:port`, `/prefix`); `None` for any
/// other scheme, or without a port.
fn split_http_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, prefix) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let (host, port) = authority.rsplit_once(':')?;
    let valid = !host.is_empty() && port.parse::<u16>().is_ok();
    valid.then_some((authority, prefix))
}

/// Polls `future` on this thread until it is ready; `None` if it keeps
/// waiting. In-process handlers finish without waiting on anything, so no
/// runtime (and no nesting of runtimes) is needed, and nothing depends on
/// timing: a handler may itself call another in-process service.
fn run_to_completion<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
    }
    None
}

/// A service's answer.
///
/// ```
/// use axum::{Router, http::{StatusCode, header}, routing::post};
/// let router = Router::new().route("/carts/{id}/submit", post(|| async {
///     (StatusCode::ACCEPTED, [(header::LOCATION, "/submissions/c-1")])
/// }));
/// let shop = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", router);
/// let response = shop.post("/carts/c-1/submit").unwrap();
/// assert_eq!(response.status, 202);
/// assert_eq!(response.header("Location"), Some("/submissions/c-1"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code; compares with numbers: `response.status == 201`.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, as bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body read as JSON into `T`.
    ///
    /// ```
    /// use axum::{Json, Router, routing::get};
    /// let router = Router::new().route("/total", get(|| async { Json(42) }));
    /// let shop = harness::http::HttpClient::in_process(&harness::Sim::new(1), "shop", router);
    /// assert_eq!(shop.get("/total").unwrap().json::<u32>().unwrap(), 42);
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|err| Error::BadBody {
            message_type: format!("the {} response body `{}`", self.status, self.text()),
            reason: err.to_string(),
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let router = Router::new().route("/", get(|| async { "hello" }));
    /// let client = harness::http::HttpClient::in_process(&harness::Sim::new(1), "s", router);
    /// assert_eq!(client.get("/").unwrap().text(), "hello");
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name` (any case), if present and readable.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let router = Router::new().route("/", get(|| async { "hello" }));
    /// let client = harness::http::HttpClient::in_process(&harness::Sim::new(1), "s", router);
    /// let response = client.get("/").unwrap();
    /// assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
    /// assert_eq!(response.header("Location"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// How long the server asked the caller to wait (`Retry-After` in whole
    /// seconds), if it did.
    ///
    /// ```
    /// use std::time::Duration;
    /// use harness::{FaultRule, Sim};
    /// let sim = Sim::new(1);
    /// let client = harness::http::HttpClient::in_process(&sim, "payments", axum::Router::new());
    /// sim.inject(FaultRule::at("http.payments.get").too_many_requests(Duration::from_secs(3)));
    /// let response = client.get("/charges").unwrap();
    /// assert_eq!(response.status, 429);
    /// assert_eq!(response.retry_after(), Some(Duration::from_secs(3)));
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        let seconds = self.header("Retry-After")?.trim().parse::<u64>().ok()?;
        Some(Duration::from_secs(seconds))
    }

    /// True for a 2xx status.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let client = harness::http::HttpClient::in_process(&harness::Sim::new(1), "s", Router::new());
    /// assert!(!client.get("/missing").unwrap().is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }
}

impl fmt::Debug for HttpResponse {
    /// Shows the body as text, so that a failed assertion is readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.text())
            .finish()
    }
}

/// A router served on a real socket, on a thread of its own. It stops when
/// dropped (or with [`RunningServer::shutdown`]).
///
/// ```
/// use axum::{Router, routing::get};
/// let server = harness::http::serve_on_loopback(Router::new().route("/", get(|| async { "hi" }))).unwrap();
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// server.shutdown().unwrap();
/// ```
pub struct RunningServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

/// Serves `router` on `127.0.0.1` with a port the system picks. The socket
/// is listening when this returns, so a client may connect at once.
///
/// ```
/// use axum::{Router, routing::get};
/// use harness::http::{HttpClient, serve_on_loopback};
/// let server = serve_on_loopback(Router::new().route("/ping", get(|| async { "pong" }))).unwrap();
/// let client = HttpClient::at_url(&harness::Sim::new(1), "demo", &server.url()).unwrap();
/// assert_eq!(client.get("/ping").unwrap().text(), "pong");
/// ```
pub fn serve_on_loopback(router: Router) -> Result<RunningServer, Error> {
    serve_at("127.0.0.1:0", router)
}

/// Serves `router` at `address` (such as `127.0.0.1:8080`, for a demo that
/// people point `curl` or a browser at).
///
/// ```no_run
/// use axum::{Router, routing::get};
/// let server = harness::http::serve_at("127.0.0.1:8080", Router::new().route("/", get(|| async { "hi" }))).unwrap();
/// println!("try: curl {}/", server.url());
/// server.wait();
/// ```
pub fn serve_at(address: &str, router: Router) -> Result<RunningServer, Error> {
    RunningServer::spawn(address, move |listener, stopped| async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            })
            .await
    })
}

impl RunningServer {
    /// Binds `address` and runs `serve` on a thread of its own, on a
    /// single-threaded tokio runtime: it gets the listener and a signal
    /// that resolves when the server is asked to stop (by
    /// [`RunningServer::shutdown`], or a drop), and the server has stopped
    /// once it returns. For a server that accepts connections its own way
    /// (the shop's, with read deadlines); [`serve_at`] is `axum::serve`.
    /// The socket is listening when this returns.
    ///
    /// ```
    /// use harness::http::RunningServer;
    /// let server = RunningServer::spawn("127.0.0.1:0", |listener, stopped| async move {
    ///     let _ = stopped.await; // accepts nothing, until told to stop
    ///     drop(listener);
    ///     Ok(())
    /// })
    /// .unwrap();
    /// server.shutdown().unwrap();
    /// ```
    pub fn spawn<Serve, Serving>(address: &str, serve: Serve) -> Result<RunningServer, Error>
    where
        Serve: FnOnce(tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Serving
            + Send
            + 'static,
        Serving: Future<Output = std::io::Result<()>>,
    {
        let cannot_listen =
            |err: std::io::Error| Error::Other(format!("cannot listen on {address}: {err}"));
        // Bound before returning: connections queue up even before the server
        // thread gets to accept them, so no test has to wait for it.
        let listener = std::net::TcpListener::bind(address).map_err(cannot_listen)?;
        listener.set_nonblocking(true).map_err(cannot_listen)?;
        let bound = listener.local_addr().map_err(cannot_listen)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("http server {bound}"))
            .spawn(move || -> std::io::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    serve(listener, stopped).await
                })
            })
            .map_err(cannot_listen)?;
        Ok(RunningServer {
            address: bound,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl RunningServer {
    /// The base URL, such as `http://127.0.0.1:49152` (no trailing slash).
    ///
    /// ```
    /// let server = harness::http::serve_on_loopback(axum::Router::new()).unwrap();
    /// assert_eq!(server.url(), format!("http://{}", server.address()));
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The socket address the server listens on.
    ///
    /// ```
    /// let server = harness::http::serve_on_loopback(axum::Router::new()).unwrap();
    /// assert!(server.address().ip().is_loopback());
    /// ```
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops the server (letting requests in progress finish) and reports
    /// whether it ran without error.
    ///
    /// ```
    /// let server = harness::http::serve_on_loopback(axum::Router::new()).unwrap();
    /// server.shutdown().unwrap();
    /// ```
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop.take();
        self.join()
    }

    /// Blocks until the server stops (it only stops on error): for a demo
    /// that serves until the user presses Ctrl-C.
    ///
    /// ```no_run
    /// let server = harness::http::serve_at("127.0.0.1:8080", axum::Router::new()).unwrap();
    /// server.wait().unwrap();
    /// ```
    pub fn wait(mut self) -> Result<(), Error> {
        self.join()
    }

    fn join(&mut self) -> Result<(), Error> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        match thread.join() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(Error::Other(format!(
                "the HTTP server on {} failed: {err}",
                self.address
            ))),
            Err(_) => Err(Error::Other(format!(
                "the HTTP server on {} panicked",
                self.address
            ))),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.take();
        // Errors were the caller's to ask for with `shutdown`.
        let _ = self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultRule;
    use axum::extract::{Path, State};
    use axum::http::header;
    use axum::routing::{get, post, put};
    use axum::{Json, Router};
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A shop that creates carts with server-chosen ids (not idempotent) and
    /// stores carts under client-chosen ids (idempotent).
    #[derive(Clone, Default)]
    struct Shop {
        carts: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    }

    impl Shop {
        fn router(&self) -> Router {
            Router::new()
                .route("/carts", post(create_cart))
                .route("/carts/{id}", put(put_cart).get(get_cart))
                .with_state(self.clone())
        }

        fn count(&self) -> usize {
            self.carts.lock().unwrap().len()
        }
    }

    async fn create_cart(
        State(shop): State<Shop>,
        Json(items): Json<Vec<String>>,
    ) -> (StatusCode, [(header::HeaderName, String); 1]) {
        let mut carts = shop.carts.lock().unwrap();
        let id = format!("c-{}", carts.len() + 1);
        carts.insert(id.clone(), items);
        (
            StatusCode::CREATED,
            [(header::LOCATION, format!("/carts/{id}"))],
        )
    }

    async fn put_cart(
        State(shop): State<Shop>,
        Path(id): Path<String>,
        Json(items): Json<Vec<String>>,
    ) -> StatusCode {
        match shop.carts.lock().unwrap().insert(id, items) {
            None => StatusCode::CREATED,
            Some(_) => StatusCode::OK,
        }
    }

    async fn get_cart(
        State(shop): State<Shop>,
        Path(id): Path<String>,
    ) -> Result<Json<Vec<String>>, StatusCode> {
        let carts = shop.carts.lock().unwrap();
        carts
            .get(&id)
            .cloned()
            .map(Json)
            .ok_or(StatusCode::NOT_FOUND)
    }

    fn setup() -> (Sim, Shop, HttpClient) {
        let sim = Sim::new(1);
        let shop = Shop::default();
        let client = HttpClient::in_process(&sim, "shop", shop.router());
        (sim, shop, client)
    }

    #[test]
    fn in_process_round_trip() {
        let (sim, shop, client) = setup();
        let created = client.post_json("/carts", &["Ruskie"]).unwrap();
        assert_eq!(created.status, StatusCode::CREATED);
        let location = created.header("Location").unwrap().to_string();
        let cart = client.get(&location).unwrap();
        assert_eq!(cart.json::<Vec<String>>().unwrap(), ["Ruskie"]);
        assert_eq!(shop.count(), 1);
        let trace = sim.trace().to_string();
        assert!(trace.contains("POST /carts to shop"), "{trace}");
        assert!(trace.contains("shop answered 201"), "{trace}");
    }

    #[test]
    fn a_lost_response_executes_once_on_the_server_and_errs_for_the_client() {
        let (sim, shop, client) = setup();
        sim.inject(FaultRule::at("http.shop.post").fail_after());
        let err = client.post_json("/carts", &["Ruskie"]).unwrap_err();
        assert_eq!(
            err,
            Error::Injected {
                point: "http.shop.post".into(),
                effect_applied: true
            }
        );
        assert_eq!(shop.count(), 1);
        assert!(
            sim.trace()
                .to_string()
                .contains("shop executed POST /carts but the response was lost")
        );
        // The naive retry creates a second cart: what exercise 02 fixes.
        client.post_json("/carts", &["Ruskie"]).unwrap();
        assert_eq!(shop.count(), 2);
    }

    #[test]
    fn with_client_chosen_ids_a_retry_after_a_lost_response_is_harmless() {
        let (sim, shop, client) = setup();
        sim.inject(FaultRule::at("http.shop.put").fail_after());
        assert!(client.put_json("/carts/c-7", &["Meat"]).is_err());
        assert_eq!(
            client.put_json("/carts/c-7", &["Meat"]).unwrap().status,
            200
        );
        assert_eq!(shop.count(), 1);
    }

    #[test]
    fn failed_before_sending_never_reaches_the_server() {
        let (sim, shop, client) = setup();
        sim.inject(FaultRule::at("http.shop.post").fail_before());
        let err = client.post_json("/carts", &["Ruskie"]).unwrap_err();
        assert_eq!(
            err,
            Error::Injected {
                point: "http.shop.post".into(),
                effect_applied: false
            }
        );
        assert_eq!(shop.count(), 0);
        assert!(!sim.trace().to_string().contains("POST /carts to shop"));
    }

    #[test]
    fn a_duplicate_is_executed_twice_and_the_caller_sees_the_second_answer() {
        let (sim, shop, client) = setup();
        sim.inject(FaultRule::at("http.shop.post").duplicate());
        let response = client.post_json("/carts", &["Ruskie"]).unwrap();
        assert_eq!(response.header("Location"), Some("/carts/c-2"));
        assert_eq!(shop.count(), 2);
    }

    #[test]
    fn a_delay_advances_the_simulated_clock_only() {
        let (sim, shop, client) = setup();
        sim.inject(FaultRule::at("http.shop.get").delay(Duration::from_secs(30)));
        assert_eq!(client.get("/carts/x").unwrap().status, 404);
        assert_eq!(sim.now().as_millis(), 30_000);
        assert_eq!(shop.count(), 0);
    }

    #[test]
    fn a_server_error_is_answered_without_executing_the_request() {
        let (sim, shop, client) = setup();
        sim.inject(FaultRule::at("http.shop.post").server_error(503));
        let response = client.post_json("/carts", &["Ruskie"]).unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.retry_after(), None);
        let body: serde_json::Value = response.json().unwrap();
        assert!(body["error"].as_str().unwrap().contains("503"), "{body}");
        assert_eq!(shop.count(), 0);
        assert!(!sim.trace().to_string().contains("POST /carts to shop"));
    }

    #[test]
    fn too_many_requests_says_how_long_to_wait_and_executes_nothing() {
        let (sim, shop, client) = setup();
        sim.inject(FaultRule::at("http.shop.put").too_many_requests(Duration::from_secs(2)));
        let response = client.put_json("/carts/c-1", &["Meat"]).unwrap();
        assert_eq!(response.status, 429);
        assert_eq!(response.header("Retry-After"), Some("2"));
        assert_eq!(response.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(shop.count(), 0);
        let trace = sim.trace().to_string();
        assert!(trace.contains("answer 429, retry after 2s"), "{trace}");
        assert_eq!(
            client.put_json("/carts/c-1", &["Meat"]).unwrap().status,
            201
        );
    }

    #[test]
    fn rules_can_target_one_path() {
        let (sim, shop, client) = setup();
        sim.inject(
            FaultRule::at("http.shop.put")
                .when(|point| point.key.as_deref() == Some("/carts/b"))
                .fail_before(),
        );
        client.put_json("/carts/a", &["Meat"]).unwrap();
        assert!(client.put_json("/carts/b", &["Meat"]).is_err());
        assert_eq!(shop.count(), 1);
    }

    #[test]
    fn a_path_without_a_leading_slash_is_refused_clearly() {
        let (_sim, _shop, client) = setup();
        let err = client.get("carts/1").unwrap_err();
        assert!(err.to_string().contains("write `/carts/1`"), "{err}");
    }

    #[test]
    fn a_handler_that_waits_forever_is_reported_not_hung() {
        let sim = Sim::new(1);
        let router = Router::new().route(
            "/slow",
            get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        );
        let client = HttpClient::in_process(&sim, "slow", router);
        let err = client.get("/slow").unwrap_err();
        assert!(err.to_string().contains("serve_on_loopback"), "{err}");
    }

    #[test]
    fn a_handler_may_call_another_in_process_service() {
        let sim = Sim::new(1);
        let payments = HttpClient::in_process(
            &sim,
            "payments",
            Router::new().route("/charges", post(|| async { StatusCode::CREATED })),
        );
        let router = Router::new().route(
            "/checkout",
            post(move || {
                let payments = payments.clone();
                async move { payments.post("/charges").unwrap().status }
            }),
        );
        let shop = HttpClient::in_process(&sim, "shop", router);
        assert_eq!(shop.post("/checkout").unwrap().status, 201);
    }

    #[test]
    fn with_header_replaces_an_earlier_value() {
        let sim = Sim::new(1);
        let router = Router::new().route(
            "/",
            get(|headers: HeaderMap| async move {
                let values: Vec<_> = headers
                    .get_all("idempotency-key")
                    .iter()
                    .map(|v| v.to_str().unwrap().to_string())
                    .collect();
                values.join(",")
            }),
        );
        let client = HttpClient::in_process(&sim, "s", router)
            .with_header("Idempotency-Key", "a")
            .with_header("idempotency-key", "b");
        assert_eq!(client.get("/").unwrap().text(), "b");
    }

    #[test]
    fn a_bad_json_body_names_the_response() {
        let sim = Sim::new(1);
        let router = Router::new().route("/", get(|| async { "not json" }));
        let client = HttpClient::in_process(&sim, "s", router);
        let response = client.get("/").unwrap();
        let err = response.json::<u32>().unwrap_err().to_string();
        assert!(err.contains("not json"), "{err}");
    }

    #[test]
    fn loopback_end_to_end_with_hyper() {
        let sim = Sim::new(1);
        let shop = Shop::default();
        let server = serve_on_loopback(shop.router()).unwrap();
        let client = HttpClient::at_url(&sim, "shop", &server.url()).unwrap();

        let created = client.put_json("/carts/c-1", &["Ruskie"]).unwrap();
        assert_eq!(created.status, 201);
        let again = client.put_json("/carts/c-1", &["Ruskie"]).unwrap();
        assert_eq!(again.status, 200);
        let cart = client.get("/carts/c-1").unwrap();
        assert_eq!(cart.json::<Vec<String>>().unwrap(), ["Ruskie"]);

        // Faults work the same over the network.
        sim.inject(FaultRule::at("http.shop.put").fail_after());
        assert!(client.put_json("/carts/c-2", &["Meat"]).is_err());
        assert_eq!(shop.count(), 2);

        let url = format!("GET {}/carts/c-1 to service shop failed: ", server.url());
        server.shutdown().unwrap();
        let gone = client.get("/carts/c-1").unwrap_err().to_string();
        assert!(gone.contains(&url), "{gone}");
    }

    #[test]
    fn a_url_must_be_plain_http_with_a_host_and_a_port() {
        let sim = Sim::new(1);
        for bad in [
            "https://127.0.0.1:3000",
            "127.0.0.1:3000",
            "http://localhost",
            "http://:80",
        ] {
            let err = HttpClient::at_url(&sim, "shop", bad)
                .err()
                .expect(bad)
                .to_string();
            assert!(
                err.contains(bad) && err.contains("http://127.0.0.1:3000"),
                "{err}"
            );
        }
        assert_eq!(
            split_http_url("http://[::1]:80/api"),
            Some(("[::1]:80", "/api"))
        );
    }
}
