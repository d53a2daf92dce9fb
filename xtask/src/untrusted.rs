//! Text from outside (the Hub's answers, a Space's logs, a git remote's messages) on its way to
//! a terminal or into a report.
//!
//! Such text is data, never terminal commands: an ESC, BEL or CR in it could clear the screen,
//! forge a hyperlink (OSC 8) or overwrite the line above. Every string that came from outside
//! goes through [`line`] (one field or one log line) or [`lines`] (a multi-line body) before it
//! is printed. Control characters and the Unicode direction overrides come out as visible escapes
//! (`\x1b`, `\u{202e}`), and the length is capped so a hostile answer cannot flood the terminal.

use std::fmt::Write as _;

/// The most characters of one piece of outside text that are shown.
pub(crate) const MAX_CHARS: usize = 2000;

/// One field or one log line: every control character escaped, newlines included.
pub(crate) fn line(text: &str) -> String {
    escape(text, false)
}

/// A multi-line body (an error page, a log tail): newlines kept, every other control escaped.
pub(crate) fn lines(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS));
    for (shown, (index, c)) in text.char_indices().enumerate() {
        if shown == MAX_CHARS {
            let rest = text[index..].chars().count();
            let _ = write!(out, "… ({rest} more characters)");
            break;
        }
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let code = u32::from(c);
                if code <= 0xff {
                    let _ = write!(out, "\\x{code:02x}");
                } else {
                    let _ = write!(out, "\\u{{{code:04x}}}");
                }
            }
            // Bidirectional overrides and isolates reorder what the reader sees.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_come_out_visible() {
        let clear = "\x1b[2J\x1b[Hboom";
        let bell = "ding\x07";
        let osc8 = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\";
        let overwrite = "ok\rFAKE";
        for payload in [clear, bell, osc8, overwrite] {
            let shown = line(payload);
            assert!(
                !shown.chars().any(|c| c.is_control()),
                "{shown:?} still holds a control character"
            );
        }
        assert_eq!(line(clear), "\\x1b[2J\\x1b[Hboom");
        assert_eq!(line(bell), "ding\\x07");
        assert_eq!(line(overwrite), "ok\\rFAKE");
        assert_eq!(line("c1 \u{9b}"), "c1 \\x9b");
        assert_eq!(line("a\u{202e}b"), "a\\u{202e}b");
    }

    #[test]
    fn newlines_are_kept_only_in_bodies() {
        assert_eq!(line("a\nb"), "a\\nb");
        assert_eq!(lines("a\nb\x1b"), "a\nb\\x1b");
        assert_eq!(line("tab\there, é ✓"), "tab\\there, é ✓");
    }

    #[test]
    fn long_text_is_capped() {
        let long = "x".repeat(MAX_CHARS + 5);
        let shown = line(&long);
        assert!(shown.starts_with(&"x".repeat(MAX_CHARS)));
        assert!(shown.ends_with("… (5 more characters)"), "{shown}");
        assert_eq!(line(&"y".repeat(MAX_CHARS)), "y".repeat(MAX_CHARS));
    }
}
