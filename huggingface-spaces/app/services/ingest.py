"""Ingestion: Markdown → heading-sized chunks → embeddings → the Qdrant collection, idempotently.

    python -m app.services.ingest README.md docs/

Each chunk's id is derived from where it lives (origin, file, heading path, part), so
re-ingesting replaces a changed section in place, skips an unchanged one without embedding it,
and deletes sections and files that are gone.
"""

import asyncio
import hashlib
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.config import load_settings
from app.core.errors import ServiceUnavailable
from app.core.logging import configure
from app.core.workers import run_cpu
from app.services.embedding import Embedder, make_embedder
from app.services.markdown import paragraphs

if TYPE_CHECKING:
    from app.db.qdrant import Store

MAX_CHUNK_CHARS = 1500
ID_NAMESPACE = uuid.UUID("6f1c1f0e-3d0a-4d55-9a59-7ad1d3c3a001")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Chunk:
    id: str
    origin: str
    url_or_path: str
    title: str
    text: str
    # The headings embedded with the text: the title without the document's H1, which every
    # section of a file shares and which would otherwise dominate short sections.
    context: str = ""
    # For the second and later parts of a split section: the section's first paragraph, which
    # says what the section is about. Only the keyword index reads it (docs/backend.md).
    intro: str = ""

    @property
    def embedded_text(self) -> str:
        """The text the embedder sees: the section's own heading counts twice, as a heading says
        what a section is about better than any sentence in it (measured: docs/backend.md)."""
        context = self.context or self.title
        return f"{context}\n{context.rsplit(' › ', 1)[-1]}\n\n{self.text}"

    @property
    def hash(self) -> str:
        # The intro only when there is one, so the hash of an unsplit section stays what it was.
        text = f"{self.title}\n{self.embedded_text}" + (f"\n{self.intro}" if self.intro else "")
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def payload(self) -> dict[str, Any]:
        payload = {
            "origin": self.origin,
            "url_or_path": self.url_or_path,
            "title": self.title,
            "text": self.text,
            "hash": self.hash,
        }
        if self.intro:
            payload["intro"] = self.intro
        return payload


@dataclass
class Report:
    files: int = 0
    chunks: int = 0
    embedded: int = 0
    deleted: int = 0
    seconds: float = 0.0
    origins: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.files} files, {self.chunks} chunks: {self.embedded} embedded, "
            f"{self.chunks - self.embedded} unchanged, {self.deleted} deleted in {self.seconds:.2f} s"
        )


