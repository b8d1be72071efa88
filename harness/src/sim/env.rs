//! A run started from the environment: the seed, schedule and fingerprint
//! that a printed replay command sets, so that it reproduces a failure.

use super::{Chooser, Sim};
use crate::drift;

/// The environment variable that overrides a test's seed, so that the replay
/// command printed with a failure reproduces it.
pub const SEED_VARIABLE: &str = "HARNESS_SEED";

/// The environment variable that makes [`Sim::from_env_or`] follow an
/// explorer's schedule (`1,0,2`), so that a counterexample replays exactly.
pub const SCRIPT_VARIABLE: &str = "HARNESS_SCRIPT";

/// The environment variable that carries a run's fingerprint (`12:9f…`)
/// beside its schedule, so that a replay that is not the same run stops and
/// says so (see [`crate::Error::NotDeterministic`]).
pub const RUN_VARIABLE: &str = "HARNESS_RUN";

impl Sim {
    /// A run whose seed is `default_seed`, unless the `HARNESS_SEED`
    /// environment variable gives another one (that is how a printed replay
    /// command reproduces a failure). When `HARNESS_SCRIPT` is set too
    /// (`1,0,2`), the run follows that explorer schedule, as
    /// [`Sim::scripted`] does; `HARNESS_RUN` (the fingerprint a report prints
    /// beside the schedule) then makes it stop if it is not the same run.
    ///
    /// ```
    /// let sim = harness::Sim::from_env_or(7);
    /// ```
    ///
    /// # Panics
    ///
    /// When `HARNESS_SCRIPT` is not a comma-separated list of numbers, or
    /// `HARNESS_RUN` is not a fingerprint a replay command printed.
    pub fn from_env_or(default_seed: u64) -> Sim {
        let seed = std::env::var(SEED_VARIABLE)
            .ok()
            .and_then(|text| parse_seed(&text))
            .unwrap_or(default_seed);
        match std::env::var(SCRIPT_VARIABLE) {
            Ok(text) => match parse_script(&text) {
                Some(script) => {
                    let fingerprint = std::env::var(RUN_VARIABLE).ok().map(|text| {
                        drift::parse_fingerprint(&text).unwrap_or_else(|| {
                            panic!(
                                "{RUN_VARIABLE}={text:?} is not a run's fingerprint: copy it whole from the replay command (it looks like 7:00c3…:2a1f…), or leave it out to replay the schedule without checking that it is the same run"
                            )
                        })
                    });
                    let sim = Sim::scripted(seed, script);
                    sim.expect_fingerprint(fingerprint);
                    sim
                }
                None => panic!(
                    "{SCRIPT_VARIABLE}={text:?} is not a schedule: write the choices as numbers separated by commas, like {SCRIPT_VARIABLE}=1,0,2"
                ),
            },
            Err(_) => Sim::new(seed),
        }
    }

    /// Makes a scripted run check the replayed run's fingerprint.
    pub(super) fn expect_fingerprint(&self, expected: Option<drift::Fingerprint>) {
        if let Chooser::Scripted { fingerprint, .. } = &mut self.lock().choosing.chooser {
            *fingerprint = expected;
        }
    }
}

/// Reads a seed written in decimal or as `0x…` hex.
pub(super) fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Reads a schedule written as `1,0,2` (spaces allowed; empty means "always 0").
pub(super) fn parse_script(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|pick| pick.trim().parse().ok())
        .collect()
}
