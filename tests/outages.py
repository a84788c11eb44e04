"""What a test of a database failing to serve expects: the 503, and the audit rows left
unwritten (logged and counted instead)."""

import re
from typing import Any

import httpx
import pytest

from app.core.errors import RETRY_AFTER_SECONDS
from tests.factories import assert_problem

_UNWRITTEN_METRIC = re.compile(r"^csledger_audit_rows_unwritten_total (\S+)$", re.MULTILINE)


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    """A 503 service-unavailable problem with its Retry-After."""
    body = assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    return body


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
