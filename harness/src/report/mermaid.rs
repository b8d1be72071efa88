//! A Mermaid `sequenceDiagram` of a run: paste it into a Markdown file
//! (GitHub and many editors draw it) or any Mermaid viewer.

use std::fmt::Write;

use super::diagram::{Diagram, Row, Shape, gap_text, row_text};
use super::escape;

/// Pale red behind the steps the failing check pointed at.
pub(crate) const HIGHLIGHT: &str = "rgba(255, 170, 170, 0.5)";
/// Pale amber behind faults, refusals, redeliveries and timeouts.
pub(crate) const MARKED: &str = "rgba(255, 225, 150, 0.5)";

/// The Mermaid source of `diagram`.
pub(crate) fn render(diagram: &Diagram) -> String {
    let mut out = String::from("sequenceDiagram\n");
    for (index, participant) in diagram.participants.iter().enumerate() {
        let _ = writeln!(
            out,
            "    participant {} as {}",
            id(index),
            escape::mermaid(&participant.title())
        );
    }
    for row in &diagram.rows {
        let colour = if row.highlighted {
            Some(HIGHLIGHT)
        } else if row.mark.is_some() {
            Some(MARKED)
        } else {
            None
        };
        if let Some(colour) = colour {
            let _ = writeln!(out, "    rect {colour}");
        }
        let _ = writeln!(out, "    {}", statement(diagram, row));
        if colour.is_some() {
            let _ = writeln!(out, "    end");
        }
    }
    out
}

fn statement(diagram: &Diagram, row: &Row) -> String {
    match &row.shape {
        Shape::Arrow {
            from,
            to,
            dashed,
            cross,
            text,
        } => {
            let arrow = match (dashed, cross) {
                (false, false) => "->>",
                (true, false) => "-->>",
                (false, true) => "-x",
                (true, true) => "--x",
            };
            format!(
                "{}{arrow}{}: {}",
                id(*from),
                id(*to),
                escape::mermaid(&row_text(row.seq, row.mark, text))
            )
        }
        Shape::Note { from, to, text } => {
            let over = if from == to {
                id(*from)
            } else {
                format!("{},{}", id(*from), id(*to))
            };
            format!(
                "Note over {over}: {}",
                escape::mermaid(&row_text(row.seq, row.mark, text))
            )
        }
        Shape::Gap { count } => {
            let last = diagram.participants.len().saturating_sub(1);
            let over = if last == 0 {
                id(0)
            } else {
                format!("{},{}", id(0), id(last))
            };
            format!("Note over {over}: {}", escape::mermaid(&gap_text(*count)))
        }
    }
}

/// Participant ids are generated: names are user data.
fn id(index: usize) -> String {
    format!("p{}", index + 1)
}
