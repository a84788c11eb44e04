"""Batch ingest: ``POST /v1/ledger/events:batch`` with 1,000 administers per request.

Each stream of requests appends to its own share of the registrants, so streams in flight at
once do not wait on each other's chain heads and balances (as separate integrations would not).
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from bench.seed import Target

BATCH_SIZE = 1000
_REQUEST_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class Ingested:
    events: int
    requests: int
    seconds: float


def _body(targets: list[Target], occurred_at: str, size: int) -> dict[str, Any]:
    events = [
        {"registrant_id": str(t.registrant_id), "type": "administer",
         "location_id": str(t.location_id), "lot_id": str(t.lot_id), "quantity": "0.001",
         "occurred_at": occurred_at}
        for t in (targets[i % len(targets)] for i in range(size))
    ]  # fmt: skip
    return {"events": events}


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post(
        "/v1/ledger/events:batch", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    if response.status_code != 201:
        raise RuntimeError(f"batch refused: {response.status_code} {response.text[:500]}")


async def _ingest(
    url: str, token: str, targets: list[Target], occurred_at: str, requests: int, streams: int
) -> Ingested:
    shares = [targets[s::streams] for s in range(streams)]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=_REQUEST_TIMEOUT_S
    ) as client:
        for share in shares:  # warm each worker's pool and caches
            await _post(client, _body(share, occurred_at, 10))
        bodies = [_body(share, occurred_at, BATCH_SIZE) for share in shares]
        per_stream = [requests // streams + (s < requests % streams) for s in range(streams)]

        async def stream(index: int) -> None:
            for _ in range(per_stream[index]):
                await _post(client, bodies[index])

        started = time.perf_counter()
        await asyncio.gather(*(stream(s) for s in range(streams)))
        seconds = time.perf_counter() - started
    return Ingested(events=requests * BATCH_SIZE, requests=requests, seconds=seconds)


def ingest(
    url: str, *, token: str, targets: list[Target], occurred_at: str, requests: int, streams: int
) -> Ingested:
    streams = max(1, min(streams, len(targets), requests))
    return asyncio.run(_ingest(url, token, targets, occurred_at, requests, streams))
