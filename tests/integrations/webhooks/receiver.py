"""A real webhook receiver: an ASGI app under uvicorn on loopback, in a thread of its own.

It verifies every delivery with the ``standardwebhooks`` library (the secrets of each path
are registered by the test), records it, and answers what the test asks: 204, an error
status, or nothing at all while it is stopped.
"""

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True)
class Received:
    name: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def envelope(self) -> dict[str, Any]:
        payload: dict[str, Any] = orjson.loads(self.body)
        return payload

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    port: int = 0
    secrets: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{name}"

    def of(self, name: str) -> list[Received]:
        return [item for item in self.received if item.name == name]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        name = request.url.path.removeprefix("/hooks/")
        body = await request.body()
        headers = dict(request.headers)
        self.received.append(Received(name, headers, body, self._verified(name, body, headers)))
        await Response(status_code=self.answers.get(name, 204), content=b"")(scope, receive, send)

    def _verified(self, name: str, body: bytes, headers: dict[str, str]) -> bool:
        for secret in self.secrets.get(name, []):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            return True
        return False

    def start(self) -> None:
        """Serve on ``port`` (a free one the first time; the same one after a stop)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_level="warning", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None
