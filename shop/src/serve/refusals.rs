//! The HTTP library's own refusals, answered in JSON like every other error.
//!
//! hyper parses each request's head before the router sees it. When the
//! head cannot be parsed — a request line that is not HTTP, a path over
//! 64 KiB, headers over about 400 KiB, a `Content-Length` that is not a
//! number — hyper answers by itself (`400`, `414` or `431`, with an empty
//! body) and closes the connection. It offers no hook to change that
//! answer, and the router never runs.
//!
//! So the server watches the connection: [`JsonRefusals`] wraps the socket
//! hyper writes to, and [`served_by`] wraps the router to note that a request
//! reached it. On a connection whose request never reached the router,
//! whatever hyper writes is its own refusal; the wrapper writes the same
//! status with a JSON body that says what was wrong instead. The server
//! keeps one request per connection (no keep-alive), so that "the router was
//! called on this connection" always means "for this request".

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::{MAX_HEADER_BYTES, MAX_URI_BYTES, StatusCode};

/// The router as hyper calls it, noting that a request got through hyper's
/// parser to the router.
#[derive(Clone)]
pub(super) struct Served {
    router: TowerToHyperService<Router>,
    served: Arc<AtomicBool>,
}

/// `router`, setting `served` when it is called.
pub(super) fn served_by(router: Router, served: Arc<AtomicBool>) -> Served {
    Served {
        router: TowerToHyperService::new(router),
        served,
    }
}

impl Service<hyper::Request<Incoming>> for Served {
    type Response = <TowerToHyperService<Router> as Service<hyper::Request<Incoming>>>::Response;
    type Error = Infallible;
    type Future = TowerToHyperServiceFuture<Router, hyper::Request<Incoming>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.served.store(true, Ordering::SeqCst);
        self.router.call(request)
    }
}

/// A connection's socket, as hyper writes to it: the router's answers go
/// through unchanged; hyper's own refusal (anything written before the
/// router was called) is replaced by the same status with a JSON body.
pub(super) struct JsonRefusals<S> {
    stream: S,
    served: Arc<AtomicBool>,
    /// The JSON answer that replaces hyper's, once hyper wrote one.
    refusal: Option<Vec<u8>>,
    /// How much of `refusal` is written.
    written: usize,
}

impl<S> JsonRefusals<S> {
    /// Wraps `stream`; `served` is set by [`served_by`].
    pub(super) fn new(stream: S, served: Arc<AtomicBool>) -> JsonRefusals<S> {
        JsonRefusals {
            stream,
            served,
            refusal: None,
            written: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> JsonRefusals<S> {
    /// Writes what is left of the replacing answer, if there is one.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(refusal) = &self.refusal else {
            return Poll::Ready(Ok(()));
        };
        while self.written < refusal.len() {
            let rest = &refusal[self.written..];
            let written = ready!(Pin::new(&mut self.stream).poll_write(cx, rest))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += written;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonRefusals<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.refusal.is_none() && this.served.load(Ordering::SeqCst) {
            return Pin::new(&mut this.stream).poll_write(cx, buf);
        }
        // The router never saw this request: these bytes are hyper's own
        // answer. Ours goes out instead, and hyper's are dropped.
        if this.refusal.is_none() {
            this.refusal = Some(json_refusal(status_of(buf)));
        }
        ready!(this.poll_refusal(cx))?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_refusal(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_refusal(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The status code of the answer hyper began to write (`HTTP/1.1 431 …`);
/// 400 if it cannot be read.
fn status_of(answer: &[u8]) -> u16 {
    answer
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .unwrap_or(400)
}

/// The shop's answer for a request hyper refused with `status`: the same
/// status, a JSON body saying what was wrong, and the connection closes.
fn json_refusal(status: u16) -> Vec<u8> {
    let message = match status {
        400 => "the request is not HTTP/1.1 the shop can read: a request line such as \
                `PUT /carts/c-1 HTTP/1.1`, then one `Name: value` header per line (a \
                Content-Length is a number), then an empty line"
            .to_string(),
        414 => format!(
            "the request's path is longer than the HTTP server reads (64 KiB); the shop's paths \
             are at most {MAX_URI_BYTES} bytes"
        ),
        431 => format!(
            "the request's headers are larger than the HTTP server reads (about 400 KiB, or \
             more than 100 headers); the shop takes at most {MAX_HEADER_BYTES} bytes of headers"
        ),
        other => format!("the HTTP server refused the request before the shop saw it ({other})"),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let reason = status.canonical_reason().unwrap_or("Bad Request");
    let body = json!({ "error": message }).to_string();
    format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        status.as_u16(),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_read_from_hypers_answer() {
        assert_eq!(
            status_of(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            431
        );
        assert_eq!(status_of(b"HTTP/1.1 414 URI Too Long\r\n"), 414);
        assert_eq!(status_of(b"garbage"), 400);
    }

    #[test]
    fn an_unexpected_status_is_kept() {
        let answer = String::from_utf8(json_refusal(505)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 505 HTTP Version Not Supported\r\n"));
    }

    #[test]
    fn a_refusal_is_json_with_its_length() {
        let answer = String::from_utf8(json_refusal(414)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(body["error"].as_str().unwrap().contains("path"));
    }
}
