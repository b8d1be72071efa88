//! Bounded deliveries: a handler that never finishes fails with a message
//! that says so, instead of hanging the test.
//!
//! The classic way to hang a test is a handler that retries for ever inside
//! one delivery: `loop { if store.put(..).is_ok() { break } }` around a
//! store that keeps failing. Every such loop goes through the simulated
//! cloud, so the harness counts: each call a handler makes to it (every
//! fault point of a store, the broker or HTTP, every `send`, `publish` and
//! `take_time`) is charged to the delivery being handled, and when one
//! delivery has made [`DEFAULT_DELIVERY_BUDGET`] calls, the next call
//! unwinds out of the handler. The world records the delivery as failed,
//! dead-letters the message with the reason, stops, and answers
//! [`crate::Error::Runaway`], naming the endpoint, the message and the last
//! fault point. [`crate::Sim::bounded`] gives the same bound to code a test
//! calls directly (a client's submit loop).
//!
//! Why count calls and not time: calls are part of the run, so the bound
//! strikes at the same call in every replay of a seed or a schedule, and a
//! run that stays under it is not changed at all (nothing is chosen, drawn
//! or recorded until it strikes).
//!
//! A loop that never calls the harness (`loop {}`, a wait on a channel
//! nobody sends to) cannot be counted. For that, and only that, a
//! **watchdog** thread looks once a second at the deliveries being handled:
//! when a handler has been running its own code for two minutes of real
//! time without a single call to the harness (`HARNESS_WATCHDOG_SECS`
//! changes the limit, `0` turns it off), it writes what it found to the
//! standard error and ends the test process with exit code 101. It reads
//! the wall clock, so it is kept out of the deterministic path: it decides
//! nothing in a run that finishes, it only ends one that never would.

use std::cell::RefCell;
use std::io::Write;
use std::panic;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How many calls to the simulated cloud one delivery may make. A correct
/// handler makes a few dozen; a thousand retries of a failing write would
/// still fit.
pub const DEFAULT_DELIVERY_BUDGET: u64 = 10_000;

/// The environment variable that sets the watchdog's limit, in seconds
/// (`0` turns the watchdog off).
pub const WATCHDOG_VARIABLE: &str = "HARNESS_WATCHDOG_SECS";

/// The watchdog's limit when the variable is not set.
const DEFAULT_WATCHDOG: Duration = Duration::from_secs(120);

/// The payload a spent budget unwinds with; the world (or
/// [`crate::Sim::bounded`]) catches it and explains.
#[derive(Clone, Debug)]
pub(crate) struct Runaway {
    /// Who was running: `endpoint orders`, or what the test named.
    pub who: String,
    /// What it was handling: `AddItem(m3)`, or empty.
    pub message: String,
    /// The calls it made.
    pub calls: u64,
    /// The fault point (or context call) where the budget ran out.
    pub last_call: String,
}

/// The bounded piece of work running on this thread.
struct Bounded {
    runaway: Runaway,
    budget: u64,
    /// The calls so far, shared with whoever wants to tell (the world,
    /// when it is still busy).
    calls: Arc<AtomicU64>,
    watch: Arc<Watch>,
}

thread_local! {
    static CURRENT: RefCell<Option<Bounded>> = const { RefCell::new(None) };
}

/// Runs `work` as one bounded delivery on this thread: every harness call
/// it makes is charged, and the watchdog keeps an eye on it. A spent budget
/// unwinds out of `work` with a [`Runaway`] payload.
/// `calls` counts them (from where it stands).
pub(crate) fn within<T>(
    who: &str,
    message: &str,
    budget: u64,
    calls: Arc<AtomicU64>,
    work: impl FnOnce() -> T,
) -> T {
    let watch = Watch::start(who, message);
    let bounded = Bounded {
        runaway: Runaway {
            who: who.to_string(),
            message: message.to_string(),
            calls: 0,
            last_call: String::new(),
        },
        budget,
        calls,
        watch: watch.clone(),
    };
    let previous = CURRENT.with(|current| current.replace(Some(bounded)));
    // Restores the outer state however `work` ends: returning, failing,
    // unwinding on a spent budget or on the world's shutdown.
    let _restore = Restore { previous, watch };
    work()
}

