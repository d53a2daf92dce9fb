//! Python source read as CPython's tokenizer reads it (Lib/tokenize.py, Parser/lexer/lexer.c,
//! and the language reference's "Lexical analysis"), as far as `generate` needs it: comments,
//! strings of every prefix (`r`, `u`, `b`, `f`, `t` and their combinations, any case) and
//! quote kind (one or three, `'` or `"`), f-strings with nested quotes and replacement fields
//! (PEP 701), backslash continuations, newlines inside brackets, and `;`-separated
//! statements. Indentation is kept as a column count, so callers can tell a block's body.
//!
//! It yields logical lines of tokens with their starting line; what a statement *means*
//! (imports, routes, settings) is read from those tokens by the callers. It is a hand-written
//! byte loop because `check` runs it from an unoptimized build in the pre-commit hook.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Name,
    Number,
    /// A string literal with its prefix and quotes; adjacent ones are separate tokens.
    String,
    /// An operator or delimiter (`(`, `.`, `=`, `==`, `->`, `...`).
    Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: Kind,
    pub(crate) text: &'a str,
    /// 1-based line where the token starts.
    pub(crate) line: usize,
}

impl Token<'_> {
    pub(crate) fn is_name(&self, name: &str) -> bool {
        self.kind == Kind::Name && self.text == name
    }

    pub(crate) fn is_op(&self, op: &str) -> bool {
        self.kind == Kind::Op && self.text == op
    }
}

/// One logical line: physical lines joined by brackets or backslashes, without comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine<'a> {
    /// 1-based line of its first token.
    pub(crate) line: usize,
    /// Its indentation in columns (a tab advances to the next multiple of 8, as CPython).
    pub(crate) indent: usize,
    pub(crate) tokens: Vec<Token<'a>>,
}

impl<'a> LogicalLine<'a> {
    /// Its statements: the token runs between `;`s outside brackets (CPython's simple
    /// statements of one line, `import os; import app.x`).
    pub(crate) fn statements(&self) -> impl Iterator<Item = &[Token<'a>]> {
        let mut depth = 0usize;
        self.tokens
            .split(move |t| {
                if t.kind == Kind::Op {
                    match t.text {
                        "(" | "[" | "{" => depth += 1,
                        ")" | "]" | "}" => depth = depth.saturating_sub(1),
                        ";" => return depth == 0,
                        _ => {}
                    }
                }
                false
            })
            .filter(|s| !s.is_empty())
    }
}

/// What CPython would refuse as a syntax error, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

/// The length of the operator or delimiter at the start of `bytes`, longest first (the
/// language reference's "Operators" and "Delimiters"): `**=`, `//=`, `>>=`, `<<=`, `...`,
/// `->`, `:=`, comparisons, `**`, `//`, `<<`, `>>` and augmented assignments; else 1.
fn op_len(bytes: &[u8]) -> usize {
    match bytes {
        [b'*', b'*', b'=', ..] | [b'/', b'/', b'=', ..] | [b'>', b'>', b'=', ..] => 3,
        [b'<', b'<', b'=', ..] | [b'.', b'.', b'.', ..] => 3,
        [b'-', b'>', ..] | [b':', b'=', ..] => 2,
        [b'*', b'*', ..] | [b'/', b'/', ..] | [b'<', b'<', ..] | [b'>', b'>', ..] => 2,
        [
            b'=' | b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^'
            | b'@',
            b'=',
            ..,
        ] => 2,
        _ => 1,
    }
}

/// The string prefixes CPython accepts, any case (`t` is PEP 750's template strings).
fn is_string_prefix(word: &str) -> bool {
    word.len() <= 2
        && matches!(
            word.to_ascii_lowercase().as_str(),
            "r" | "u" | "b" | "f" | "t" | "br" | "rb" | "fr" | "rf" | "tr" | "rt"
        )
}

fn is_name_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | 0x80..)
}

