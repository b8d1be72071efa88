//! Simulated time. Nothing in a run reads the wall clock: time moves only when
//! the simulation says so, which is what makes a run replayable from its seed.

use std::fmt;
use std::time::Duration;

/// A point in simulated time, in milliseconds since the start of the run.
///
/// ```
/// use harness::SimTime;
/// use std::time::Duration;
/// let t = SimTime::ZERO + Duration::from_secs(30);
/// assert_eq!(t.as_millis(), 30_000);
/// assert_eq!(t.to_string(), "t=30.000s");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);

    /// A time `millis` milliseconds after the start of the run.
    ///
    /// ```
    /// assert_eq!(harness::SimTime::from_millis(1500).as_millis(), 1500);
    /// ```
    pub fn from_millis(millis: u64) -> SimTime {
        SimTime(millis)
    }

    /// Milliseconds since the start of the run.
    ///
    /// ```
    /// assert_eq!(harness::SimTime::ZERO.as_millis(), 0);
    /// ```
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// How long after `earlier` this time is (zero if it is not later).
    ///
    /// ```
    /// use harness::SimTime;
    /// let gap = SimTime::from_millis(900).since(SimTime::from_millis(400));
    /// assert_eq!(gap.as_millis(), 500);
    /// ```
    pub fn since(self, earlier: SimTime) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, d: Duration) -> SimTime {
        SimTime(self.0.saturating_add(d.as_millis() as u64))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}
