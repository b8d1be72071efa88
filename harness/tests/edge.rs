//! The HTTP client, an axum service and the SQL store together, the way
//! Part A's exercises use them: a lost response, a retry, a twin request in
//! flight, all deterministic and in-process.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use harness::http::HttpClient;
use harness::sql::{SqlStore, params};
use harness::{Error, FaultRule, Sim};

/// Orders created with an `Idempotency-Key`: the key is claimed in one
/// transaction, the order and the stored response written in a second one.
fn shop(db: &SqlStore) -> Router {
    db.execute_batch(
        "create table orders (id integer primary key, pierogi text not null);
         create table idempotency (key text primary key, request text not null,
                                   status integer, response text)",
    )
    .unwrap();
    Router::new()
        .route("/orders", post(create_order))
        .with_state(db.clone())
}

async fn create_order(
    State(db): State<SqlStore>,
    headers: HeaderMap,
    request: String,
) -> (StatusCode, String) {
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
        return (StatusCode::BAD_REQUEST, "Idempotency-Key missing".into());
    };
    match create_once(&db, key, &request) {
        Ok(answer) => answer,
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

fn create_once(db: &SqlStore, key: &str, request: &str) -> Result<(StatusCode, String), Error> {
    type Seen = (String, Option<u16>, Option<String>);
    let seen: Option<Seen> = db.transaction(|tx| {
        match tx.execute(
            "insert into idempotency (key, request) values (?1, ?2)",
            params![key, request],
        ) {
            Ok(_) => Ok(None),
            Err(err) if err.is_conflict() => tx.query_optional(
                "select request, status, response from idempotency where key = ?1",
                params![key],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            ),
            Err(err) => Err(err),
        }
    })?;
    match seen {
        Some((earlier, _, _)) if earlier != request => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            "key reused with another request".into(),
        )),
        Some((_, Some(status), Some(response))) => {
            Ok((StatusCode::from_u16(status).unwrap(), response))
        }
        Some(_) => Ok((
            StatusCode::CONFLICT,
            "a request with this key is in flight".into(),
        )),
        None => db.transaction(|tx| {
            tx.execute("insert into orders (pierogi) values (?1)", params![request])?;
            let response = format!("order {}", tx.last_insert_rowid());
            tx.execute(
                "update idempotency set status = 201, response = ?2 where key = ?1",
                params![key, response],
            )?;
            Ok((StatusCode::CREATED, response))
        }),
    }
}

fn orders(db: &SqlStore) -> i64 {
    db.query_row("select count(*) from orders", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn the_first_response_is_lost_the_retry_replays_it_and_one_order_exists() {
    let sim = Sim::new(1);
    let db = SqlStore::in_memory(&sim, "shop");
    let client =
        HttpClient::in_process(&sim, "shop", shop(&db)).with_header("Idempotency-Key", "k-1");
    sim.inject(FaultRule::at("http.shop.post").fail_after());

    let err = client.post_json("/orders", &["Ruskie"]).unwrap_err();
    assert!(err.is_injected());
    let retry = client.post_json("/orders", &["Ruskie"]).unwrap();

    assert_eq!(retry.status, 201);
    assert_eq!(retry.text(), "order 1");
    assert_eq!(orders(&db), 1);
}

#[test]
fn a_twin_in_flight_gets_409_and_a_changed_payload_422() {
    let sim = Sim::new(1);
    let db = SqlStore::in_memory(&sim, "shop");
    let without_key = HttpClient::in_process(&sim, "shop", shop(&db));
    let client = without_key.with_header("Idempotency-Key", "k-1");
    // The twin arrives between the first request's two transactions.
    let twin = client.clone();
    let twin_status = Arc::new(Mutex::new(None));
    let seen = twin_status.clone();
    sim.inject(FaultRule::at("sql.shop.begin").nth(2).interleave(move || {
        let response = twin.post_json("/orders", &["Ruskie"]).unwrap();
        *seen.lock().unwrap() = Some(response.status);
    }));

    let first = client.post_json("/orders", &["Ruskie"]).unwrap();

    assert_eq!(first.status, 201);
    assert_eq!(*twin_status.lock().unwrap(), Some(StatusCode::CONFLICT));
    let changed = client.post_json("/orders", &["Meat"]).unwrap();
    assert_eq!(changed.status, 422);
    let missing = without_key.post_json("/orders", &["Meat"]).unwrap();
    assert_eq!(missing.status, 400);
    assert_eq!(orders(&db), 1);
}
