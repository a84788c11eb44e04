"""What a test of a database failing to serve expects: the 503, the retries a client makes
until it is served, and the audit rows left unwritten (logged and counted instead)."""

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.core.errors import RETRY_AFTER_SECONDS
from app.core.idempotency import IdempotencyInFlight
from tests.factories import assert_problem

_UNWRITTEN_METRIC = re.compile(r"^csledger_audit_rows_unwritten_total (\S+)$", re.MULTILINE)
_RETRIES = 50
_RETRY_PAUSE_SECONDS = 0.05
"""Between retries in a test: the client's Retry-After, shortened (the outage is over)."""


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    """A 503 service-unavailable problem with its Retry-After."""
    body = assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    return body


async def until_served(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """``send()`` again while it is answered "retry": 503, or 409 in flight while the
    transaction of a request cut off ends on the server. A bounded number of times."""
    for _ in range(_RETRIES):
        response = await send()
        if not _says_retry(response):
            return response
        await asyncio.sleep(_RETRY_PAUSE_SECONDS)
    raise AssertionError(f"still {response.status_code} after {_RETRIES} tries: {response.text}")


def _says_retry(response: httpx.Response) -> bool:
    if response.status_code == 503:
        return True
    in_flight = IdempotencyInFlight.type_uri()
    return response.status_code == 409 and response.json().get("type") == in_flight


async def unwritten_audit_rows(client: httpx.AsyncClient) -> float:
    """The service's count of audit rows it could not write, as /metrics shows it."""
    metrics = await client.get("/metrics")
    found = _UNWRITTEN_METRIC.search(metrics.text)
    assert found is not None, metrics.text
    return float(found.group(1))


def logged_unwritten(caplog: pytest.LogCaptureFixture, response: httpx.Response) -> dict[str, Any]:
    """What the log kept of ``response``'s audit row, which was not written."""
    logged = [vars(record)["audit"] for record in caplog.records
              if record.getMessage() == "audit row not written"]  # fmt: skip
    [kept] = [row for row in logged if row["request_id"] == response.headers["x-request-id"]]
    assert kept["status_code"] == response.status_code
    assert "subject_name" not in kept
    assert "parameters" not in kept
    return dict(kept)
