"""Retrieval quality of the offline retrievers on the committed eval set (docs/backend.md has the figures)."""

import json

import pytest

from app.services.embedding import HashingEmbedder
from app.services.ingest import chunk_markdown
from app.services.lexical import LexicalIndex, stem, terms
from tests import retrieval_eval
from tests.retrieval_eval import (
    RECALL_AT_1_FLOOR,
    RECALL_AT_5_FLOOR,
    EvalSetError,
    Question,
    Score,
    evaluate,
    load_questions,
)


def test_the_eval_set_asks_enough_questions_each_naming_a_current_heading():
    questions = load_questions()
    assert len(questions) >= 40
    assert len({(q.file, q.heading) for q in questions}) >= 35


def test_a_heading_gone_from_the_docs_fails_naming_the_question_and_the_fix(tmp_path, monkeypatch):
    items = json.loads(retrieval_eval.EVAL_SET.read_text())
    items[1]["heading"] = "Shipping to the Hub"
    changed = tmp_path / "eval.json"
    changed.write_text(
        "[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]\n"
    )  # item 1 on line 3
    monkeypatch.setattr(retrieval_eval, "EVAL_SET", changed)
    with pytest.raises(EvalSetError) as err:
        load_questions()
    assert str(err.value).startswith(
        f"{changed}:3: no heading 'Shipping to the Hub' in README.md any more (the docs changed): "
        "point the question at the section that answers it now, one of: "
    )
    assert "Deploying to Hugging Face Spaces" in str(err.value)


@pytest.mark.parametrize(
    ("also", "message"),
    [
        (
            {"file": "README.md", "heading": "Shipping to the Hub", "because": "it says so"},
            "no heading 'Shipping to the Hub' in README.md any more",
        ),
        ({"file": "README.md", "heading": "Settings"}, 'each section in "also" needs "because"'),
    ],
)
def test_an_accepted_section_must_exist_and_say_why_it_counts(tmp_path, monkeypatch, also, message):
    items = json.loads(retrieval_eval.EVAL_SET.read_text())
    items[1]["also"] = [also]
    changed = tmp_path / "eval.json"
    changed.write_text("[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]\n")
    monkeypatch.setattr(retrieval_eval, "EVAL_SET", changed)
    with pytest.raises(EvalSetError) as err:
        load_questions()
    assert str(err.value).startswith(f"{changed}:3: {message}")


def test_a_question_is_answered_by_its_section_or_an_accepted_one():
    question = Question("q", "a.md", "Usage", 1, also=[("b.md", "Flags")])
    score = Score()
    score.add(
        question, [("c.md#x", "C › X"), ("b.md#flags", "B › Flags"), ("a.md#usage", "A › Usage")]
    )
    score.add(question, [("c.md#x", "C › X"), ("d.md#y", "D › Y")])
    assert score.ranks == [2, None]
    assert score.missed_at_1[0] == "q → a.md#Usage: rank 2, ranked above it: c.md#X"
    assert score.half(0).ranks == [2] and score.half(1).ranks == [None]


async def test_offline_retrieval_finds_the_answering_section(tmp_path):
    scores = await evaluate(HashingEmbedder(), tmp_path)
    for name, score in scores.items():
        print(f"{name:<14} {score.summary()}; missed at 1: {score.missed_at_1}")
    hybrid = scores["hybrid (RRF)"]
    # Measured on 62 questions: recall@1 0.823, recall@5 0.952 (docs/backend.md); the goal, 0.8
    # and 0.95, is reached by one and no question. The docs are the corpus, so every edit moves
    # these figures: the floors leave room for two questions each.
    assert hybrid.recall_at(1) >= RECALL_AT_1_FLOOR, hybrid.missed_at_1
    assert hybrid.recall_at(5) >= RECALL_AT_5_FLOOR, hybrid.missed_at_1
    assert hybrid.mrr > scores["embedder"].mrr


@pytest.mark.parametrize(
    "forms",
    [
        ("settings", "setting"),
        ("stopping", "stops", "stop"),
        ("healthy", "health"),
        ("verified", "verify", "verification"),
        ("configuration", "configure", "config"),
        ("queries", "query"),
    ],
)
def test_the_keyword_stemmer_gives_a_word_s_forms_one_stem(forms):
    assert len({stem(word) for word in forms}) == 1, {word: stem(word) for word in forms}


def _section(heading: str, text: str) -> dict:
    return {"title": f"Guide › {heading}", "url_or_path": f"guide.md#{heading}", "text": text}


def test_a_question_finds_a_section_saying_it_in_other_words():
    index = LexicalIndex(
        {
            "a": _section("Shutting the server down", "Press Ctrl-C to terminate it."),
            "b": _section("Running the server", "Start it with one command."),
            "c": _section("Decisions", "SQLite was chosen because it needs no server."),
        }
    )
    assert index.search("How do I kill the server?", 3)[0].id == "a"
    assert index.search("How do I launch it?", 3)[0].id == "b"
    assert index.search("Why SQLite?", 3)[0].id == "c"


def test_other_words_for_one_question_word_count_as_one_word():
    # Four other words for "deploy" are one match, not four: a section saying the question's own
    # word outranks one that only says the others, however many of them.
    index = LexicalIndex(
        {
            "others": _section(
                "Notes", "Publish it: push, ship and upload it from the main branch."
            ),
            "own": _section("Notes", "Deploy it from the main branch."),
        }
    )
    assert [h.id for h in index.search("How do I deploy it?", 2)] == ["own", "others"]


def test_a_shared_phrase_outranks_the_same_words_apart():
    index = LexicalIndex(
        {
            "apart": _section("Notes", "The token is kept safe. Write the config by hand."),
            "phrase": _section("More notes", "Create a write token first. Keep it safe."),
        }
    )
    assert terms("write token") == ["writ", "token"]
    assert [h.id for h in index.search("Where do I get a write token?", 2)] == ["phrase", "apart"]


def test_a_later_part_of_a_long_section_is_found_by_what_the_section_is_about():
    filler = "\n\n".join(
        f"Archive {n} is compressed nightly and copied offsite." for n in range(40)
    )
    markdown = (
        "# Backups\n\n## Retention\n\nHow long backups are kept.\n\n"
        f"{filler}\n\nThirty days for daily snapshots.\n\n"
        "## Schedule\n\nDaily snapshots are taken at noon.\n"
    )
    chunks = chunk_markdown(markdown, "docs", "backups.md")
    retention = [c for c in chunks if c.title == "Backups › Retention"]
    assert len(retention) == 2, "the section is long enough to be split"
    assert [c.intro for c in retention] == ["", "How long backups are kept."]
    assert retention[1].payload()["intro"] == "How long backups are kept."
    index = LexicalIndex({c.id: c.payload() for c in chunks})
    best = index.search("How long are daily snapshots kept?", 3)[0]
    assert "Thirty days" in best.payload["text"], best.payload
