"""Keyword retrieval for the local embedder: BM25 over the ingested sections, headings boosted,
fused with the embedder's ranking by reciprocal rank.

The hashing embedder scores shared words, but a section's many words outvote its heading, and a
word every section uses counts as much as a rare one. BM25 weighs rare words up (IDF), and
counting a word of the section's own heading several times says what the section is about.
Neither ranking alone finds the answering section as often as both together
(backend/tests/retrieval_eval.py prints the figures; docs/backend.md has them).

The index lives in memory, built from the collection's payloads at startup and after each ingest
by this process: about 2 MB per 1,000 sections.
"""

import math

import numpy as np

from app.db.qdrant import Hit
from app.services.embedding import terms

# BM25F: a word in the section's own heading counts HEADING_WEIGHT times, one in the heading path
# above it PATH_WEIGHT times; tuned on the eval set (docs/backend.md).
HEADING_WEIGHT = 3.0
PATH_WEIGHT = 1.0
K1 = 1.2
B = 0.75
# Reciprocal rank fusion: score = 1/(RRF_K + rank) per ranking; a small K trusts the top ranks.
RRF_K = 10
LEXICAL_WEIGHT = 1.0
CANDIDATES = 30  # taken from each ranking before fusing
INDEXED_FIELDS = ["title", "url_or_path", "text"]


def _fields(payload: dict) -> tuple[list[str], list[str], list[str]]:
    """(own heading, heading path above it with the file name, body) terms of a section."""
    headings = payload.get("title", "").split(" › ")
    path = " ".join(headings[:-1]) + " " + payload.get("url_or_path", "").split("#")[0]
    return terms(headings[-1]), terms(path), terms(payload.get("text", ""))


class LexicalIndex:
    candidates = CANDIDATES

    def __init__(self, payloads: dict[str, dict]):
        self.ids = list(payloads)
        self.payloads = [payloads[i] for i in self.ids]
        fields = [_fields(p) for p in self.payloads]
        n = len(fields)
        lengths = np.array([[len(f) for f in doc] for doc in fields], dtype=np.float64).reshape(n, 3)
        average = lengths.mean(axis=0) if n else np.ones(3)
        average[average == 0] = 1.0
        weights = (HEADING_WEIGHT, PATH_WEIGHT, 1.0)
        postings: dict[str, dict[int, float]] = {}
        for doc, doc_fields in enumerate(fields):
            for f, words in enumerate(doc_fields):
                norm = weights[f] / (1 - B + B * lengths[doc, f] / average[f])
                for word in words:
                    entry = postings.setdefault(word, {})
                    entry[doc] = entry.get(doc, 0.0) + norm
        # Each posting holds the saturated term weight; a query adds idf × weight per document.
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.idf: dict[str, float] = {}
        for word, docs in postings.items():
            tf = np.fromiter(docs.values(), dtype=np.float64, count=len(docs))
            self.postings[word] = (np.fromiter(docs, dtype=np.int64, count=len(docs)), tf / (K1 + tf))
            self.idf[word] = math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, question: str, limit: int) -> list[Hit]:
        """The best `limit` sections sharing at least one word with the question, best first."""
        scores = np.zeros(len(self.ids))
        for word in set(terms(question)):
            if word in self.postings:
                docs, weight = self.postings[word]
                scores[docs] += self.idf[word] * weight
        matched = np.flatnonzero(scores > 0)
        best = matched[np.argsort(-scores[matched], kind="stable")[:limit]]
        return [Hit(self.ids[d], float(scores[d]), self.payloads[d]) for d in best]

    def fuse(self, question: str, dense: list[Hit], limit: int) -> list[Hit]:
        """Reciprocal rank fusion of the embedder's hits and this index's; the score is scaled
        so that first in both rankings is 1.0. Hits scoring 0 or less in both are left out."""
        fused: dict[str, float] = {}
        payloads: dict[str, dict] = {}
        rankings = ((1.0, [h for h in dense if h.score > 0]), (LEXICAL_WEIGHT, self.search(question, CANDIDATES)))
        for weight, ranking in rankings:
            for rank, hit in enumerate(ranking, 1):
                fused[hit.id] = fused.get(hit.id, 0.0) + weight / (RRF_K + rank)
                payloads.setdefault(hit.id, hit.payload)
        top = (1.0 + LEXICAL_WEIGHT) / (RRF_K + 1)
        best = sorted(fused, key=lambda i: -fused[i])[:limit]
        return [Hit(i, fused[i] / top, payloads[i]) for i in best]
