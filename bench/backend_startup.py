"""Startup with embedded defaults: process start to the first 200 on /api/health (budget ≤ 3 s).

    target/xtask/venv/bin/python bench/backend_startup.py

Baseline in the same run: a bare FastAPI app (bench/backend_baseline_app.py) under the same uvicorn.
Each run gets a fresh data dir, so it includes creating the local Qdrant collection and SQLite file.
Also printed: the CPU seconds the server used until then, which other load on the machine barely
changes (on an idle machine the wall time is close to it).
"""

import statistics
import tempfile

from backend_common import BACKEND, BENCH, Server

RUNS = 5


def measure(target: str, app_dir, fresh_data: bool) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as data:
            server = Server(target, app_dir, {"DATA_DIR": data} if fresh_data else None)
            walls.append(server.started_in)
            cpus.append(server.startup_cpu)
            server.stop()
    return walls, cpus


def main() -> None:
    for label, target, app_dir, fresh in (
        ("baseline: bare FastAPI", "backend_baseline_app:app", BENCH, False),
        ("app, embedded defaults", "app.main:app", BACKEND, True),
    ):
        walls, cpus = measure(target, app_dir, fresh)
        print(
            f"{label:<24} wall median {statistics.median(walls):.2f} s  max {max(walls):.2f} s  "
            f"CPU median {statistics.median(cpus):.2f} s  ({RUNS} runs)"
        )


if __name__ == "__main__":
    main()
