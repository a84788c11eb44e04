"""Every failure is an RFC 9457 problem; nothing internal reaches the client."""

import logging
import sqlite3

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from app.core.config import Environment, Settings
from app.core.errors import RETRY_AFTER_SECONDS, ServiceUnavailable
from app.integrations.fhir.outcome import FHIR_MEDIA_TYPE
from app.main import create_app
from tests.conftest import bearer
from tests.factories import assert_problem
from tests.outages import assert_unavailable


async def test_an_unknown_path_is_a_not_found_problem(client):
    assert_problem(await client.get("/v1/no-such-thing"), 404, "not-found")


async def test_a_method_the_resource_lacks_is_a_problem(client, admin_token):
    response = await client.delete("/v1/registrants", headers=bearer(admin_token))
    assert_problem(response, 405, "method-not-allowed")


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_every_405_names_all_the_methods_its_path_allows(app, client, admin_token):
    """Each method of a path is a route of its own: Allow names them all, on every path."""
    documented = app.openapi()["paths"]
    for path, item in documented.items():
        methods = {method.upper() for method in item} & {"GET", "POST", "PUT", "PATCH"}
        concrete = path.replace("{", "").replace("}", "")  # any value matches the route
        response = await client.request("DELETE", concrete, headers=bearer(admin_token))
        assert response.status_code == 405, path
        assert set(response.headers["allow"].split(", ")) == methods, path
        expected = FHIR_MEDIA_TYPE if path.startswith("/v1/fhir/") else "application/problem+json"
        assert response.headers["content-type"] == expected, path


async def test_malformed_json_points_at_the_body(client, admin_token):
    response = await client.post(
        "/v1/registrants",
        content=b'{"name": ',
        headers=bearer(admin_token) | {"content-type": "application/json"},
    )
    body = assert_problem(response, 422, "invalid-input")
    assert body["errors"][0]["pointer"].startswith("#")


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_a_body_that_is_not_text_is_invalid_input(client, admin_token):
    """Not JSON, as any other body that is not: 422, never a 400 no operation documents."""
    response = await client.post(
        "/v1/registrants",
        content=b'{"name": "\xff\xfe"}',
        headers=bearer(admin_token) | {"content-type": "application/json"},
    )
    assert_problem(response, 422, "invalid-input", pointer="#")


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
    assert_unavailable(response)
    assert_problem(ready, 503, "service-unavailable")
    await app.state.database.dispose()


RAISED_WHEN_AWAY = {
    "no pooled connection in time": sa_exc.TimeoutError("QueuePool limit of size 10 reached"),
    "server starting up": asyncpg.CannotConnectNowError("the database system is starting up"),
    "every address refused": OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
}


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.parametrize("exc", RAISED_WHEN_AWAY.values(), ids=RAISED_WHEN_AWAY.keys())
async def test_the_database_failing_to_serve_is_a_503_wherever_it_is_raised(
    app, client, admin_token, probe, exc
):
    """Raised where no handler knows it (a route of no unit of work, the driver's own error):
    answered 503 all the same, and audited so."""

    async def fail() -> None:
        raise exc

    app.add_api_route("/v1/outage", fail)
    response = await client.get("/v1/outage", headers=bearer(admin_token))
    assert_unavailable(response)
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert (row.kind, row.status_code) == ("error", 503)
    assert row.problem_type == ServiceUnavailable.type_uri()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_a_503_under_fhir_is_a_transient_operation_outcome(app, client, admin_token):
    async def fail() -> None:
        raise asyncpg.CannotConnectNowError("the database system is starting up")

    app.add_api_route("/v1/fhir/outage", fail)
    response = await client.get("/v1/fhir/outage", headers=bearer(admin_token))
    assert response.status_code == 503
    assert response.headers["content-type"] == FHIR_MEDIA_TYPE
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    [issue] = response.json()["issue"]
    assert (issue["severity"], issue["code"]) == ("fatal", "transient")


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_a_statement_the_database_refuses_is_a_500_not_a_503(
    app, client, admin_token, caplog
):
    async def fail() -> None:
        missing = sqlite3.OperationalError("no such table: ledger_evnets")
        raise sa_exc.OperationalError("SELECT * FROM ledger_evnets", None, missing)

    app.add_api_route("/v1/typo", fail)
    with caplog.at_level(logging.ERROR):
        response = await client.get("/v1/typo", headers=bearer(admin_token))
    assert_problem(response, 500, "internal-error")
    assert "retry-after" not in response.headers
    assert any(record.getMessage() == "unexpected error" for record in caplog.records)


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
