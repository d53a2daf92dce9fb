"""The production start command, `uvicorn app.main:app`, as a real process on 127.0.0.1."""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from tests.conftest import (
    BACKEND,
    KNOWLEDGE,
    gemini_settings,
    make_settings,
    running,
    subprocess_env,
    uvicorn_command,
)
from tests.fakes import unused_port


class Uvicorn:
    def __init__(self, cwd=BACKEND, **env: str):
        self.port = unused_port()
        self.process = subprocess.Popen(
            uvicorn_command(self.port),
            cwd=cwd,
            env=subprocess_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.answers: list[tuple[int, dict]] = []  # /api/health until the app finished starting
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read()
            try:
                self.answers.append(self.call("GET", "/api/health"))
                if self.answers[-1][1]["status"] != "starting":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("uvicorn did not finish starting within 60 s")

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def stop(self) -> str:
        self.process.terminate()
        output, _ = self.process.communicate(timeout=30)
        return output


def test_the_app_serves_and_remembers_across_a_process_restart(tmp_path, pg_url):
    env = {"DATA_DIR": str(tmp_path), "KNOWLEDGE_PATHS": str(KNOWLEDGE), "DATABASE_URL": pg_url}
    server = Uvicorn(**env)
    try:
        status, health = server.call("GET", "/api/health")
        assert status == 200 and health["services"]["postgres"] == {"status": "connected"}
        status, answer = server.call(
            "POST", "/api/chat", {"message": "How do I deploy to Hugging Face Spaces?"}
        )
        assert status == 200
        assert (
            answer["sources"][0]["url_or_path"]
            == "knowledge/deploy.md#deploy-to-hugging-face-spaces"
        )
    finally:
        first_log = server.stop()
    assert "35 embedded" in first_log and "Traceback" not in first_log

    server = Uvicorn(**env)
    try:
        status, history = server.call("GET", f"/api/chat/history/{answer['session_id']}")
    finally:
        second_log = server.stop()
    assert status == 200
    assert [m["content"] for m in history["messages"]] == [
        "How do I deploy to Hugging Face Spaces?",
        answer["answer"],
    ]
    assert "0 embedded, 35 unchanged" in second_log


async def test_a_collection_built_by_another_embedder_is_refused_with_the_fix(tmp_path, gemini):
    async with running(make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE))):
        pass  # built by the local embedder
    async with running(make_settings(tmp_path, **gemini_settings(gemini))) as client:
        health = await client.get("/api/health")
        chat = await client.post("/api/chat", json={"message": "How do I deploy?"})
    assert health.status_code == 503
    assert "built by embedder local-hashing-v1" in health.json()["services"]["qdrant"]["detail"]
    assert (
        chat.status_code == 503 and "set QDRANT_COLLECTION to a new name" in chat.json()["detail"]
    )


def test_the_space_ingests_its_knowledge_folder_incrementally(tmp_path):
    """The generated Space ships knowledge/ next to app/: ingested at startup, cited relative to
    it, and on the next start only what changed is embedded and what is gone deleted."""
    space = tmp_path / "space"
    shutil.copytree(BACKEND / "app", space / "app", ignore=shutil.ignore_patterns("__pycache__"))
    (space / "knowledge" / "docs").mkdir(parents=True)
    (space / "knowledge" / "README.md").write_text(
        "# Project\n\n## Install\n\nRun the installer script.\n"
    )
    guide = space / "knowledge" / "docs" / "guide.md"
    guide.write_text(
        "# Guide\n\n## Stopping the server\n\nPress Ctrl-C to stop the server.\n\n## Logs\n\nLogs go to stderr.\n"
    )
    (space / "knowledge" / "docs" / "old.md").write_text(
        "# Old\n\n## Legacy\n\nThe legacy mode is gone.\n"
    )
    env = {"DATA_DIR": str(tmp_path / "data")}

    server = Uvicorn(cwd=space, **env)
    try:
        status, answer = server.call("POST", "/api/chat", {"message": "How do I stop the server?"})
    finally:
        first_log = server.stop()
    assert status == 200, answer
    assert answer["sources"][0]["url_or_path"] == "docs/guide.md#stopping-the-server"
    assert "4 chunks: 4 embedded, 0 unchanged, 0 deleted" in first_log

    guide.write_text(guide.read_text().replace("Logs go to stderr.", "Logs go to a file."))
    (space / "knowledge" / "docs" / "old.md").unlink()
    server = Uvicorn(cwd=space, **env)
    try:
        status, answer = server.call("POST", "/api/chat", {"message": "Where do logs go?"})
    finally:
        second_log = server.stop()
    assert "3 chunks: 1 embedded, 2 unchanged, 1 deleted" in second_log
    assert answer["sources"][0]["url_or_path"] == "docs/guide.md#logs"
    assert "Logs go to a file." in answer["answer"]
    assert not any(s["url_or_path"].startswith("docs/old.md") for s in answer["sources"])


async def test_knowledge_paths_replace_the_knowledge_folder(tmp_path):
    from app.core.config import Settings
    from app.services.runtime import knowledge_sources

    folder = tmp_path / "knowledge"
    assert knowledge_sources(Settings(), folder) == ([], False)
    folder.mkdir()
    assert knowledge_sources(Settings(), folder) == ([str(folder)], True)
    # Both would store the same documents twice, under two origins.
    assert knowledge_sources(Settings(knowledge_paths="/repo/README.md,/repo/docs"), folder) == (
        ["/repo/README.md", "/repo/docs"],
        False,
    )