/// The logical lines of `text`.
pub(crate) fn logical_lines(text: &str) -> Result<Vec<LogicalLine<'_>>, SyntaxError> {
    let mut lexer = Lexer {
        text,
        bytes: text.as_bytes(),
        pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
        line: 1,
    };
    let mut lines = Vec::new();
    let mut current: Option<LogicalLine> = None;
    let mut depth = 0usize;
    loop {
        // At the start of a physical line outside brackets: its indentation.
        let mut indent = 0;
        if current.is_none() {
            while let Some(&b) = lexer.bytes.get(lexer.pos) {
                match b {
                    b' ' => indent += 1,
                    b'\t' => indent = (indent / 8 + 1) * 8,
                    b'\x0c' => indent = 0,
                    _ => break,
                }
                lexer.pos += 1;
            }
        }
        let Some(&b) = lexer.bytes.get(lexer.pos) else {
            break;
        };
        let start = lexer.pos;
        let token_line = lexer.line;
        let kind = match b {
            b' ' | b'\t' | b'\x0c' => {
                lexer.pos += 1;
                continue;
            }
            b'#' => {
                let bytes = lexer.bytes;
                let mut pos = lexer.pos;
                while pos < bytes.len() && bytes[pos] != b'\n' && bytes[pos] != b'\r' {
                    pos += 1;
                }
                lexer.pos = pos;
                continue;
            }
            b'\n' | b'\r' => {
                lexer.newline();
                if depth == 0
                    && let Some(line) = current.take()
                {
                    lines.push(line);
                }
                continue;
            }
            b'\\' => {
                lexer.pos += 1;
                match lexer.bytes.get(lexer.pos) {
                    Some(b'\n' | b'\r') => {
                        lexer.newline();
                        continue;
                    }
                    None => return Err(lexer.error("unexpected EOF while parsing")),
                    Some(_) => {
                        return Err(
                            lexer.error("unexpected character after line continuation character")
                        );
                    }
                }
            }
            b'"' | b'\'' => {
                lexer.string("")?;
                Kind::String
            }
            b'0'..=b'9' => {
                lexer.number();
                Kind::Number
            }
            b'.' if lexer
                .bytes
                .get(lexer.pos + 1)
                .is_some_and(u8::is_ascii_digit) =>
            {
                lexer.number();
                Kind::Number
            }
            b if is_name_byte(b) => {
                lexer.pos = lexer.name_end();
                let word = &text[start..lexer.pos];
                if matches!(lexer.bytes.get(lexer.pos), Some(b'"' | b'\''))
                    && is_string_prefix(word)
                {
                    lexer.string(word)?;
                    Kind::String
                } else {
                    Kind::Name
                }
            }
            _ => {
                let len = op_len(&lexer.bytes[start..]);
                match b {
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                lexer.pos += len;
                Kind::Op
            }
        };
        let token = Token {
            kind,
            text: &text[start..lexer.pos],
            line: token_line,
        };
        match &mut current {
            Some(line) => line.tokens.push(token),
            None => {
                current = Some(LogicalLine {
                    line: token_line,
                    indent,
                    tokens: vec![token],
                })
            }
        }
    }
    if depth > 0 {
        return Err(lexer.error("unexpected EOF: a bracket is never closed"));
    }
    lines.extend(current);
    Ok(lines)
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: usize,
}

