//! Which events of a trace a report shows, and how each one is marked: a
//! fault, a message seen again, a refusal, a timeout, or a step the failing
//! check pointed at. Narration, Mermaid and SVG all draw from this one list,
//! so a step has the same number and the same mark everywhere.

use std::collections::{BTreeSet, HashMap};

use crate::trace::{Seen, Standing, describe};
use crate::{Event, Trace};

/// Why a step stands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A fault struck here.
    Fault,
    /// A message (or a non-GET request) seen again: a redelivery, a
    /// duplicate copy, a second handling. Where exactly-once breaks.
    Again,
    /// Something was refused or failed: a conflict, a rejection, a failed
    /// handler, a lost response, a dead-lettered message.
    Refused,
    /// A lease ran out.
    Timeout,
}

impl Mark {
    /// The symbol printed in front of the step.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Mark::Fault => "⚡",
            Mark::Again => "⟲",
            Mark::Refused => "✗",
            Mark::Timeout => "⏱",
        }
    }
}

/// The events the failing check pointed at: by step number, or every step
/// about a message label (`m3`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Highlights {
    pub(crate) seqs: BTreeSet<u64>,
    pub(crate) messages: BTreeSet<String>,
}

impl Highlights {
    fn covers(&self, event: &Event) -> bool {
        self.seqs.contains(&event.seq)
            || message_label(event).is_some_and(|label| self.messages.contains(label))
    }
}

/// One event, with what makes it stand out.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub(crate) event: Event,
    pub(crate) mark: Option<Mark>,
    /// How many times this message was seen at this place so far (1 the
    /// first time): the "2nd" in "delivered again (2nd time)".
    pub(crate) occurrence: u32,
    /// The failing check pointed at this step.
    pub(crate) highlighted: bool,
}

/// A shown step, or a run of steps left out to keep the report short.
#[derive(Clone, Debug)]
pub(crate) enum Shown {
    Step(Step),
    Gap(u64),
}

/// Every event of `trace`, marked.
pub(crate) fn mark_steps(trace: &Trace, highlights: &Highlights) -> Vec<Step> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    trace
        .events()
        .iter()
        .map(|event| {
            let description = describe(&event.kind, Seen::first(&event.actor));
            let occurrence = match description.repeat {
                Some(key) => {
                    let count = seen.entry(key).or_insert(0);
                    *count += 1;
                    *count
                }
                None => 1,
            };
            Step {
                mark: mark_of(description.standing, occurrence),
                occurrence,
                highlighted: highlights.covers(event),
                event: event.clone(),
            }
        })
        .collect()
}

/// Keeps the first `head` and the last `tail` steps, and in between only the
/// steps that stand out (at most `head + tail` of them); the rest become gaps.
pub(crate) fn select(steps: Vec<Step>, head: usize, tail: usize) -> Vec<Shown> {
    if steps.len() <= head + tail {
        return steps.into_iter().map(Shown::Step).collect();
    }
    let middle_end = steps.len() - tail;
    let mut budget = head + tail;
    let mut shown = Vec::new();
    let mut gap = 0u64;
    for (index, step) in steps.into_iter().enumerate() {
        let stands_out = step.highlighted || step.mark.is_some();
        let keep = index < head || index >= middle_end || (stands_out && budget > 0);
        if !keep {
            gap += 1;
            continue;
        }
        if index >= head && index < middle_end {
            budget -= 1;
        }
        if gap > 0 {
            shown.push(Shown::Gap(gap));
            gap = 0;
        }
        shown.push(Shown::Step(step));
    }
    shown
}

/// The message label an event is about, if any.
pub(crate) fn message_label(event: &Event) -> Option<&str> {
    let description = describe(&event.kind, Seen::first(&event.actor));
    description.message.map(|message| message.label.as_str())
}

/// The mark of a step that stands out as `standing` says, seen for the
/// `occurrence`th time.
fn mark_of(standing: Standing, occurrence: u32) -> Option<Mark> {
    match standing {
        Standing::Plain => None,
        Standing::Repeatable => (occurrence > 1).then_some(Mark::Again),
        Standing::Delivery { attempt } => (attempt > 1 || occurrence > 1).then_some(Mark::Again),
        Standing::Fault => Some(Mark::Fault),
        Standing::Refused => Some(Mark::Refused),
        Standing::Timeout => Some(Mark::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, MessageId, MessageRef, Sim};

    fn message(label: &str) -> MessageRef {
        MessageRef {
            label: label.into(),
            message_type: "ItemAdded".into(),
            id: MessageId::from_u128(1),
        }
    }

    #[test]
    fn a_second_delivery_of_the_same_message_is_marked_again() {
        let sim = Sim::new(1);
        for attempt in [1, 1] {
            sim.record(EventKind::Delivered {
                queue: "billing".into(),
                message: message("m1"),
                attempt,
            });
        }
        let steps = mark_steps(&sim.trace(), &Highlights::default());
        assert_eq!(steps[0].mark, None);
        assert_eq!(steps[1].mark, Some(Mark::Again));
        assert_eq!(steps[1].occurrence, 2);
    }

    #[test]
    fn a_repeated_get_is_not_marked_but_a_repeated_post_is() {
        let sim = Sim::new(1);
        for method in ["GET", "GET", "POST", "POST"] {
            sim.record(EventKind::Request {
                service: "shop".into(),
                method: method.into(),
                path: "/orders".into(),
            });
        }
        let marks: Vec<_> = mark_steps(&sim.trace(), &Highlights::default())
            .iter()
            .map(|step| step.mark)
            .collect();
        assert_eq!(marks, [None, None, None, Some(Mark::Again)]);
    }

    #[test]
    fn highlighting_a_message_highlights_every_step_about_it() {
        let sim = Sim::new(1);
        sim.record(EventKind::Sent {
            queue: "billing".into(),
            message: message("m1"),
        });
        sim.note("unrelated");
        let highlights = Highlights {
            messages: ["m1".to_string()].into(),
            ..Highlights::default()
        };
        let steps = mark_steps(&sim.trace(), &highlights);
        assert!(steps[0].highlighted);
        assert!(!steps[1].highlighted);
    }

    #[test]
    fn a_long_run_keeps_its_ends_and_the_steps_that_stand_out() {
        let sim = Sim::new(1);
        for i in 0..100 {
            if i == 50 {
                sim.record(EventKind::FaultInjected {
                    point: "kv.carts.put".into(),
                    fault: "fail after".into(),
                });
            } else {
                sim.note(&format!("step {i}"));
            }
        }
        let shown = select(mark_steps(&sim.trace(), &Highlights::default()), 3, 2);
        let summary: Vec<String> = shown
            .iter()
            .map(|item| match item {
                Shown::Step(step) => step.event.seq.to_string(),
                Shown::Gap(n) => format!("…{n}"),
            })
            .collect();
        assert_eq!(summary, ["1", "2", "3", "…47", "51", "…47", "99", "100"]);
    }
}
