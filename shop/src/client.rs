//! The shop's app, as the browser runs it. Like every real client it
//! retries when no answer comes back (a timeout, a dropped connection): it
//! cannot tell a request that never arrived from an answer that got lost.

use harness::http::{HttpClient, HttpResponse, StatusCode};
use harness::{Error, Sim};
use serde_json::json;

/// How many times the app sends a request before it gives up.
pub const ATTEMPTS: u32 = 3;

/// The app's calls to the shop's API.
#[derive(Clone)]
pub struct ShopClient {
    sim: Sim,
    http: HttpClient,
}

impl ShopClient {
    /// An app that talks to the shop through `http`.
    pub fn new(sim: &Sim, http: HttpClient) -> ShopClient {
        ShopClient {
            sim: sim.clone(),
            http,
        }
    }

    /// The simulation: the app's ids come from it.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The HTTP client the app sends its requests with.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Creates a cart for `customer` and returns its id.
    pub fn create_cart(&self, customer: &str) -> Result<String, Error> {
        let body = json!({ "customer": customer });
        // The app names the cart, once: every retry sends the same id.
        let cart_id = self.sim.new_uuid().to_string();
        let path = format!("/carts/{cart_id}");
        send_with_retries(|| self.http.put_json(&path, &body))?;
        Ok(cart_id)
    }

    /// Puts one item into the cart.
    pub fn add_item(&self, cart_id: &str, name: &str) -> Result<(), Error> {
        let body = json!({ "name": name });
        let line_id = self.sim.new_uuid();
        let path = format!("/carts/{cart_id}/items/{line_id}");
        send_with_retries(|| self.http.put_json(&path, &body))?;
        Ok(())
    }

    /// Submits the cart and returns the shop's answer.
    pub fn submit(&self, cart_id: &str, deliver_to: &str) -> Result<HttpResponse, Error> {
        // One key for this submit, sent again with every retry of it. The
        // IETF draft writes the key as a quoted string.
        let key = format!("\"{}\"", self.sim.new_uuid());
        let http = self.http.with_header("Idempotency-Key", &key);
        let body = json!({ "deliver_to": deliver_to });
        let path = format!("/carts/{cart_id}/submit");
        send_with_retries(|| http.post_json(&path, &body))
    }
}

/// Sends a request until an answer comes back, at most [`ATTEMPTS`] times;
/// an error unless the answer is a success.
pub fn send_with_retries(
    send: impl Fn() -> Result<HttpResponse, Error>,
) -> Result<HttpResponse, Error> {
    let mut attempt = 1;
    loop {
        match send() {
            // The store failed: the server says to try again.
            Ok(response)
                if response.status == StatusCode::SERVICE_UNAVAILABLE && attempt < ATTEMPTS => {}
            Ok(response) if response.is_success() => return Ok(response),
            Ok(response) => {
                return Err(Error::Other(format!(
                    "the shop answered {}: {}",
                    response.status,
                    response.text()
                )));
            }
            // No answer: the request may or may not have been executed.
            Err(_) if attempt < ATTEMPTS => {}
            Err(err) => return Err(err),
        }
        attempt += 1;
    }
}
