"""What a test of a database failing to serve expects: the 503, with its Retry-After."""

from typing import Any

import httpx

from app.core.errors import RETRY_AFTER_SECONDS
from tests.factories import assert_problem


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    """A 503 service-unavailable problem with its Retry-After."""
    body = assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    return body
