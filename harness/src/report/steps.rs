//! Which events of a trace a report shows, and how each one is marked: a
//! fault, a message seen again, a refusal, a timeout, or a step the failing
//! check pointed at. Narration, Mermaid and SVG all draw from this one list,
//! so a step has the same number and the same mark everywhere.

use std::collections::{BTreeSet, HashMap};

use crate::{Event, EventKind, Trace};

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
            || message_label(&event.kind).is_some_and(|label| self.messages.contains(label))
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
            let occurrence = match repeat_key(&event.kind) {
                Some(key) => {
                    let count = seen.entry(key).or_insert(0);
                    *count += 1;
                    *count
                }
                None => 1,
            };
            Step {
                mark: mark_of(&event.kind, occurrence),
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
pub(crate) fn message_label(kind: &EventKind) -> Option<&str> {
    match kind {
        EventKind::Sent { message, .. }
        | EventKind::Published { message, .. }
        | EventKind::Delivered { message, .. }
        | EventKind::Acked { message, .. }
        | EventKind::Abandoned { message, .. }
        | EventKind::LeaseExpired { message, .. }
        | EventKind::DeadLettered { message, .. }
        | EventKind::Rejected { message, .. }
        | EventKind::HandlerStarted { message, .. }
        | EventKind::HandlerSucceeded { message, .. }
        | EventKind::HandlerFailed { message, .. } => Some(&message.label),
        _ => None,
    }
}

/// What identifies "the same thing happening again": the same message sent
/// to the same queue, delivered from it, handled by the same endpoint; the
/// same state-changing request to the same service.
fn repeat_key(kind: &EventKind) -> Option<String> {
    match kind {
        EventKind::Sent { queue, message } => Some(format!("sent {queue} {}", message.label)),
        EventKind::Published { topic, message, .. } => {
            Some(format!("published {topic} {}", message.label))
        }
        EventKind::Delivered { queue, message, .. } => {
            Some(format!("delivered {queue} {}", message.label))
        }
        EventKind::HandlerStarted { endpoint, message } => {
            Some(format!("handled {endpoint} {}", message.label))
        }
        EventKind::Request {
            service,
            method,
            path,
        } if method != "GET" => Some(format!("request {service} {method} {path}")),
        _ => None,
    }
}

// New event kinds from other components fall through to "no mark".
#[allow(unreachable_patterns)]
fn mark_of(kind: &EventKind, occurrence: u32) -> Option<Mark> {
    match kind {
        EventKind::FaultInjected { .. } => Some(Mark::Fault),
        EventKind::Delivered { attempt, .. } if *attempt > 1 || occurrence > 1 => Some(Mark::Again),
        EventKind::Sent { .. }
        | EventKind::Published { .. }
        | EventKind::HandlerStarted { .. }
        | EventKind::Request { .. }
            if occurrence > 1 =>
        {
            Some(Mark::Again)
        }
        EventKind::Conflict { .. }
        | EventKind::Rejected { .. }
        | EventKind::HandlerFailed { .. }
        | EventKind::ResponseLost { .. }
        | EventKind::DeadLettered { .. } => Some(Mark::Refused),
        EventKind::LeaseExpired { .. } => Some(Mark::Timeout),
        _ => None,
    }
}

/// `1st`, `2nd`, `3rd`, `4th` … `11th`, `21st`.
pub(crate) fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageId, MessageRef, Sim};

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

    #[test]
    fn ordinals_read_as_english() {
        let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 103]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            words,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "103rd"
            ]
        );
    }
}
