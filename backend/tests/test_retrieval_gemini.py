"""The eval set (`data/eval.json` over README.md and docs/) through the app's Gemini code path:
the app started with a Gemini key ingests the docs with Gemini's embeddings, ranks each question
by them (dense only: the keyword index is fused in offline only, app/services/runtime.py) and
answers through `POST /api/chat` with Gemini's generateContent.

Against the fake Gemini (CI, no network; tests/fakes.py on 127.0.0.1) quality figures would say
nothing about Gemini: the fake's embeddings are deterministic but not semantic (signed hashes of
the local embedder's words and word pairs, 768 dimensions), so it ranks by shared words, a weaker
cousin of the offline hashing embedder. What it can prove, and what is asserted:
- every question is answered through Gemini: a 200 whose answer is the fake's reply naming the
  first retrieved passage, with sources, the first of them the section the retriever ranks first;
- the requests Gemini gets: the docs' sections embedded once as RETRIEVAL_DOCUMENT in batches of
  at most 100, each question embedded as RETRIEVAL_QUERY, one generateContent per question whose
  prompt holds the question and the retrieved passages, nothing streamed;
- no keyword part in Gemini mode, and a loose floor on the fake's ranking (recall@5 ≥ 0.25, 0.39
  measured): vectors stored with the wrong sections fall below it (0.15 with each section given
  its neighbour's vector; chance is 5 of 148 sections, 0.03).

With GEMINI_API_KEY set in the environment, the same run goes to real Gemini and prints recall@1,
recall@5 and MRR; it asserts the floors of docs/backend.md. Only the first REAL_ANSWERS questions
are answered there (the free tier allows about ten generations a minute); all are ranked.
"""

import os

import pytest

from app.core.config import Settings
from app.services.ingest import collect
from tests.conftest import gemini_settings, make_settings, running
from tests.fakes import FakeGemini
from tests.retrieval_eval import (
    DEPTH,
    GEMINI_RECALL_AT_1_FLOOR,
    GEMINI_RECALL_AT_5_FLOOR,
    SOURCES,
    Question,
    Score,
    load_questions,
)

# Read when the module loads: the autouse `clean_environment` fixture removes it before each test.
REAL_KEY = os.environ.get("GEMINI_API_KEY", "")
REAL_ANSWERS = 3
FAKE_RECALL_AT_5_FLOOR = 0.25


def eval_settings(tmp_path, **gemini) -> Settings:
    return make_settings(tmp_path, knowledge_paths=",".join(str(s) for s in SOURCES), **gemini)


async def run_eval_set(
    settings: Settings, answered: int
) -> tuple[Score, list[tuple[Question, dict, str | None]]]:
    """Ranks every question with the running app's retriever, and asks the first `answered` of
    them through POST /api/chat; returns the score and each (question, answer body, url_or_path the retriever ranked first)."""
    questions = load_questions()
    score = Score()
    answers = []
    async with running(settings) as client:
        rag = client.app.state.startup.services.rag
        assert not rag.hybrid and rag.lexical is None, "Gemini mode ranks by embeddings only"
        ranked_first = {}
        for question in questions:
            ranking = await rag.retrieve(question.question, DEPTH)
            score.add(question, [(p.source.url_or_path, p.source.title) for p in ranking])
            ranked_first[question.question] = ranking[0].source.url_or_path if ranking else None
        for question in questions[:answered]:
            response = await client.post("/api/chat", json={"message": question.question})
            assert response.status_code == 200, f"{question.question!r}: {response.text}"
            body = response.json()
            assert body["sources"], f"{question.question!r} got no sources: {body}"
            assert body["answer"].strip(), f"{question.question!r} got an empty answer"
            answers.append((question, body, ranked_first[question.question]))
    return score, answers


async def test_the_eval_set_through_the_fake_gemini(tmp_path, gemini: FakeGemini):
    score, answers = await run_eval_set(eval_settings(tmp_path, **gemini_settings(gemini)), 10**6)
    print(f"fake Gemini embeddings (not semantic): {score.summary()}")
    questions = [q.question for q in load_questions()]
    assert [q.question for q, _, _ in answers] == questions

    for question, body, ranked_first in answers:
        first = body["sources"][0]
        assert first["url_or_path"] == ranked_first, question.question
        assert body["answer"] == (
            f"Fake Gemini answer from [1] {first['title']} ({first['url_or_path']}) "
            "(conversation turns: 1)."
        ), question.question

    embeds = [body for _, _, _, body in gemini.calls("batchEmbedContents")]
    documents = [r for b in embeds for r in b["requests"] if r["taskType"] == "RETRIEVAL_DOCUMENT"]
    queries = [r for b in embeds for r in b["requests"] if r["taskType"] == "RETRIEVAL_QUERY"]
    assert all(len(b["requests"]) <= 100 for b in embeds)
    assert len(documents) + len(queries) == sum(len(b["requests"]) for b in embeds)
    # Each question twice: ranked by the test, then retrieved again by the chat it asks.
    assert sorted(" ".join(p["text"] for p in q["content"]["parts"]) for q in queries) == sorted(
        questions * 2
    )
    chunks = [chunk for source in SOURCES for chunk in collect(str(source))[1]]
    assert sorted(" ".join(p["text"] for p in d["content"]["parts"]) for d in documents) == sorted(
        chunk.embedded_text for chunk in chunks
    ), "the docs' sections are embedded once each at ingestion"
    generations = [body for _, _, _, body in gemini.calls("generateContent")]
    assert gemini.calls("streamGenerateContent") == []
    assert len(generations) == len(questions)
    for question, (_, body, _), request in zip(questions, answers, generations, strict=True):
        prompt = request["contents"][-1]["parts"][0]["text"]
        assert prompt.endswith(f"Question: {question}"), prompt[-200:]
        for n, source in enumerate(body["sources"], 1):
            assert f"[{n}] {source['title']} ({source['url_or_path']})" in prompt

    assert score.recall_at(5) >= FAKE_RECALL_AT_5_FLOOR, score.missed_at_1


@pytest.mark.skipif(
    not REAL_KEY,
    reason="GEMINI_API_KEY is not set: export a real key to run the eval set against Gemini",
)
async def test_the_eval_set_through_real_gemini(tmp_path):
    score, answers = await run_eval_set(
        eval_settings(tmp_path, gemini_api_key=REAL_KEY), REAL_ANSWERS
    )
    print(f"Gemini embeddings (62 questions): {score.summary()}; missed at 1: {score.missed_at_1}")
    assert len(answers) == REAL_ANSWERS
    assert score.recall_at(1) >= GEMINI_RECALL_AT_1_FLOOR, score.missed_at_1
    assert score.recall_at(5) >= GEMINI_RECALL_AT_5_FLOOR, score.missed_at_1
