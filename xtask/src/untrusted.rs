//! Text from outside (the Hub's answers, a Space's logs, a git remote's messages) on its way to
//! a terminal or into a report.
//!
//! Such text is data, never terminal commands: an ESC, BEL or CR in it could clear the screen,
//! forge a hyperlink (OSC 8) or overwrite the line above. Every string that came from outside
//! goes through [`line`] (one field or one log line) or [`lines`] (a multi-line body) before it
//! is printed. Control characters and the invisible Unicode format characters (direction
//! overrides among them) come out as visible escapes (`\x1b`, `\u{202e}`), and the length is
//! capped so a hostile answer cannot flood the terminal.

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
            c if is_invisible(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Unicode's format characters (general category Cf, Unicode 15): the bidirectional
/// embeddings, overrides, isolates and marks that reorder what the reader sees (Trojan Source,
/// CVE-2021-42574: U+061C, U+200E-F, U+202A-E, U+2066-9), and the invisible ones (zero-width
/// space and joiners, word joiner, BOM, soft hyphen, tag characters) that hide text; with them
/// the line and paragraph separators, which some terminals break lines at.
const INVISIBLE: [(char, char); 21] = [
    ('\u{00ad}', '\u{00ad}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061c}', '\u{061c}'),
    ('\u{06dd}', '\u{06dd}'),
    ('\u{070f}', '\u{070f}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08e2}', '\u{08e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{2028}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

fn is_invisible(c: char) -> bool {
    INVISIBLE
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
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
    fn every_invisible_format_character_comes_out_visible() {
        // Trojan Source (CVE-2021-42574): the embeddings, overrides, isolates and marks,
        // the Arabic letter mark among them; then the invisible ones (zero-width space and
        // joiners, word joiner, BOM, soft hyphen, tag characters) and the line separators.
        let invisible = [
            '\u{061c}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{00ad}',
            '\u{180e}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{2064}',
            '\u{206f}',
            '\u{feff}',
            '\u{fffb}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{2028}',
            '\u{2029}',
        ];
        for c in invisible {
            let code = u32::from(c);
            assert_eq!(
                line(&format!("a{c}b")),
                format!("a\\u{{{code:04x}}}b"),
                "U+{code:04X} is shown as it is"
            );
        }
        assert_eq!(line("Ωمرحبا ✓ 👍"), "Ωمرحبا ✓ 👍");
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
