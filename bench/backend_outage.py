"""PostgreSQL outages under chat load: a stop (default 70 s) and a freeze with SIGSTOP (default 30 s).

    target/xtask/venv/bin/python bench/backend_outage.py [--outage 70] [--freeze 30] [--baseline REV]

For each app (this worktree's backend, and with --baseline the backend of git revision REV, run
the same way in the same run), against a PostgreSQL of its own (pgserver):
- outage: CLIENTS conversations chat (one turn, then PAUSE_S) while the server is stopped for
  --outage seconds and started again. Reports turns acknowledged (200) vs stored (counted in
  PostgreSQL itself after the app had time to catch up) and the seconds from the server being
  back to the first 200 of GET /api/chat/history.
- freeze: the same load while every server process is stopped with SIGSTOP for --freeze seconds.
  Reports the slowest chat answer during the freeze, and turns acknowledged vs stored.
Goals (issue 13): stored = acknowledged; history back within 5 s; slowest chat ≤ 5 s.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import httpx
import psycopg
from backend_common import BACKEND, ROOT, Server

sys.path.insert(0, str(BACKEND))  # the tests' own PostgreSQL
from tests.own_postgres import OwnPostgres  # noqa: E402

CLIENTS = 4
PAUSE_S = 0.5  # between two turns of one conversation: a bounded load, not a flood
LEAD_S = 5.0  # load before the fault
TAIL_S = 10.0  # load after the fault
CATCH_UP_S = 60.0  # how long the app may take to store what it acknowledged
REQUEST_TIMEOUT_S = 120.0


class Postgres(OwnPostgres):
    """The tests' own PostgreSQL (backend/tests/own_postgres.py), counting what was stored."""

    def stored_turns(self) -> int:
        with psycopg.connect(self.url) as conn:
            return conn.execute("SELECT count(*) FROM chat_messages WHERE role = 'user'").fetchone()[0]

    def close(self) -> None:
        self.thaw()
        self.server.cleanup()


class Load:
    """CLIENTS conversations, each sending a turn then pausing, until stopped (bounded by time)."""

    def __init__(self, port: int):
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=REQUEST_TIMEOUT_S)
        self.acknowledged = 0
        self.failed = 0
        self.answers: list[tuple[float, float]] = []  # (started at, seconds)
        self.sessions: list[str] = []
        self.running = True

    async def conversation(self) -> None:
        session = None
        while self.running:
            body = {"message": "How do I deploy the backend?", **({"session_id": session} if session else {})}
            started = time.monotonic()
            try:
                response = await self.client.post("/api/chat", json=body)
            except httpx.HTTPError:
                self.failed += 1
                continue
            self.answers.append((started, time.monotonic() - started))
            if response.status_code == 200:
                self.acknowledged += 1
                if session is None:
                    session = response.json()["session_id"]
                    self.sessions.append(session)
            else:
                self.failed += 1
            await asyncio.sleep(PAUSE_S)

    async def first_history_200(self, since: float, limit_s: float) -> float | None:
        """Seconds from `since` to the first 200 of GET /api/chat/history (polled every 0.1 s)."""
        while time.monotonic() - since < limit_s:
            try:
                response = await self.client.get(f"/api/chat/history/{self.sessions[0]}", timeout=10)
                if response.status_code == 200:
                    return time.monotonic() - since
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        return None


async def outage(app: Server, pg: Postgres, seconds: float) -> str:
    load = Load(app.port)
    clients = [asyncio.create_task(load.conversation()) for _ in range(CLIENTS)]
    await asyncio.sleep(LEAD_S)
    await asyncio.to_thread(pg.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(pg.start)
    back = time.monotonic()
    history_s = await load.first_history_200(back, TAIL_S + CATCH_UP_S)
    await asyncio.sleep(max(0.0, TAIL_S - (time.monotonic() - back)))
    load.running = False
    await asyncio.gather(*clients)
    stored = await caught_up(pg, load.acknowledged)
    await load.client.aclose()
    history = f"{history_s:.1f} s" if history_s is not None else f"not within {TAIL_S + CATCH_UP_S:.0f} s"
    return (f"outage {seconds:.0f} s: {load.acknowledged} turns acknowledged, {stored} stored "
            f"({load.failed} refused); server back to first history 200: {history}")


async def freeze(app: Server, pg: Postgres, seconds: float) -> str:
    load = Load(app.port)
    clients = [asyncio.create_task(load.conversation()) for _ in range(CLIENTS)]
    await asyncio.sleep(LEAD_S)
    frozen_at = time.monotonic()
    pg.freeze()
    await asyncio.sleep(seconds)
    pg.thaw()
    thawed_at = time.monotonic()
    await asyncio.sleep(TAIL_S)
    load.running = False
    await asyncio.gather(*clients)
    stored = await caught_up(pg, load.acknowledged)
    await load.client.aclose()
    during = [s for started, s in load.answers if started < thawed_at and started + s > frozen_at]
    slowest = max(during, default=0.0)
    return (f"freeze {seconds:.0f} s: slowest chat answer during it {slowest:.1f} s over {len(during)} requests; "
            f"{load.acknowledged} turns acknowledged, {stored} stored ({load.failed} refused)")


async def caught_up(pg: Postgres, acknowledged: int) -> int:
    """Turns stored once the app had up to CATCH_UP_S to write what it kept."""
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        stored = await asyncio.to_thread(pg.stored_turns)
        if stored >= acknowledged or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.5)


def backend_at(revision: str, into: Path) -> Path:
    """The backend folder of a git revision, extracted into `into`."""
    archive = subprocess.run(["git", "archive", revision, "backend"], cwd=ROOT, check=True, capture_output=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "backend"


def run(label: str, backend: Path, args: argparse.Namespace, work: Path) -> None:
    for scenario, seconds in (("outage", args.outage), ("freeze", args.freeze)):
        folder = Path(tempfile.mkdtemp(dir=work))
        pg = Postgres(folder / "pg")
        app = Server("app.main:app", backend, {"DATABASE_URL": pg.url, "DATA_DIR": str(folder / "data")})
        try:
            result = asyncio.run((outage if scenario == "outage" else freeze)(app, pg, seconds))
        finally:
            app.stop()
            pg.close()
        print(f"{label:<28} {result}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage", type=float, default=70.0, help="seconds PostgreSQL is stopped")
    parser.add_argument("--freeze", type=float, default=30.0, help="seconds PostgreSQL is frozen (SIGSTOP)")
    parser.add_argument("--baseline", metavar="REV", help="also run the backend of this git revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if args.baseline:
            run(f"baseline {args.baseline}", backend_at(args.baseline, Path(work)), args, Path(work))
        run("this worktree", BACKEND, args, Path(work))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    main()
