//! The payment provider of Part E: its two faces do what exercise 15's
//! README says, and every malformed or hostile request gets a 4xx with a
//! JSON body `{"error": ...}`, never a 5xx or a panic, in-process and over
//! a real socket.

use harness::Sim;
use harness::http::{HttpClient, Method, serve_on_loopback};
use shop::provider::{ChargeRequest, Charged, Provider};

fn setup() -> (Provider, HttpClient) {
    let provider = Provider::new();
    let http = HttpClient::in_process(&Sim::new(1), "provider", provider.router());
    (provider, http)
}

fn ola() -> ChargeRequest {
    ChargeRequest {
        order_id: "c-1".to_string(),
        amount: 4_500,
    }
}

/// The error body of a refused request: JSON, with a message.
fn error_of(response: &harness::http::HttpResponse) -> String {
    let body: serde_json::Value = response
        .json()
        .unwrap_or_else(|err| panic!("the error body is not JSON: {err}"));
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no `error` in {body}"))
        .to_string()
}

#[test]
fn a_repeated_reference_charges_once_with_a_new_code() {
    let (provider, http) = setup();
    let keyed = http.with_header("Idempotency-Key", "k-1");
    let first = keyed.post_json("/charges", &ola()).unwrap();
    assert_eq!(first.status, 201);
    let again = keyed.post_json("/charges", &ola()).unwrap();
    assert_eq!(again.status, 200);
    let (first, again): (Charged, Charged) = (first.json().unwrap(), again.json().unwrap());
    assert_eq!(first.charge_id, again.charge_id);
    assert_ne!(first.auth_code, again.auth_code);
    assert_eq!(provider.charges().len(), 1);
    assert_eq!(provider.charges()[0].reference.as_deref(), Some("k-1"));
    // Another body under the same key is refused: a key names one request.
    let other = ChargeRequest { amount: 1, ..ola() };
    let refused = keyed.post_json("/charges", &other).unwrap();
    assert_eq!(refused.status, 422);
    assert!(error_of(&refused).contains("ch-1"));
    // Without a key, every call is a new charge.
    http.post_json("/charges", &ola()).unwrap();
    http.post_json("/charges", &ola()).unwrap();
    assert_eq!(provider.charges().len(), 3);
}

#[test]
fn a_duplicate_post_returns_the_stored_response() {
    let (provider, http) = setup();
    assert_eq!(http.put_json("/requests/r-1", &ola()).unwrap().status, 201);
    assert_eq!(http.put_json("/requests/r-1", &ola()).unwrap().status, 200);
    assert!(provider.charges().is_empty(), "a PUT executes nothing");
    let first = http.post("/requests/r-1").unwrap();
    assert_eq!(first.status, 201);
    let again = http.post("/requests/r-1").unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(
        first.body, again.body,
        "the replay is the stored answer itself"
    );
    let charged: Charged = again.json().unwrap();
    assert_eq!(charged.auth_code, provider.charges()[0].auth_code);
    assert_eq!(provider.charges().len(), 1);
    // The executed id cannot be stored again.
    assert_eq!(http.put_json("/requests/r-1", &ola()).unwrap().status, 409);
}

#[test]
fn a_post_after_delete_is_refused() {
    let (provider, http) = setup();
    http.put_json("/requests/r-1", &ola()).unwrap();
    http.post("/requests/r-1").unwrap();
    assert_eq!(http.delete("/requests/r-1").unwrap().status, 204);
    assert_eq!(http.delete("/requests/r-1").unwrap().status, 204);
    let refused = http.post("/requests/r-1").unwrap();
    assert_eq!(refused.status, 404);
    assert!(error_of(&refused).contains("there is no request r-1"));
    assert_eq!(provider.charges().len(), 1);
    assert!(provider.stored_requests().is_empty());
    // Never put at all: refused the same way.
    assert_eq!(http.post("/requests/r-9").unwrap().status, 404);
}

#[test]
fn another_body_under_a_stored_id_is_a_conflict() {
    let (_provider, http) = setup();
    http.put_json("/requests/r-1", &ola()).unwrap();
    let other = ChargeRequest { amount: 9, ..ola() };
    let refused = http.put_json("/requests/r-1", &other).unwrap();
    assert_eq!(refused.status, 409);
    assert!(error_of(&refused).contains("another body"));
}

