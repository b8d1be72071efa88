//! Explained failures: when a check fails, say in the course's words what
//! happened, give the seed and the exact command that replays the run, and
//! draw the run as a sequence diagram a person can open in a browser.
//!
//! A test fails with [`ensure`], [`ensure_eq`] or [`Failure::panic`]; each
//! panics with the full report (the test runner shows panic messages as they
//! are). The report reads:
//!
//! ```text
//! ItemAdded(m1) was published, then the database write failed: Billing now knows of an item the order does not have
//!
//! What happened (4 steps):
//!   orders:
//!        1  t=0.000s     published ItemAdded(m1) on topic items: copied to billing
//!   ▶    2            ⚡ fault at sql.orders.commit: it fails before anything happens
//!        3               rolled back a transaction on orders: none of its writes happened
//!   billing:
//!        4               received ItemAdded(m1) from queue billing
//!   ▶ the steps the check points at · ⚡ fault
//!
//! Seed:    42
//! Replay:  HARNESS_SEED=42 cargo test -p shop -- --exact tests::publish_after_commit
//! Diagram: file:///…/target/harness-traces/shop/tests.publish_after_commit.html (open it in a browser)
//! Mermaid: /…/target/harness-traces/shop/tests.publish_after_commit.mmd
//! ```
//!
//! The steps carry marks: `⚡` a fault struck, `⟲` a message (or a
//! state-changing request) seen again — a redelivery, a duplicate copy, a
//! second handling —, `✗` something was refused, failed or lost, `⏱` a
//! lease ran out, and `▶` the steps the failing check pointed at
//! ([`Failure::highlight`], [`Failure::highlight_message`]). Long runs are
//! trimmed to their first and last steps plus the marked ones in between.
//!
//! The diagrams go to `<target>/harness-traces/<package>/<test>.mmd` (Mermaid
//! source) and `….html` (a standalone page with an SVG diagram, the steps and
//! the Mermaid source; no scripts, nothing from the network). `<target>` is
//! `CARGO_TARGET_DIR`, else the `target/` beside the workspace's `Cargo.lock`,
//! else the system's temporary directory. If they cannot be written, the
//! report says so in one line and the failure stays as clear as before.

mod causation;
mod diagram;
mod escape;
pub(crate) mod files;
mod html;
mod mermaid;
mod narrate;
pub(crate) mod replay;
mod steps;
mod svg;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Sim, Trace};
pub use causation::Causation;
use steps::{Highlights, Mark, Shown};

/// Steps the text report tells at the start and at the end of a long run.
const TEXT_HEAD: usize = 12;
const TEXT_TAIL: usize = 28;
/// Conversations whose causation tree the page shows (those the check
/// points at first).
const PAGE_CONVERSATIONS: usize = 40;
/// Steps the diagrams and the page draw at the start and at the end.
const DIAGRAM_HEAD: usize = 60;
const DIAGRAM_TAIL: usize = 240;

/// A failed check, with everything needed to understand and replay it: a
/// headline in the course's words, optional detail lines, the run's seed and
/// trace, the explorer's schedule if any, and the steps to point at.
///
/// Build it from the [`Sim`] of the run, then [`Failure::panic`] (in a test)
/// or [`Failure::finish`] (to get the text and write the diagrams without
/// panicking, as the explorer does when it collects counterexamples).
///
/// ```
/// use harness::{Condition, DocumentStore, Failure, Sim};
///
/// let sim = Sim::new(42);
/// let orders = DocumentStore::new(&sim, "orders");
/// orders.put("c-1", "order-1", &"new", Condition::Always).unwrap();
/// orders.put("c-1", "order-2", &"new", Condition::Always).unwrap();
///
/// let failure = Failure::new(&sim, "two orders exist for cart c-1")
///     .detail("the second submit did not see the first one's flag")
///     .highlight(2);
/// let report = failure.render();
/// assert!(report.starts_with("two orders exist for cart c-1"));
/// assert!(report.contains("wrote orders/c-1/order-2 (now v1)"));
/// assert!(report.contains("HARNESS_SEED=42 cargo test"));
/// ```
#[derive(Clone)]
pub struct Failure {
    headline: String,
    details: Vec<String>,
    seed: u64,
    trace: Trace,
    script: Option<Vec<u32>>,
    /// The run's fingerprint (`HARNESS_RUN`), when it followed a schedule.
    fingerprint: Option<String>,
    highlights: Highlights,
    test_name: Option<String>,
    package: Option<String>,
    replay: Option<String>,
    /// Why no seed replays this run (see [`Failure::without_seed`]).
    seedless: Option<String>,
}

