"""Liveness, readiness and metrics."""

import pytest
from sqlalchemy import text

from app.core.migrations import head_revision


async def test_healthz(client):
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_when_migrated(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "schema": head_revision()}


@pytest.mark.fresh_database
async def test_readyz_refuses_a_database_behind_the_migrations(client, probe):
    async with probe.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert "csledger migrate" in response.json()["detail"]


async def test_metrics_count_requests_by_route_template(client, admin_token):
    await client.get("/v1/registrants/00000000-0000-0000-0000-000000000000")
    body = (await client.get("/metrics")).text
    assert (
        'csledger_http_requests_total{method="GET",route="/v1/registrants/{registrant_id}",'
        'status="401"} 1.0'
    ) in body
    assert "csledger_http_request_duration_seconds_bucket" in body