impl Lexer<'_> {
    fn error(&self, message: &str) -> SyntaxError {
        SyntaxError {
            line: self.line,
            message: message.to_owned(),
        }
    }

    /// The end of the name that starts at `pos`.
    fn name_end(&self) -> usize {
        let bytes = self.bytes;
        let mut pos = self.pos;
        while pos < bytes.len() && is_name_byte(bytes[pos]) {
            pos += 1;
        }
        pos
    }

    /// Consumes a newline at `pos` (`\n`, `\r\n` or `\r`, as CPython's universal newlines).
    fn newline(&mut self) {
        if self.bytes[self.pos] == b'\r' && self.bytes.get(self.pos + 1) == Some(&b'\n') {
            self.pos += 1;
        }
        self.pos += 1;
        self.line += 1;
    }

    fn number(&mut self) {
        let hex = matches!(self.bytes.get(self.pos..self.pos + 2), Some(b"0x" | b"0X"));
        while let Some(&b) = self.bytes.get(self.pos) {
            // `1e-5`: a sign right after a decimal exponent's `e` belongs to the number.
            let exponent_sign =
                matches!(b, b'+' | b'-') && !hex && matches!(self.bytes[self.pos - 1], b'e' | b'E');
            if !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign) {
                break;
            }
            self.pos += 1;
        }
    }

    /// Consumes a string literal whose opening quote is at `pos`.
    fn string(&mut self, prefix: &str) -> Result<(), SyntaxError> {
        let lower = prefix.to_ascii_lowercase();
        let raw = lower.contains('r');
        let formatted = lower.contains('f') || lower.contains('t');
        let quote = self.bytes[self.pos];
        let triple = self.bytes[self.pos..].starts_with(&[quote; 3]);
        let start_line = self.line;
        self.pos += if triple { 3 } else { 1 };
        loop {
            // Plain characters in one tight loop (this is most of a docstring).
            let bytes = self.bytes;
            let mut pos = self.pos;
            while pos < bytes.len()
                && !matches!(bytes[pos], b'\\' | b'\n' | b'\r' | b'{')
                && bytes[pos] != quote
            {
                pos += 1;
            }
            self.pos = pos;
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(SyntaxError {
                    line: start_line,
                    message: if triple {
                        "unterminated triple-quoted string literal".to_owned()
                    } else {
                        format!(
                            "unterminated string literal (detected at line {})",
                            self.line
                        )
                    },
                });
            };
            match b {
                // A backslash keeps the next character in the string, even in a raw string.
                b'\\' => {
                    self.pos += 1;
                    match self.bytes.get(self.pos) {
                        Some(b'\n' | b'\r') => self.newline(),
                        // In an f-string a backslash does not escape a brace: `rf'\{{'` is a
                        // backslash and an escaped `{`, `f'\{x}'` a backslash and a field.
                        Some(b'{' | b'}') if formatted => {}
                        // `\N{NAME}`: its braces are not a replacement field.
                        Some(b'N') if formatted && !raw => {
                            self.pos += 1;
                            if self.bytes.get(self.pos) == Some(&b'{') {
                                while self.bytes.get(self.pos).is_some_and(|b| *b != b'}') {
                                    self.pos += 1;
                                }
                                self.pos += 1;
                            }
                        }
                        Some(_) => self.pos += 1,
                        None => {}
                    }
                }
                b'\n' | b'\r' if !triple => {
                    return Err(SyntaxError {
                        line: start_line,
                        message: format!(
                            "unterminated string literal (detected at line {start_line})"
                        ),
                    });
                }
                b'\n' | b'\r' => self.newline(),
                _ if b == quote && (!triple || self.bytes[self.pos..].starts_with(&[quote; 3])) => {
                    self.pos += if triple { 3 } else { 1 };
                    return Ok(());
                }
                b'{' if formatted => {
                    if self.bytes.get(self.pos + 1) == Some(&b'{') {
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        self.replacement_field()?;
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Consumes an f-string's `{expression!conversion:format_spec}` after its `{`: the
    /// expression may hold strings (with any quotes, PEP 701) and brackets; the format spec is
    /// text with nested replacement fields.
    fn replacement_field(&mut self) -> Result<(), SyntaxError> {
        let start_line = self.line;
        let mut depth = 0usize;
        let mut in_spec = false;
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'}' if depth == 0 => {
                    self.pos += 1;
                    return Ok(());
                }
                b'{' if in_spec => {
                    self.pos += 1;
                    self.replacement_field()?;
                }
                b'\n' | b'\r' => self.newline(),
                _ if in_spec => self.pos += 1,
                b':' if depth == 0 => {
                    in_spec = true;
                    self.pos += 1;
                }
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    self.pos += 1;
                }
                b'"' | b'\'' => self.string("")?,
                b if is_name_byte(b) => {
                    let start = self.pos;
                    self.pos = self.name_end();
                    let word = &self.text[start..self.pos];
                    if matches!(self.bytes.get(self.pos), Some(b'"' | b'\''))
                        && is_string_prefix(word)
                    {
                        self.string(word)?;
                    }
                }
                _ => self.pos += 1,
            }
        }
        Err(SyntaxError {
            line: start_line,
            message: "f-string: expecting '}'".to_owned(),
        })
    }
}