impl Failure {
    /// A failure of the run `sim`, explained by `headline` (one sentence in
    /// the course's words: what is wrong and, if known, why). Takes the
    /// seed, a copy of the trace, the running test's name and package, and —
    /// when `sim` follows an explorer schedule — that schedule.
    ///
    /// ```
    /// let sim = harness::Sim::new(7);
    /// let failure = harness::Failure::new(&sim, "m1 was applied twice");
    /// assert_eq!(failure.headline(), "m1 was applied twice");
    /// ```
    pub fn new(sim: &Sim, headline: impl Into<String>) -> Failure {
        let choices = sim.choices();
        let script = sim.is_scripted().then(|| {
            let mut picks: Vec<u32> = choices.iter().map(|c| c.picked).collect();
            // Past its end a script answers 0, so trailing zeros say nothing.
            while picks.last() == Some(&0) {
                picks.pop();
            }
            picks
        });
        let mut failure = Failure::from_trace(sim.seed(), sim.trace(), headline);
        if script.is_some() {
            failure = failure.fingerprint(&choices);
        }
        failure.script = script;
        failure
    }

    /// A failure from a seed and a trace kept from a run (when the [`Sim`]
    /// itself is gone).
    ///
    /// ```
    /// let sim = harness::Sim::new(3);
    /// sim.note("hello");
    /// let failure = harness::Failure::from_trace(3, sim.trace(), "something broke");
    /// assert!(failure.render().contains("hello"));
    /// ```
    pub fn from_trace(seed: u64, trace: Trace, headline: impl Into<String>) -> Failure {
        Failure {
            headline: headline.into(),
            details: Vec::new(),
            seed,
            trace,
            script: None,
            fingerprint: None,
            highlights: Highlights::default(),
            test_name: replay::current_test_name(),
            package: replay::current_package(),
            replay: None,
            seedless: None,
        }
    }

    /// Adds a line under the headline: a value seen, an expectation, a hint.
    ///
    /// ```
    /// let failure = harness::Failure::new(&harness::Sim::new(1), "wrong total")
    ///     .detail("expected: 3 pierogi")
    ///     .detail("actual:   6 pierogi");
    /// assert!(failure.render().contains("    actual:   6 pierogi"));
    /// ```
    pub fn detail(mut self, line: impl Into<String>) -> Failure {
        self.details.push(line.into());
        self
    }

    /// Points at one step (by its number in the trace, [`crate::Event::seq`]):
    /// it is marked `▶` in the steps and drawn on a red band in the diagrams.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.note("the culprit");
    /// let report = harness::Failure::new(&sim, "broken").highlight(1).render();
    /// assert!(report.contains("▶    1"));
    /// ```
    pub fn highlight(mut self, seq: u64) -> Failure {
        self.highlights.seqs.insert(seq);
        self
    }

    /// Points at every step about a message, by its trace label (`m3`).
    ///
    /// ```
    /// use harness::{Envelope, EventKind, MessageId, Sim};
    /// let sim = Sim::new(1);
    /// let m = sim.message_ref(&Envelope::new(MessageId::from_u128(9), "ItemAdded", &()));
    /// sim.record(EventKind::Sent { queue: "billing".into(), message: m });
    /// let report = harness::Failure::new(&sim, "m1 lost").highlight_message("m1").render();
    /// assert!(report.contains("▶    1"));
    /// ```
    pub fn highlight_message(mut self, label: &str) -> Failure {
        self.highlights.messages.insert(label.to_string());
        self
    }

