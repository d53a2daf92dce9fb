"""Ingestion: heading chunks, deterministic ids, idempotent re-ingest, startup ingest, the CLI."""

import shutil
import subprocess
import sys

import pytest

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.db.qdrant import VectorStore
from app.services.embedding import HashingEmbedder
from app.services.ingest import chunk_markdown, collect, ingest_paths
from app.services.rag_service import RagService
from tests.conftest import BACKEND, KNOWLEDGE, make_settings, running, subprocess_env

DOC = """# Guide

Intro text.

## Install

Run `pip install x`.

```sh
# not a heading: a shell comment inside a code block
make
```

## Install

A second section with the same heading.

### Details

Deep.
"""


def test_markdown_is_chunked_by_heading_with_paths_and_anchors():
    chunks = chunk_markdown(DOC, "docs", "docs/guide.md")
    assert [(c.title, c.url_or_path) for c in chunks] == [
        ("Guide", "docs/guide.md#guide"),
        ("Guide › Install", "docs/guide.md#install"),
        ("Guide › Install", "docs/guide.md#install"),
        ("Guide › Install › Details", "docs/guide.md#details"),
    ]
    assert "# not a heading" in chunks[1].text and "make" in chunks[1].text
    assert len({c.id for c in chunks}) == 4
    assert [c.id for c in chunk_markdown(DOC, "docs", "docs/guide.md")] == [c.id for c in chunks]


def test_a_long_section_is_split_at_paragraphs():
    body = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(20))
    chunks = chunk_markdown(f"# Long\n\n{body}", "x", "x.md")
    assert len(chunks) > 3
    assert all(len(c.text) <= 1500 + 1500 // 4 for c in chunks)
    assert "".join(c.text for c in chunks).count("Paragraph") == 20


def test_a_short_first_paragraph_stays_with_the_table_it_introduces():
    # A table longer than a part stays whole; the line introducing it must not become a part of
    # its own (a heading and one line, which would match questions on the heading alone).
    table = "| file | job |\n|---|---|\n" + "\n".join(
        f"| f{i}.py | " + "job " * 20 + "|" for i in range(30)
    )
    closing = "After the table, " + "word " * 80
    chunks = chunk_markdown(
        f"# Doc\n\n## Files\n\nThe files and the job of each:\n\n{table}\n\n{closing}", "x", "x.md"
    )
    assert [c.text[:40] for c in chunks] == [
        "The files and the job of each:\n\n| file |",
        closing[:40],
    ]
    assert [c.intro for c in chunks] == ["", "The files and the job of each:"]


def test_a_code_block_with_blank_lines_is_never_split():
    code = "```sh\n" + "\n\n".join(f"step {i}" for i in range(200)) + "\n```"
    chunks = chunk_markdown(f"# Guide\n\nIntro.\n\n{code}\n\nAfter.", "x", "x.md")
    assert [c.text.count("```") for c in chunks if "```" in c.text] == [2]


async def test_reingest_replaces_changed_skips_unchanged_and_deletes_removed(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(KNOWLEDGE, docs)
    settings = Settings(data_dir=str(tmp_path / "data"))
    embedder = HashingEmbedder()
    store = VectorStore(settings, embedder.name, embedder.dimensions)
    try:
        first = await ingest_paths([str(docs)], embedder, store)
        assert first.files == 6 and first.embedded == first.chunks
        total = await store.count()
        assert total == first.chunks

        again = await ingest_paths([str(docs)], embedder, store)
        assert (again.embedded, again.deleted) == (0, 0)
        assert await store.count() == total

        api = docs / "api.md"
        text = api.read_text().replace("limited to 4000 characters", "limited to 5000 characters")
        api.write_text(text.replace("## Interactive documentation", "## Swagger explorer"))
        (docs / "troubleshooting.md").unlink()
        edited = await ingest_paths([str(docs)], embedder, store)
        # The limits section changed in place; the renamed section is a new chunk replacing the old one.
        assert edited.embedded == 2
        assert edited.deleted == 1 + 6
        assert await store.count() == total - 6
        hits = await store.search(await embedder.embed_query("message character limit"), 1)
        assert hits[0].payload["url_or_path"] == "docs/api.md#request-limits"
        assert "5000 characters" in hits[0].payload["text"]
    finally:
        await store.close()


async def test_knowledge_paths_are_ingested_at_startup_and_skipped_when_unchanged(tmp_path, caplog):
    settings = make_settings(
        tmp_path,
        knowledge_paths=f"{KNOWLEDGE},{BACKEND / 'tests' / 'data' / 'knowledge' / 'api.md'}",
    )
    async with running(settings) as client:
        first = client.app.state.startup.services
        assert await first.store.count() > 30
    with caplog.at_level("INFO", logger="app"):
        async with running(settings):
            pass
    assert any(
        "0 embedded" in r.getMessage()
        for r in caplog.records
        if "ingested at startup" in r.getMessage()
    )


async def test_the_keyword_index_is_built_on_the_first_question_when_qdrant_was_busy_at_startup(
    tmp_path, caplog
):
    settings = make_settings(tmp_path)
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))):
        pass  # ingested; the next start has nothing to ingest
    # What the engine's process runs (app/db/local_engine.py), in this one.
    holder = VectorStore(
        settings, HashingEmbedder.name, HashingEmbedder.dimensions
    )  # e.g. the ingest CLI
    store = VectorStore(settings, HashingEmbedder.name, HashingEmbedder.dimensions)
    rag = RagService(HashingEmbedder(), store, history=None, writer=None, hybrid=True)
    try:
        with pytest.raises(ServiceUnavailable, match="in use by another process"):
            await rag.refresh_lexical()
        missing = rag.lexical
        await holder.close()
        passages = await rag.retrieve("How do I deploy to Hugging Face Spaces?")
        built = rag.lexical
    finally:
        await store.close()
    assert missing is None
    assert built is not None and len(built) > 30
    assert passages[0].source.url_or_path == "knowledge/deploy.md#deploy-to-hugging-face-spaces"
    # And in the app: its engine opens the store and builds the index on the first question.
    holder = VectorStore(settings, HashingEmbedder.name, HashingEmbedder.dimensions)
    with caplog.at_level("WARNING", logger="app"):
        async with running(settings) as client:
            await holder.close()
            answer = await client.post(
                "/api/chat", json={"message": "How do I deploy to Hugging Face Spaces?"}
            )
    assert any("keyword index not built at startup" in r.getMessage() for r in caplog.records)
    assert answer.status_code == 200, answer.text
    assert (
        answer.json()["sources"][0]["url_or_path"]
        == "knowledge/deploy.md#deploy-to-hugging-face-spaces"
    )


