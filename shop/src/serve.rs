//! The `serve` command: the shop's API on this machine, for `curl`, with
//! the handlers working in the background.
//!
//! `cargo run -p <exercise package> --example serve [-- port]`. Part A's exercises
//! hand [`serve`] the router and the handlers they wired; from Part B on,
//! [`command`] wires the shop's front and an Orders service itself.
//!
//! The server is [`serve_bounded`]: it gives a client a limited time to
//! send a request's head and body, so that a client that opens a
//! connection and sends nothing (or half a request) holds it only briefly;
//! and a request the HTTP library itself refuses (it is not HTTP, or its
//! head is huge) gets a JSON error like any other (see `refusals`).

mod refusals;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use harness::http::RunningServer;
use harness::{Broker, Error, Sim, World};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::oneshot;

use crate::Shop;
use crate::http::{BODY_READ_TIMEOUT, router, with_body_timeout};
use crate::orders::Orders;
use refusals::{JsonRefusals, served_by};

/// How long the server waits for each part of a request.
#[derive(Clone, Copy, Debug)]
pub struct ReadTimeouts {
    /// From the connection (or the previous answer) to the end of the
    /// request's head; then the connection is closed.
    pub head: Duration,
    /// From the head to the end of the body; then the answer is 408.
    pub body: Duration,
}

/// The demo's timeouts: generous for a person typing `curl`, short for a
/// connection that sends nothing.
pub const READ_TIMEOUTS: ReadTimeouts = ReadTimeouts {
    head: Duration::from_secs(10),
    body: BODY_READ_TIMEOUT,
};

/// How to call the command.
pub const USAGE: &str = "[port]   (default port 3000)";

/// `[port]` for the shop's front and the Orders that `open` makes:
/// serves the API until the process is stopped. Returns the process's exit
/// code if it stops on its own.
pub fn command(args: &[String], open: fn(&Sim) -> Orders) -> i32 {
    let sim = Sim::from_env_or(1);
    let broker = Broker::new(&sim);
    let orders = open(&sim);
    let shop = Shop::new(&sim, &broker);
    let mut world = World::new(&sim, &broker);
    shop.add_to(&mut world);
    orders.add_to(&mut world);
    serve(args, router(shop, orders), Some(world))
}

/// `[port]` (the example `serve`'s arguments): runs `world`'s
/// handlers in the background, if there are any, and serves `router` on
/// 127.0.0.1 until the process is stopped. Returns the exit code: 2 for
/// wrong arguments, 1 if the port is taken.
pub fn serve(args: &[String], router: Router, world: Option<World>) -> i32 {
    let port = match args {
        [] => "3000",
        [port] => port.as_str(),
        _ => {
            eprintln!("usage: cargo run -p <this package> --example serve -- {USAGE}");
            return 2;
        }
    };
    if let Some(world) = world {
        run_in_background(world);
    }
    // Only on the loopback interface: the demo is for this machine.
    let address = format!("127.0.0.1:{port}");
    let server = match serve_bounded(&address, router, READ_TIMEOUTS) {
        Ok(server) => server,
        Err(err) => {
            eprintln!(
                "{err} (is another demo running? pass another port: --example serve -- 3001)"
            );
            return 1;
        }
    };
    println!(
        "The pierogi shop listens on {}. Try the curl lines in the README.",
        server.url()
    );
    println!("Press Ctrl-C to stop.");
    match server.wait() {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("{err}");
            1
        }
    }
}

/// The handlers handle their queues in a thread of their own. The demo runs
/// in real time; the tests drive the world step by step instead.
fn run_in_background(mut world: World) {
    std::thread::spawn(move || {
        loop {
            if let Err(err) = world.run_until_quiet(1_000) {
                eprintln!("background handlers: {err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// Serves `router` at `address` (`127.0.0.1:0` lets the system pick a
/// port), on a thread of its own, waiting at most `timeouts` for each
/// request's head and body. The socket is listening when this returns; the
/// server stops when the handle is dropped (or shut down).
///
/// ```
/// use axum::{Router, routing::get};
/// use shop::serve::{READ_TIMEOUTS, serve_bounded};
/// let router = Router::new().route("/ping", get(|| async { "pong" }));
/// let server = serve_bounded("127.0.0.1:0", router, READ_TIMEOUTS).unwrap();
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// server.shutdown().unwrap();
/// ```
pub fn serve_bounded(
    address: &str,
    router: Router,
    timeouts: ReadTimeouts,
) -> Result<RunningServer, Error> {
    let router = with_body_timeout(router, timeouts.body);
    RunningServer::spawn(address, move |listener, stopped| {
        accept(listener, router, timeouts.head, stopped)
    })
}

/// Accepts connections until `stopped`, each served by hyper with a
/// deadline for the request's head.
async fn accept(
    listener: tokio::net::TcpListener,
    router: Router,
    head: Duration,
    mut stopped: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection that failed before it was accepted: the
                // next one may be fine.
                Err(_) => continue,
            },
        };
        // Did this connection's request reach the router? If not, what
        // hyper writes is its own refusal, which gets a JSON body.
        let served = Arc::new(AtomicBool::new(false));
        let service = served_by(router.clone(), served.clone());
        let stream = JsonRefusals::new(stream, served);
        tokio::spawn(async move {
            // An error here is the client's (it went away, was too slow, or
            // sent what hyper refused); the connection is closed either way.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(head)
                // One request per connection: see `refusals`.
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
