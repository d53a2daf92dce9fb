//! The regexes of xtask, compiled without Unicode classes.
//!
//! Every pattern here looks for ASCII syntax (Python, TypeScript, Dockerfile, requirements)
//! in UTF-8 text, so `.`, `\w` and `[^"]` may as well be byte classes; Unicode ones cost a
//! UTF-8 automaton per class to compile, which dominated `check` (it runs in the pre-commit
//! hook, from an unoptimized build). Matches always start and end next to ASCII bytes,
//! hence on character boundaries.

use std::ops::{Index, Range};

use regex::bytes::{self, RegexBuilder};

pub(crate) struct Pattern(bytes::Regex);

impl Pattern {
    /// Compiles a pattern written in the source; an invalid one is a bug, hence the panic.
    pub(crate) fn new(pattern: &str) -> Pattern {
        Pattern(
            RegexBuilder::new(pattern)
                .unicode(false)
                .build()
                .unwrap_or_else(|err| panic!("bad pattern {pattern:?}: {err}")),
        )
    }

    pub(crate) fn captures_iter<'r, 't>(
        &'r self,
        text: &'t str,
    ) -> impl Iterator<Item = Captures<'t>> + use<'r, 't> {
        self.0
            .captures_iter(text.as_bytes())
            .map(move |inner| Captures { text, inner })
    }
}

pub(crate) struct Captures<'t> {
    text: &'t str,
    inner: bytes::Captures<'t>,
}

impl<'t> Captures<'t> {
    pub(crate) fn get(&self, group: usize) -> Option<Match<'t>> {
        self.inner.get(group).map(|m| Match {
            text: self.text,
            range: m.range(),
        })
    }

    pub(crate) fn name(&self, group: &str) -> Option<Match<'t>> {
        self.inner.name(group).map(|m| Match {
            text: self.text,
            range: m.range(),
        })
    }
}

impl Index<usize> for Captures<'_> {
    type Output = str;

    fn index(&self, group: usize) -> &str {
        let range = self.inner.get(group).map(|m| m.range()).unwrap_or(0..0);
        self.text.get(range).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Match<'t> {
    text: &'t str,
    range: Range<usize>,
}

impl<'t> Match<'t> {
    pub(crate) fn as_str(&self) -> &'t str {
        self.text.get(self.range.clone()).unwrap_or_default()
    }

    pub(crate) fn start(&self) -> usize {
        self.range.start
    }

    pub(crate) fn range(&self) -> Range<usize> {
        self.range.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_around_non_ascii_text_stay_on_character_boundaries() {
        let pattern = Pattern::new(r#"description="([^"]*)""#);
        let caps = pattern
            .captures_iter("x = Field(description=\"Clé API — Gemini 🤖\")")
            .next()
            .unwrap();
        assert_eq!(&caps[1], "Clé API — Gemini 🤖");
    }
}
