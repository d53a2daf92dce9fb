"""Local stand-ins for the services tests cannot reach, speaking their real wire formats.

- FakeGemini: the Gemini API as google-genai calls it (models.get, generateContent,
  streamGenerateContent?alt=sse, batchEmbedContents), checking the API key header.
- FakeQdrantCloud: the cluster endpoints the app probes (collections list, exists, info).
- NotFoundServer: a suspended Qdrant Cloud cluster, answering 404 to everything.
"""

import json
import re
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from app.services.embedding import features

GEMINI_KEY = "test-gemini-key"
QDRANT_KEY = "test-qdrant-key"


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1:0 in a daemon thread, with a request log."""

    def __init__(self, handle):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _dispatch(self):
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                handle(self, body)

            do_GET = do_POST = do_PUT = do_DELETE = _dispatch

        self.requests: list[tuple[str, str, dict, object]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: object) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def fake_gemini_embedding(text: str, dimensions: int = 768) -> list[float]:
    """A deterministic dense vector that ranks texts by shared words, standing in for Gemini's model."""
    vector = np.zeros(dimensions, dtype=np.float32)
    for feature in features(text):  # the same terms and pairs as the local embedder
        for salt in (b"a", b"b", b"c"):  # three buckets per feature dilute hash collisions
            digest = zlib.crc32(salt + feature.encode())
            vector[(digest >> 1) % dimensions] += 1.0 if digest & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).tolist()


class FakeGemini(_Server):
    """`mode`: "ok", "down" (500 on every call), "quota" (429), "answers_down" (500 on generation only)
    "blocked" (generation answers a candidate without text, finish reason SAFETY) or "echo_key" (400
    quoting the key it was sent)."""

    _PATH = re.compile(r"^/v1beta/models/([^:/?]+)(?::(\w+))?")

    def __init__(self):
        self.mode = "ok"
        super().__init__(self._handle)

    def calls(self, method: str) -> list:
        return [r for r in self.requests if f":{method}" in r[1]]

    def _error(self, handler, status: int, message: str, state: str):
        send_json(handler, status, {"error": {"code": status, "message": message, "status": state}})

    @staticmethod
    def answer_for(body: dict) -> str:
        """A reply that proves grounding: it names the first passage of the prompt it was given."""
        prompt = body["contents"][-1]["parts"][0]["text"]
        first = re.search(r"^\[1\] (.+)$", prompt, re.MULTILINE)
        turns = len(body["contents"])
        cited = first.group(1) if first else "no passage"
        return f"Fake Gemini answer from [1] {cited} (conversation turns: {turns})."

    def _handle(self, handler: BaseHTTPRequestHandler, body):
        if self.mode == "echo_key":  # an API or proxy that quotes the key it refused
            key = handler.headers.get("x-goog-api-key", "")
            return self._error(handler, 400, f"API key not valid: {key!r}", "INVALID_ARGUMENT")
        if handler.headers.get("x-goog-api-key") != GEMINI_KEY:
            return self._error(
                handler, 403, "API key not valid. Please pass a valid API key.", "PERMISSION_DENIED"
            )
        if self.mode == "down":
            return self._error(handler, 500, "Internal error encountered.", "INTERNAL")
        if self.mode == "quota":
            return self._error(
                handler,
                429,
                "Resource has been exhausted (e.g. check quota).",
                "RESOURCE_EXHAUSTED",
            )
        match = self._PATH.match(handler.path)
        if not match:
            return self._error(handler, 404, f"unknown path {handler.path}", "NOT_FOUND")
        model, method = match.groups()
        if self.mode == "answers_down" and method in ("generateContent", "streamGenerateContent"):
            return self._error(handler, 500, "Internal error encountered.", "INTERNAL")
        if method is None and handler.command == "GET":
            return send_json(
                handler,
                200,
                {
                    "name": f"models/{model}",
                    "displayName": model,
                    "version": "001",
                    "inputTokenLimit": 1048576,
                    "outputTokenLimit": 65536,
                    "supportedGenerationMethods": ["generateContent", "countTokens"],
                },
            )
        if method == "batchEmbedContents":
            embeddings = []
            for request in body["requests"]:
                assert request["outputDimensionality"] == 768, request
                text = " ".join(p["text"] for p in request["content"]["parts"])
                embeddings.append({"values": fake_gemini_embedding(text)})
            return send_json(handler, 200, {"embeddings": embeddings})
        blocked = {"candidates": [{"finishReason": "SAFETY", "index": 0}], "modelVersion": model}
        if method == "generateContent":
            return send_json(
                handler,
                200,
                blocked if self.mode == "blocked" else self._response(self.answer_for(body), model),
            )
        if method == "streamGenerateContent":
            words = self.answer_for(body).split(" ")
            pieces = [
                " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "")
                for i in range(0, len(words), 3)
            ]
            responses = (
                [blocked]
                if self.mode == "blocked"
                else [self._response(piece, model) for piece in pieces]
            )
            handler.send_response(200)
            handler.send_header("content-type", "text/event-stream")
            handler.send_header("transfer-encoding", "chunked")
            handler.end_headers()
            for response in responses:
                event = f"data: {json.dumps(response)}\r\n\r\n".encode()
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
            return None
        return self._error(handler, 404, f"unknown method {method}", "NOT_FOUND")

    @staticmethod
    def _response(text: str, model: str) -> dict:
        return {
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": 5,
                "totalTokenCount": 15,
            },
            "modelVersion": model,
        }


class FakeQdrantCloud(_Server):
    """A healthy cluster holding `collection`, as a real one answers the app's startup and probe calls."""

    def __init__(self, collection: str, collection_info: dict):
        self.collection = collection
        self.info = collection_info
        self.answering = (
            threading.Event()
        )  # clear it and the cluster holds every request (waking up)
        self.answering.set()
        super().__init__(self._handle)

    def _handle(self, handler: BaseHTTPRequestHandler, body):
        self.answering.wait(30)
        if handler.headers.get("api-key") != QDRANT_KEY:
            return send_json(handler, 403, {"status": {"error": "Invalid api-key"}, "time": 0.0})

        def ok(result):
            return send_json(handler, 200, {"result": result, "status": "ok", "time": 0.0001})

        path = handler.path.split("?")[0]
        if path == "/":
            return send_json(
                handler, 200, {"title": "qdrant - vector search engine", "version": "1.20.0"}
            )
        if path == "/collections":
            return ok({"collections": [{"name": self.collection}]})
        if path == f"/collections/{self.collection}/exists":
            return ok({"exists": True})
        if path == f"/collections/{self.collection}":
            return ok(self.info)
        return send_json(handler, 404, {"status": {"error": f"Not found: {path}"}, "time": 0.0})


class NotFoundServer(_Server):
    """What a suspended Qdrant Cloud cluster answers: 404 to every request."""

    def __init__(self):
        def handle(handler, body):
            data = b"404 page not found"
            handler.send_response(404)
            handler.send_header("content-type", "text/plain")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        super().__init__(handle)


def unused_port() -> int:
    """A port nothing listens on (bound then released), for "service down" tests."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