def run_ingest(tmp_path, *paths: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.services.ingest", *paths],
        cwd=BACKEND,
        capture_output=True,
        text=True,
        env=subprocess_env(DATA_DIR=str(tmp_path / "data")),
        timeout=60,
    )


def test_the_cli_ingests_and_reports(tmp_path):
    result = run_ingest(tmp_path, str(KNOWLEDGE))
    assert result.returncode == 0, result.stderr
    assert "6 files, 35 chunks: 35 embedded" in result.stdout
    assert (
        "6 files, 35 chunks: 0 embedded, 35 unchanged"
        in run_ingest(tmp_path, str(KNOWLEDGE)).stdout
    )


def test_the_cli_names_a_bad_path_and_writes_nothing(tmp_path):
    result = run_ingest(tmp_path, str(KNOWLEDGE), str(tmp_path / "missing"))
    assert result.returncode == 1
    assert f"{tmp_path / 'missing'}: no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert "0 embedded" not in result.stdout
    (tmp_path / "notes.txt").write_text("plain")
    result = run_ingest(tmp_path, str(tmp_path / "notes.txt"))
    assert result.returncode == 1 and "not a Markdown file" in result.stderr


async def test_the_cli_explains_a_locked_local_store(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"))
    store = VectorStore(settings, "v", 4)  # what a running app holds
    try:
        result = run_ingest(tmp_path, str(KNOWLEDGE))
    finally:
        await store.close()
    assert result.returncode == 1
    assert "in use by another process" in result.stderr and "Traceback" not in result.stderr


def test_a_file_that_cannot_be_read_is_named_not_a_traceback(tmp_path):
    # As root nothing is unreadable by permissions; /proc/self/mem is a regular file whose first
    # bytes cannot be read (EIO), as a permission error would be for the Space's non-root user.
    unreadable = tmp_path / "unreadable.md"
    unreadable.symlink_to("/proc/self/mem")
    with pytest.raises(
        ValueError, match=r"mem: cannot be read \(Input/output error\): make it a readable file"
    ):
        collect(str(unreadable))
