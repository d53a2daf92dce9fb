"""Retrieval quality on the eval set: questions a user of this repo asks about its README.md and
docs/, each keyed by the file and heading of the section that answers it (`data/eval.json`).

Keyed by heading text, not by anchor or position, so edits inside a section keep the set valid;
a heading that is renamed or removed fails with the question's line and the file's headings.
A question may also accept other sections (`"also"`, each with the reason it counts), under the
rule in docs/backend.md ("The eval set"): a reader of that section alone gets the answer.
Shared by tests/test_retrieval.py and bench/backend_recall.py.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from app.core.config import Settings
from app.db.qdrant import VectorStore
from app.services.embedding import Embedder
from app.services.ingest import collect, ingest_paths
from app.services.rag_service import RagService

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "README.md", ROOT / "docs"]  # what the Space ships (its knowledge/ folder)
EVAL_SET = Path(__file__).resolve().parent / "data" / "eval.json"
DEPTH = 10  # MRR counts a section found within this many results
# The floors tests assert on the app's retrieval (docs/backend.md, "The eval set"): offline for the
# hybrid (measured 0.823 and 0.952: two questions of room each), and with a real Gemini key for
# Gemini's embeddings (not measured here: the floors the offline retrieval had before).
RECALL_AT_1_FLOOR = 0.79
RECALL_AT_5_FLOOR = 0.91
GEMINI_RECALL_AT_1_FLOOR = 0.6
GEMINI_RECALL_AT_5_FLOOR = 0.85


class EvalSetError(Exception):
    pass


@dataclass
class Question:
    question: str
    file: str
    heading: str
    line: int
    # Other sections that answer the question as fully (file, heading), each found like the first.
    also: list[tuple[str, str]] = field(default_factory=list)

    @property
    def answers(self) -> list[tuple[str, str]]:
        return [(self.file, self.heading), *self.also]


@dataclass
class Score:
    ranks: list[int | None] = field(
        default_factory=list
    )  # 1-based rank of the answer, None: not in the top DEPTH
    missed_at_1: list[str] = field(default_factory=list)

    def recall_at(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks)

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks)

    def summary(self) -> str:
        return f"recall@1 {self.recall_at(1):.3f}  recall@5 {self.recall_at(5):.3f}  MRR {self.mrr:.3f}"

    def half(self, parity: int) -> "Score":
        """The even- (0) or odd-numbered (1) questions' score: parameters are chosen on one half
        and checked on the other (docs/backend.md, "The eval set")."""
        return Score(self.ranks[parity::2])

    def add(self, question: Question, ranking: list[tuple[str, str]]) -> None:
        """Scores one question from a ranking of (url_or_path, title), best first."""
        keys = [section_key(*r) for r in ranking]
        found = [n for n, key in enumerate(keys, 1) if key in question.answers]
        rank = found[0] if found else None
        self.ranks.append(rank)
        if rank != 1:
            above = "; ".join(f"{f}#{h}" for f, h in keys[: (rank or DEPTH) - 1][:3])
            self.missed_at_1.append(
                f"{question.question} → {question.file}#{question.heading}: rank {rank}, "
                f"ranked above it: {above}"
            )


def section_key(url_or_path: str, title: str) -> tuple[str, str]:
    """(file, own heading) of a retrieved section."""
    return url_or_path.split("#")[0], title.split(" › ")[-1]


def load_questions() -> list[Question]:
    """The eval set, checked against the docs' current headings."""
    text = EVAL_SET.read_text()
    questions, problems = [], []
    for item in json.loads(text):
        line = text[: text.index(json.dumps(item["question"]))].count("\n") + 1
        also = [(a["file"], a["heading"]) for a in item.get("also", [])]
        if any(not a.get("because") for a in item.get("also", [])):
            problems.append(
                f'{EVAL_SET}:{line}: each section in "also" needs "because", what it states'
            )
        questions.append(Question(item["question"], item["file"], item["heading"], line, also))
    headings: dict[str, list[str]] = {}
    for source in SOURCES:
        for chunk in collect(str(source))[1]:
            file, heading = section_key(chunk.url_or_path, chunk.title)
            headings.setdefault(file, []).append(heading)
    for q in questions:
        for file, heading in q.answers:
            if file not in headings:
                problems.append(
                    f"{EVAL_SET}:{q.line}: {file} is not among the ingested docs ({', '.join(sorted(headings))})"
                )
            elif heading not in headings[file]:
                problems.append(
                    f"{EVAL_SET}:{q.line}: no heading {heading!r} in {file} any more (the docs changed): point the "
                    f"question at the section that answers it now, one of: {', '.join(dict.fromkeys(headings[file]))}"
                )
    if problems:
        raise EvalSetError("\n".join(problems))
    return questions


async def evaluate(embedder: Embedder, data_dir: Path) -> dict[str, Score]:
    """Each retriever's score after ingesting the docs into a fresh local Qdrant:
    the embedder alone, the keyword index alone, and both fused (what the app uses offline)."""
    questions = load_questions()
    store = VectorStore(Settings(data_dir=str(data_dir)), embedder.name, embedder.dimensions)
    try:
        await ingest_paths([str(s) for s in SOURCES], embedder, store)
        dense = RagService(embedder, store, history=None, writer=None)
        hybrid = RagService(embedder, store, history=None, writer=None, hybrid=True)
        await hybrid.refresh_lexical()
        scores = {name: Score() for name in ("embedder", "keyword BM25", "hybrid (RRF)")}
        for q in questions:
            keyword = [
                (h.payload["url_or_path"], h.payload["title"])
                for h in hybrid.lexical.search(q.question, DEPTH)
            ]
            rankings = {
                "embedder": [
                    (p.source.url_or_path, p.source.title)
                    for p in await dense.retrieve(q.question, DEPTH)
                ],
                "keyword BM25": keyword,
                "hybrid (RRF)": [
                    (p.source.url_or_path, p.source.title)
                    for p in await hybrid.retrieve(q.question, DEPTH)
                ],
            }
            for name, ranking in rankings.items():
                scores[name].add(q, ranking)
    finally:
        await store.close()
    return scores