/// Every hostile request: (method, path, content type, body, expected status).
fn hostile() -> Vec<(Method, String, &'static str, Vec<u8>, u16)> {
    let json = "application/json";
    let huge_id = "x".repeat(100);
    let mut cases = vec![
        (
            Method::PUT,
            "/requests/r-1".into(),
            json,
            b"{not json".to_vec(),
            400,
        ),
        (
            Method::PUT,
            "/requests/r-1".into(),
            json,
            br#"{"order_id":"c-1"}"#.to_vec(),
            400,
        ),
        (
            Method::PUT,
            "/requests/r-1".into(),
            json,
            br#"{"order_id":"c-1","amount":-5}"#.to_vec(),
            400,
        ),
        (
            Method::PUT,
            "/requests/r-1".into(),
            json,
            br#"{"order_id":"c-1","amount":0}"#.to_vec(),
            400,
        ),
        (
            Method::PUT,
            "/requests/r-1".into(),
            json,
            br#"{"order_id":"c-1","amount":1,"extra":true}"#.to_vec(),
            400,
        ),
        (
            Method::PUT,
            "/requests/r-1".into(),
            "text/plain",
            b"hello".to_vec(),
            415,
        ),
        (
            Method::PUT,
            "/requests/r-1".into(),
            json,
            vec![b' '; 64 * 1024],
            413,
        ),
        (
            Method::POST,
            "/charges".into(),
            json,
            b"[1,2,3]".to_vec(),
            400,
        ),
        (
            Method::POST,
            "/charges".into(),
            json,
            br#"{"order_id":"","amount":5}"#.to_vec(),
            400,
        ),
        (
            Method::PUT,
            format!("/requests/{huge_id}"),
            json,
            Vec::new(),
            400,
        ),
        (
            Method::POST,
            "/requests/r%20;drop".into(),
            json,
            Vec::new(),
            400,
        ),
        (
            Method::POST,
            "/requests/%FF%FE".into(),
            json,
            Vec::new(),
            400,
        ),
        (Method::POST, "/requests/..".into(), json, Vec::new(), 400),
        (Method::PATCH, "/requests/r-1".into(), json, Vec::new(), 405),
        (Method::DELETE, "/charges".into(), json, Vec::new(), 405),
        (Method::GET, "/requests".into(), json, Vec::new(), 404),
        (Method::GET, "/nowhere/at/all".into(), json, Vec::new(), 404),
        (
            Method::GET,
            format!("/requests/{}", "y".repeat(5_000)),
            json,
            Vec::new(),
            414,
        ),
    ];
    cases.push((
        Method::GET,
        "/requests/unknown".into(),
        json,
        Vec::new(),
        404,
    ));
    cases
}

#[test]
fn every_hostile_request_gets_a_4xx_with_a_json_error() {
    let (provider, http) = setup();
    let server = serve_on_loopback(provider.router()).unwrap();
    let network = HttpClient::at_url(&Sim::new(2), "provider", &server.url()).unwrap();
    // Over a socket too: the client sends every path as it is.
    for client in [&http, &network] {
        for (method, path, content_type, body, expected) in hostile() {
            let shown = format!("{method} {}", &path[..path.len().min(40)]);
            let response = client
                .with_header("Content-Type", content_type)
                .send(method, &path, body)
                .unwrap_or_else(|err| panic!("{shown}: no answer: {err}"));
            assert_eq!(response.status, expected, "{shown}: {response:?}");
            assert!(!error_of(&response).is_empty(), "{shown}");
        }
        // A key the provider will not keep.
        let bad_key = client
            .with_header("Idempotency-Key", &"k".repeat(300))
            .post_json("/charges", &ola())
            .unwrap();
        assert_eq!(bad_key.status, 400, "{bad_key:?}");
        assert!(error_of(&bad_key).contains("Idempotency-Key"));
    }
    assert!(provider.charges().is_empty());
    assert!(provider.stored_requests().is_empty());
    server.shutdown().unwrap();
}
