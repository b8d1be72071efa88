//! Each kind of trace event in words and in a drawing: the one place that
//! says what an event means. The trace's lines, the report's numbered steps
//! and its sequence diagrams (Mermaid and SVG) all read [`describe`], and its
//! `match` names every kind, so a new kind of event does not compile until
//! it says how it reads everywhere.

use super::{EventKind, MessageRef};

/// What the renderers need to know about one event, in their own words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Description<'a> {
    /// The trace's line, after `#seq t=… actor: `.
    pub(crate) line: String,
    /// The report's sentence for the step, without its actor (the heading
    /// above it names the actor) and without its mark.
    pub(crate) sentence: String,
    /// How a sequence diagram draws it.
    pub(crate) drawing: Drawing<'a>,
    /// The message it is about, if any (a report highlights every step about it).
    pub(crate) message: Option<&'a MessageRef>,
    /// What makes "the same thing happening again" (the same message sent to
    /// the same queue, delivered from it, handled by the same endpoint; the
    /// same state-changing request): steps with the same key count as
    /// occurrences of one another. `None` for events that cannot repeat.
    pub(crate) repeat: Option<String>,
    /// Whether it stands out in a report, and why.
    pub(crate) standing: Standing,
}

/// Where the event happened, as far as the renderers are concerned: who
/// acts, and how often this very thing happened so far in the run (1 the
/// first time; see [`Description::repeat`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen<'a> {
    pub(crate) actor: &'a str,
    pub(crate) occurrence: u32,
}

impl<'a> Seen<'a> {
    /// An event seen for the first time (or one that cannot repeat).
    pub(crate) fn first(actor: &'a str) -> Seen<'a> {
        Seen {
            actor,
            occurrence: 1,
        }
    }

    fn again(&self) -> bool {
        self.occurrence > 1
    }
}

/// Why a step stands out in a report (the report turns this into a mark).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Nothing special about it.
    Plain,
    /// Stands out when it happens again (a second send, handling, request).
    Repeatable,
    /// A delivery: stands out as a redelivery (`attempt` > 1) or a copy.
    Delivery { attempt: u32 },
    /// A fault struck.
    Fault,
    /// Something was refused or failed.
    Refused,
    /// A lease ran out.
    Timeout,
}

/// A participant of a sequence diagram. A queue, a store and an endpoint
/// may share a name (`orders`), so the kind is part of its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// A test, a client, an endpoint: someone who acts.
    Actor,
    Queue,
    Topic,
    Store,
    Service,
}

/// How a sequence diagram draws an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Drawing<'a> {
    /// An arrow between the actor and a component.
    Arrow {
        lane: Lane,
        name: &'a str,
        /// From the component to the actor (a delivery, an answer).
        inward: bool,
        /// A reply or a giving-back.
        dashed: bool,
        /// Refused or lost on the way.
        crossed: bool,
        text: String,
    },
    /// A note over one participant (a queue, an endpoint).
    Note {
        lane: Lane,
        name: &'a str,
        text: String,
    },
    /// A note over the actor.
    NoteOnActor { text: String },
    /// A note over the component a fault point names (`kv.carts.put`).
    FaultNote { point: &'a str, text: String },
}

/// A solid arrow from the actor to a component.
fn arrow(lane: Lane, name: &str, text: String) -> Drawing<'_> {
    Drawing::Arrow {
        lane,
        name,
        inward: false,
        dashed: false,
        crossed: false,
        text,
    }
}

impl Drawing<'_> {
    /// The same arrow, pointing the other way.
    fn inward(mut self) -> Self {
        if let Drawing::Arrow { inward, .. } = &mut self {
            *inward = true;
        }
        self
    }

    /// The same arrow, dashed (a reply or a giving-back).
    fn dashed(mut self) -> Self {
        if let Drawing::Arrow { dashed, .. } = &mut self {
            *dashed = true;
        }
        self
    }

    /// The same arrow, ending in a cross (refused or lost).
    fn crossed(mut self) -> Self {
        if let Drawing::Arrow { crossed, .. } = &mut self {
            *crossed = true;
        }
        self
    }
}

