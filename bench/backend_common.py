"""Helpers of the backend benchmarks: start a server, a lean HTTP/1.1 keep-alive client, percentiles."""

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"
BENCH = ROOT / "bench"
sys.path.insert(0, str(BACKEND))
from app.core.config import Settings  # noqa: E402

# The developer's own settings never reach a measured server: every Settings field, as the
# tests' clean environment has it.
SETTINGS = tuple(name.upper() for name in Settings.model_fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`uvicorn <target>` on 127.0.0.1 as production runs it; `answered_in` = seconds to the first
    answer on /api/health (a 503 "starting" counts), `started_in` = seconds to the first 200.
    `logs`: uvicorn's own logging, quiet by default; ["--log-level", "info"] logs as the Space does
    (an access-log line per request)."""

    QUIET = ["--log-level", "warning", "--no-access-log"]

    def __init__(self, target: str, app_dir: Path, env: dict | None = None, deadline_s: float = 60,
                 logs: list[str] | None = None):
        self.port = free_port()
        clean = {k: v for k, v in os.environ.items() if k not in SETTINGS}
        clean.update(env or {})
        started = time.perf_counter()
        self.answered_in: float | None = None
        self.answered_cpu: float | None = None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(self.port),
             *(self.QUIET if logs is None else logs)],
            cwd=app_dir, env=clean, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        while True:
            if time.perf_counter() - started > deadline_s or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{target} did not answer 200 on /api/health within {deadline_s} s")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health", timeout=1) as response:
                    self._answered(started)
                    if response.status == 200:
                        break
            except urllib.error.HTTPError:
                self._answered(started)
                time.sleep(0.01)
            except OSError:
                time.sleep(0.01)
        self.started_in = time.perf_counter() - started
        self.startup_cpu = self.cpu_s()

    def _answered(self, started: float) -> None:
        if self.answered_in is None:
            self.answered_in = time.perf_counter() - started
            self.answered_cpu = self.cpu_s()

    def processes(self) -> list[int]:
        """The server and its child processes (the app's embedded Qdrant runs in one), recursively."""
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").iterdir():
                queue.extend(int(child) for child in (task / "children").read_text().split())
        return found

    def cpu_s(self) -> float:
        """CPU seconds the server and its children have used: unlike wall time, barely affected
        by other load."""
        ticks = 0
        for pid in self.processes():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """Resident memory of the server and its children (pages they share count in each)."""
        total = 0
        for pid in self.processes():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def request(reader, writer, raw: bytes) -> int:
    """Sends one prepared request on a keep-alive connection; returns the status code."""
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def post_json(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def load(port: int, requests: list[bytes], clients: int, seconds: float, max_requests: int) -> tuple[list[float], int]:
    """`clients` connections sending `requests` round-robin until `seconds` or `max_requests` pass.
    Returns (latencies in ms, errors)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(n: int):
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = n
        while time.perf_counter() < deadline and len(latencies) + errors < max_requests:
            started = time.perf_counter()
            try:
                status = await request(reader, writer, requests[i % len(requests)])
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if status == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1
            i += clients
        writer.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
