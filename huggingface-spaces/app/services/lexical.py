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

import re
from collections import Counter
from functools import lru_cache
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from qdrant_client import models

from app.db.qdrant import Hit
from app.services.embedding import STOP_WORDS, WORD

# BM25 per field, summed: the section's own heading weighs HEADING_WEIGHT, the headings between
# the document's H1 and it PATH_WEIGHT, the H1 H1_WEIGHT (it names the document, not the
# section), the body 1. Chosen on the eval set's two halves (docs/backend.md).
HEADING_WEIGHT = 4.0
PATH_WEIGHT = 8.0
H1_WEIGHT = 1.0
K1 = 1.2
B = 0.75
# Adjacent term pairs are indexed too: a pair the question shares with a section counts
# PAIR_WEIGHT of a word, on top of its two words (a shared phrase is surer than its words apart).
PAIR_WEIGHT = 0.5
# Reciprocal rank fusion: score = 1/(RRF_K + rank) per ranking; a small K trusts the top ranks.
# The keyword ranking weighs LEXICAL_WEIGHT times the embedder's: on the eval set it is the better
# one, and the embedder mostly breaks its ties.
RRF_K = 10
LEXICAL_WEIGHT = 8.0
CANDIDATES = 30  # taken from each ranking before fusing
INDEXED_FIELDS = ["title", "url_or_path", "text", "intro"]


# Suffixes removed after the plural, longest first; a stem keeps at least 3 letters.
_SUFFIXES: tuple[str, ...] = ("ication", "uration", "ation", "ments", "ment", "ness", "ence")
_SUFFIXES += ("ure", "ing", "ent", "ed", "ly", "e")
_DOUBLE = re.compile(r"([bdgkmnprt])\1$")
_CONSONANT_Y = re.compile(r"[^aeiou]y$")


@lru_cache(maxsize=1 << 16)  # a corpus repeats its words: stemming each once halves the build
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
# from the eval questions): a question word also finds its group's other words. A group is one
# thing said in several ways, so a section scores for it once, by its best word: the question's
# own word in full, or another word of the group at SYNONYM_WEIGHT.
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


def _with_pairs(words: list[str]) -> list[str]:
    return words + [f"{a} {b}" for a, b in pairwise(words)]


def query_terms(question: str) -> tuple[dict[str, float], list[tuple[str | None, list[str]]]]:
    """The question's terms with their weights (1 for its words, PAIR_WEIGHT for a pair of adjacent
    ones), and for each word with related words it does not say itself: the word (None for a stop
    word) and those related words."""
    words = terms(question)
    weights = dict.fromkeys(_with_pairs(words)[len(words) :], PAIR_WEIGHT)
    weights.update(dict.fromkeys(words, 1.0))
    groups: list[tuple[str | None, list[str]]] = []
    seen = set(weights)
    # Stop words count here: "why" asks for a reason or a decision.
    for word in dict.fromkeys(stem(w) for w in WORD.findall(question.lower())):
        others = sorted(RELATED.get(word, set()) - seen)
        if others:
            seen.update(others)
            groups.append((word if word in weights else None, others))
    return weights, groups


def _fields(payload: models.Payload) -> tuple[list[str], ...]:
    """The terms and term pairs of a section's own heading, the headings between the document's H1
    and it, the H1, and its body. An intro section (under the H1 alone) has no own heading. The
    body of a later part of a split section starts with the section's first paragraph (its
    `intro`): without it, a part such as a table of flags loses what the section is about."""
    headings = payload.get("title", "").split(" › ")
    own = headings[-1] if len(headings) > 1 else ""
    body = f"{payload.get('intro', '')}\n\n{payload.get('text', '')}"
    texts = (own, " ".join(headings[1:-1]), headings[0], body)
    return tuple(_with_pairs(terms(text)) for text in texts)


class LexicalIndex:
    candidates = CANDIDATES

    def __init__(self, payloads: dict[str, models.Payload]):
        self.ids = list(payloads)
        self.position = {i: n for n, i in enumerate(self.ids)}
        self.payloads = [payloads[i] for i in self.ids]
        fields = [_fields(p) for p in self.payloads]
        n, weights = len(fields), (HEADING_WEIGHT, PATH_WEIGHT, H1_WEIGHT, 1.0)
        lengths = np.array([[len(f) for f in doc] for doc in fields], dtype=np.float64)
        lengths = lengths.reshape(n, 4)
        average = lengths.mean(axis=0) if n else np.ones(4)
        average[average == 0] = 1.0
        # Each field saturates on its own (a sum of per-field BM25 scores, not BM25F): a word in
        # the heading adds its weight however often the body repeats that word.
        self.vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        docs: list[npt.NDArray[np.int64]] = []
        values: list[npt.NDArray[np.float64]] = []
        for doc, doc_fields in enumerate(fields):
            for f, words in enumerate(doc_fields):
                counts = Counter(words)
                tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                tf /= 1 - B + B * lengths[doc, f] / average[f]
                term_ids.extend(self.vocabulary.setdefault(w, len(self.vocabulary)) for w in counts)
                docs.append(np.full(len(counts), doc, dtype=np.int64))
                values.append(weights[f] * tf / (K1 + tf))
        # The postings of all terms in one array, sorted by term then document (CSR): a query adds
        # idf × weight to the documents of each of its terms.
        term = np.array(term_ids, dtype=np.int64)
        doc_ids = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
        value = np.concatenate(values) if values else np.zeros(0)
        key = term * max(n, 1) + doc_ids
        order = np.argsort(key, kind="stable")
        key, value = key[order], value[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
        self.weights = np.add.reduceat(value, first) if len(key) else value
        self.docs = key[first] % max(n, 1)
        terms_of = key[first] // max(n, 1)
        self.starts = np.searchsorted(terms_of, np.arange(len(self.vocabulary) + 1))
        frequency = np.diff(self.starts)
        self.idf = np.log(1 + (n - frequency + 0.5) / (frequency + 0.5))

    def __len__(self) -> int:
        return len(self.ids)

    def _postings(self, word: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The sections a term occurs in, and its idf × field-weighted score in each."""
        term = self.vocabulary.get(word)
        if term is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        start, end = self.starts[term], self.starts[term + 1]
        return self.docs[start:end], self.idf[term] * self.weights[start:end]

    def search(self, question: str, limit: int) -> list[Hit]:
        """The best `limit` sections sharing at least one word with the question, best first."""
        # Each term on its postings, not on an array of every section: numpy lets go of the GIL in
        # each operation on 500+ elements, which starves the event loop (docs/backend.md).
        weights, groups = query_terms(question)
        scores = np.zeros(len(self.ids))
        for word, factor in weights.items():
            docs, values = self._postings(word)
            scores[docs] += factor * values
        for own, others in groups:
            # The group's best word: another word counts where it beats the question's own. The
            # one place with arrays over every section (three operations per group in a question).
            concept = np.zeros(len(self.ids))
            for other in others:
                docs, values = self._postings(other)
                concept[docs] = np.maximum(concept[docs], SYNONYM_WEIGHT * values)
            if own is not None:
                docs, values = self._postings(own)
                concept[docs] = np.maximum(concept[docs] - values, 0.0)
            scores += concept
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