/// Describes an event of kind `kind`, seen as `seen` says.
pub(crate) fn describe<'a>(kind: &'a EventKind, seen: Seen<'_>) -> Description<'a> {
    // "… again (2nd time)" from the second occurrence on.
    let again = |what: String| {
        if seen.again() {
            format!("{what} again ({} time)", ordinal(seen.occurrence))
        } else {
            what
        }
    };
    let plain = |line: String, sentence: String, drawing: Drawing<'a>| Description {
        line,
        sentence,
        drawing,
        message: None,
        repeat: None,
        standing: Standing::Plain,
    };
    match kind {
        EventKind::Sent { queue, message } => Description {
            line: format!("sent {message} to queue {queue}"),
            sentence: again(format!("sent {message} to queue {queue}")),
            drawing: arrow(Lane::Queue, queue, redone(seen, format!("send {message}"))),
            message: Some(message),
            repeat: Some(format!("sent {queue} {}", message.label)),
            standing: Standing::Repeatable,
        },
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
            Description {
                line: format!(
                    "published {message} on {topic} (to {})",
                    subscribers.join(", ")
                ),
                sentence: again(format!("published {message} on topic {topic}: {copies}")),
                drawing: arrow(
                    Lane::Topic,
                    topic,
                    redone(seen, format!("publish {message}")),
                ),
                message: Some(message),
                repeat: Some(format!("published {topic} {}", message.label)),
                standing: Standing::Repeatable,
            }
        }
        EventKind::Delivered {
            queue,
            message,
            attempt,
        } => {
            let sentence = if *attempt > 1 {
                format!("received {message} from queue {queue} again (attempt {attempt})")
            } else if seen.again() {
                format!(
                    "received a duplicate copy of {message} from queue {queue} ({} copy)",
                    ordinal(seen.occurrence)
                )
            } else {
                format!("received {message} from queue {queue}")
            };
            let text = match (*attempt, seen.occurrence) {
                (1, 1) => format!("deliver {message}"),
                (1, copy) => format!("deliver {message} again (copy {copy})"),
                (attempt, _) => format!("deliver {message} again (attempt {attempt})"),
            };
            Description {
                line: format!("received {message} from queue {queue} (attempt {attempt})"),
                sentence,
                drawing: arrow(Lane::Queue, queue, text).inward(),
                message: Some(message),
                repeat: Some(format!("delivered {queue} {}", message.label)),
                standing: Standing::Delivery { attempt: *attempt },
            }
        }
        EventKind::Acked { queue, message } => Description {
            message: Some(message),
            ..plain(
                format!("acknowledged {message} on queue {queue}"),
                format!("acknowledged {message}: queue {queue} forgets it"),
                arrow(Lane::Queue, queue, format!("ack {}", message.label)).dashed(),
            )
        },
        EventKind::Abandoned {
            queue,
            message,
            reason,
        } => Description {
            message: Some(message),
            ..plain(
                format!("gave {message} back to queue {queue}: {reason}"),
                format!("gave {message} back to queue {queue} ({reason}): it will come again"),
                arrow(
                    Lane::Queue,
                    queue,
                    format!("abandon {}: {reason}", message.label),
                )
                .dashed(),
            )
        },
        EventKind::LeaseExpired { queue, message } => Description {
            message: Some(message),
            standing: Standing::Timeout,
            ..plain(
                format!("the lease on {message} ran out: queue {queue} hands it to another worker"),
                format!(
                    "the lease on {message} ran out: queue {queue} will hand it to a worker again"
                ),
                Drawing::Note {
                    lane: Lane::Queue,
                    name: queue,
                    text: format!("lease on {} ran out", message.label),
                },
            )
        },
        EventKind::DeadLettered {
            queue,
            message,
            reason,
        } => Description {
            message: Some(message),
            standing: Standing::Refused,
            ..plain(
                format!("moved {message} from queue {queue} to the dead-letter queue: {reason}"),
                format!("{message} moved from queue {queue} to its dead-letter queue: {reason}"),
                Drawing::Note {
                    lane: Lane::Queue,
                    name: queue,
                    text: format!("{} to the dead-letter queue: {reason}", message.label),
                },
            )
        },
        EventKind::Replayed { queue, message } => {
            let line = format!("replayed {message} from the dead-letter queue onto queue {queue}");
            Description {
                message: Some(message),
                ..plain(
                    line.clone(),
                    line.clone(),
                    Drawing::NoteOnActor { text: line },
                )
            }
        }
        EventKind::Rejected {
            queue,
            message,
            reason,
        } => Description {
            message: Some(message),
            standing: Standing::Refused,
            ..plain(
                format!("queue {queue} refused {message}: {reason}"),
                format!("queue {queue} refused {message}: {reason}"),
                arrow(
                    Lane::Queue,
                    queue,
                    format!("send {message} refused: {reason}"),
                )
                .crossed(),
            )
        },
        EventKind::HandlerStarted { endpoint, message } => {
            let who = subject(endpoint, seen.actor);
            let sentence = if seen.again() {
                format!(
                    "{who}handles {message} again ({} time)",
                    ordinal(seen.occurrence)
                )
            } else {
                format!("{who}starts handling {message}")
            };
            Description {
                line: format!("{endpoint} handles {message}"),
                sentence,
                drawing: Drawing::Note {
                    lane: Lane::Actor,
                    name: endpoint,
                    text: redone(seen, format!("handles {message}")),
                },
                message: Some(message),
                repeat: Some(format!("handled {endpoint} {}", message.label)),
                standing: Standing::Repeatable,
            }
        }
        EventKind::HandlerSucceeded { endpoint, message } => Description {
            message: Some(message),
            ..plain(
                format!("{endpoint} finished {message}"),
                format!("{}finished {message}", subject(endpoint, seen.actor)),
                Drawing::Note {
                    lane: Lane::Actor,
                    name: endpoint,
                    text: format!("finished {}", message.label),
                },
            )
        },
        EventKind::HandlerFailed {
            endpoint,
            message,
            error,
        } => Description {
            message: Some(message),
            standing: Standing::Refused,
            ..plain(
                format!("{endpoint} failed on {message}: {error}"),
                format!(
                    "{}failed on {message}: {error}",
                    subject(endpoint, seen.actor)
                ),
                Drawing::Note {
                    lane: Lane::Actor,
                    name: endpoint,
                    text: format!("failed on {}: {error}", message.label),
                },
            )
        },
        EventKind::Read {
            store,
            key,
            version,
        } => {
            let (line, sentence, found) = match version {
                Some(v) => (
                    format!("read {store}/{key} (v{v})"),
                    format!("read {store}/{key}: found v{v}"),
                    format!("v{v}"),
                ),
                None => (
                    format!("read {store}/{key} (absent)"),
                    format!("read {store}/{key}: not there"),
                    "not there".to_string(),
                ),
            };
            let drawing = arrow(Lane::Store, store, format!("read {key}: {found}"));
            plain(line, sentence, drawing)
        }
        EventKind::Wrote {
            store,
            key,
            version,
        } => {
            let (line, text) = match version {
                Some(v) => (
                    format!("wrote {store}/{key} (now v{v})"),
                    format!("write {key} → v{v}"),
                ),
                None => (format!("deleted {store}/{key}"), format!("delete {key}")),
            };
            plain(line.clone(), line, arrow(Lane::Store, store, text))
        }
        EventKind::Conflict {
            store,
            key,
            expected,
            actual,
        } => Description {
            standing: Standing::Refused,
            ..plain(
                format!("write to {store}/{key} refused: expected {expected}, found {actual}"),
                format!(
                    "write to {store}/{key} refused: it expected {expected} but found {actual} (someone wrote first)"
                ),
                arrow(
                    Lane::Store,
                    store,
                    format!("conflict on {key}: expected {expected}, found {actual}"),
                )
                .inward()
                .dashed()
                .crossed(),
            )
        },
        EventKind::Statement { store, sql } => {
            let line = format!("{store}: {sql}");
            plain(
                line.clone(),
                line.clone(),
                Drawing::NoteOnActor { text: line },
            )
        }
        EventKind::Blob {
            store,
            path,
            action,
        } => {
            let line = format!("{action} blob {store}/{path}");
            plain(
                line.clone(),
                line.clone(),
                Drawing::NoteOnActor { text: line },
            )
        }
        EventKind::Committed { store } => plain(
            format!("committed a transaction on {store}"),
            format!("committed a transaction on {store}"),
            arrow(Lane::Store, store, "commit".to_string()),
        ),
        EventKind::RolledBack { store } => plain(
            format!("rolled back a transaction on {store}"),
            format!("rolled back a transaction on {store}: none of its writes happened"),
            arrow(Lane::Store, store, "roll back".to_string()).dashed(),
        ),
        EventKind::Request {
            service,
            method,
            path,
        } => Description {
            line: format!("{method} {path} to {service}"),
            sentence: again(format!("sent {method} {path} to {service}")),
            drawing: arrow(
                Lane::Service,
                service,
                redone(seen, format!("{method} {path}")),
            ),
            message: None,
            // Reading twice changes nothing: only other requests repeat.
            repeat: (method != "GET").then(|| format!("request {service} {method} {path}")),
            standing: Standing::Repeatable,
        },
        EventKind::Response { service, status } => plain(
            format!("{service} answered {status}"),
            format!("{service} answered {status}"),
            arrow(Lane::Service, service, status.to_string())
                .inward()
                .dashed(),
        ),
        EventKind::ResponseLost {
            service,
            method,
            path,
        } => Description {
            standing: Standing::Refused,
            ..plain(
                format!(
                    "{service} executed {method} {path} but the response was lost on the way back"
                ),
                format!(
                    "{service} executed {method} {path}, but the response was lost on the way back"
                ),
                arrow(
                    Lane::Service,
                    service,
                    format!("response to {method} {path} lost"),
                )
                .inward()
                .dashed()
                .crossed(),
            )
        },
        EventKind::FaultInjected { point, fault } => Description {
            standing: Standing::Fault,
            ..plain(
                format!("fault: {fault} at {point}"),
                format!("fault at {point}: {}", explain_fault(fault)),
                Drawing::FaultNote {
                    point,
                    text: format!("fault at {point}: {}", explain_fault(fault)),
                },
            )
        },
        EventKind::Note { text } => plain(
            text.clone(),
            text.clone(),
            Drawing::NoteOnActor { text: text.clone() },
        ),
    }
}

