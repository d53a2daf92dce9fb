"""/api/health under 20 concurrent keep-alive clients for 10 s (budget: p50 ≤ 10 ms, p99 ≤ 50 ms, no errors).

    target/xtask/venv/bin/python bench/backend_health.py

Baseline in the same run: a bare FastAPI app answering a constant health JSON, same uvicorn, same client.
The client shares the machine's cores with the server, as any local load test does.
"""

import asyncio
import tempfile

from backend_common import BACKEND, BENCH, Server, get, load, percentile

CLIENTS, SECONDS, MAX_REQUESTS = 20, 10.0, 200_000


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        for label, target, app_dir in (
            ("baseline: bare FastAPI", "backend_baseline_app:app", BENCH),
            ("app, embedded defaults", "app.main:app", BACKEND),
        ):
            server = Server(target, app_dir, {"DATA_DIR": data})
            try:
                latencies, errors = asyncio.run(load(server.port, [get("/api/health")], CLIENTS, SECONDS, MAX_REQUESTS))
            finally:
                server.stop()
            print(
                f"{label:<24} {len(latencies):>6} ok {errors} errors  {len(latencies) / SECONDS:>6.0f} req/s  "
                f"p50 {percentile(latencies, 50):.2f} ms  p99 {percentile(latencies, 99):.2f} ms"
            )


if __name__ == "__main__":
    main()
