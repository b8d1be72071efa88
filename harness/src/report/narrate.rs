//! The trace told as numbered steps in plain sentences, grouped under the
//! actor who did them, with the steps that matter marked.

use std::fmt::Write;

use super::steps::{Mark, Shown, Step, ordinal};
use crate::{Event, EventKind};

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
// New event kinds from other components fall back to their `Display`.
#[allow(unreachable_patterns)]
pub(crate) fn sentence(step: &Step) -> String {
    let again = |what: &str| {
        if step.occurrence > 1 {
            format!("{what} again ({} time)", ordinal(step.occurrence))
        } else {
            what.to_string()
        }
    };
    let text = match &step.event.kind {
        EventKind::Sent { queue, message } => again(&format!("sent {message} to queue {queue}")),
        EventKind::Published {
            topic,
            message,
            subscribers,
        } => {
            let copies = if subscribers.is_empty() {
                "nobody subscribes to it".to_string()
            } else {
                format!("copied to {}", subscribers.join(", "))
            };
            again(&format!("published {message} on topic {topic}: {copies}"))
        }
        EventKind::Delivered {
            queue,
            message,
            attempt,
        } => {
            if *attempt > 1 {
                format!("received {message} from queue {queue} again (attempt {attempt})")
            } else if step.occurrence > 1 {
                format!(
                    "received a duplicate copy of {message} from queue {queue} ({} copy)",
                    ordinal(step.occurrence)
                )
            } else {
                format!("received {message} from queue {queue}")
            }
        }
        EventKind::Acked { queue, message } => {
            format!("acknowledged {message}: queue {queue} forgets it")
        }
        EventKind::Abandoned {
            queue,
            message,
            reason,
        } => format!("gave {message} back to queue {queue} ({reason}): it will come again"),
        EventKind::LeaseExpired { queue, message } => {
            format!("the lease on {message} ran out: queue {queue} will hand it to a worker again")
        }
        EventKind::DeadLettered {
            queue,
            message,
            reason,
        } => format!("{message} moved from queue {queue} to its dead-letter queue: {reason}"),
        EventKind::Rejected {
            queue,
            message,
            reason,
        } => format!("queue {queue} refused {message}: {reason}"),
        EventKind::HandlerStarted { endpoint, message } => {
            let who = subject(endpoint, &step.event.actor);
            if step.occurrence > 1 {
                format!(
                    "{who}handles {message} again ({} time)",
                    ordinal(step.occurrence)
                )
            } else {
                format!("{who}starts handling {message}")
            }
        }
        EventKind::HandlerSucceeded { endpoint, message } => {
            format!("{}finished {message}", subject(endpoint, &step.event.actor))
        }
        EventKind::HandlerFailed {
            endpoint,
            message,
            error,
        } => format!(
            "{}failed on {message}: {error}",
            subject(endpoint, &step.event.actor)
        ),
        EventKind::Read {
            store,
            key,
            version: Some(v),
        } => format!("read {store}/{key}: found v{v}"),
        EventKind::Read {
            store,
            key,
            version: None,
        } => format!("read {store}/{key}: not there"),
        EventKind::Wrote {
            store,
            key,
            version: Some(v),
        } => format!("wrote {store}/{key} (now v{v})"),
        EventKind::Wrote {
            store,
            key,
            version: None,
        } => format!("deleted {store}/{key}"),
        EventKind::Conflict {
            store,
            key,
            expected,
            actual,
        } => format!(
            "write to {store}/{key} refused: it expected {expected} but found {actual} (someone wrote first)"
        ),
        EventKind::Committed { store } => format!("committed a transaction on {store}"),
        EventKind::RolledBack { store } => {
            format!("rolled back a transaction on {store}: none of its writes happened")
        }
        EventKind::Request {
            service,
            method,
            path,
        } => again(&format!("sent {method} {path} to {service}")),
        EventKind::Response { service, status } => format!("{service} answered {status}"),
        EventKind::ResponseLost {
            service,
            method,
            path,
        } => {
            format!("{service} executed {method} {path}, but the response was lost on the way back")
        }
        EventKind::FaultInjected { point, fault } => {
            format!("fault at {point}: {}", explain_fault(fault))
        }
        EventKind::Note { text } => text.clone(),
        _ => bare_display(&step.event),
    };
    one_line(&text)
}

/// "orders " when someone else than the actor is meant, "" otherwise.
fn subject(endpoint: &str, actor: &str) -> String {
    if endpoint == actor {
        String::new()
    } else {
        format!("{endpoint} ")
    }
}

/// A fault, as its effect on the caller.
pub(crate) fn explain_fault(fault: &str) -> String {
    match fault {
        "fail before" => "it fails before anything happens".to_string(),
        "fail after" => "the effect happens, but the caller is told it failed".to_string(),
        "duplicate" => "it happens twice: two copies go out".to_string(),
        "drop" => "it reports success, but nothing happens: the message is lost".to_string(),
        other => match other.strip_prefix("delay ") {
            Some(amount) => format!("it takes {amount} longer"),
            None => other.to_string(),
        },
    }
}

/// An event's `Display` without its `#seq t=… actor:` prefix, for kinds this
/// module does not word itself yet.
pub(crate) fn bare_display(event: &Event) -> String {
    let full = event.to_string();
    let prefix = format!("#{} {} {}: ", event.seq, event.at, event.actor);
    full.strip_prefix(&prefix).unwrap_or(&full).to_string()
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
    use crate::{MessageId, MessageRef, Sim};

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

    #[test]
    fn faults_are_explained_by_their_effect() {
        assert_eq!(
            explain_fault("fail after"),
            "the effect happens, but the caller is told it failed"
        );
        assert_eq!(explain_fault("delay 500ms"), "it takes 500ms longer");
    }
}
