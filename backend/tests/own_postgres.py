"""A PostgreSQL server of one test's (or one benchmark's) own: pgserver's real binaries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    import psutil


class OwnPostgres:
    """A PostgreSQL server of one test's own, which it may stop, start, freeze (SIGSTOP) and thaw."""

    def __init__(self, folder: Path):
        import pgserver

        self.server = pgserver.get_server(str(folder), cleanup_mode="stop")
        with psycopg.connect(self.server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE chat")
        self.url = self.server.get_uri().replace("/postgres?", "/chat?")

    def processes(self) -> list[psutil.Process]:
        import psutil

        postmaster = psutil.Process(self.server.get_pid())
        return [postmaster, *postmaster.children(recursive=True)]

    def stop(self) -> None:
        import pgserver

        pgserver.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def freeze(self) -> None:
        for process in self.processes():
            process.suspend()

    def thaw(self) -> None:
        for process in self.processes():
            process.resume()