struct Restore {
    previous: Option<Bounded>,
    watch: Arc<Watch>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        self.watch.finish();
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// Charges one call (`what`: a fault point's name, `send`, `take_time` …)
/// to the delivery running on this thread, if any. Unwinds with a
/// [`Runaway`] when its budget is spent. Until the returned guard drops,
/// the watchdog counts the thread as inside the harness (a handler parked
/// at a fault point waits for its turn there, which is not a hang).
pub(crate) fn call(what: &str) -> InHarness {
    let charged = CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        let bounded = current.as_mut()?;
        let calls = bounded.calls.load(Ordering::Relaxed) + 1;
        let spent = calls > bounded.budget;
        if spent {
            // Counts for nothing: a handler that catches the unwind and
            // carries on fails at every call, and is left to the watchdog.
            bounded.runaway.calls = bounded.budget;
            bounded.runaway.last_call = what.to_string();
        } else {
            bounded.calls.store(calls, Ordering::Relaxed);
        }
        Some((
            bounded.watch.clone(),
            spent.then(|| bounded.runaway.clone()),
        ))
    });
    match charged {
        None => InHarness { watch: None },
        // Not `panic!`: the payload is for the world to explain, and the
        // panic hook would print a second, less helpful message.
        Some((_, Some(runaway))) => panic::resume_unwind(Box::new(runaway)),
        Some((watch, None)) => {
            watch.depth.fetch_add(1, Ordering::Relaxed);
            InHarness { watch: Some(watch) }
        }
    }
}

/// See [`call`].
pub(crate) struct InHarness {
    watch: Option<Arc<Watch>>,
}

impl Drop for InHarness {
    fn drop(&mut self) {
        if let Some(watch) = &self.watch {
            watch.beat();
            watch.depth.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What the watchdog knows of one bounded delivery.
struct Watch {
    who: String,
    message: String,
    /// When the handler last came back from the harness, in milliseconds
    /// since the watchdog's epoch.
    last_beat: AtomicU64,
    /// How many harness calls the thread is inside of (0: in its own code).
    depth: AtomicU32,
}

/// Deliveries being handled, for the watchdog.
static WATCHED: Mutex<Vec<Arc<Watch>>> = Mutex::new(Vec::new());
static WATCHDOG: Once = Once::new();

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis_since_epoch() -> u64 {
    epoch().elapsed().as_millis() as u64
}

fn watched() -> std::sync::MutexGuard<'static, Vec<Arc<Watch>>> {
    WATCHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Watch {
    fn start(who: &str, message: &str) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            who: who.to_string(),
            message: message.to_string(),
            last_beat: AtomicU64::new(millis_since_epoch()),
            depth: AtomicU32::new(0),
        });
        if let Some(limit) = watchdog_limit() {
            WATCHDOG.call_once(|| start_watchdog(limit));
            watched().push(watch.clone());
        }
        watch
    }

    fn beat(&self) {
        self.last_beat
            .store(millis_since_epoch(), Ordering::Relaxed);
    }

    fn finish(self: &Arc<Watch>) {
        watched().retain(|other| !Arc::ptr_eq(other, self));
    }

    /// How long the handler has been running its own code, if it is.
    fn stuck_for(&self, now: u64) -> Option<Duration> {
        if self.depth.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let since = self.last_beat.load(Ordering::Relaxed);
        Some(Duration::from_millis(now.saturating_sub(since)))
    }
}

/// The watchdog's limit, read once per process (`None`: turned off).
fn watchdog_limit() -> Option<Duration> {
    static LIMIT: OnceLock<Option<Duration>> = OnceLock::new();
    *LIMIT.get_or_init(|| match std::env::var(WATCHDOG_VARIABLE) {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(seconds) => Some(Duration::from_secs(seconds)),
            Err(_) => Some(DEFAULT_WATCHDOG),
        },
        Err(_) => Some(DEFAULT_WATCHDOG),
    })
}

