//! Replay drift: a replayed run that is not the run it replays stops, and
//! says so.
//!
//! A schedule is only a list of picks (`1,0,2`): "at the first choice take
//! option 1, at the second option 0 …". It means something only if the run
//! meets the same choices in the same state every time. Code that iterates a
//! `HashMap`, makes ids with `Uuid::new_v4` or reads the wall clock runs
//! differently each time, and then a pick lands on a different question:
//! the replay is another run, and the explorer would count schedules it
//! never ran. So a scripted run checks, at each choice, that it is where the
//! run it replays was:
//!
//! - every scripted run keeps a **history**, a digest of everything it
//!   recorded so far (each event of the trace, each earlier choice), and
//!   stores it with each [`Choice`];
//! - the explorer derives each schedule from a run it made, so it hands the
//!   new run that run's choices up to the branch; at each of them the new
//!   run must meet the same question, with as many options, after the same
//!   history ([`check`]);
//! - a replay from a bare script (`HARNESS_SCRIPT=1,0,2`, [`crate::Sim::scripted`])
//!   knows only the picks: it checks that each pick is one of the options.
//!
//! A mismatch is [`Error::NotDeterministic`]: the run stops at that choice
//! (the chooser panics with the message; the world stops as it does for a
//! runaway delivery), and the explorer reports it instead of counting it.
//!
//! Why a digest of the events and not only the questions: a handler that
//! writes the same keys in another order (a `HashMap`) asks the same
//! questions, `fault at kv.orders.put`, and only what it did in between
//! differs. The digest is computed in scripted runs only, as events are
//! recorded, so a seeded test run pays nothing.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::{Choice, Error, Event};

/// The history after `event`: folds it into `history`. The step number is
/// left out (it only counts), the time, actor and what happened are in.
pub(crate) fn after_event(history: u64, event: &Event) -> u64 {
    // `DefaultHasher::new()` has fixed keys: the same run gives the same
    // digest in every process.
    let mut hasher = DefaultHasher::new();
    history.hash(&mut hasher);
    event.at.hash(&mut hasher);
    event.actor.hash(&mut hasher);
    event.kind.hash(&mut hasher);
    hasher.finish()
}

/// The history after `choice` was made.
pub(crate) fn after_choice(history: u64, choice: &Choice) -> u64 {
    let mut hasher = DefaultHasher::new();
    history.hash(&mut hasher);
    choice.label.hash(&mut hasher);
    choice.options.hash(&mut hasher);
    choice.picked.hash(&mut hasher);
    hasher.finish()
}

/// Whether choice number `index` (from 0) of a replay, `found`, is the one
/// the replayed run made there, `expected` (its pick aside: the explorer
/// changes the last one on purpose).
pub(crate) fn check(index: usize, expected: &Choice, found: &Choice) -> Result<(), Error> {
    let step = found.step;
    let drift = |expected: String, found: String| Error::NotDeterministic {
        choice: index + 1,
        step,
        expected,
        found,
    };
    if expected.label != found.label || expected.options != found.options {
        return Err(drift(question(expected), question(found)));
    }
    if expected.step != found.step || expected.history != found.history {
        return Err(drift(
            format!(
                "{} after the {} steps the earlier run took",
                question(expected),
                expected.step
            ),
            format!(
                "the same question after {} steps that are not the same (other steps, the same \
                 ones in another order, or other keys, ids or times)",
                found.step
            ),
        ));
    }
    Ok(())
}

/// A pick of a bare script that is not one of the options found.
pub(crate) fn out_of_range(index: usize, pick: u32, found: &Choice) -> Error {
    Error::NotDeterministic {
        choice: index + 1,
        step: found.step,
        expected: format!("a question with option {pick} (the schedule picks it)"),
        found: question(found),
    }
}

/// `"next: resume orders#1 | deliver from orders" (2 options)`.
fn question(choice: &Choice) -> String {
    format!("\"{}\" ({} options)", choice.label, choice.options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(label: &str, options: u32, step: u64, history: u64) -> Choice {
        Choice {
            label: label.to_string(),
            options,
            picked: 0,
            step,
            history,
        }
    }

    #[test]
    fn the_same_question_after_the_same_steps_passes_whatever_the_pick() {
        let expected = choice("coin", 2, 4, 99);
        let mut found = expected.clone();
        found.picked = 1;
        assert!(check(0, &expected, &found).is_ok());
    }

    #[test]
    fn another_question_names_both() {
        let err = check(2, &choice("coin", 2, 4, 9), &choice("dice", 6, 4, 9)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "the run is not deterministic: at choice 3 (after step 4) the replay expected \
                 \"coin\" (2 options), but found \"dice\" (6 options)"
            ),
            "{text}"
        );
    }

    #[test]
    fn other_steps_before_the_same_question_are_drift_too() {
        let err = check(0, &choice("coin", 2, 4, 9), &choice("coin", 2, 4, 10)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("after the 4 steps the earlier run took"),
            "{text}"
        );
        assert!(text.contains("HashMap"), "{text}");
    }
}