/// A diagram's label, with "again" from the second occurrence on.
fn redone(seen: Seen<'_>, what: String) -> String {
    if seen.again() {
        format!("{what} again")
    } else {
        what
    }
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
    use crate::MessageId;

    fn message() -> MessageRef {
        MessageRef {
            label: "m1".into(),
            message_type: "ItemAdded".into(),
            id: MessageId::from_u128(1),
        }
    }

    #[test]
    fn a_second_delivery_reads_as_a_copy_and_a_retry_as_an_attempt() {
        let copy = EventKind::Delivered {
            queue: "billing".into(),
            message: message(),
            attempt: 1,
        };
        let seen = Seen {
            actor: "billing",
            occurrence: 2,
        };
        let described = describe(&copy, seen);
        assert_eq!(
            described.sentence,
            "received a duplicate copy of ItemAdded(m1) from queue billing (2nd copy)"
        );
        assert_eq!(
            described.line,
            "received ItemAdded(m1) from queue billing (attempt 1)"
        );
        let retry = EventKind::Delivered {
            queue: "billing".into(),
            message: message(),
            attempt: 3,
        };
        assert!(matches!(
            describe(&retry, Seen::first("billing")).drawing,
            Drawing::Arrow { ref text, inward: true, .. } if text == "deliver ItemAdded(m1) again (attempt 3)"
        ));
    }

    #[test]
    fn a_handler_names_its_endpoint_only_when_someone_else_acts() {
        let started = EventKind::HandlerStarted {
            endpoint: "orders".into(),
            message: message(),
        };
        let own = describe(&started, Seen::first("orders"));
        assert_eq!(own.sentence, "starts handling ItemAdded(m1)");
        let other = describe(&started, Seen::first("test"));
        assert_eq!(other.sentence, "orders starts handling ItemAdded(m1)");
        assert_eq!(other.message.map(|m| m.label.as_str()), Some("m1"));
    }

    #[test]
    fn only_requests_that_change_something_repeat() {
        let request = |method: &str| EventKind::Request {
            service: "shop".into(),
            method: method.into(),
            path: "/orders".into(),
        };
        assert_eq!(describe(&request("GET"), Seen::first("test")).repeat, None);
        assert_eq!(
            describe(&request("POST"), Seen::first("test")).repeat,
            Some("request shop POST /orders".to_string())
        );
    }

    #[test]
    fn faults_are_explained_by_their_effect() {
        assert_eq!(
            explain_fault("fail after"),
            "the effect happens, but the caller is told it failed"
        );
        assert_eq!(explain_fault("delay 500ms"), "it takes 500ms longer");
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