def slug(heading: str) -> str:
    """GitHub's anchor for a heading, so url_or_path links to the section."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _split_long(text: str) -> list[str]:
    """Paragraph-aligned parts of about MAX_CHUNK_CHARS (a longer single paragraph stays whole).

    A short remainder joins the previous part, and a short first part (the line introducing a
    table or a code block longer than a part) the next one: a few lines alone would match any
    question on their headings alone, and would be a useless source.
    """
    parts, current = [], ""
    for paragraph in paragraphs(text):
        if current and len(current) + len(paragraph) + 2 > MAX_CHUNK_CHARS:
            parts.append(current)
            current = paragraph
        else:
            current = f"{current}\n\n{paragraph}" if current else paragraph
    if parts and len(current) < MAX_CHUNK_CHARS // 4:
        parts[-1] = f"{parts[-1]}\n\n{current}"
    elif current:
        parts.append(current)
    if len(parts) > 1 and len(parts[0]) < MAX_CHUNK_CHARS // 4:
        parts[:2] = [f"{parts[0]}\n\n{parts[1]}"]
    return parts


def chunk_markdown(text: str, origin: str, rel_path: str) -> list[Chunk]:
    """One chunk per heading section (longer sections split by paragraph), titled by its heading path."""
    sections: list[tuple[list[str], list[str]]] = [([], [])]
    trail: list[tuple[int, str]] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            level = len(match.group(1))
            trail = [(lvl, h) for lvl, h in trail if lvl < level] + [(level, match.group(2))]
            sections.append(([h for _, h in trail], []))
        else:
            sections[-1][1].append(line)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for headings, lines in sections:
        body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        if not body:
            continue
        title = " › ".join(headings) if headings else Path(rel_path).name
        context = " › ".join(headings[1:]) if len(headings) > 1 else title
        anchor = f"#{slug(headings[-1])}" if headings else ""
        key = f"{rel_path}{anchor}"
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        parts = _split_long(body)
        for part, piece in enumerate(parts):
            point = uuid.uuid5(
                ID_NAMESPACE, f"{origin}\n{rel_path}\n{' / '.join(headings)}\n{occurrence}\n{part}"
            )
            intro = paragraphs(parts[0])[0] if part else ""
            chunks.append(
                Chunk(str(point), origin, f"{rel_path}{anchor}", title, piece, context, intro)
            )
    return chunks


def markdown_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*.md")
        if p.is_file() and not any(part.startswith(".") for part in p.parts)
    )


def collect(raw_path: str, relative_to_self: bool = False) -> tuple[str, list[Chunk], int]:
    """The origin name and chunks of one argument (a Markdown file or a folder of them).

    Paths are shown relative to the argument's parent (`docs/deploy.md`, `README.md`), or with
    `relative_to_self` to the folder itself (the Space's `knowledge/docs/deploy.md` → `docs/deploy.md`).
    """
    path = Path(raw_path).expanduser()
    if not path.exists():
        raise ValueError(
            f"{raw_path}: no such file or folder; pass Markdown files or folders of them"
        )
    if path.is_file() and path.suffix.lower() not in (".md", ".markdown"):
        raise ValueError(f"{raw_path}: not a Markdown file (.md)")
    path = path.resolve()
    base = path if relative_to_self and path.is_dir() else path.parent
    origin = path.name
    files = markdown_files(path)
    chunks = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{file}: not UTF-8 text ({err.reason} at byte {err.start})") from None
        except OSError as err:
            raise ValueError(
                f"{file}: cannot be read ({err.strerror or err}): make it a readable file or leave it out"
            ) from None
        chunks.extend(chunk_markdown(text, origin, file.relative_to(base).as_posix()))
    return origin, chunks, len(files)


def collect_all(paths: list[str], relative_to_self: bool) -> list[tuple[str, list[Chunk], int]]:
    return [collect(p, relative_to_self) for p in paths]


async def ingest_paths(
    paths: list[str], embedder: Embedder, store: "Store", relative_to_self: bool = False
) -> Report:
    started = time.perf_counter()
    report = Report()
    # Every path checked before anything is written; reading and chunking in a worker thread.
    collected = await run_cpu(collect_all, paths, relative_to_self)
    for origin, chunks, files in collected:
        existing = await store.hashes(origin)
        changed = [c for c in chunks if existing.get(c.id) != c.hash]
        if changed:
            vectors = await embedder.embed_documents([c.embedded_text for c in changed])
            await store.upsert([c.id for c in changed], vectors, [c.payload() for c in changed])
        stale = sorted(set(existing) - {c.id for c in chunks})
        await store.delete(stale)
        report.files += files
        report.chunks += len(chunks)
        report.embedded += len(changed)
        report.deleted += len(stale)
        report.origins.append(origin)
    report.seconds = time.perf_counter() - started
    return report


async def _main(paths: list[str]) -> int:
    settings = load_settings()
    configure(settings.log_level)
    embedder = make_embedder(settings)
    from app.db.qdrant import VectorStore  # this process's own embedded Qdrant or Qdrant Cloud

    store = VectorStore(settings, embedder.name, embedder.dimensions)
    try:
        report = await ingest_paths(paths, embedder, store)
    except (ValueError, ServiceUnavailable) as err:
        print(f"ingest: {err}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    target = settings.qdrant_url or os.path.join(settings.data_dir, "qdrant")
    print(f"ingested into {settings.qdrant_collection!r} at {target}: {report.summary()}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(
            __doc__.strip().splitlines()[0]
            + "\n\nusage: python -m app.services.ingest PATH [PATH...]",
            file=sys.stderr,
        )
        sys.exit(0 if len(sys.argv) > 1 else 2)
    sys.exit(asyncio.run(_main(sys.argv[1:])))
