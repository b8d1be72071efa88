//! A sequence diagram of a run drawn as SVG by this code alone, so that the
//! page works offline: no JavaScript, no fonts or scripts from the network.
//!
//! Layout: one vertical lane per participant, one row per step, the step
//! number in the left margin. Text that does not fit is cut with `…`; the
//! full text shows as a tooltip (`<title>`).

use std::fmt::Write;

use super::diagram::{Diagram, Row, Shape, gap_text, row_text};
use super::escape;

/// Width of one character of the 12px monospace font, in pixels.
const CHAR: f64 = 7.2;
/// The left margin, where step numbers go.
const LEFT: f64 = 48.0;
const TOP: f64 = 10.0;
const BOX_HEIGHT: f64 = 28.0;
const ROW: f64 = 30.0;
const SELF_ROW: f64 = 40.0;
const MIN_LANE: f64 = 170.0;
const MAX_LANE: f64 = 260.0;
/// A note over one lane may be this many lanes wide (it overlaps its
/// neighbours' lifelines, never another note: each row holds one step).
const SINGLE_NOTE: f64 = 1.7;

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR
}

struct Layout {
    lane: f64,
    lanes: usize,
}

impl Layout {
    /// Lanes wide enough for the longest title and label, within reason:
    /// past `MAX_LANE` a label is cut (its tooltip and the steps keep it all).
    fn new(diagram: &Diagram) -> Layout {
        let titles = diagram
            .participants
            .iter()
            .map(|p| text_width(&p.title()) + 28.0);
        let labels = diagram.rows.iter().map(|row| match &row.shape {
            Shape::Arrow { from, to, text, .. } => {
                let span = from.abs_diff(*to).max(1) as f64;
                (text_width(&row_text(None, row.mark, text)) + 16.0) / span
            }
            Shape::Note { from, to, text } => {
                let span = if from == to {
                    SINGLE_NOTE
                } else {
                    from.abs_diff(*to) as f64 + 1.0
                };
                (text_width(&row_text(None, row.mark, text)) + 24.0) / span
            }
            Shape::Gap { .. } => 0.0,
        });
        let widest = titles.chain(labels).fold(0.0, f64::max);
        Layout {
            lane: widest.clamp(MIN_LANE, MAX_LANE).ceil(),
            lanes: diagram.participants.len().max(1),
        }
    }

    /// The left and right edges of a note over lanes `from..=to`.
    fn note_edges(&self, from: usize, to: usize) -> (f64, f64) {
        if from == to {
            let half = self.lane * SINGLE_NOTE / 2.0;
            let x = self.x(from);
            ((x - half).max(LEFT), (x + half).min(self.width() - 4.0))
        } else {
            (
                self.x(from) - self.lane / 2.0 + 8.0,
                self.x(to) + self.lane / 2.0 - 8.0,
            )
        }
    }

    fn x(&self, lane: usize) -> f64 {
        LEFT + self.lane / 2.0 + lane as f64 * self.lane
    }

    fn width(&self) -> f64 {
        LEFT + self.lanes as f64 * self.lane + 16.0
    }
}

/// The SVG drawing of `diagram`.
pub(crate) fn render(diagram: &Diagram) -> String {
    let layout = Layout::new(diagram);
    let mut body = String::new();
    let mut y = TOP + BOX_HEIGHT + 14.0;
    for row in &diagram.rows {
        let height = row_height(row);
        draw_row(&mut body, &layout, row, y, height);
        y += height;
    }
    let bottom = y + 10.0;
    let height = bottom + BOX_HEIGHT + TOP;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" viewBox="0 0 {w} {height}" role="img" aria-label="sequence diagram of the run">"#,
        w = layout.width()
    );
    out.push_str(STYLE);
    let mut lanes = String::new();
    for (index, participant) in diagram.participants.iter().enumerate() {
        let x = layout.x(index);
        let _ = writeln!(
            lanes,
            r#"<line class="life" x1="{x}" y1="{}" x2="{x}" y2="{bottom}"/>"#,
            TOP + BOX_HEIGHT
        );
        for top in [TOP, bottom] {
            participant_box(&mut lanes, &layout, x, top, &participant.title());
        }
    }
    out.push_str(&lanes);
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

