"""Embedders: Gemini in production, local BM25 term vectors when GEMINI_API_KEY is unset.

The local one needs no model file: words (lower-cased, lightly stemmed, stop words dropped) and
word pairs become sparse vectors with saturated term frequencies, and Qdrant weighs them by
inverse document frequency at query time (`Modifier.IDF`), which together is BM25 ranking.
docs/backend.md has the recall@5 that chose it over a dense hashing embedder and a small ONNX
sentence model.
"""

import re
import zlib
from typing import Protocol

from google.genai import types
from qdrant_client import models

from app.core.config import Settings
from app.core.gemini import make_client, unavailable

GEMINI_DIMENSIONS = 768
GEMINI_BATCH = 100  # the most texts batchEmbedContents takes in one request

_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not of off on once only or other our ours out over own same she should so some such than
    that the their theirs them then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours""".split()
)


Vector = list[float] | models.SparseVector


class Embedder(Protocol):
    name: str  # also the Qdrant vector name, so a collection built by another embedder is detected
    dimensions: int  # 0 for sparse vectors
    sparse: bool

    async def embed_documents(self, texts: list[str]) -> list[Vector]: ...

    async def embed_query(self, text: str) -> Vector: ...


def _stem(word: str) -> str:
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def terms(text: str) -> list[str]:
    """The stemmed content words of `text`, in order."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS]


def features(text: str) -> list[str]:
    """Terms and adjacent term pairs: pairs reward passages that use the question's phrases."""
    words = terms(text)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def _index(feature: str) -> int:
    return zlib.crc32(feature.encode())


class Bm25Embedder:
    name = "local-bm25-v1"
    dimensions = 0
    sparse = True
    K1 = 1.2  # BM25's term-frequency saturation

    def _vector(self, weights: dict[int, float]) -> models.SparseVector:
        return models.SparseVector(indices=list(weights), values=list(weights.values()))

    def embed_document(self, text: str) -> models.SparseVector:
        counts: dict[int, int] = {}
        for feature in features(text):
            index = _index(feature)
            counts[index] = counts.get(index, 0) + 1
        return self._vector({i: c * (self.K1 + 1) / (c + self.K1) for i, c in counts.items()})

    async def embed_documents(self, texts: list[str]) -> list[Vector]:
        return [self.embed_document(t) for t in texts]

    async def embed_query(self, text: str) -> Vector:
        return self._vector({_index(f): 1.0 for f in features(text)})


class GeminiEmbedder:
    dimensions = GEMINI_DIMENSIONS
    sparse = False

    def __init__(self, settings: Settings):
        self.model = settings.gemini_embedding_model
        self.name = f"gemini-{self.model}-{self.dimensions}"
        self.client = make_client(settings)

    async def _embed(self, texts: list[str], task: str) -> list[Vector]:
        config = types.EmbedContentConfig(task_type=task, output_dimensionality=self.dimensions)
        vectors: list[Vector] = []
        try:
            for start in range(0, len(texts), GEMINI_BATCH):
                batch = texts[start : start + GEMINI_BATCH]
                result = await self.client.aio.models.embed_content(model=self.model, contents=batch, config=config)
                vectors.extend(e.values for e in result.embeddings)
        except Exception as err:
            raise unavailable(err) from err
        return vectors

    async def embed_documents(self, texts: list[str]) -> list[Vector]:
        return await self._embed(texts, "RETRIEVAL_DOCUMENT")

    async def embed_query(self, text: str) -> Vector:
        return (await self._embed([text], "RETRIEVAL_QUERY"))[0]


def make_embedder(settings: Settings) -> Embedder:
    return GeminiEmbedder(settings) if settings.gemini_api_key else Bm25Embedder()
