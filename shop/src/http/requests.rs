//! What a request must look like before a handler sees it, and the JSON
//! error that says what is wrong when it does not: the body's type, size
//! and arrival time, the path, the size of the head, the `Idempotency-Key`.
//! Whatever answers an error without JSON (axum, a layer) is given a JSON
//! body on the way out ([`json_errors`]).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use serde::de::DeserializeOwned;

use super::{
    ApiError, HeaderMap, IntoResponse, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_KEY_BYTES,
    MAX_URI_BYTES, Response, StatusCode, parse_json,
};

/// A body that is a JSON object of type `T`, sent as
/// `Content-Type: application/json`; otherwise the error says what is
/// wrong: 415 (not JSON), 413 (too large), 400 (not the object expected).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        check_content_type(request.headers())?;
        let body = Bytes::from_request(request, state).await;
        parse_json(body).map(JsonBody)
    }
}

/// The path's parameters, or a 400 with a JSON error when they cannot be
/// read (`/carts/%FF` is not UTF-8).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the path {} is not one the shop can read: {} (ids are UTF-8 text, such as \
                     a UUID)",
                    parts.uri.path(),
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// 415 unless the body is declared JSON (`application/json`, with or
/// without parameters, or any `application/...+json`).
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).to_string())
        .unwrap_or_default();
    let essence = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        return Ok(());
    }
    let said = if declared.is_empty() {
        "no Content-Type".to_string()
    } else {
        format!("Content-Type: {declared}")
    };
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "the request body must be JSON, sent with `Content-Type: application/json` (this \
             request had {said})"
        ),
    ))
}

/// 400 for an `Idempotency-Key` the shop will not store: sent twice (which
/// one names the request?), longer than [`MAX_KEY_BYTES`], or with other
/// characters than printable ASCII. A missing or empty key passes: the
/// submit itself says that it needs one.
pub fn check_idempotency_key(headers: &HeaderMap) -> Result<(), ApiError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(());
    };
    if values.next().is_some() {
        return Err(bad_key(
            "the request has several Idempotency-Key headers: send exactly one, the same for \
             every retry of the request",
        ));
    }
    let raw = value.as_bytes();
    let key = raw.trim_ascii();
    let key = key
        .strip_prefix(b"\"")
        .and_then(|rest| rest.strip_suffix(b"\""))
        .unwrap_or(key);
    if key.len() > MAX_KEY_BYTES {
        return Err(bad_key(&format!(
            "the Idempotency-Key is {} bytes long; the shop keeps keys of at most \
             {MAX_KEY_BYTES} bytes (a UUID, 36, is best)",
            key.len()
        )));
    }
    let printable = |byte: &u8| byte.is_ascii_graphic() && *byte != b'"' && *byte != b'\\';
    if !key.iter().all(printable) {
        return Err(bad_key(
            "the Idempotency-Key may only hold printable ASCII characters, without spaces or \
             quotes inside (a UUID is best)",
        ));
    }
    Ok(())
}

fn bad_key(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// 414 for a path longer than [`MAX_URI_BYTES`], 431 for headers larger
/// than [`MAX_HEADER_BYTES`]; anything else goes on.
pub(super) async fn bounded_head(request: Request, next: Next) -> Response {
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |path| path.as_str().len());
    if uri > MAX_URI_BYTES {
        let message = format!(
            "the request's path is {uri} bytes long: the shop reads at most {MAX_URI_BYTES}"
        );
        return ApiError::new(StatusCode::URI_TOO_LONG, message).into_response();
    }
    let head: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if head > MAX_HEADER_BYTES {
        let message = format!(
            "the request's headers are {head} bytes: the shop reads at most {MAX_HEADER_BYTES}"
        );
        return ApiError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message).into_response();
    }
    next.run(request).await
}

/// Reads the whole body (at most [`MAX_BODY_BYTES`]) before the handler
/// runs, and gives up with 408 if it does not arrive within `limit`: a
/// client that announces a body and never sends it holds nothing for long.
/// In-process (no runtime, no clock) the body is there already, and no
/// timer is needed.
pub(super) async fn read_body_in_time(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, MAX_BODY_BYTES);
    let bytes = if tokio::runtime::Handle::try_current().is_ok() {
        match tokio::time::timeout(limit, read).await {
            Ok(bytes) => bytes,
            Err(_) => {
                let message = format!(
                    "the request body did not arrive within {} s: send it with the request",
                    limit.as_secs_f64()
                );
                return ApiError::new(StatusCode::REQUEST_TIMEOUT, message).into_response();
            }
        }
    } else {
        read.await
    };
    match bytes {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(err) if is_too_large(&err) => {
            let limit = format!("the request body is too large: at most {MAX_BODY_BYTES} bytes");
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, limit).into_response()
        }
        Err(err) => {
            let message = format!("the request body could not be read: {err}");
            ApiError::new(StatusCode::BAD_REQUEST, message).into_response()
        }
    }
}

fn is_too_large(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// Gives every error answer without a JSON body one: `{"error": "..."}`
/// with what the answer said, or the status's name. Errors the shop made
/// itself are JSON already and pass untouched.
pub(super) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !is_error || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let mut answer = ApiError::new(status, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::middleware::map_response;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// An answer of a route that knows nothing of the shop's errors: a
    /// plain-text 400 with an `Allow` header.
    async fn plain_text_error() -> Response {
        let headers = [(header::ALLOW, "GET")];
        (StatusCode::BAD_REQUEST, headers, "no such thing").into_response()
    }

    #[test]
    fn an_error_without_json_gets_a_json_body_and_keeps_its_headers() {
        let router = Router::new()
            .route("/plain", get(plain_text_error))
            .layer(map_response(json_errors));
        let request = Request::builder()
            .uri("/plain")
            .body(Body::empty())
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (status, headers, body) = runtime.block_on(async {
            let response = router.oneshot(request).await.unwrap();
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            (parts.status, parts.headers, body)
        });
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["error"], "no such thing", "the body: {json}");
        assert_eq!(headers[header::ALLOW], "GET");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    }
}
