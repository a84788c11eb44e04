"""Every failure is an RFC 9457 problem; nothing internal reaches the client."""

import logging

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Environment, Settings
from app.main import create_app
from tests.conftest import bearer
from tests.factories import assert_problem


async def test_an_unknown_path_is_a_not_found_problem(client):
    assert_problem(await client.get("/v1/no-such-thing"), 404, "not-found")


async def test_a_method_the_resource_lacks_is_a_problem(client, admin_token):
    response = await client.delete("/v1/registrants", headers=bearer(admin_token))
    assert_problem(response, 405, "method-not-allowed")


async def test_malformed_json_points_at_the_body(client, admin_token):
    response = await client.post(
        "/v1/registrants",
        content=b'{"name": ',
        headers=bearer(admin_token) | {"content-type": "application/json"},
    )
    body = assert_problem(response, 422, "invalid-input")
    assert body["errors"][0]["pointer"].startswith("#")


async def test_each_invalid_field_gets_a_pointer(client, admin_token):
    response = await client.post(
        "/v1/registrants",
        json={"name": "", "kind": "hospital", "address": {"state": "XX"}},
        headers=bearer(admin_token),
    )
    pointers = {e["pointer"] for e in assert_problem(response, 422, "invalid-input")["errors"]}
    assert {"#/name", "#/kind", "#/dea_number", "#/address/state"} <= pointers


async def test_an_invalid_query_parameter_is_named(client, admin_token):
    response = await client.get("/v1/registrants?limit=0", headers=bearer(admin_token))
    errors = assert_problem(response, 422, "invalid-input")["errors"]
    assert errors == [{"parameter": "limit", "detail": errors[0]["detail"]}]


async def test_the_client_request_id_is_kept_when_well_formed(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "pharmacy-42-abcdef"})
    assert response.headers["x-request-id"] == "pharmacy-42-abcdef"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "bad id\r\nx"})
    assert hostile.headers["x-request-id"] != "bad id\r\nx"


@pytest.fixture
def failing_app(app: FastAPI) -> FastAPI:
    async def explode() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    app.add_api_route("/v1/explode", explode)
    return app


async def test_an_unexpected_error_hides_its_cause_but_logs_it(failing_app, admin_token, caplog):
    transport = httpx.ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        with caplog.at_level(logging.ERROR):
            response = await c.get("/v1/explode", headers=bearer(admin_token))
    body = assert_problem(response, 500, "internal-error")
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert logged
    assert "SELECT secret" in str(logged[0].exc_info[1])
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_an_unreachable_database_is_a_retryable_problem(admin_token):
    settings = Settings(
        environment=Environment.test,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:9/nowhere",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/v1/registrants", headers=bearer(admin_token))
        ready = await c.get("/readyz")
    assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"] == "1"
    assert_problem(ready, 503, "service-unavailable")
    await app.state.database.dispose()


async def test_an_oversized_body_is_refused_before_it_is_read(client, admin_token, app, probe):
    limit = app.state.settings.max_body_bytes
    response = await client.post(
        "/v1/registrants",
        content=b"{" + b" " * limit + b"}",
        headers=bearer(admin_token) | {"content-type": "application/json"},
    )
    assert_problem(response, 413, "payload-too-large")
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert (row.kind, row.status_code) == ("refused", 413)


async def test_a_body_larger_than_it_declared_is_refused(client, admin_token, app):
    limit = app.state.settings.max_body_bytes

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    response = await client.post(
        "/v1/registrants",
        content=chunks(),
        headers=bearer(admin_token) | {"content-type": "application/json"},
    )
    assert_problem(response, 413, "payload-too-large")
