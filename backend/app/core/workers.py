"""The worker thread that runs the app's CPU-bound work (retrieval, embedding, chunking, the
offline answer), so the event loop keeps answering while it runs.

One thread, not asyncio's default pool of up to 32: that work is pure Python and holds the GIL,
so more threads add no throughput, and every extra thread waiting for the GIL delays the event
loop's turn. The thread runs at a lower CPU priority than the event loop: when both want a core,
the loop gets it and answers (measured with bench/backend_load.py: docs/backend.md).
"""

import asyncio
import functools
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

# Added to the worker thread's nice value (Linux: the scheduler weighs a nice-10 thread about 1/10
# of a nice-0 one). Under chat load on a busy machine the event loop thread waited for a core
# about as long as it ran; with the worker below it, much less (docs/backend.md, Performance).
WORKER_NICE = 10


def _lower_priority() -> None:
    """Runs on the worker thread as it starts. Linux only: elsewhere a thread id passed where
    setpriority expects a process id could name another process."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + WORKER_NICE))
    except OSError as err:  # a sandbox may forbid it: same answers, less responsive under load
        log.warning("the CPU worker thread keeps the event loop's priority: %s", err)


_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="app-cpu", initializer=_lower_priority)

# A thread holding the GIL keeps it up to this long before the event loop gets it back (Python's
# default: 5 ms), so this bounds how long a request waits for the loop's turn.
SWITCH_INTERVAL_S = 0.001
# numpy's OpenBLAS starts one thread per core and, after each matrix product (embedded Qdrant's
# search), keeps them spinning: on two cores that took a whole core from the event loop and the
# worker (bench/backend_load.py: 50% more chat throughput with one BLAS thread; docs/backend.md).
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1"}


def configure_process() -> None:
    """How the CPU work shares this process with the event loop. The BLAS limit takes effect only
    if numpy is not imported yet (the app imports it after the socket is open); a value already in
    the environment wins."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    for name, value in BLAS_THREADS.items():
        os.environ.setdefault(name, value)


def freeze_long_lived_objects() -> None:
    """Called once startup has built what lives as long as the process (embedded Qdrant's points,
    the keyword index, the imported modules): collects once, then moves every object left to
    the collector's permanent generation. A full collection walks every tracked object while
    holding the GIL: at 2,000 chunks it stopped the event loop for about 80 ms about every 10 s
    under chat load (bench/backend_inside.py); after this it walks only what was made since.
    Frozen objects are still freed when their last reference goes; only a reference cycle among
    them would outlive its use."""
    gc.collect()
    gc.freeze()


async def run_cpu(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` on the CPU worker thread."""
    return await asyncio.get_running_loop().run_in_executor(
        _POOL, functools.partial(function, *args, **kwargs)
    )
