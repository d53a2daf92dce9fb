"""Keyword retrieval for the local embedder: BM25 over the ingested sections, headings boosted,
fused with the embedder's ranking by reciprocal rank.

The hashing embedder scores shared words, but a section's many words outvote its heading, and a
word every section uses counts as much as a rare one. BM25 weighs rare words up (IDF), and
counting a word of the section's own heading several times says what the section is about.
Neither ranking alone finds the answering section as often as both together
(backend/tests/retrieval_eval.py prints the figures; docs/backend.md has them).

The index lives in memory, built from the collection's payloads at startup and after each ingest
by this process (docs/backend.md has its size and speed at 2,000 sections).
"""

import math
import re

import numpy as np

from app.db.qdrant import Hit
from app.services.embedding import STOP_WORDS, WORD

# BM25 per field, summed: the section's own heading weighs HEADING_WEIGHT, the headings above it
# (the document's H1 included) PATH_WEIGHT, the body 1; tuned on the eval set (docs/backend.md).
HEADING_WEIGHT = 8.0
PATH_WEIGHT = 4.0
K1 = 1.2
B = 0.75
# Reciprocal rank fusion: score = 1/(RRF_K + rank) per ranking; a small K trusts the top ranks.
# The keyword ranking weighs LEXICAL_WEIGHT times the embedder's: on the eval set it is the better
# one, and the embedder mostly breaks its ties.
RRF_K = 10
LEXICAL_WEIGHT = 4.0
CANDIDATES = 30  # taken from each ranking before fusing
INDEXED_FIELDS = ["title", "url_or_path", "text"]


# Suffixes removed after the plural, longest first; a stem keeps at least 3 letters.
_SUFFIXES = (
    "ication", "uration", "ation", "ments", "ment", "ness", "ence", "ure",
    "ing", "ent", "ed", "ly", "e",
)
_DOUBLE = re.compile(r"([bdgkmnprt])\1$")
_CONSONANT_Y = re.compile(r"[^aeiou]y$")


def stem(word: str) -> str:
    """A light stemmer, finer than the embedder's (which cannot change without re-embedding every
    stored section): plural first, then one suffix, so `settings`/`setting`/`set`,
    `stopping`/`stop`, `created`/`create`, `configuration`/`configure`/`config`,
    `healthy`/`health`, `verified`/`verify`/`verification` meet."""
    if len(word) > 4 and word.endswith(("ies", "ied")):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 3 and _CONSONANT_Y.search(word):
        return word[:-1]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return _DOUBLE.sub(r"\1", word[: -len(suffix)])
    return word


# Words a user and a document say differently, in general English and software terms (not taken
# from the eval questions): a question word also finds its group's other words, each counting
# SYNONYM_WEIGHT of a word the question says.
SYNONYMS = """
start run launch boot | stop kill shut terminate halt | deploy publish push ship release upload |
folder directory dir | check verify validate confirm | error fail failure problem |
setting config configuration option preference | why decision reason rationale because |
big size large small | fast speed quick slow latency performance | install setup |
remove delete | show print display | contain hold include | doc documentation |
token credential | env environment | repo repository | edit change modify | flag option argument |
answer reply response | crash exit die | leak expose reveal | stale outdated drift |
fix repair solve | url address link | machine computer laptop | cost price
"""
SYNONYM_WEIGHT = 0.5


def terms(text: str) -> list[str]:
    return [stem(w) for w in WORD.findall(text.lower()) if w not in STOP_WORDS]


def _synonym_map() -> dict[str, set[str]]:
    related: dict[str, set[str]] = {}
    for group in SYNONYMS.split("|"):
        words = {stem(w) for w in group.split()}
        for word in words:
            related.setdefault(word, set()).update(words - {word})
    return related


RELATED = _synonym_map()


def query_terms(question: str) -> dict[str, float]:
    """The question's terms with their weights: 1 for its own words, SYNONYM_WEIGHT for the
    related words it does not say itself."""
    own = set(terms(question))
    weights = {other: SYNONYM_WEIGHT for word in own for other in RELATED.get(word, ())}
    weights.update(dict.fromkeys(own, 1.0))
    return weights