    /// Sets the explorer schedule that reproduces the run (the choices'
    /// picks, as given to [`Sim::scripted`]). [`Failure::new`] already takes
    /// it from a scripted [`Sim`]; use this when you build from a trace.
    ///
    /// ```
    /// let failure = harness::Failure::new(&harness::Sim::new(5), "lost").script(vec![1, 0, 2]);
    /// assert!(failure.replay().contains("HARNESS_SCRIPT=1,0,2"));
    /// ```
    pub fn script(mut self, script: Vec<u32>) -> Failure {
        self.script = Some(script);
        self
    }

    /// The fingerprint of the run these choices made, for the replay
    /// command (`HARNESS_RUN`; see [`crate::Error::NotDeterministic`]).
    pub(crate) fn fingerprint(mut self, choices: &[crate::Choice]) -> Failure {
        self.fingerprint = crate::drift::fingerprint(choices);
        self
    }

    /// Names the test (for the replay command and the diagram's file name)
    /// when the thread's name is not it.
    ///
    /// ```
    /// let failure = harness::Failure::new(&harness::Sim::new(5), "lost").test_name("tests::lost");
    /// assert!(failure.replay().ends_with("-- --exact tests::lost"));
    /// ```
    pub fn test_name(mut self, name: &str) -> Failure {
        self.test_name = Some(name.to_string());
        self
    }

    /// Replaces the replay command (for tests that replay another way, such
    /// as through `cargo xtask`).
    ///
    /// ```
    /// let failure = harness::Failure::new(&harness::Sim::new(5), "lost")
    ///     .replay_command("cargo xtask replay ex07 --seed 5");
    /// assert_eq!(failure.replay(), "cargo xtask replay ex07 --seed 5");
    /// ```
    pub fn replay_command(mut self, command: &str) -> Failure {
        self.replay = Some(command.to_string());
        self
    }

    /// For a run that no seed chose, such as a model checker's
    /// counterexample (found by trying every run, not by chance): the report
    /// says `why` where it would print the seed, and its replay command sets
    /// no `HARNESS_SEED`, which would change nothing.
    ///
    /// ```
    /// let failure = harness::Failure::new(&harness::Sim::new(1), "ghost")
    ///     .test_name("no_ghost")
    ///     .without_seed("the model checker tried every run");
    /// assert!(failure.render().contains("Seed:    none: the model checker tried every run\n"));
    /// assert!(failure.replay().starts_with("cargo test"));
    /// ```
    pub fn without_seed(mut self, why: &str) -> Failure {
        self.seedless = Some(why.to_string());
        self
    }

    /// The headline.
    ///
    /// ```
    /// let failure = harness::Failure::new(&harness::Sim::new(1), "lost");
    /// assert_eq!(failure.headline(), "lost");
    /// ```
    pub fn headline(&self) -> &str {
        &self.headline
    }

    /// The seed of the failed run.
    ///
    /// ```
    /// assert_eq!(harness::Failure::new(&harness::Sim::new(9), "x").seed(), 9);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The command that replays the failure:
    /// `HARNESS_SEED=<seed> [HARNESS_SCRIPT=<schedule>] cargo test -p <package> -- --exact <test>`.
    ///
    /// ```
    /// let failure = harness::Failure::new(&harness::Sim::new(9), "x").test_name("tests::x");
    /// assert!(failure.replay().starts_with("HARNESS_SEED=9 cargo test"));
    /// ```
    pub fn replay(&self) -> String {
        match &self.replay {
            Some(command) => command.clone(),
            None => replay::command(
                self.seedless.is_none().then_some(self.seed),
                self.script
                    .as_deref()
                    .map(|script| (script, self.fingerprint.as_deref())),
                self.package.as_deref(),
                self.test_name.as_deref(),
            ),
        }
    }

    /// "What happened": the steps of the run in plain sentences, grouped
    /// under the actor who did them, marked, trimmed when the run is long.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.set_actor("alice");
    /// sim.note("clicks Submit twice");
    /// let steps = harness::Failure::new(&sim, "x").narration();
    /// assert!(steps.contains("  alice:\n"));
    /// assert!(steps.contains("clicks Submit twice"));
    /// ```
    pub fn narration(&self) -> String {
        narrate::narrate_steps(&self.shown(TEXT_HEAD, TEXT_TAIL), self.trace.dropped())
    }

