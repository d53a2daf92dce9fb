"""/api/health while 20 chat clients run, and chat throughput at 1, 4 and 20 clients (offline, 2,000 chunks).

    target/xtask/venv/bin/python bench/backend_load.py [--rounds N] [--floor] [BACKEND_DIR ...]

Goal: /api/health p99 with 20 chat clients ≤ 3× its p99 idle (nothing CPU-bound blocks the event
loop). The baseline is the same app idle, in the same run; pass other backend folders (e.g. an
older checkout: `git archive main backend | tar -x -C /tmp/before`, then `/tmp/before/backend`)
to measure them side by side on the same corpus. `--rounds N` measures the folders N times,
interleaved (A B A B ...), and ends with each folder's spread over the rounds and the load average
they ran at: on a shared machine one run proves little.
Health is asked by one client, one request every 20 ms, so it measures waiting, not queueing; the
chat clients run in their own process, so the health client's timings do not include the time its
own event loop spends reading chat answers (in one process that alone put tens of ms in the p99).
While the 20 chat clients run it also reads, from /proc, how long the server's event loop thread
ran and how long it waited for a core: the wait is what a busy machine adds to every answer, and
varies less from run to run than a p99 of 350 samples.
`--floor` also probes, idle and then while the same 20 clients chat with the app, a bare server in
a process of its own (bench/backend_floor_server.py): what the machine alone adds to an answer.
Bounded: each phase stops after PHASE_S seconds or its request cap.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from backend_chat import QUESTIONS, ingest, write_corpus
from backend_common import BACKEND, BENCH, Server, free_port, get, load, percentile, post_json

# MAX_CHAT bounds a phase's requests far above what this app answers in PHASE_S (about 500/s on
# 2 cores), so the chat load lasts the whole phase: a load that ran out early would leave the
# health probe timing an idle server. A phase that reaches it is reported.
PHASE_S, MAX_CHAT, MAX_HEALTH, HEALTH_GAP_S = 8.0, 50_000, 400, 0.02
CHAT = [post_json("/api/chat", json.dumps({"message": q}).encode()) for q in QUESTIONS]


async def health_probe(port: int, seconds: float) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(latencies) < MAX_HEALTH:
        started = time.perf_counter()
        writer.write(get("/api/health"))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(HEALTH_GAP_S)
    writer.close()
    return latencies


def timed_load(port: int, clients: int) -> tuple[list[float], int, float]:
    """One chat phase: (latencies, errors, seconds it lasted); says so when it hit its cap."""
    started = time.perf_counter()
    latencies, errors = asyncio.run(load(port, CHAT, clients, PHASE_S, MAX_CHAT))
    seconds = time.perf_counter() - started
    if len(latencies) + errors >= MAX_CHAT:
        print(f"  (the {clients}-client chat load reached its cap of {MAX_CHAT} after {seconds:.1f} s)")
    return latencies, errors, seconds


def chat_load(port: int, clients: int) -> float:
    """Answered chats per second: run in a child process."""
    latencies, _, seconds = timed_load(port, clients)
    return len(latencies) / seconds


async def health_under_chat(port: int, clients: int, probed: int | None = None) -> tuple[list[float], float]:
    """Health of the server on `probed` (default: the app on `port`) while `clients` chat with the app."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(int).result()  # the child is up before the clock starts
        chat = asyncio.get_running_loop().run_in_executor(pool, chat_load, port, clients)
        await asyncio.sleep(0.5)  # let the chat clients get going
        latencies = await health_probe(probed or port, PHASE_S - 1.0)
        return latencies, await chat


def loop_schedstat(pid: int) -> tuple[float, float]:
    """(ms on a core, ms waiting for a core) of the server's main thread, which runs the event loop."""
    ran, waited, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    return int(ran) / 1e6, int(waited) / 1e6


def figures(latencies: list[float]) -> str:
    return f"p50 {percentile(latencies, 50):6.1f} ms  p99 {percentile(latencies, 99):6.1f} ms  max {max(latencies):6.1f} ms"


def floor(app_port: int, floor_port: int, result: dict[str, float]) -> None:
    idle = asyncio.run(health_probe(floor_port, PHASE_S - 1.0))
    loaded, _ = asyncio.run(health_under_chat(app_port, 20, floor_port))
    result["floor p99 loaded / idle"] = percentile(loaded, 99) / percentile(idle, 99)
    print(f"  floor: a bare server idle   {figures(idle)}")
    print(f"  floor, the app's chat load  {figures(loaded)}  ({result['floor p99 loaded / idle']:.1f}x)")