fn start_watchdog(limit: Duration) {
    let tick = (limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let started = thread::Builder::new()
        .name("harness-watchdog".to_string())
        .spawn(move || {
            loop {
                thread::sleep(tick);
                let now = millis_since_epoch();
                let stuck = watched()
                    .iter()
                    .find(|watch| watch.stuck_for(now).is_some_and(|time| time >= limit))
                    .cloned();
                if let Some(watch) = stuck {
                    stop_the_process(&watch, limit);
                }
            }
        });
    // Without a watchdog the harness still bounds every loop that calls it.
    drop(started);
}

/// Ends the test process: a thread stuck in its own code cannot be
/// unwound from outside, and waiting longer only hides the failure.
fn stop_the_process(watch: &Watch, limit: Duration) -> ! {
    let what = if watch.message.is_empty() {
        String::new()
    } else {
        format!(" on {}", watch.message)
    };
    // Straight to the standard error: the test runner captures `eprintln!`
    // of test threads, and this process is about to end.
    let _ = writeln!(
        std::io::stderr(),
        "\nharness watchdog: {}{what} has run its own code for {} s of real time without a \
         single call to the simulated cloud: it never returns (a loop that does not touch the \
         harness, or a wait on something that never comes). A handler must finish or fail; \
         stopping the test process (set {WATCHDOG_VARIABLE} to change the limit).",
        watch.who,
        limit.as_secs()
    );
    std::process::exit(101)
}

impl Runaway {
    /// The sentence the world and [`crate::Sim::bounded`] fail with.
    pub(crate) fn explain(&self) -> String {
        self.to_error().to_string()
    }

    pub(crate) fn to_error(&self) -> crate::Error {
        crate::Error::Runaway {
            who: self.who.clone(),
            message: self.message.clone(),
            calls: self.calls,
            last_call: self.last_call.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(0))
    }

    fn catch_runaway(work: impl FnOnce() + panic::UnwindSafe) -> Runaway {
        let payload = panic::catch_unwind(work).expect_err("the budget must run out");
        *payload.downcast::<Runaway>().expect("a Runaway payload")
    }

    #[test]
    fn the_call_past_the_budget_unwinds_naming_it() {
        let runaway = catch_runaway(|| {
            within(
                "the handler of endpoint orders",
                "AddItem(m1)",
                3,
                counter(),
                || {
                    for n in 0.. {
                        let _call = call(&format!("kv.orders.put#{n}"));
                    }
                },
            )
        });
        assert_eq!(runaway.calls, 3);
        assert_eq!(runaway.last_call, "kv.orders.put#3");
        assert_eq!(
            runaway.explain(),
            "the handler of endpoint orders never finished AddItem(m1): it made 3 calls to the \
             simulated cloud without returning (the last at kv.orders.put#3) — a loop that \
             retries for ever? Fail instead (return the error) and let the broker redeliver: it \
             dead-letters a message once its attempts are used up"
        );
    }

    #[test]
    fn calls_outside_a_bounded_delivery_are_not_counted() {
        for _ in 0..10 {
            let _call = call("kv.orders.get");
        }
        within("x", "", 2, counter(), || {
            let _call = call("a");
            let _call = call("b");
        });
        // The budget was restored on the way out: no delivery, no count.
        let _call = call("c");
    }

    #[test]
    fn the_watch_knows_when_the_handler_is_in_its_own_code() {
        within("endpoint orders", "AddItem(m1)", 10, counter(), || {
            let watch = CURRENT.with(|current| current.borrow().as_ref().unwrap().watch.clone());
            let far_future = millis_since_epoch() + 1_000_000;
            assert!(watch.stuck_for(far_future).is_some());
            let inside = call("kv.orders.get");
            assert_eq!(watch.stuck_for(far_future), None);
            drop(inside);
            assert!(watch.stuck_for(far_future).is_some());
        });
    }
}
