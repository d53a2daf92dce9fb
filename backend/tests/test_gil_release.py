"""A question's vectors stay plain Python lists: numpy lets go of the GIL for a moment in any
operation on 500+ elements, and each such release by the worker thread restarts the event loop's
wait for the GIL (or, on the loop, hands the GIL to the busy worker). Measured with
bench/backend_gil.py (docs/backend.md, *Performance*)."""

import math

from app.db.qdrant import VectorStore
from app.services.embedding import HashingEmbedder
from tests.conftest import make_settings


def test_the_local_embedder_returns_a_unit_vector_of_plain_floats():
    vector = HashingEmbedder().embed("How do I deploy the backend to Hugging Face Spaces?")

    assert type(vector) is list and all(type(x) is float for x in vector)
    assert len(vector) == HashingEmbedder.dimensions
    assert math.isclose(math.hypot(*vector), 1.0, rel_tol=1e-9)


async def test_the_local_store_does_not_renormalize_a_unit_vector_on_the_event_loop(tmp_path):
    embedder = HashingEmbedder()
    store = VectorStore(make_settings(tmp_path), embedder.name, embedder.dimensions)
    try:
        unit = embedder.embed("stop the local Space")
        assert store._unit(unit) is unit  # one norm, no copy

        other = store._unit([3.0, 4.0] + [0.0] * (embedder.dimensions - 2))
        assert type(other) is list and other[:2] == [0.6, 0.8]
        assert store._unit([0.0] * embedder.dimensions) == [0.0] * embedder.dimensions
    finally:
        await store.close()
