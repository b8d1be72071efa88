//! Named fault points and the plan that decides which fault, if any, strikes at
//! each of them.
//!
//! Every operation of every component passes through one fault point, named
//! `component.resource.operation`: `kv.carts.batch`, `broker.orders.send`,
//! `sql.orders.commit`, `blob.payloads.put`, `http.shop.post` … A test injects
//! faults with scripted rules ("the 2nd send of ItemAdded fails after the
//! broker took it") or a seeded random profile; the explorer instead tries
//! every fault at every point.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Envelope, MessageId};

/// What can go wrong at a fault point.
///
/// Components document which faults apply to them: stores know `FailBefore`,
/// `FailAfter` and `Delay`; the broker also `Duplicate` and `Drop`.
///
/// ```
/// use harness::Fault;
/// assert_eq!(Fault::FailAfter.to_string(), "fail after");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Fail without any effect: the caller gets an error, nothing changed.
    FailBefore,
    /// Apply the effect, then fail: the caller gets an error although the
    /// change happened (the lost acknowledgement).
    FailAfter,
    /// Do it twice: a message is delivered or sent as two physical copies.
    Duplicate,
    /// Pretend it worked but do nothing: the message silently vanishes.
    Drop,
    /// Let the operation take this much simulated time.
    Delay(Duration),
    /// HTTP only: the server is overloaded or broken and answers `status`
    /// (a 5xx, or 429 Too Many Requests) **without** executing the request,
    /// with `Retry-After` (whole seconds) when `retry_after` is given. The
    /// caller knows nothing happened, and may try again, politely.
    Refuse {
        /// The status the caller sees.
        status: u16,
        /// How long the server asks the caller to wait before trying again.
        retry_after: Option<Duration>,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::FailBefore => f.write_str("fail before"),
            Fault::FailAfter => f.write_str("fail after"),
            Fault::Duplicate => f.write_str("duplicate"),
            Fault::Drop => f.write_str("drop"),
            Fault::Delay(d) => write!(f, "delay {}ms", d.as_millis()),
            Fault::Refuse {
                status,
                retry_after: None,
            } => write!(f, "answer {status}"),
            Fault::Refuse {
                status,
                retry_after: Some(wait),
            } => write!(f, "answer {status}, retry after {}s", wait.as_secs()),
        }
    }
}

/// One operation about to happen, as seen by the fault plan.
///
/// ```
/// use harness::FaultPoint;
/// let point = FaultPoint::new("kv", "carts", "batch").with_key("alice/cart-1");
/// assert_eq!(point.name, "kv.carts.batch");
/// assert!(point.matches("kv.*.batch"));
/// assert!(!point.matches("kv.orders.batch"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPoint {
    /// `component.resource.operation`.
    pub name: String,
    /// The message involved, if any.
    pub message_type: Option<String>,
    /// The id of the message involved, if any.
    pub message_id: Option<MessageId>,
    /// The key, path or URL involved, if any.
    pub key: Option<String>,
}

impl FaultPoint {
    /// The point of `operation` on `resource` of `component`.
    ///
    /// ```
    /// assert_eq!(harness::FaultPoint::new("broker", "orders", "send").name, "broker.orders.send");
    /// ```
    pub fn new(component: &str, resource: &str, operation: &str) -> FaultPoint {
        FaultPoint {
            name: format!("{component}.{resource}.{operation}"),
            message_type: None,
            message_id: None,
            key: None,
        }
    }

    /// The same point, about this message.
    ///
    /// ```
    /// use harness::{Envelope, FaultPoint, MessageId};
    /// let m = Envelope::new(MessageId::from_u128(1), "ItemAdded", &());
    /// let point = FaultPoint::new("broker", "billing", "publish").with_message(&m);
    /// assert_eq!(point.message_type.as_deref(), Some("ItemAdded"));
    /// ```
    pub fn with_message(mut self, message: &Envelope) -> FaultPoint {
        self.message_type = Some(message.message_type.clone());
        self.message_id = Some(message.id);
        self
    }

    /// The same point, about this key, path or URL.
    ///
    /// ```
    /// let point = harness::FaultPoint::new("blob", "payloads", "put").with_key("a/b");
    /// assert_eq!(point.key.as_deref(), Some("a/b"));
    /// ```
    pub fn with_key(mut self, key: &str) -> FaultPoint {
        self.key = Some(key.to_string());
        self
    }

