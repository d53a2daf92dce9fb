"""Embedders: Gemini in production, a local hashing embedder when GEMINI_API_KEY is unset.

The local one needs no model file: words (lower-cased, lightly stemmed, stop words dropped) and
adjacent word pairs are hashed into a fixed-size vector with sublinear weights, so cosine
similarity ranks passages by the words and phrases they share with the question. Each feature
lands in two buckets, so a single hash collision counts half as much.
docs/backend.md has the recall@5 and the speed that chose it over BM25 sparse vectors and a
small ONNX sentence model.
"""

import math
import re
import zlib
from typing import Protocol

from app.core.config import Settings
from app.core.gemini import make_client, unavailable
from app.core.workers import run_cpu

GEMINI_DIMENSIONS = 768
GEMINI_BATCH = 100  # the most texts batchEmbedContents takes in one request

WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not of off on once only or other our ours out over own same she should so some such than
    that the their theirs them then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours""".split()
)


class Embedder(Protocol):
    name: str  # also the Qdrant vector name, so a collection built by another embedder is detected
    dimensions: int

    async def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


def _stem(word: str) -> str:
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def terms(text: str) -> list[str]:
    """The stemmed content words of `text`, in order."""
    return [_stem(w) for w in WORD.findall(text.lower()) if w not in STOP_WORDS]


def features(text: str) -> dict[str, int]:
    """Counts of the terms and adjacent term pairs of `text`."""
    words = terms(text)
    counts: dict[str, int] = {}
    for feature in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
        counts[feature] = counts.get(feature, 0) + 1
    return counts


class HashingEmbedder:
    name = "local-hashing-v1"
    dimensions = 1024
    BUCKETS = 2
    PAIR_WEIGHT = 0.5  # a shared phrase counts, but less than the words themselves

    def embed(self, text: str) -> list[float]:
        # Plain Python floats, not numpy: numpy lets go of the GIL for a moment in any operation
        # on 500+ elements, and each such release restarts the event loop's wait for the GIL, so
        # the loop starved while questions were embedded (bench/backend_gil.py: docs/backend.md).
        vector = [0.0] * self.dimensions
        for feature, count in features(text).items():
            weight = (1.0 + math.log(count)) * (self.PAIR_WEIGHT if " " in feature else 1.0)
            data = feature.encode()
            for bucket in range(self.BUCKETS):
                digest = zlib.crc32(data, bucket * 7919)
                # The sign bit keeps colliding features from always adding up.
                vector[(digest >> 1) % self.dimensions] += weight if digest & 1 else -weight
        norm = math.hypot(*vector)
        return [x / norm for x in vector] if norm else vector

    # In a worker thread: hashing is pure Python and would hold the event loop (measured: bench/backend_load.py).
    async def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return await run_cpu(lambda: [self.embed(t) for t in texts])

    async def embed_query(self, text: str) -> list[float]:
        return await run_cpu(self.embed, text)


class GeminiEmbedder:
    dimensions = GEMINI_DIMENSIONS

    def __init__(self, settings: Settings):
        self.model = settings.gemini_embedding_model
        self.name = f"{self.model}-{self.dimensions}"
        self.client = make_client(settings)

    async def _embed(self, texts: list[str], task: str) -> list[list[float]]:
        from google.genai import types  # lazily: see app/core/gemini.py

        config = types.EmbedContentConfig(task_type=task, output_dimensionality=self.dimensions)
        vectors: list[list[float]] = []
        try:
            for start in range(0, len(texts), GEMINI_BATCH):
                batch = texts[start : start + GEMINI_BATCH]
                result = await self.client.aio.models.embed_content(
                    model=self.model, contents=batch, config=config
                )
                embeddings = result.embeddings or []
                if len(embeddings) != len(batch) or any(e.values is None for e in embeddings):
                    raise ValueError(
                        f"the API answered {len(embeddings)} embeddings for {len(batch)} texts"
                    )
                vectors.extend(e.values for e in embeddings if e.values is not None)
        except Exception as err:
            raise unavailable(err) from err
        return vectors

    async def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts, "RETRIEVAL_DOCUMENT")

    async def embed_query(self, text: str) -> list[float]:
        return (await self._embed([text], "RETRIEVAL_QUERY"))[0]


def make_embedder(settings: Settings) -> Embedder:
    return GeminiEmbedder(settings) if settings.gemini_api_key else HashingEmbedder()