/// The value of a string token when it is a plain literal (`str`, not bytes, f- or t-string),
/// with its escapes decoded.
pub(crate) fn string_value(token: &Token) -> Option<String> {
    if token.kind != Kind::String {
        return None;
    }
    let text = token.text;
    let quote_at = text.find(['"', '\''])?;
    let prefix = text[..quote_at].to_ascii_lowercase();
    if prefix.contains(['b', 'f', 't']) {
        return None;
    }
    let body = &text[quote_at..];
    let q = if body.len() >= 6 && (body.starts_with("\"\"\"") || body.starts_with("'''")) {
        3
    } else {
        1
    };
    let inner = &body[q..body.len() - q];
    if prefix.contains('r') {
        return Some(inner.to_owned());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, n: usize| {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
        };
        match e {
            '\n' => {}
            '\r' => {
                chars.next_if_eq(&'\n');
            }
            '\\' | '\'' | '"' => out.push(e),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'x' => out.extend(hex(&mut chars, 2)),
            'u' => out.extend(hex(&mut chars, 4)),
            'U' => out.extend(hex(&mut chars, 8)),
            '0'..='7' => {
                let mut value = e.to_digit(8).unwrap();
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.extend(char::from_u32(value));
            }
            // `\N{NAME}` and unknown escapes stay as written (Python keeps the backslash of
            // an unknown escape).
            _ => {
                out.push('\\');
                out.push(e);
            }
        }
    }
    Some(out)
}

/// The value of an expression that is only string literals (implicitly concatenated,
/// optionally in parentheses), as `summary=("A long " "summary")`.
pub(crate) fn literal(tokens: &[Token]) -> Option<String> {
    let mut tokens = tokens;
    while let [first, inner @ .., last] = tokens
        && first.is_op("(")
        && last.is_op(")")
    {
        tokens = inner;
    }
    if tokens.is_empty() {
        return None;
    }
    tokens.iter().map(string_value).collect()
}

/// One argument of a call: `keyword=value` or a positional `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arg<'t, 'a> {
    pub(crate) keyword: Option<&'a str>,
    pub(crate) value: &'t [Token<'a>],
}

