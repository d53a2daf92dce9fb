"""How late the event loop wakes up while other work runs: shared by bench/backend_gil.py and
bench/backend_qdrant_local.py. Standard library only, so the vector-engine bench can import it
from its own venv."""

import asyncio
import time


async def loop_lateness(seconds: float, sleep_s: float) -> list[float]:
    """For `seconds`: how many ms each `asyncio.sleep(sleep_s)` overslept."""
    late = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await asyncio.sleep(sleep_s)
        late.append((time.perf_counter() - started - sleep_s) * 1000)
    return late