    /// Whether the point's name matches `pattern`: dot-separated segments,
    /// where `*` matches any one segment and a final `**` any number of them;
    /// `|` separates alternatives.
    ///
    /// ```
    /// let point = harness::FaultPoint::new("broker", "orders", "send");
    /// assert!(point.matches("broker.**"));
    /// assert!(point.matches("*.orders.*"));
    /// assert!(!point.matches("broker.orders"));
    /// assert!(point.matches("sql.*.commit|broker.*.send"));
    /// ```
    pub fn matches(&self, pattern: &str) -> bool {
        pattern
            .split('|')
            .any(|alternative| self.matches_one(alternative))
    }

    fn matches_one(&self, pattern: &str) -> bool {
        let mut names = self.name.split('.');
        for expected in pattern.split('.') {
            if expected == "**" {
                return true;
            }
            match names.next() {
                Some(name) if expected == "*" || expected == name => {}
                _ => return false,
            }
        }
        names.next().is_none()
    }
}

/// A predicate on fault points, for rules that only count some calls.
pub type PointFilter = Arc<dyn Fn(&FaultPoint) -> bool + Send + Sync>;

/// A closure that runs just before an operation: a scripted interleaving
/// ("the second tab submits right between the first one's read and write").
pub type Interleaving = Arc<dyn Fn() + Send + Sync>;

/// What a rule does when it fires.
#[derive(Clone)]
pub(crate) enum RuleAction {
    Inject(Fault),
    Interleave(Interleaving),
}

/// A scripted fault: which calls it strikes and what it does.
///
/// Build one with [`FaultRule::at`], narrow it down, and finish with the
/// fault; hand it to [`crate::Sim::inject`].
///
/// ```
/// use harness::{Fault, FaultRule, Sim};
/// let sim = Sim::new(1);
/// // The 2nd send of ItemAdded fails after the broker took it.
/// sim.inject(FaultRule::at("broker.*.send").message_type("ItemAdded").nth(2).fail_after());
/// // Every write to the orders store fails, without effect.
/// sim.inject(FaultRule::at("kv.orders.put").always().fail_before());
/// ```
#[derive(Clone)]
pub struct FaultRule {
    pattern: String,
    filter: Option<PointFilter>,
    first: u32,
    count: Option<u32>,
    action: RuleAction,
    matched: u32,
}

impl FaultRule {
    /// A rule for the points whose names match `pattern` (see
    /// [`FaultPoint::matches`]). Unless narrowed down, it fires once, on the
    /// first matching call.
    ///
    /// ```
    /// let rule = harness::FaultRule::at("kv.carts.*").fail_before();
    /// assert_eq!(rule.to_string(), "fail before at kv.carts.*, on call 1");
    /// ```
    pub fn at(pattern: &str) -> FaultRuleBuilder {
        FaultRuleBuilder {
            pattern: pattern.to_string(),
            filter: None,
            first: 1,
            count: Some(1),
        }
    }

    /// Decides whether this rule fires for `point`, counting the call.
    pub(crate) fn fire(&mut self, point: &FaultPoint) -> Option<RuleAction> {
        if !point.matches(&self.pattern) {
            return None;
        }
        if self.filter.as_ref().is_some_and(|filter| !filter(point)) {
            return None;
        }
        self.matched += 1;
        let after_first = self.matched >= self.first;
        let within_count = match self.count {
            Some(count) => self.matched < self.first + count,
            None => true,
        };
        (after_first && within_count).then(|| self.action.clone())
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            RuleAction::Inject(fault) => write!(f, "{fault}")?,
            RuleAction::Interleave(_) => f.write_str("interleave")?,
        }
        write!(f, " at {}", self.pattern)?;
        if self.filter.is_some() {
            f.write_str(" (filtered)")?;
        }
        match self.count {
            Some(1) => write!(f, ", on call {}", self.first),
            Some(count) => write!(f, ", on calls {} to {}", self.first, self.first + count - 1),
            None => write!(f, ", on every call from {}", self.first),
        }
    }
}

/// A fault rule under construction; see [`FaultRule::at`].
pub struct FaultRuleBuilder {
    pattern: String,
    filter: Option<PointFilter>,
    first: u32,
    count: Option<u32>,
}