const STYLE: &str = r##"<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>
<style>
text { font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12px; fill: #222; }
.box { fill: #eef2f8; stroke: #4a5a78; }
.life { stroke: #9aa5b8; stroke-dasharray: 4,4; }
.msg { stroke: #333; fill: none; }
.dashed { stroke-dasharray: 6,4; }
.cross { stroke: #b00020; stroke-width: 2; }
.note { fill: #fff8d0; stroke: #c8b560; }
.gap { fill: #f2f2f2; stroke: #bbbbbb; }
.num { fill: #777; text-anchor: end; }
.band-highlight { fill: #ffaaaa; fill-opacity: 0.5; }
.band-marked { fill: #ffe196; fill-opacity: 0.5; }
</style>
"##;

fn row_height(row: &Row) -> f64 {
    match row.shape {
        Shape::Arrow { from, to, .. } if from == to => SELF_ROW,
        _ => ROW,
    }
}

fn participant_box(out: &mut String, layout: &Layout, x: f64, top: f64, title: &str) {
    let width = layout.lane - 20.0;
    let _ = writeln!(
        out,
        r#"<rect class="box" x="{}" y="{top}" width="{width}" height="{BOX_HEIGHT}" rx="4"/>"#,
        x - width / 2.0
    );
    label(out, x, top + 18.0, "middle", title, width - 8.0);
}

fn draw_row(out: &mut String, layout: &Layout, row: &Row, y: f64, height: f64) {
    let band = if row.highlighted {
        Some("band-highlight")
    } else if row.mark.is_some() {
        Some("band-marked")
    } else {
        None
    };
    if let Some(class) = band {
        let _ = writeln!(
            out,
            r#"<rect class="{class}" x="0" y="{y}" width="{}" height="{height}"/>"#,
            layout.width()
        );
    }
    if let Some(seq) = row.seq {
        let _ = writeln!(
            out,
            r#"<text class="num" x="{}" y="{}">{seq}</text>"#,
            LEFT - 8.0,
            y + 19.0
        );
    }
    match &row.shape {
        Shape::Arrow {
            from,
            to,
            dashed,
            cross,
            text,
        } => {
            let text = row_text(None, row.mark, text);
            let arrow = ArrowStyle {
                class: if *dashed { "msg dashed" } else { "msg" },
                cross: *cross,
                text: &text,
            };
            let (x1, x2) = (layout.x(*from), layout.x(*to));
            if from == to {
                self_arrow(out, layout, x1, y, &arrow);
            } else {
                straight_arrow(out, x1, x2, y, &arrow);
            }
        }
        Shape::Note { from, to, text } => {
            let (left, right) = layout.note_edges(*from, *to);
            let text = row_text(None, row.mark, text);
            note(out, left, right, y, "note", &text);
        }
        Shape::Gap { count } => {
            let right = layout.x(layout.lanes - 1);
            note(
                out,
                layout.x(0) - layout.lane / 2.0 + 8.0,
                right + layout.lane / 2.0 - 8.0,
                y,
                "gap",
                &gap_text(*count),
            );
        }
    }
}

/// How an arrow is drawn, wherever it goes.
struct ArrowStyle<'a> {
    /// Its CSS class: solid or dashed.
    class: &'a str,
    /// Ends in a cross (refused or lost) instead of a head.
    cross: bool,
    /// Its label.
    text: &'a str,
}

impl ArrowStyle<'_> {
    /// The attribute that puts a head on the arrow's end (none with a cross).
    fn head(&self) -> &'static str {
        if self.cross {
            ""
        } else {
            r#" marker-end="url(#head)""#
        }
    }
}

/// An arrow from one lane (at `x1`) to another (at `x2`).
fn straight_arrow(out: &mut String, x1: f64, x2: f64, y: f64, arrow: &ArrowStyle<'_>) {
    let line_y = y + 22.0;
    let _ = writeln!(
        out,
        r#"<line class="{}" x1="{x1}" y1="{line_y}" x2="{x2}" y2="{line_y}"{}/>"#,
        arrow.class,
        arrow.head()
    );
    if arrow.cross {
        cross_at(out, x2, line_y);
    }
    label(
        out,
        (x1 + x2) / 2.0,
        y + 16.0,
        "middle",
        arrow.text,
        (x2 - x1).abs() - 12.0,
    );
}

/// An arrow from a lane (at `x`) back to itself.
fn self_arrow(out: &mut String, layout: &Layout, x: f64, y: f64, arrow: &ArrowStyle<'_>) {
    let (top, bottom, reach) = (y + 22.0, y + 32.0, x + 28.0);
    let _ = writeln!(
        out,
        r#"<path class="{}" d="M{x},{top} H{reach} V{bottom} H{x}"{}/>"#,
        arrow.class,
        arrow.head()
    );
    if arrow.cross {
        cross_at(out, x, bottom);
    }
    label(
        out,
        x + 4.0,
        y + 16.0,
        "start",
        arrow.text,
        layout.lane - 12.0,
    );
}

fn cross_at(out: &mut String, x: f64, y: f64) {
    let _ = writeln!(
        out,
        r#"<path class="cross" d="M{},{} L{},{} M{},{} L{},{}"/>"#,
        x - 5.0,
        y - 5.0,
        x + 5.0,
        y + 5.0,
        x - 5.0,
        y + 5.0,
        x + 5.0,
        y - 5.0
    );
}

fn note(out: &mut String, left: f64, right: f64, y: f64, class: &str, text: &str) {
    let _ = writeln!(
        out,
        r#"<rect class="{class}" x="{left}" y="{}" width="{}" height="22"/>"#,
        y + 5.0,
        right - left
    );
    label(
        out,
        (left + right) / 2.0,
        y + 20.0,
        "middle",
        text,
        right - left - 8.0,
    );
}

/// A line of text that fits in `room` pixels: cut with `…` if needed, with
/// the full text as a tooltip.
fn label(out: &mut String, x: f64, y: f64, anchor: &str, text: &str, room: f64) {
    let fits = ((room / CHAR).floor() as usize).max(4);
    let shown: String = if text.chars().count() > fits {
        let mut cut: String = text.chars().take(fits - 1).collect();
        cut.push('…');
        cut
    } else {
        text.to_string()
    };
    let _ = writeln!(
        out,
        r#"<text x="{x}" y="{y}" text-anchor="{anchor}"><title>{}</title>{}</text>"#,
        escape::html(text),
        escape::html(&shown)
    );
}
