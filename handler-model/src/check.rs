//! The checker's entry points for the course: check one invariant and get
//! either the state counts or the **shortest** counterexample, told in the
//! course's words.
//!
//! Why not take `stateright`'s own report? Its breadth-first checker keeps
//! overwriting a property's counterexample while it explores, so what it
//! reports is the last violation it saw, often much longer than needed.
//! `check_shortest` runs the search a second time, single-threaded and
//! breadth-first, and keeps the first violating state it visits: states are
//! visited in order of their distance from the start, so that path is a
//! shortest one (and, among those, the first in the order of the actions).

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stateright::{Checker, CheckerVisitor, HasDiscoveries, Model, Path};

/// A model that can tell its steps in the course's words.
pub trait Narrated: Model {
    /// One step: `action` took `before` to `after`.
    fn narrate(&self, before: &Self::State, action: &Self::Action, after: &Self::State) -> String;

    /// What is wrong with `state` for `property`, as a headline.
    fn explain(&self, property: &str, state: &Self::State) -> String {
        let _ = state;
        property.to_string()
    }
}

/// How much the checker explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Distinct states reached.
    pub states: usize,
    /// States generated, counting those reached again by another path.
    pub generated: usize,
    /// The longest path explored (in states).
    pub depth: usize,
    /// How long the search took (reported, never asserted on).
    pub elapsed: Duration,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} distinct states ({} generated), depth {}, in {:.2} s",
            self.states,
            self.generated,
            self.depth,
            self.elapsed.as_secs_f64()
        )
    }
}

/// A shortest run that breaks a property.
pub struct Counterexample<M: Model> {
    /// The property's name.
    pub property: &'static str,
    /// What is wrong at the end, in one sentence.
    pub headline: String,
    /// The steps in the course's words, in order.
    pub steps: Vec<String>,
    /// The states and actions: `(start, Some(first action))`, …,
    /// `(last state, None)`.
    pub path: Vec<(M::State, Option<M::Action>)>,
    /// The path as the Explorer's URL spells it (`0/1/0/2`).
    pub explorer_path: String,
    /// How much the first search explored (it stops at a violation).
    pub stats: Stats,
}

impl<M: Model> fmt::Display for Counterexample<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline)?;
        writeln!(f, "Shortest counterexample ({} steps):", self.steps.len())?;
        for (number, step) in self.steps.iter().enumerate() {
            writeln!(f, "  {}. {step}", number + 1)?;
        }
        Ok(())
    }
}

/// Shows the numbered steps, so that `unwrap_err`, `expect` and `{:?}` read well.
impl<M: Model> fmt::Debug for Counterexample<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Checks `property` of `model` over every reachable state. Returns the
/// state counts when it holds, or a shortest counterexample when it does not
/// (boxed: it carries every state of the run).
///
/// `property` must be one of `model.properties()`, an `always` property.
pub fn check_shortest<M>(model: M, property: &'static str) -> Result<Stats, Box<Counterexample<M>>>
where
    M: Narrated + Clone + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync + 'static,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync + 'static,
{
    assert!(
        model.properties().iter().any(|p| p.name == property),
        "the model has no property named {property:?}"
    );
    let started = Instant::now();
    let checker = model.clone().checker().spawn_bfs().join();
    let stats = Stats {
        states: checker.unique_state_count(),
        generated: checker.state_count(),
        depth: checker.max_depth(),
        elapsed: started.elapsed(),
    };
    if checker.discovery(property).is_none() {
        return Ok(stats);
    }
    let path = first_violation(&model, property)
        .expect("the second search finds the violation the first one found");
    Err(Box::new(counterexample(&model, property, path, stats)))
}

/// Checks every property of `model` with `threads` threads, for the big
/// configurations: the counts, and the names of the properties that break.
pub fn check_all<M>(model: M, threads: usize) -> (Stats, Vec<&'static str>)
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync + 'static,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync + 'static,
{
    let started = Instant::now();
    let checker = model.checker().threads(threads).spawn_bfs().join();
    let stats = Stats {
        states: checker.unique_state_count(),
        generated: checker.state_count(),
        depth: checker.max_depth(),
        elapsed: started.elapsed(),
    };
    let mut broken: Vec<&'static str> = checker.discoveries().into_keys().collect();
    broken.sort();
    (stats, broken)
}

/// Breadth-first, one thread: the first state visited that breaks the
/// property ends a shortest path.
fn first_violation<M>(model: &M, property: &'static str) -> Option<Path<M::State, M::Action>>
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync + 'static,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync + 'static,
{
    let condition = model.property(property).condition;
    let found = Arc::new(Mutex::new(None));
    let visitor = FirstViolation {
        condition,
        found: Arc::clone(&found),
    };
    model
        .clone()
        .checker()
        .threads(1)
        .visitor(visitor)
        .finish_when(HasDiscoveries::AnyOf([property].into()))
        .spawn_bfs()
        .join();
    found.lock().ok()?.take()
}

struct FirstViolation<M: Model> {
    condition: fn(&M, &M::State) -> bool,
    #[allow(clippy::type_complexity)]
    found: Arc<Mutex<Option<Path<M::State, M::Action>>>>,
}

impl<M: Model> CheckerVisitor<M> for FirstViolation<M> {
    fn visit(&self, model: &M, path: Path<M::State, M::Action>) {
        if (self.condition)(model, path.last_state()) {
            return;
        }
        if let Ok(mut found) = self.found.lock()
            && found.is_none()
        {
            *found = Some(path);
        }
    }
}

fn counterexample<M>(
    model: &M,
    property: &'static str,
    path: Path<M::State, M::Action>,
    stats: Stats,
) -> Counterexample<M>
where
    M: Narrated,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    let explorer_path = path.encode(model);
    let pairs = path.into_vec();
    let mut steps = Vec::new();
    for window in pairs.windows(2) {
        if let [(before, Some(action)), (after, _)] = window {
            steps.push(model.narrate(before, action, after));
        }
    }
    let last = &pairs[pairs.len() - 1].0;
    Counterexample {
        property,
        headline: model.explain(property, last),
        steps,
        path: pairs,
        explorer_path,
        stats,
    }
}