impl FaultRuleBuilder {
    /// Only count calls about messages of this type.
    ///
    /// ```
    /// let rule = harness::FaultRule::at("broker.*.send").message_type("SubmitOrder").drop_message();
    /// ```
    pub fn message_type(self, message_type: &str) -> FaultRuleBuilder {
        let wanted = message_type.to_string();
        self.when(move |point| point.message_type.as_deref() == Some(wanted.as_str()))
    }

    /// Only count calls for which `filter` holds.
    ///
    /// ```
    /// let rule = harness::FaultRule::at("kv.orders.put")
    ///     .when(|point| point.key.as_deref().is_some_and(|key| key.ends_with("SwissCheese")))
    ///     .fail_before();
    /// ```
    pub fn when(
        mut self,
        filter: impl Fn(&FaultPoint) -> bool + Send + Sync + 'static,
    ) -> FaultRuleBuilder {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Fire on the `n`th counted call only (1 = the first).
    ///
    /// ```
    /// let rule = harness::FaultRule::at("broker.*.send").nth(2).fail_after();
    /// assert_eq!(rule.to_string(), "fail after at broker.*.send, on call 2");
    /// ```
    pub fn nth(mut self, n: u32) -> FaultRuleBuilder {
        self.first = n.max(1);
        self
    }

    /// Fire on this many consecutive counted calls (starting with the `nth`).
    ///
    /// ```
    /// let rule = harness::FaultRule::at("kv.*.put").times(3).fail_before();
    /// assert_eq!(rule.to_string(), "fail before at kv.*.put, on calls 1 to 3");
    /// ```
    pub fn times(mut self, count: u32) -> FaultRuleBuilder {
        self.count = Some(count.max(1));
        self
    }

    /// Fire on every counted call (from the `nth` on).
    ///
    /// ```
    /// let rule = harness::FaultRule::at("kv.*.put").always().fail_before();
    /// assert_eq!(rule.to_string(), "fail before at kv.*.put, on every call from 1");
    /// ```
    pub fn always(mut self) -> FaultRuleBuilder {
        self.count = None;
        self
    }

    /// Finish with this fault.
    ///
    /// ```
    /// let rule = harness::FaultRule::at("kv.*.put").inject(harness::Fault::FailAfter);
    /// ```
    pub fn inject(self, fault: Fault) -> FaultRule {
        self.finish(RuleAction::Inject(fault))
    }

    /// Finish with [`Fault::FailBefore`].
    ///
    /// ```
    /// let rule = harness::FaultRule::at("kv.*.put").fail_before();
    /// ```
    pub fn fail_before(self) -> FaultRule {
        self.inject(Fault::FailBefore)
    }

    /// Finish with [`Fault::FailAfter`].
    ///
    /// ```
    /// let rule = harness::FaultRule::at("kv.*.put").fail_after();
    /// ```
    pub fn fail_after(self) -> FaultRule {
        self.inject(Fault::FailAfter)
    }

    /// Finish with [`Fault::Duplicate`].
    ///
    /// ```
    /// let rule = harness::FaultRule::at("broker.*.send").duplicate();
    /// ```
    pub fn duplicate(self) -> FaultRule {
        self.inject(Fault::Duplicate)
    }

    /// Finish with [`Fault::Drop`].
    ///
    /// ```
    /// let rule = harness::FaultRule::at("broker.*.send").drop_message();
    /// ```
    pub fn drop_message(self) -> FaultRule {
        self.inject(Fault::Drop)
    }

    /// Finish with [`Fault::Delay`].
    ///
    /// ```
    /// let rule = harness::FaultRule::at("http.*.*").delay(std::time::Duration::from_secs(5));
    /// ```
    pub fn delay(self, duration: Duration) -> FaultRule {
        self.inject(Fault::Delay(duration))
    }

    /// Finish with [`Fault::Refuse`]: an HTTP server error such as 500 or
    /// 503, the request not executed.
    ///
    /// ```
    /// let rule = harness::FaultRule::at("http.payments.post").server_error(503);
    /// assert_eq!(rule.to_string(), "answer 503 at http.payments.post, on call 1");
    /// ```
    pub fn server_error(self, status: u16) -> FaultRule {
        self.inject(Fault::Refuse {
            status,
            retry_after: None,
        })
    }

    /// Finish with [`Fault::Refuse`]: `429 Too Many Requests` with
    /// `Retry-After` (in whole seconds), the request not executed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rule = harness::FaultRule::at("http.payments.*").too_many_requests(Duration::from_secs(2));
    /// assert_eq!(rule.to_string(), "answer 429, retry after 2s at http.payments.*, on call 1");
    /// ```
    pub fn too_many_requests(self, retry_after: Duration) -> FaultRule {
        self.inject(Fault::Refuse {
            status: 429,
            retry_after: Some(retry_after),
        })
    }

    /// Finish with a scripted interleaving: run `action` just before the
    /// operation, as if another user or worker slipped in at that moment.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use harness::{FaultPoint, FaultRule, Sim};
    ///
    /// let sim = Sim::new(1);
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let seen = calls.clone();
    /// sim.inject(FaultRule::at("kv.carts.batch").interleave(move || {
    ///     seen.fetch_add(1, Ordering::SeqCst);
    /// }));
    /// sim.fault_at(&FaultPoint::new("kv", "carts", "batch"));
    /// assert_eq!(calls.load(Ordering::SeqCst), 1);
    /// ```
    pub fn interleave(self, action: impl Fn() + Send + Sync + 'static) -> FaultRule {
        self.finish(RuleAction::Interleave(Arc::new(action)))
    }

    fn finish(self, action: RuleAction) -> FaultRule {
        FaultRule {
            pattern: self.pattern,
            filter: self.filter,
            first: self.first,
            count: self.count,
            action,
            matched: 0,
        }
    }
}

/// A seeded random fault profile: at each matching point, each listed fault
/// strikes with its probability. The same seed gives the same faults.
///
/// ```
/// use harness::{Fault, RandomFaults, Sim};
/// let sim = Sim::new(42);
/// sim.inject_random(
///     RandomFaults::new()
///         .with("broker.*.send", Fault::Duplicate, 0.1)
///         .with("kv.*.put", Fault::FailAfter, 0.05),
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct RandomFaults {
    entries: Vec<(String, Fault, f64)>,
}

impl RandomFaults {
    /// An empty profile.
    ///
    /// ```
    /// let profile = harness::RandomFaults::new();
    /// ```
    pub fn new() -> RandomFaults {
        RandomFaults::default()
    }

