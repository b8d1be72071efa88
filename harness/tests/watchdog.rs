//! The last resort of bounded deliveries: a handler that never returns and
//! never calls the harness (so nothing can count its calls) ends the test
//! process with a message, instead of hanging it. The process ends, so the
//! test runs the hanging world in a child process: this test binary again,
//! running only `child_runs_a_handler_that_never_returns`.

use std::process::Command;
use std::time::Duration;

use harness::{Broker, Envelope, HandlerContext, Sim, WATCHDOG_VARIABLE, World};

/// Set in the child process only: without it the child test does nothing,
/// so that `cargo test -- --ignored` does not hang on it.
const CHILD: &str = "HARNESS_WATCHDOG_CHILD";

#[test]
#[ignore = "run by a_handler_that_never_returns_ends_the_process_with_a_message, in a child process"]
fn child_runs_a_handler_that_never_returns() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    let sim = Sim::new(1);
    let broker = Broker::new(&sim);
    let mut world = World::new(&sim, &broker);
    world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| {
        // Waits for something that never comes, without a harness call.
        loop {
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    world
        .send(
            "orders",
            Envelope::new(sim.new_message_id(), "AddItem", &()),
        )
        .unwrap();
    let _ = world.run_until_quiet(10);
    unreachable!("the watchdog ends the process first");
}

#[test]
fn a_handler_that_never_returns_ends_the_process_with_a_message() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_runs_a_handler_that_never_returns",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env(WATCHDOG_VARIABLE, "1")
        .output()
        .expect("the test binary starts again");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(101), "{stderr}");
    assert!(
        stderr.contains(
            "harness watchdog: the handler of endpoint orders on AddItem(m1) has run its own \
             code for 1 s of real time without a single call to the simulated cloud: it never \
             returns"
        ),
        "{stderr}"
    );
}
