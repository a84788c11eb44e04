"""The benchmark's webhook receiver: checks each delivery's signature and answers 204.

``BENCH_RECEIVER_SECRETS`` maps each path's last segment to its endpoint's secret (JSON).
``GET /counts`` answers how many deliveries verified and how many did not.
"""

import json
import os
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

_SECRETS: dict[str, str] = json.loads(os.environ.get("BENCH_RECEIVER_SECRETS", "{}"))
_WEBHOOKS = {name: Webhook(secret) for name, secret in _SECRETS.items()}
counts = {"verified": 0, "refused": 0}


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    if scope["method"] == "GET":
        await _answer(send, 200, json.dumps(counts).encode())
        return
    body = await _body(receive)
    headers = {key.decode(): value.decode() for key, value in scope["headers"]}
    try:
        _WEBHOOKS[path.rsplit("/", 1)[-1]].verify(body, headers)
        counts["verified"] += 1
    except (KeyError, WebhookVerificationError):
        counts["refused"] += 1
    await _answer(send, 204)
