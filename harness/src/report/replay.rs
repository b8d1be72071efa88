//! The exact command that replays a failing test: its seed, the explorer's
//! schedule if there is one, the package and the test's name.

use crate::{RUN_VARIABLE, SCRIPT_VARIABLE, SEED_VARIABLE};

/// The name of the running test: libtest runs each test on a thread named
/// after it (`tests::two_orders`). `None` outside a test.
pub(crate) fn current_test_name() -> Option<String> {
    let thread = std::thread::current();
    let name = thread.name()?;
    (name != "main").then(|| name.to_string())
}

/// The package under test: cargo sets `CARGO_PKG_NAME` when it runs a test
/// binary. Read at run time (at compile time it would say `harness`).
pub(crate) fn current_package() -> Option<String> {
    std::env::var("CARGO_PKG_NAME")
        .ok()
        .filter(|name| !name.is_empty())
}

/// `HARNESS_SEED=42 cargo test -p shop -- --exact tests::two_orders`, with
/// `HARNESS_SCRIPT=1,0,2` when the run followed an explorer's schedule (and
/// `HARNESS_RUN=3:9f…:2a1f…`, its fingerprint, when it made choices), and without
/// `HARNESS_SEED` for a run no seed chose.
pub(crate) fn command(
    seed: Option<u64>,
    script: Option<(&[u32], Option<&str>)>,
    package: Option<&str>,
    test: Option<&str>,
) -> String {
    let mut command = String::new();
    if let Some(seed) = seed {
        command.push_str(&format!("{SEED_VARIABLE}={seed} "));
    }
    if let Some((script, fingerprint)) = script {
        command.push_str(&format!("{SCRIPT_VARIABLE}={} ", script_text(script)));
        if let Some(fingerprint) = fingerprint {
            command.push_str(&format!("{RUN_VARIABLE}={fingerprint} "));
        }
    }
    command.push_str("cargo test");
    if let Some(package) = package {
        command.push_str(&format!(" -p {package}"));
    }
    if let Some(test) = test {
        command.push_str(&format!(" -- --exact {test}"));
    }
    command
}

/// `1,0,2`; `0` for an empty script (every choice takes option 0).
pub(crate) fn script_text(script: &[u32]) -> String {
    if script.is_empty() {
        return "0".to_string();
    }
    script
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The same schedule as Rust an attendee can paste into a test.
pub(crate) fn scripted_sim(seed: u64, script: &[u32]) -> String {
    let picks: Vec<String> = script.iter().map(u32::to_string).collect();
    format!("Sim::scripted({seed}, vec![{}])", picks.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_names_seed_package_and_test() {
        assert_eq!(
            command(Some(42), None, Some("shop"), Some("tests::two_orders")),
            "HARNESS_SEED=42 cargo test -p shop -- --exact tests::two_orders"
        );
    }

    #[test]
    fn an_explorer_schedule_joins_the_command() {
        assert_eq!(
            command(Some(7), Some((&[1, 0, 2], None)), Some("shop"), None),
            "HARNESS_SEED=7 HARNESS_SCRIPT=1,0,2 cargo test -p shop"
        );
        assert_eq!(
            command(Some(7), Some((&[1], Some("2:00ab"))), None, None),
            "HARNESS_SEED=7 HARNESS_SCRIPT=1 HARNESS_RUN=2:00ab cargo test"
        );
        assert_eq!(
            scripted_sim(7, &[1, 0, 2]),
            "Sim::scripted(7, vec![1, 0, 2])"
        );
    }

    #[test]
    fn a_test_runs_on_a_thread_named_after_it() {
        assert_eq!(
            current_test_name().as_deref(),
            Some("report::replay::tests::a_test_runs_on_a_thread_named_after_it")
        );
        assert_eq!(current_package().as_deref(), Some("harness"));
    }
}
