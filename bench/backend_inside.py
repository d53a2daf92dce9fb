"""What delays the event loop under chat load, seen from inside the server (bench/backend_inside_app.py).

    target/xtask/venv/bin/python bench/backend_inside.py [--access-log] [NAME=VALUE ...]

e.g. `INSIDE_WORKER_NICE=0` (the worker at the loop's priority), `INSIDE_MODE=process-sim`
or `INSIDE_MODE=pipe-sim` (a simulated worker process, see bench/backend_inside_app.py), `OPENBLAS_NUM_THREADS=4`; the settings go to the server's
environment; `--access-log` runs uvicorn logging as the Space's command does (a line per request).
Runs the corpus, the health client and the 20 chat clients of bench/backend_load.py,
idle then loaded, and prints for each phase: the loop's wake-up lateness, health's and chat's time
inside the app, each CPU job's thread CPU and wall time, and, for the loaded phase, each server
thread's CPU and wait for a core (from /proc/PID/task/*/schedstat; a thread Python does not know,
such as a native library's, shows as `?`). Bounded like bench/backend_load.py.
"""

import asyncio
import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from backend_chat import ingest, write_corpus
from backend_common import BACKEND, BENCH, Server, load, percentile
from backend_load import CHAT, PHASE_S, figures, health_probe, health_under_chat


def threads(pid: int) -> dict[str, tuple[float, float]]:
    """Thread id → (ms on a core, ms waiting for one)."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        ran, waited, _ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        found[tid] = (int(ran) / 1e6, int(waited) / 1e6)
    return found


def inside(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/inside") as response:
        return json.loads(response.read())


def report(label: str, stats: dict[str, Any]) -> None:
    print(f"{label} (event loop: {stats['loop']})")
    for name in ("lag", "health_ms", "chat_ms", "queue_wait"):
        if values := stats[name]:
            print(f"  {name:<12} n={len(values):5}  p50 {percentile(values, 50):7.2f}  p99 {percentile(values, 99):7.2f}  max {max(values):7.2f} ms")
    for name, samples in stats["jobs"].items():
        cpu, wall = [c for c, _ in samples], [w for _, w in samples]
        print(f"  job {name[:38]:<38} n={len(samples):5}  CPU p50 {percentile(cpu, 50):5.2f} ms, total {sum(cpu) / 1000:5.2f} s; wall p99 {percentile(wall, 99):6.2f} ms")


def main() -> None:
    access_log = "--access-log" in sys.argv[1:]
    settings = dict(a.split("=", 1) for a in sys.argv[1:] if a != "--access-log")
    with tempfile.TemporaryDirectory() as tmp:
        corpus, data = Path(tmp) / "corpus", Path(tmp) / "data"
        corpus.mkdir()
        write_corpus(corpus)
        asyncio.run(ingest(corpus, data))
        env = {"DATA_DIR": str(data), "PYTHONPATH": f"{BENCH}:{BACKEND}", **settings}
        server = Server("backend_inside_app:app", BACKEND, env, logs=["--log-level", "info"] if access_log else None)
        pid = server.process.pid
        try:
            asyncio.run(load(server.port, CHAT, 1, 2.0, 20))  # warm-up
            inside(server.port)
            idle = asyncio.run(health_probe(server.port, PHASE_S - 1.0))
            report(f"idle {settings or ''}", inside(server.port))
            print(f"  health at the client {figures(idle)}")
            before = threads(pid)
            loaded, chats = asyncio.run(health_under_chat(server.port, 20))
            after = threads(pid)
            stats = inside(server.port)
            report(f"20 chat clients {settings or ''}{' access log' if access_log else ''}", stats)
            print(f"  health at the client {figures(loaded)}  ({chats:.0f} chats/s)")
            for tid, (ran, waited) in after.items():
                if tid in before and ran - before[tid][0] > 5:
                    name = stats["threads"].get(tid, "?")
                    print(f"  thread {name:<12} ran {ran - before[tid][0]:6.0f} ms, waited {waited - before[tid][1]:6.0f} ms for a core")
            print(f"  load average {os.getloadavg()[0]:.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