def measure(label: str, app_dir: Path, data: Path, floor_port: int | None) -> dict[str, float]:
    """Prints one round's figures; returns those the summary spreads."""
    server = Server("app.main:app", app_dir, {"DATA_DIR": str(data)})
    result = {"load average": os.getloadavg()[0]}
    try:
        asyncio.run(load(server.port, CHAT, 1, 2.0, 20))  # warm-up
        idle = asyncio.run(health_probe(server.port, PHASE_S - 1.0))
        ran, waited = loop_schedstat(server.process.pid)
        loaded, chat_rate = asyncio.run(health_under_chat(server.port, 20))
        ran, waited = (b - a for a, b in zip((ran, waited), loop_schedstat(server.process.pid)))
        result["loop waited for a core / ran"] = waited / ran
        result.update({"health p99 idle ms": percentile(idle, 99), "health p99 loaded ms": percentile(loaded, 99)})
        result["p99 loaded / idle"] = result["health p99 loaded ms"] / result["health p99 idle ms"]
        print(f"{label}  (load average {result['load average']:.2f})")
        print(f"  /api/health idle             {figures(idle)}")
        print(f"  /api/health, 20 chat clients {figures(loaded)}  ({chat_rate:.0f} chats/s meanwhile)")
        print(f"  p99 loaded / idle: {result['p99 loaded / idle']:.1f}x (goal ≤ 3x)")
        print(f"  meanwhile the event loop thread ran {ran:.0f} ms and waited {waited:.0f} ms for a core")
        if floor_port is not None:
            floor(server.port, floor_port, result)
        for clients in (1, 4, 20):
            latencies, errors, seconds = timed_load(server.port, clients)
            result[f"chat req/s, {clients} clients"] = len(latencies) / seconds
            print(f"  chat, {clients:>2} clients: {len(latencies) / seconds:6.1f} req/s  {figures(latencies)}  {errors} errors")
    finally:
        server.stop()
    return result


def spread(rounds: list[dict[str, float]]) -> None:
    for name in rounds[0]:
        values = sorted(r[name] for r in rounds)
        median = values[len(values) // 2]
        print(f"  {name:<29} median {median:7.2f}  range {values[0]:7.2f} – {values[-1]:7.2f}")


def run(rounds_wanted: int, app_dirs: list[Path], floor_port: int | None) -> None:
    rounds: dict[Path, list[dict[str, float]]] = {a: [] for a in app_dirs}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        write_corpus(corpus)
        datas = {}
        for n, app_dir in enumerate(app_dirs):
            datas[app_dir] = Path(tmp) / f"data{n}"
            chunks, _, _ = asyncio.run(ingest(corpus, datas[app_dir]))
        for round_ in range(rounds_wanted):
            for app_dir in app_dirs:
                label = f"{app_dir} ({chunks} chunks, round {round_ + 1}/{rounds_wanted})"
                rounds[app_dir].append(measure(label, app_dir, datas[app_dir], floor_port))
    if rounds_wanted > 1:
        for app_dir, results in rounds.items():
            print(f"{app_dir}: {rounds_wanted} rounds")
            spread(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=1, help="measure the folders N times, interleaved")
    parser.add_argument("--floor", action="store_true", help="also probe a bare server while the app is loaded")
    parser.add_argument("folders", nargs="*", type=Path, help="backend folders (default: this checkout's)")
    args = parser.parse_args()
    app_dirs = list(dict.fromkeys(a.resolve() for a in args.folders)) or [BACKEND]
    floor_port = free_port() if args.floor else None
    floor_server = None
    if floor_port is not None:
        script = str(BENCH / "backend_floor_server.py")
        floor_server = subprocess.Popen([sys.executable, script, str(floor_port)])
        deadline = time.perf_counter() + 30
        while True:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", floor_port), timeout=1).close()
                break
            except OSError:
                if time.perf_counter() > deadline or floor_server.poll() is not None:
                    raise RuntimeError("the floor server did not start") from None
                time.sleep(0.05)
    try:
        run(args.rounds, app_dirs, floor_port)
    finally:
        if floor_server is not None:
            floor_server.terminate()
            floor_server.wait(10)


if __name__ == "__main__":
    main()