    /// Adds `fault` at points matching `pattern`, with `probability` in 0..=1.
    ///
    /// ```
    /// let profile = harness::RandomFaults::new().with("kv.**", harness::Fault::FailBefore, 0.2);
    /// ```
    pub fn with(mut self, pattern: &str, fault: Fault, probability: f64) -> RandomFaults {
        self.entries
            .push((pattern.to_string(), fault, probability.clamp(0.0, 1.0)));
        self
    }

    /// The first fault whose dice roll strikes, rolling with `roll` (0..1).
    pub(crate) fn pick(&self, point: &FaultPoint, mut roll: impl FnMut() -> f64) -> Option<Fault> {
        self.entries
            .iter()
            .filter(|(pattern, _, _)| point.matches(pattern))
            .find(|(_, _, probability)| roll() < *probability)
            .map(|(_, fault, _)| *fault)
    }
}

/// Points where the explorer tries every listed fault (bounded in number per
/// run), by asking the simulation's chooser.
#[derive(Clone, Debug)]
pub(crate) struct ExploredFaults {
    pub(crate) pattern: String,
    pub(crate) faults: Vec<Fault>,
    pub(crate) budget: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_of(message_type: &str) -> FaultPoint {
        let mut point = FaultPoint::new("broker", "billing", "send");
        point.message_type = Some(message_type.to_string());
        point
    }

    #[test]
    fn a_rule_fires_on_its_nth_matching_call_only() {
        let mut rule = FaultRule::at("broker.*.send")
            .message_type("ItemAdded")
            .nth(2)
            .fail_after();
        let fired: Vec<bool> = ["ItemAdded", "ItemRemoved", "ItemAdded", "ItemAdded"]
            .iter()
            .map(|t| rule.fire(&send_of(t)).is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false]);
    }

    #[test]
    fn an_always_rule_keeps_firing() {
        let mut rule = FaultRule::at("broker.**").always().drop_message();
        assert!((0..5).all(|_| rule.fire(&send_of("X")).is_some()));
    }

    #[test]
    fn patterns_match_whole_segments() {
        let point = FaultPoint::new("kv", "carts", "batch");
        assert!(point.matches("kv.carts.batch"));
        assert!(point.matches("kv.*.*"));
        assert!(point.matches("**"));
        assert!(!point.matches("kv.cart.batch"));
        assert!(!point.matches("kv.carts.batch.extra"));
    }
}
