//! Escaping user data (message bodies, keys, notes, names) for the formats a
//! report writes: HTML/SVG and Mermaid. Everything from a trace goes through
//! here before it is written.

use super::narrate::one_line;

/// Text safe inside HTML or SVG elements and attribute values.
pub(crate) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text safe after the `:` of a Mermaid message or note, or after `as` in a
/// participant: one line, and the characters Mermaid would read as syntax or
/// HTML (`#` `;` `<` `>` `&` `"`) written as Mermaid entity codes (`#35;`).
pub(crate) fn mermaid(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            '&' => out.push_str("#38;"),
            '"' => out.push_str("#34;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html(r#"<script>alert("x & 'y'")</script>"#),
            "&lt;script&gt;alert(&quot;x &amp; &#39;y&#39;&quot;)&lt;/script&gt;"
        );
    }

    #[test]
    fn mermaid_escapes_its_syntax_and_keeps_one_line() {
        assert_eq!(
            mermaid("a;b #1 <br> & \"q\"\nnext"),
            "a#59;b #35;1 #60;br#62; #38; #34;q#34; next"
        );
    }
}
