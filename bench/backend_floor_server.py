"""The floor for bench/backend_load.py --floor: an HTTP/1.1 keep-alive server on uvloop, no framework,
answering every request with a constant health JSON from the protocol's read callback. Probed while
the chat load runs against the app in another process, it shows what the machine alone (cores
shared with the app and the load clients) adds to an answer.

    python bench/backend_floor_server.py PORT
"""

import asyncio
import sys
from typing import cast

import uvloop

BODY = b'{"status":"healthy"}'
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)


class Health(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport, self.pending = cast(asyncio.Transport, transport), b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        while b"\r\n\r\n" in self.pending:  # the probe sends bodiless GETs
            _, self.pending = self.pending.split(b"\r\n\r\n", 1)
            self.transport.write(ANSWER)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Health, "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
