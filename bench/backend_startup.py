"""Startup with embedded defaults: process start to the first answer on /api/health (goal: ≤ 1.5×
the bare app's) and to the first 200 (the app can answer questions).

    target/xtask/venv/bin/python bench/backend_startup.py

Baseline in the same run: a bare FastAPI app (bench/backend_baseline_app.py) under the same uvicorn.
Each run gets a fresh data dir, so it includes creating the local Qdrant collection and SQLite file;
a last series starts on 2,000 chunks already ingested (the corpus of bench/backend_chat.py).
Also printed: the CPU seconds the server used until then, which other load on the machine barely
changes (on an idle machine the wall time is close to it).
"""

import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from backend_chat import ingest, write_corpus
from backend_common import BACKEND, BENCH, Server

RUNS = 5


def measure(target: str, app_dir, data: Path | None) -> tuple[list[float], list[float], list[float], list[float]]:
    answers, answer_cpus, walls, cpus = [], [], [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            env = None
            if data is not None:
                shutil.copytree(data, Path(tmp) / "data", dirs_exist_ok=True)
                env = {"DATA_DIR": str(Path(tmp) / "data")}
            server = Server(target, app_dir, env)
            answers.append(server.answered_in)
            answer_cpus.append(server.answered_cpu)
            walls.append(server.started_in)
            cpus.append(server.startup_cpu)
            server.stop()
    return answers, answer_cpus, walls, cpus


def main() -> None:
    app_dir = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else BACKEND
    with tempfile.TemporaryDirectory() as tmp:
        empty, full, corpus = Path(tmp) / "empty", Path(tmp) / "full", Path(tmp) / "corpus"
        empty.mkdir()
        corpus.mkdir()
        write_corpus(corpus)
        chunks, _, _ = asyncio.run(ingest(corpus, full))
        medians = {}
        for label, target, directory, data in (
            ("baseline: bare FastAPI", "backend_baseline_app:app", BENCH, None),
            ("app, embedded defaults", "app.main:app", app_dir, empty),
            (f"app, {chunks} chunks", "app.main:app", app_dir, full),
        ):
            answers, answer_cpus, walls, cpus = measure(target, directory, data)
            medians[label] = statistics.median(answers), statistics.median(answer_cpus)
            bare = medians["baseline: bare FastAPI"]
            print(
                f"{label:<24} first answer median {medians[label][0]:.2f} s ({medians[label][0] / bare[0]:.2f}x bare, "
                f"goal ≤ 1.5x), CPU {medians[label][1]:.2f} s ({medians[label][1] / bare[1]:.2f}x)  "
                f"first 200 median {statistics.median(walls):.2f} s max {max(walls):.2f} s, CPU {statistics.median(cpus):.2f} s  "
                f"({RUNS} runs)"
            )


if __name__ == "__main__":
    main()