    /// The run as a Mermaid `sequenceDiagram`.
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.note("hello");
    /// let source = harness::Failure::new(&sim, "x").highlight(1).mermaid();
    /// assert!(source.starts_with("sequenceDiagram\n"));
    /// assert!(source.contains("Note over p1: 1. hello"));
    /// ```
    pub fn mermaid(&self) -> String {
        mermaid::render(&diagram::build(&self.shown(DIAGRAM_HEAD, DIAGRAM_TAIL)))
    }

    /// The run as an SVG sequence diagram (drawn without any library).
    ///
    /// ```
    /// let sim = harness::Sim::new(1);
    /// sim.note("hello");
    /// let drawing = harness::Failure::new(&sim, "x").svg();
    /// assert!(drawing.starts_with("<svg"));
    /// ```
    pub fn svg(&self) -> String {
        svg::render(&diagram::build(&self.shown(DIAGRAM_HEAD, DIAGRAM_TAIL)))
    }

    /// The standalone HTML page: headline, replay command, SVG diagram,
    /// the steps, the causation trees of the run's conversations
    /// ([`Causation`]) and the Mermaid source. Works offline.
    ///
    /// ```
    /// let page = harness::Failure::new(&harness::Sim::new(1), "m1 <lost>").html();
    /// assert!(page.starts_with("<!DOCTYPE html>"));
    /// assert!(page.contains("<h1>m1 &lt;lost&gt;</h1>"));
    /// ```
    pub fn html(&self) -> String {
        let shown = self.shown(DIAGRAM_HEAD, DIAGRAM_TAIL);
        let steps = narrate::narrate_steps(&shown, self.trace.dropped());
        let diagram = diagram::build(&shown);
        html::render(&html::Page {
            headline: &self.headline,
            details: &self.details,
            seed: &self.seed_text(),
            replay: &self.replay_lines(),
            svg: &svg::render(&diagram),
            steps: &steps,
            causation: &Causation::from_trace(&self.trace)
                .trees_for_page(PAGE_CONVERSATIONS, &self.highlights.messages),
            mermaid: &mermaid::render(&diagram),
        })
    }

    /// The report as text, without writing any file: headline, details,
    /// what happened, seed and replay command. Also what `Display` shows.
    ///
    /// ```
    /// let report = harness::Failure::new(&harness::Sim::new(4), "lost").render();
    /// assert!(report.contains("Seed:    4"));
    /// ```
    pub fn render(&self) -> String {
        let mut out = self.headline.clone();
        out.push('\n');
        for detail in &self.details {
            out.push_str(&format!("    {detail}\n"));
        }
        out.push('\n');
        out.push_str(&self.what_happened());
        out.push('\n');
        out.push_str(&format!("Seed:    {}\n", self.seed_text()));
        let mut lines = self.replay_lines().into_iter();
        if let Some(first) = lines.next() {
            out.push_str(&format!("Replay:  {first}\n"));
        }
        for line in lines {
            out.push_str(&format!("         {line}\n"));
        }
        out
    }

    /// Writes the diagrams under `target/harness-traces/` and returns the
    /// report with their paths (or, if writing failed, a line saying so).
    /// This is what [`Failure::panic`] panics with.
    ///
    /// ```
    /// let report = harness::Failure::new(&harness::Sim::new(4), "lost").finish();
    /// assert!(report.contains("Diagram: "));
    /// ```
    pub fn finish(&self) -> String {
        self.finish_in(&files::traces_dir(self.package.as_deref()))
    }

    fn finish_in(&self, dir: &Path) -> String {
        let mut out = self.render();
        match self.write_diagrams(dir) {
            Ok((html, mermaid)) => {
                out.push_str(&format!(
                    "Diagram: {} (open it in a browser)\nMermaid: {}\n",
                    files::file_url(&html),
                    mermaid.display()
                ));
            }
            Err(message) => out.push_str(&format!("Diagram: not written ({message})\n")),
        }
        out
    }

