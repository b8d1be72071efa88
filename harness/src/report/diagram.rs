//! What a sequence diagram of a run shows, independent of how it is drawn:
//! the participants (actors and components, in order of first appearance)
//! and one row per shown step (an arrow or a note). Mermaid and SVG render
//! this same model.

use super::narrate::one_line;
use super::steps::{Mark, Shown, Step};
use crate::EventKind;
use crate::trace::{Drawing, Seen, describe};

/// What a participant is: the lanes of the event descriptions.
pub(crate) use crate::trace::Lane as Kind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Participant {
    pub(crate) kind: Kind,
    pub(crate) name: String,
}

impl Participant {
    /// The name shown in the diagram's header.
    pub(crate) fn title(&self) -> String {
        let name = one_line(&self.name);
        match self.kind {
            Kind::Actor => name,
            Kind::Queue => format!("queue {name}"),
            Kind::Topic => format!("topic {name}"),
            Kind::Store => format!("store {name}"),
            Kind::Service => format!("service {name}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// From one participant to another (or to itself).
    Arrow {
        from: usize,
        to: usize,
        /// A reply or a giving-back, drawn dashed.
        dashed: bool,
        /// Refused or lost on the way: drawn with a cross at its end.
        cross: bool,
        text: String,
    },
    /// A note over one participant, or spanning two.
    Note {
        from: usize,
        to: usize,
        text: String,
    },
    /// Steps left out.
    Gap { count: u64 },
}

#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// The step number (none for a gap).
    pub(crate) seq: Option<u64>,
    pub(crate) shape: Shape,
    pub(crate) mark: Option<Mark>,
    pub(crate) highlighted: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Diagram {
    pub(crate) participants: Vec<Participant>,
    pub(crate) rows: Vec<Row>,
}

impl Diagram {
    /// The index of a participant, added if it is new.
    fn lane(&mut self, kind: Kind, name: &str) -> usize {
        let found = self
            .participants
            .iter()
            .position(|p| p.kind == kind && p.name == name);
        found.unwrap_or_else(|| {
            self.participants.push(Participant {
                kind,
                name: name.to_string(),
            });
            self.participants.len() - 1
        })
    }
}

/// The diagram of the shown steps.
pub(crate) fn build(shown: &[Shown]) -> Diagram {
    let mut diagram = Diagram::default();
    // A fault is recorded before the operation it strikes, so its component
    // may only appear later: resolve fault notes against every participant.
    let everyone = participants_of(shown);
    for item in shown {
        let row = match item {
            Shown::Gap(count) => Row {
                seq: None,
                shape: Shape::Gap { count: *count },
                mark: None,
                highlighted: false,
            },
            Shown::Step(step) => Row {
                seq: Some(step.event.seq),
                shape: shape_of(&mut diagram, step, &everyone),
                mark: step.mark,
                highlighted: step.highlighted,
            },
        };
        diagram.rows.push(row);
    }
    diagram
}

fn participants_of(shown: &[Shown]) -> Vec<Participant> {
    let mut scratch = Diagram::default();
    for item in shown {
        if let Shown::Step(step) = item
            && !matches!(step.event.kind, EventKind::FaultInjected { .. })
        {
            shape_of(&mut scratch, step, &[]);
        }
    }
    scratch.participants
}

/// How a step is drawn: its event's drawing (see `trace::describe`),
/// placed between the participants.
fn shape_of(diagram: &mut Diagram, step: &Step, everyone: &[Participant]) -> Shape {
    let event = &step.event;
    let me = diagram.lane(Kind::Actor, &event.actor);
    let seen = Seen {
        actor: &event.actor,
        occurrence: step.occurrence,
    };
    match describe(&event.kind, seen).drawing {
        Drawing::Arrow {
            lane,
            name,
            inward,
            dashed,
            crossed,
            text,
        } => {
            let other = diagram.lane(lane, name);
            let (from, to) = if inward { (other, me) } else { (me, other) };
            Shape::Arrow {
                from,
                to,
                dashed,
                cross: crossed,
                text,
            }
        }
        Drawing::Note { lane, name, text } => {
            let lane = diagram.lane(lane, name);
            note(lane, lane, text)
        }
        Drawing::NoteOnActor { text } => note(me, me, text),
        Drawing::FaultNote { point, text } => {
            let lane = fault_lane(diagram, point, everyone).unwrap_or(me);
            let (from, to) = (me.min(lane), me.max(lane));
            note(from, to, text)
        }
    }
}

fn note(from: usize, to: usize, text: String) -> Shape {
    Shape::Note { from, to, text }
}

/// The participant a fault point (`kv.carts.put`, `broker.orders.send`)
/// is about: a participant of the run with that resource name, preferring
/// the kind its component suggests.
fn fault_lane(diagram: &mut Diagram, point: &str, everyone: &[Participant]) -> Option<usize> {
    let mut parts = point.split('.');
    let component = parts.next()?;
    let resource = parts.next()?;
    let preferred: &[Kind] = match component {
        "kv" | "sql" | "blob" => &[Kind::Store],
        "broker" => &[Kind::Queue, Kind::Topic],
        "http" => &[Kind::Service],
        _ => &[],
    };
    let known = |kind: &Kind| {
        everyone
            .iter()
            .any(|p| p.kind == *kind && p.name == resource)
    };
    let kind = preferred
        .iter()
        .find(|kind| known(kind))
        .or(preferred.first())
        .copied()
        .or_else(|| everyone.iter().find(|p| p.name == resource).map(|p| p.kind))?;
    Some(diagram.lane(kind, resource))
}

/// The diagram text of a row, with its step number and mark, on one line.
pub(crate) fn row_text(seq: Option<u64>, mark: Option<Mark>, text: &str) -> String {
    let mark = mark.map_or(String::new(), |m| format!("{} ", m.symbol()));
    match seq {
        Some(seq) => one_line(&format!("{seq}. {mark}{text}")),
        None => one_line(&format!("{mark}{text}")),
    }
}

/// The text of a gap row.
pub(crate) fn gap_text(count: u64) -> String {
    format!(
        "… {count} {} not drawn …",
        super::narrate::plural(count, "step")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::steps::{Highlights, mark_steps, select};
    use crate::{MessageId, MessageRef, Sim};

    fn diagram(sim: &Sim) -> Diagram {
        build(&select(
            mark_steps(&sim.trace(), &Highlights::default()),
            100,
            100,
        ))
    }

    #[test]
    fn a_queue_and_an_endpoint_with_the_same_name_are_two_participants() {
        let sim = Sim::new(1);
        sim.set_actor("orders");
        sim.record(EventKind::Delivered {
            queue: "orders".into(),
            message: MessageRef {
                label: "m1".into(),
                message_type: "SubmitOrder".into(),
                id: MessageId::from_u128(1),
            },
            attempt: 1,
        });
        let titles: Vec<String> = diagram(&sim)
            .participants
            .iter()
            .map(|p| p.title())
            .collect();
        assert_eq!(titles, ["orders", "queue orders"]);
    }

    #[test]
    fn a_fault_note_sits_over_the_component_it_strikes() {
        let sim = Sim::new(1);
        sim.record(EventKind::FaultInjected {
            point: "kv.carts.put".into(),
            fault: "fail after".into(),
        });
        sim.record(EventKind::Wrote {
            store: "carts".into(),
            key: "alice/cart-1".into(),
            version: Some(1),
        });
        let diagram = diagram(&sim);
        assert_eq!(diagram.participants[1].title(), "store carts");
        assert!(matches!(
            diagram.rows[0].shape,
            Shape::Note { from: 0, to: 1, .. }
        ));
    }
}