/// The arguments of the call whose `(` is `tokens[open]`, and the index of its `)`; `None`
/// when it is not closed in `tokens`.
pub(crate) fn call_args<'t, 'a>(
    tokens: &'t [Token<'a>],
    open: usize,
) -> Option<(Vec<Arg<'t, 'a>>, usize)> {
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut start = open + 1;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.kind != Kind::Op {
            continue;
        }
        match token.text {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    push_arg(&mut args, &tokens[start..i]);
                    return Some((args, i));
                }
            }
            "," if depth == 1 => {
                push_arg(&mut args, &tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

fn push_arg<'t, 'a>(args: &mut Vec<Arg<'t, 'a>>, tokens: &'t [Token<'a>]) {
    match tokens {
        [] => {}
        [name, eq, value @ ..] if name.kind == Kind::Name && eq.is_op("=") => args.push(Arg {
            keyword: Some(name.text),
            value,
        }),
        _ => args.push(Arg {
            keyword: None,
            value: tokens,
        }),
    }
}

/// The value of keyword argument `name`, when it is a plain string literal.
pub(crate) fn keyword_literal(args: &[Arg], name: &str) -> Option<String> {
    args.iter()
        .find(|a| a.keyword == Some(name))
        .and_then(|a| literal(a.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each logical line as (line, indent, tokens joined by spaces).
    fn lines(text: &str) -> Vec<(usize, usize, String)> {
        logical_lines(text)
            .unwrap()
            .iter()
            .map(|l| {
                let words: Vec<&str> = l.tokens.iter().map(|t| t.text).collect();
                (l.line, l.indent, words.join(" "))
            })
            .collect()
    }

    #[test]
    fn comments_blank_lines_and_continuations() {
        assert_eq!(
            lines("# c\n\nx = (1,  # c )\n     2)\ny = 1 + \\\n    2\n  \n\tz\n"),
            [
                (3, 0, "x = ( 1 , 2 )".to_owned()),
                (5, 0, "y = 1 + 2".to_owned()),
                (8, 8, "z".to_owned()),
            ]
        );
    }

    #[test]
    fn strings_of_every_prefix_and_quote_kind_are_one_token() {
        let text = "a = r'\\'' + B\"x\" + Rb'''y''' + f\"{x['k']!r:>{w}}\" + u'''#\n'''\nb = '\"\"\"'; c = \"'''\"\nd = f'{\"a\" + f\"{1}\"}' t'{x}' rf'\\{x}'\ne = F\"{x:'>10}\" '\\N{DASH}' rf'(\\{{)' f'\\{x}'\n";
        assert_eq!(
            lines(text),
            [
                (
                    1,
                    0,
                    "a = r'\\'' + B\"x\" + Rb'''y''' + f\"{x['k']!r:>{w}}\" + u'''#\n'''"
                        .to_owned()
                ),
                (3, 0, "b = '\"\"\"' ; c = \"'''\"".to_owned()),
                (
                    4,
                    0,
                    "d = f'{\"a\" + f\"{1}\"}' t'{x}' rf'\\{x}'".to_owned()
                ),
                (
                    5,
                    0,
                    "e = F\"{x:'>10}\" '\\N{DASH}' rf'(\\{{)' f'\\{x}'".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn line_endings_crlf_and_cr_count_as_newlines() {
        assert_eq!(
            lines("a = 1\r\nb = '''x\ry'''\rc = 2\r"),
            [
                (1, 0, "a = 1".to_owned()),
                (2, 0, "b = '''x\ry'''".to_owned()),
                (4, 0, "c = 2".to_owned()),
            ]
        );
    }

    #[test]
    fn statements_split_at_semicolons_outside_brackets() {
        let parsed = logical_lines("import json; from app import x; y = {1: (2; 3)}\n").unwrap();
        let statements: Vec<String> = parsed[0]
            .statements()
            .map(|s| s.iter().map(|t| t.text).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            statements,
            ["import json", "from app import x", "y = { 1 : ( 2 ; 3 ) }"]
        );
    }

    #[test]
    fn syntax_errors_name_their_line() {
        for (text, line, message) in [
            (
                "x = 'abc\n",
                1,
                "unterminated string literal (detected at line 1)",
            ),
            (
                "\n\nx = '''abc\n",
                3,
                "unterminated triple-quoted string literal",
            ),
            ("x = (1,\n", 2, "unexpected EOF: a bracket is never closed"),
            (
                "x = 1 \\ y\n",
                1,
                "unexpected character after line continuation character",
            ),
        ] {
            let err = logical_lines(text).unwrap_err();
            assert_eq!(
                (err.line, err.message.as_str()),
                (line, message),
                "{text:?}"
            );
        }
    }

    #[test]
    fn literals_decode_escapes_and_concatenate() {
        let parsed = logical_lines(
            "x(a='it\\'s \\x41\\u00e9\\n', b=(\"one \"\n  'two'), c=r'\\d', d=f'{x}', e=1)\n",
        )
        .unwrap();
        let (args, close) = call_args(&parsed[0].tokens, 1).unwrap();
        assert_eq!(close, parsed[0].tokens.len() - 1);
        assert_eq!(keyword_literal(&args, "a").as_deref(), Some("it's Aé\n"));
        assert_eq!(keyword_literal(&args, "b").as_deref(), Some("one two"));
        assert_eq!(keyword_literal(&args, "c").as_deref(), Some("\\d"));
        assert_eq!(keyword_literal(&args, "d"), None);
        assert_eq!(keyword_literal(&args, "e"), None);
    }

    #[test]
    fn a_bom_is_not_part_of_the_first_token() {
        assert_eq!(
            lines("\u{feff}import os\n"),
            [(1, 0, "import os".to_owned())]
        );
    }
}

#[cfg(test)]
mod cross_check {
    /// The logical lines' first lines agree with Python's own `tokenize` (its NEWLINE tokens),
    /// and the imports with its `ast`, on the backend, the fixture backend and Python's
    /// standard library (top level, a few hundred files of every style). Run with the dev
    /// venv's Python, else `python3`.
    #[test]
    fn logical_lines_start_where_pythons_tokenize_says() {
        let root = camino::Utf8Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let script = r#"
import ast, glob, os, sys, sysconfig, tokenize
files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))
for folder in sys.argv[1:]:
    files += sorted(glob.glob(os.path.join(folder, "**", "*.py"), recursive=True))
for path in files:
    try:
        with open(path, "rb") as f:
            tokens = list(tokenize.tokenize(f.readline))
    except (SyntaxError, tokenize.TokenError, UnicodeDecodeError):
        continue
    skip = (tokenize.ENCODING, tokenize.NL, tokenize.COMMENT, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENDMARKER)
    starts, current = [], None
    for t in tokens:
        if t.type in skip:
            continue
        if t.type == tokenize.NEWLINE:
            current = None
        elif current is None:
            current = t.start[0]
            starts.append(str(current))
    try:
        tree = ast.parse(open(path, "rb").read())
    except (SyntaxError, ValueError):
        continue
    imports = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [f"{node.lineno}:0:{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            imports.append(f"{node.lineno}:{node.level}:{node.module or ''}")
    print(path + "\t" + ",".join(starts) + "\t" + " ".join(sorted(imports)))
"#;
        // More folders by hand: XTASK_PYTHON_DIRS=/usr/lib/python3.11:… (colon-separated).
        let more = std::env::var("XTASK_PYTHON_DIRS").unwrap_or_default();
        let dirs = [root.join("backend"), root.join("xtask/tests/fixtures")]
            .into_iter()
            .chain(more.split(':').filter(|d| !d.is_empty()).map(Into::into));
        let stdout = crate::tools::run_test_python(script, dirs, "Python could not read a file");
        let mut compared = 0;
        for row in stdout.lines() {
            let mut fields = row.split('\t');
            let (path, expected, imports) = (
                fields.next().unwrap(),
                fields.next().unwrap(),
                fields.next().unwrap(),
            );
            let text = std::fs::read(path).unwrap();
            let Ok(text) = String::from_utf8(text) else {
                continue; // a PEP 263 encoding other than UTF-8
            };
            let lines = super::logical_lines(&text).unwrap_or_else(|err| panic!("{path}:{err}"));
            let starts: Vec<String> = lines.iter().map(|l| l.line.to_string()).collect();
            assert_eq!(starts.join(","), expected, "{path}");
            // The imports agree with Python's `ast`, but for `import_module("…")` literals,
            // which only this reader counts.
            let dynamic = |line: usize| {
                lines
                    .iter()
                    .any(|l| l.line == line && l.tokens.iter().any(|t| t.is_name("import_module")))
            };
            let mut found: Vec<String> = crate::space::closure::imports(&lines)
                .iter()
                .filter(|i| !dynamic(i.line))
                .map(|i| format!("{}:{}:{}", i.line, i.level, i.module))
                .collect();
            found.sort();
            let expected: Vec<&str> = imports
                .split(' ')
                .filter(|i| !i.is_empty())
                .filter(|i| !dynamic(i.split(':').next().unwrap().parse().unwrap()))
                .collect();
            assert_eq!(found, expected, "{path}");
            compared += 1;
        }
        assert!(compared > 100, "only {compared} files compared:\n{stdout}");
    }
}
