//! The standalone page of a failure: headline, replay command, the SVG
//! sequence diagram, the numbered steps, the causation trees of the run's
//! conversations and the Mermaid source. One file,
//! no scripts and nothing fetched from the network (the venue is offline).

use std::fmt::Write;

use super::escape;

/// What goes on the page; every field is plain text (escaped here) except
/// `svg`, which this module's sibling drew and escaped itself.
pub(crate) struct Page<'a> {
    pub(crate) headline: &'a str,
    pub(crate) details: &'a [String],
    pub(crate) seed: &'a str,
    pub(crate) replay: &'a [String],
    pub(crate) svg: &'a str,
    pub(crate) steps: &'a str,
    /// The causation trees of the run's conversations (plain text).
    pub(crate) causation: &'a str,
    pub(crate) mermaid: &'a str,
}

pub(crate) fn render(page: &Page<'_>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n{STYLE}</head>\n<body>\n",
        escape::html(page.headline)
    );
    let _ = writeln!(out, "<h1>{}</h1>", escape::html(page.headline));
    for detail in page.details {
        let _ = writeln!(out, "<p class=\"detail\">{}</p>", escape::html(detail));
    }
    let _ = writeln!(
        out,
        "<h2>Replay it</h2>\n<p>Seed {}.</p>",
        escape::html(page.seed)
    );
    for line in page.replay {
        let _ = writeln!(out, "<pre class=\"replay\">{}</pre>", escape::html(line));
    }
    let _ = writeln!(
        out,
        "<h2>Sequence diagram</h2>\n<p class=\"legend\">⚡ fault · ⟲ seen again · ✗ refused, failed or lost · ⏱ timed out · red band: the steps the check points at. Hover over a cut label to read all of it.</p>\n<div class=\"diagram\">\n{}</div>",
        page.svg
    );
    let _ = writeln!(
        out,
        "<h2>What happened</h2>\n<pre class=\"steps\">{}</pre>",
        escape::html(page.steps)
    );
    if !page.causation.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Conversations</h2>\n<p class=\"legend\">Each message under the message whose handling sent it; per queue, who handled it and how it ended.</p>\n<pre class=\"causation\">{}</pre>",
            escape::html(page.causation)
        );
    }
    let _ = writeln!(
        out,
        "<h2>Mermaid source</h2>\n<p>Paste into a Markdown file inside a <code>```mermaid</code> block (GitHub and many editors draw it).</p>\n<pre class=\"mermaid-source\">{}</pre>",
        escape::html(page.mermaid)
    );
    out.push_str("</body>\n</html>\n");
    out
}

const STYLE: &str = "<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 100%; }
h1 { font-size: 1.3em; color: #8b0000; }
h2 { font-size: 1.1em; margin-top: 1.6em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
pre.replay { background: #eef6ee; }
.diagram { overflow-x: auto; border: 1px solid #ddd; padding: 0.5em; }
.legend { color: #555; }
</style>
";
