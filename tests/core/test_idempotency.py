"""Idempotency-Key: replay, reuse with another body, concurrent duplicates, expiry."""

import asyncio
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.idempotency import IdempotencyRecord
from app.registry.models import Registrant
from app.worker import Worker
from tests.conftest import bearer
from tests.factories import registrant_body


async def _count(database_url: str, model: type) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


def _headers(token: str, key: str) -> dict[str, str]:
    return bearer(token) | {"Idempotency-Key": key}


async def test_a_retried_post_replays_the_first_response(client, admin_token, database_url):
    body = registrant_body()
    first = await client.post("/v1/registrants", json=body, headers=_headers(admin_token, "k-1"))
    again = await client.post("/v1/registrants", json=body, headers=_headers(admin_token, "k-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _count(database_url, Registrant) == 1


async def test_key_order_and_spacing_do_not_make_another_request(client, admin_token):
    body = registrant_body()
    first = await client.post("/v1/registrants", json=body, headers=_headers(admin_token, "k-2"))
    reordered = dict(reversed(list(body.items())))
    again = await client.post(
        "/v1/registrants", json=reordered, headers=_headers(admin_token, "k-2")
    )
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]


async def test_the_same_key_with_another_body_is_refused(client, admin_token, database_url):
    headers = _headers(admin_token, "k-3")
    await client.post("/v1/registrants", json=registrant_body(), headers=headers)
    other = await client.post("/v1/registrants", json=registrant_body(), headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "urn:csledger:problem:idempotency-key-reused"
    assert await _count(database_url, Registrant) == 1


async def test_keys_belong_to_their_caller(client, token, database_url):
    body = registrant_body()
    first_admin = token(["admin"], ["*"], sub="admin-one")
    second_admin = token(["admin"], ["*"], sub="admin-two")
    first = await client.post("/v1/registrants", json=body, headers=_headers(first_admin, "k"))
    second = await client.post(
        "/v1/registrants",
        json=body | {"dea_number": registrant_body()["dea_number"]},
        headers=_headers(second_admin, "k"),
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert await _count(database_url, Registrant) == 2


async def test_a_failed_request_leaves_no_key_behind(client, admin_token, database_url):
    headers = _headers(admin_token, "k-4")
    refused = await client.post(
        "/v1/registrants", json=registrant_body(dea_number="AP5836728"), headers=headers
    )
    assert refused.status_code == 422
    assert await _count(database_url, IdempotencyRecord) == 0
    fixed = await client.post("/v1/registrants", json=registrant_body(), headers=headers)
    assert fixed.status_code == 201


async def test_concurrent_requests_with_one_key_make_one_change(client, admin_token, database_url):
    body = registrant_body()
    headers = _headers(admin_token, "k-5")
    responses = await asyncio.gather(
        *(client.post("/v1/registrants", json=body, headers=headers) for _ in range(4))
    )
    assert {r.status_code for r in responses} <= {201, 409}
    created_ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created_ids) == 1
    in_flight = [r for r in responses if r.status_code == 409]
    assert all(r.json()["type"] == "urn:csledger:problem:idempotency-in-flight" for r in in_flight)
    assert await _count(database_url, Registrant) == 1


async def test_expired_keys_are_forgotten_and_purged_by_the_worker(
    client, admin_token, database_url, app, clock
):
    body = registrant_body()
    await client.post("/v1/registrants", json=body, headers=_headers(admin_token, "k-6"))
    clock.advance(timedelta(hours=app.state.settings.idempotency_ttl_hours, seconds=1))
    await Worker(app.state.database, app.state.settings, clock).run_until_idle()
    assert await _count(database_url, IdempotencyRecord) == 0
    again = await client.post("/v1/registrants", json=body, headers=_headers(admin_token, "k-6"))
    assert again.status_code == 409
    assert again.json()["type"] == "urn:csledger:problem:already-exists"


async def test_the_same_key_and_body_for_another_target_is_refused(
    client, admin_token, database_url
):
    """The key covers the whole request target: a query of its own makes another request."""
    body = registrant_body()
    first = await client.post("/v1/registrants", json=body, headers=_headers(admin_token, "k-6"))
    elsewhere = await client.post(
        "/v1/registrants?dry_run=true", json=body, headers=_headers(admin_token, "k-6")
    )
    assert first.status_code == 201
    assert elsewhere.status_code == 422
    assert elsewhere.json()["type"] == "urn:csledger:problem:idempotency-key-reused"
    assert await _count(database_url, Registrant) == 1


async def test_parameters_in_another_order_are_the_same_target(client, admin_token):
    body = registrant_body()
    first = await client.post(
        "/v1/registrants?a=1&b=2", json=body, headers=_headers(admin_token, "k-7")
    )
    again = await client.post(
        "/v1/registrants?b=2&a=1", json=body, headers=_headers(admin_token, "k-7")
    )
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