def _fields(payload: dict) -> tuple[list[str], list[str], list[str]]:
    """(own heading, headings above it, body) terms of a section. A document's
    H1 belongs to every section of it, so it counts as a heading above, even in its own intro."""
    headings = payload.get("title", "").split(" › ")
    own = headings[-1] if len(headings) > 1 else ""
    above = " ".join(headings[:-1] if own else headings)
    return terms(own), terms(above), terms(payload.get("text", ""))


class LexicalIndex:
    candidates = CANDIDATES

    def __init__(self, payloads: dict[str, dict]):
        self.ids = list(payloads)
        self.position = {i: n for n, i in enumerate(self.ids)}
        self.payloads = [payloads[i] for i in self.ids]
        fields = [_fields(p) for p in self.payloads]
        n = len(fields)
        lengths = np.array([[len(f) for f in doc] for doc in fields], dtype=np.float64).reshape(
            n, 3
        )
        average = lengths.mean(axis=0) if n else np.ones(3)
        average[average == 0] = 1.0
        weights = (HEADING_WEIGHT, PATH_WEIGHT, 1.0)
        # Each field saturates on its own (a sum of per-field BM25 scores, not BM25F): a word in
        # the heading adds its weight however often the body repeats that word.
        postings: dict[str, dict[int, float]] = {}
        for doc, doc_fields in enumerate(fields):
            for f, words in enumerate(doc_fields):
                norm = 1 / (1 - B + B * lengths[doc, f] / average[f])
                counts: dict[str, int] = {}
                for word in words:
                    counts[word] = counts.get(word, 0) + 1
                for word, count in counts.items():
                    tf = count * norm
                    entry = postings.setdefault(word, {})
                    entry[doc] = entry.get(doc, 0.0) + weights[f] * tf / (K1 + tf)
        # A query adds idf × weight per document.
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.idf: dict[str, float] = {}
        for word, docs in postings.items():
            self.postings[word] = (
                np.fromiter(docs, dtype=np.int64, count=len(docs)),
                np.fromiter(docs.values(), dtype=np.float64, count=len(docs)),
            )
            self.idf[word] = math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, question: str, limit: int) -> list[Hit]:
        """The best `limit` sections sharing at least one word with the question, best first."""
        scores = np.zeros(len(self.ids))
        for word, factor in query_terms(question).items():
            if word in self.postings:
                docs, weight = self.postings[word]
                scores[docs] += factor * self.idf[word] * weight
        matched = np.flatnonzero(scores > 0)
        best = matched[np.argsort(-scores[matched], kind="stable")[:limit]]
        return [Hit(self.ids[d], float(scores[d]), self.payloads[d]) for d in best]

    def fuse(self, question: str, dense: list[Hit], limit: int) -> list[Hit]:
        """Reciprocal rank fusion of the embedder's hits (ids and scores: the payloads are this
        index's) and this index's; the score is scaled so that first in both rankings is 1.0. Hits
        scoring 0 or less in both are left out, and so is a chunk stored after the index was built
        (by another process: the next start sees it)."""
        fused: dict[str, float] = {}
        dense_ids = [h.id for h in dense if h.score > 0 and h.id in self.position]
        lexical_ids = [h.id for h in self.search(question, CANDIDATES)]
        for weight, ranking in ((1.0, dense_ids), (LEXICAL_WEIGHT, lexical_ids)):
            for rank, i in enumerate(ranking, 1):
                fused[i] = fused.get(i, 0.0) + weight / (RRF_K + rank)
        payloads = {i: self.payloads[self.position[i]] for i in fused}
        top = (1.0 + LEXICAL_WEIGHT) / (RRF_K + 1)
        best, sections = [], set()
        for i in sorted(fused, key=lambda i: -fused[i]):
            # One part per section: the best one; its other parts would only push other sections out.
            section = payloads[i].get("url_or_path")
            if section not in sections:
                sections.add(section)
                best.append(Hit(i, fused[i] / top, payloads[i]))
        return best[:limit]
