"""Request limits (documented in docs/backend.md): the body's size, enforced before FastAPI reads a
body, and what a JSON body must be before it is parsed (UTF-8, shallow)."""

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
# Every body the API accepts is one flat object; the parser's own limit is Python's recursion
# depth (about 1,000), which it reports as "There was an error parsing the body".
MAX_JSON_DEPTH = 32


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON body cannot be read (not UTF-8, nested too deep), or None."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"the body is not valid UTF-8 (byte 0x{body[err.start]:02x} at offset {err.start}): send JSON as UTF-8 text"
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return None  # cannot be deeper: the common case costs two counts
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                example = '{"message": "…"}'
                return f"JSON nested deeper than {MAX_JSON_DEPTH} levels: send one flat object such as {example}"
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return None


class BodySizeLimit:
    """Answers 413 to any request body over MAX_BODY_BYTES, declared or streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)  # no route reads a body for these
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return await self._reject(scope, receive, send)
        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
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

        async def guarded_send(message: Message) -> None:
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
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body is larger than {MAX_BODY_BYTES} bytes: send a shorter message"
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
