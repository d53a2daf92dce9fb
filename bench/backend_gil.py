"""How late an event loop wakes up while the chat's CPU work runs beside it: in a thread of the same
process (what the app does) or in another process (what a process pool would do), at two switch
intervals. The loop sleeps 2 ms again and again; the figures are how much later than asked it
woke, which is what /api/health waits on top of its own work.

    target/xtask/venv/bin/python bench/backend_gil.py

The work is the hashing embedder on the eval set's questions (pure Python, short C calls), and a
pure-Python loop for comparison. Bounded: each phase lasts PHASE_S seconds.
"""

import asyncio
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable

from backend_chat import QUESTIONS
from backend_common import BACKEND, percentile
from lateness import loop_lateness

sys.path.insert(0, str(BACKEND))

from app.services.embedding import HashingEmbedder  # noqa: E402

PHASE_S, SLEEP_S = 4.0, 0.002


def embed(stop: Callable[[], bool]) -> None:
    embedder = HashingEmbedder()
    while not stop():
        for question in QUESTIONS:
            embedder.embed(question)


def spin(stop: Callable[[], bool]) -> None:
    while not stop():
        total = 0
        for i in range(1000):
            total += i * i


def until(deadline: float) -> Callable[[], bool]:
    return lambda: time.perf_counter() > deadline


def run_in_process(work: str, deadline: float) -> None:
    {"embed": embed, "spin": spin}[work](until(deadline))


def measure(where: str, work: str) -> list[float]:
    deadline = time.perf_counter() + PHASE_S + 0.3
    if where == "idle":
        return asyncio.run(loop_lateness(PHASE_S, SLEEP_S))
    if where == "thread":
        runner = threading.Thread(target={"embed": embed, "spin": spin}[work], args=(until(deadline),))
    else:
        runner = multiprocessing.get_context("spawn").Process(target=run_in_process, args=(work, deadline))
    runner.start()
    time.sleep(0.2)
    try:
        return asyncio.run(loop_lateness(PHASE_S, SLEEP_S))
    finally:
        runner.join()


def main() -> None:
    for interval in (0.001, 0.0001):
        sys.setswitchinterval(interval)
        print(f"switch interval {interval * 1000:g} ms: loop wake-up lateness")
        for where, work in (("idle", ""), ("thread", "spin"), ("thread", "embed"), ("process", "embed")):
            late = measure(where, work)
            label = f"{where} {work}".strip()
            print(f"  {label:<15} p50 {percentile(late, 50):5.2f} ms  p99 {percentile(late, 99):5.2f} ms  max {max(late):6.2f} ms")


if __name__ == "__main__":
    main()
