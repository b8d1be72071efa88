//! The trace told as numbered steps in plain sentences, grouped under the
//! actor who did them, with the steps that matter marked.

use std::fmt::Write;

use super::steps::{Mark, Shown, Step};
use crate::trace::{Seen, describe};

/// How the report's "What happened" section reads:
///
/// ```text
///   test:
///        1  t=0.000s     sent ItemAdded(m1) to queue billing
///   billing:
///        2               received ItemAdded(m1) from queue billing
///   ▶    3            ⚡ fault at kv.orders.put: the effect happens, but the caller is told it failed
///        … 40 steps …
/// ```
pub(crate) fn narrate_steps(shown: &[Shown], dropped: u64) -> String {
    let mut out = String::new();
    if dropped > 0 {
        let _ = writeln!(out, "  ({dropped} earlier steps were not kept)");
    }
    let width = time_width(shown);
    let mut current_actor: Option<&str> = None;
    let mut last_time = None;
    for item in shown {
        match item {
            Shown::Gap(count) => {
                let _ = writeln!(out, "       … {count} {} …", plural(*count, "step"));
                current_actor = None;
            }
            Shown::Step(step) => {
                if current_actor != Some(step.event.actor.as_str()) {
                    let _ = writeln!(out, "  {}:", one_line(&step.event.actor));
                    current_actor = Some(&step.event.actor);
                }
                // The time only when it moved: a wall of "t=0.000s" hides
                // the moments that matter (a lease running out, a delay).
                let time = if last_time == Some(step.event.at) {
                    String::new()
                } else {
                    step.event.at.to_string()
                };
                last_time = Some(step.event.at);
                let _ = writeln!(
                    out,
                    "{} {:>4}  {time:<width$}  {} {}",
                    if step.highlighted { "  ▶" } else { "   " },
                    step.event.seq,
                    step.mark.map_or(" ", Mark::symbol),
                    sentence(step)
                );
            }
        }
    }
    out
}

/// The width of the widest time shown.
fn time_width(shown: &[Shown]) -> usize {
    shown
        .iter()
        .filter_map(|item| match item {
            Shown::Step(step) => Some(step.event.at.to_string().len()),
            Shown::Gap(_) => None,
        })
        .max()
        .unwrap_or(0)
}

/// One step in the course's words, without its actor (the heading above it
/// names the actor) and without its mark.
pub(crate) fn sentence(step: &Step) -> String {
    let seen = Seen {
        actor: &step.event.actor,
        occurrence: step.occurrence,
    };
    one_line(&describe(&step.event.kind, seen).sentence)
}

/// User data on one line: newlines and other control characters become spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub(crate) fn plural(count: u64, word: &str) -> String {
    if count == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::steps::{Highlights, mark_steps, select};
    use crate::{EventKind, MessageId, MessageRef, Sim};

    fn narrate(sim: &Sim) -> String {
        let steps = mark_steps(&sim.trace(), &Highlights::default());
        narrate_steps(&select(steps, 100, 100), 0)
    }

    #[test]
    fn consecutive_steps_of_one_actor_share_a_heading() {
        let sim = Sim::new(1);
        sim.note("a");
        sim.note("b");
        sim.set_actor("orders");
        sim.note("c");
        let text = narrate(&sim);
        assert_eq!(text.matches("  test:").count(), 1, "{text}");
        assert_eq!(text.matches("  orders:").count(), 1, "{text}");
    }

    #[test]
    fn a_redelivery_says_which_attempt_it_is() {
        let sim = Sim::new(1);
        let message = MessageRef {
            label: "m3".into(),
            message_type: "SubmitOrder".into(),
            id: MessageId::from_u128(3),
        };
        sim.record(EventKind::Delivered {
            queue: "orders".into(),
            message,
            attempt: 2,
        });
        let text = narrate(&sim);
        assert!(
            text.contains("⟲ received SubmitOrder(m3) from queue orders again (attempt 2)"),
            "{text}"
        );
    }

    #[test]
    fn a_note_with_newlines_stays_on_one_line() {
        let sim = Sim::new(1);
        sim.note("first\nsecond");
        assert!(narrate(&sim).contains("first second"));
    }
}