    /// Fails the test with the full report ([`Failure::finish`]).
    ///
    /// ```should_panic
    /// let sim = harness::Sim::new(1);
    /// harness::Failure::new(&sim, "two orders exist for cart c-1").panic();
    /// ```
    #[track_caller]
    pub fn panic(self) -> ! {
        panic!("{}", self.finish())
    }

    fn shown(&self, head: usize, tail: usize) -> Vec<Shown> {
        steps::select(steps::mark_steps(&self.trace, &self.highlights), head, tail)
    }

    fn what_happened(&self) -> String {
        let total = self.trace.events().len() as u64 + self.trace.dropped();
        if total == 0 {
            return "What happened: no events were recorded in this run.\n".to_string();
        }
        let shown = self.shown(TEXT_HEAD, TEXT_TAIL);
        let mut out = format!(
            "What happened ({total} {}):\n",
            narrate::plural(total, "step")
        );
        out.push_str(&narrate::narrate_steps(&shown, self.trace.dropped()));
        if let Some(legend) = legend(&shown) {
            out.push_str(&format!("  {legend}\n"));
        }
        out
    }

    /// The seed, or why there is none.
    fn seed_text(&self) -> String {
        match &self.seedless {
            Some(why) => format!("none: {why}"),
            None => self.seed.to_string(),
        }
    }

    fn replay_lines(&self) -> Vec<String> {
        let mut lines = vec![self.replay()];
        if let (None, Some(script)) = (&self.replay, &self.script) {
            lines.push(format!(
                "(the explorer's schedule; in Rust: {})",
                replay::scripted_sim(self.seed, script)
            ));
        }
        lines
    }

    /// Writes `<test>.html` and `<test>.mmd`; the error is one line.
    fn write_diagrams(&self, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
        let stem = match &self.test_name {
            Some(name) => files::file_stem(name),
            None => format!("seed-{}", self.seed),
        };
        let write = |extension: &str, contents: String| {
            files::write(dir, &format!("{stem}.{extension}"), &contents)
                .map_err(|err| format!("could not write to {}: {err}", dir.display()))
        };
        let html = write("html", self.html())?;
        let mermaid = write("mmd", self.mermaid())?;
        Ok((html, mermaid))
    }
}

