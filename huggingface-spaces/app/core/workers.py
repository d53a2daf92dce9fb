"""The worker thread that runs the app's CPU-bound work (retrieval, embedding, chunking, the
offline answer), so the event loop keeps answering while it runs.

One thread, not asyncio's default pool of up to 32: that work is pure Python and holds the GIL,
so more threads add no throughput, and every extra thread waiting for the GIL delays the event
loop's turn (measured with bench/backend_load.py: docs/backend.md).
"""

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="app-cpu")


async def run_cpu(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` on the CPU worker thread."""
    return await asyncio.get_running_loop().run_in_executor(
        _POOL, functools.partial(function, *args, **kwargs)
    )
