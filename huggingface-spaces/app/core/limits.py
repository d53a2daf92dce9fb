"""Request-size limit, enforced before FastAPI reads a body (documented in docs/backend.md)."""

import json

MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """Answers 413 to any request body over MAX_BODY_BYTES, declared or streamed."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)  # no route reads a body for these
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return await self._reject(send)
        received = 0
        too_large = False
        started = False

        async def counting_receive():
            # Past the limit the app is told the client left, so it stops reading and answering.
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                too_large = True
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if too_large:
                return  # the 413 below answers instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._reject(send)

    async def _reject(self, send):
        body = json.dumps({"detail": f"request body is larger than {MAX_BODY_BYTES} bytes: send a shorter message"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
