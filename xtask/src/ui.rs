//! Colour, symbols and the few message shapes every command shares.
//!
//! Everything goes through `anstream`, which drops the colour codes when stdout is
//! not a terminal or `NO_COLOR` is set, so commands can always write styled text.

use anstyle::{AnsiColor, Style};

pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const BAD: Style = AnsiColor::Red.on_default().bold();
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
pub const INFO: Style = AnsiColor::Cyan.on_default().bold();
pub const DIM: Style = Style::new().dimmed();
pub const BOLD: Style = Style::new().bold();

pub const PASS_MARK: &str = "✓";
pub const FAIL_MARK: &str = "✗";

/// `text` wrapped in `style`'s escape codes.
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// Whether our stdout shows colour, so child processes (cargo) can be told the same.
pub fn stdout_has_colour() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

pub fn warn(msg: impl std::fmt::Display) {
    anstream::eprintln!("{}: {msg}", paint(WARN, "warning"));
}

pub fn note(msg: impl std::fmt::Display) {
    anstream::eprintln!("{}: {msg}", paint(INFO, "note"));
}

/// A shell command the attendee can copy, highlighted the same way everywhere.
pub fn cmd(text: impl std::fmt::Display) -> String {
    paint(BOLD, format!("`{text}`"))
}

/// A horizontal rule between runs in `watch`: we never clear the screen, so
/// earlier output stays in the scrollback.
pub fn separator() -> String {
    paint(DIM, "─".repeat(60))
}