/// The meaning of the marks that appear, or `None` if none does.
fn legend(shown: &[Shown]) -> Option<String> {
    let steps = || {
        shown.iter().filter_map(|item| match item {
            Shown::Step(step) => Some(step),
            Shown::Gap(_) => None,
        })
    };
    let mut parts = Vec::new();
    if steps().any(|step| step.highlighted) {
        parts.push("▶ the steps the check points at".to_string());
    }
    let meanings = [
        (Mark::Fault, "fault"),
        (Mark::Again, "seen again"),
        (Mark::Refused, "refused, failed or lost"),
        (Mark::Timeout, "timed out"),
    ];
    for (mark, meaning) in meanings {
        if steps().any(|step| step.mark == Some(mark)) {
            parts.push(format!("{} {meaning}", mark.symbol()));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Shows the report, so that a test returning `Result<(), Failure>` prints it.
impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Failure {}

/// Fails the test with a full report unless `condition` holds. The headline
/// is a closure so that it is only built on failure.
///
/// ```
/// use harness::{Condition, DocumentStore, Sim, ensure};
/// let sim = Sim::new(1);
/// let orders = DocumentStore::new(&sim, "orders");
/// orders.put("c-1", "order-1", &"new", Condition::CreateOnly).unwrap();
/// ensure(orders.len() == 1, &sim, || format!("{} orders exist for cart c-1", orders.len()));
/// ```
///
/// ```should_panic
/// let sim = harness::Sim::new(1);
/// harness::ensure(1 + 1 == 3, &sim, || "arithmetic is broken");
/// ```
#[track_caller]
pub fn ensure<S: Into<String>>(condition: bool, sim: &Sim, headline: impl FnOnce() -> S) {
    if !condition {
        Failure::new(sim, headline()).panic();
    }
}

/// Fails the test with a full report unless `actual == expected`; the report
/// shows both values under the headline.
///
/// ```
/// let sim = harness::Sim::new(1);
/// harness::ensure_eq(2 + 1, 3, &sim, || "the cart has the wrong number of pierogi");
/// ```
///
/// ```should_panic
/// let sim = harness::Sim::new(1);
/// harness::ensure_eq(6, 3, &sim, || "the order counts its pierogi twice");
/// ```
#[track_caller]
pub fn ensure_eq<T: PartialEq + fmt::Debug, S: Into<String>>(
    actual: T,
    expected: T,
    sim: &Sim,
    headline: impl FnOnce() -> S,
) {
    if actual != expected {
        Failure::new(sim, headline())
            .detail(format!("expected: {expected:?}"))
            .detail(format!("actual:   {actual:?}"))
            .panic();
    }
}

/// The steps of a trace in plain sentences (as in a failure report, without
/// highlights).
///
/// ```
/// let sim = harness::Sim::new(1);
/// sim.note("hello");
/// assert!(harness::report::narrate(&sim.trace()).contains("hello"));
/// ```
pub fn narrate(trace: &Trace) -> String {
    let shown = steps::select(
        steps::mark_steps(trace, &Highlights::default()),
        TEXT_HEAD,
        TEXT_TAIL,
    );
    narrate::narrate_steps(&shown, trace.dropped())
}

/// A trace as a Mermaid `sequenceDiagram`.
///
/// ```
/// let sim = harness::Sim::new(1);
/// sim.note("hello");
/// assert!(harness::report::mermaid(&sim.trace()).contains("participant p1 as test"));
/// ```
pub fn mermaid(trace: &Trace) -> String {
    mermaid::render(&diagram_of(trace))
}

/// A trace as an SVG sequence diagram.
///
/// ```
/// let sim = harness::Sim::new(1);
/// sim.note("hello");
/// assert!(harness::report::svg(&sim.trace()).contains(">test</text>"));
/// ```
pub fn svg(trace: &Trace) -> String {
    svg::render(&diagram_of(trace))
}

fn diagram_of(trace: &Trace) -> diagram::Diagram {
    let marked = steps::mark_steps(trace, &Highlights::default());
    diagram::build(&steps::select(marked, DIAGRAM_HEAD, DIAGRAM_TAIL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagram_that_cannot_be_written_costs_one_line() {
        let sim = Sim::new(1);
        sim.note("something");
        // A folder inside a regular file cannot be created.
        let impossible = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml/traces");
        let report = Failure::new(&sim, "lost").finish_in(&impossible);
        assert!(report.starts_with("lost\n"), "{report}");
        let last = report.lines().last().unwrap();
        assert!(
            last.starts_with("Diagram: not written (could not write to "),
            "{report}"
        );
        assert!(!report.contains("Mermaid:"), "{report}");
    }

    #[test]
    fn an_empty_run_says_nothing_was_recorded() {
        let report = Failure::new(&Sim::new(1), "lost").render();
        assert!(report.contains("What happened: no events were recorded in this run."));
    }

    #[test]
    fn a_scripted_run_reports_its_schedule_without_trailing_zeros() {
        let sim = Sim::scripted(9, vec![0, 2]);
        for _ in 0..4 {
            sim.choose("which", 3);
        }
        let failure = Failure::new(&sim, "x").test_name("t");
        // With the run's fingerprint: 4 choices, and its history at the last.
        let run = crate::drift::fingerprint(&sim.choices()).unwrap();
        assert!(run.starts_with("4:"), "{run}");
        assert_eq!(
            failure.replay(),
            format!(
                "HARNESS_SEED=9 HARNESS_SCRIPT=0,2 HARNESS_RUN={run} cargo test -p harness -- \
                 --exact t"
            )
        );
    }

    #[test]
    fn an_all_zero_schedule_is_still_a_schedule() {
        let sim = Sim::scripted(9, vec![]);
        sim.choose("which", 3);
        let failure = Failure::new(&sim, "x").test_name("t");
        assert!(failure.replay().contains("HARNESS_SCRIPT=0 "));
    }
}
