"""An endpoint's run of failures, and disabling it when the run is long enough.

Disabled (``endpoints.disable``), an endpoint gets no more attempts.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.integrations.webhooks import endpoints
from app.integrations.webhooks.models import WebhookEndpoint

Result = tuple[uuid.UUID, datetime, bool]
"""An attempt's endpoint, when it was made, and whether it succeeded."""


async def record_results(
    session: AsyncSession, results: Sequence[Result], *, settings: Settings, now: datetime
) -> None:
    """Count each endpoint's run of failures (a success ends it) and disable the endpoints
    whose run passed both limits. Only endpoints whose run changes are locked, so workers
    sending to healthy endpoints never queue on their rows."""
    ids = await _changing(session, results)
    if not ids:
        return
    # FOR NO KEY UPDATE: it does not wait for the key-share locks that other workers' attempt
    # rows take on the endpoint (their foreign key), only for another change of the run.
    locked = await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids))
        .order_by(WebhookEndpoint.id).with_for_update(key_share=True)
    )  # fmt: skip
    found = {endpoint.id: endpoint for endpoint in locked}
    for endpoint_id, attempted_at, succeeded in sorted(results, key=lambda r: r[1]):
        if endpoint_id in found:
            _count(found[endpoint_id], attempted_at, succeeded)
    for endpoint in found.values():
        if endpoint.enabled and _run_too_long(endpoint, settings, now):
            reason = (f"{endpoint.consecutive_failures} attempts in a row failed since "
                      f"{endpoint.failing_since:%Y-%m-%dT%H:%M:%SZ}")  # fmt: skip
            await endpoints.record_disabled(session, endpoint, reason=reason, now=now)
    await session.flush()


async def _changing(session: AsyncSession, results: Sequence[Result]) -> list[uuid.UUID]:
    """The endpoints with a failure here, or a success ending a run of failures."""
    failed = {endpoint_id for endpoint_id, _, succeeded in results if not succeeded}
    succeeded = {endpoint_id for endpoint_id, _, ok in results if ok} - failed
    ending = set()
    if succeeded:
        ending = set(await session.scalars(
            select(WebhookEndpoint.id)
            .where(WebhookEndpoint.id.in_(succeeded), WebhookEndpoint.consecutive_failures > 0)
        ))  # fmt: skip
    return sorted(failed | ending)


def _count(endpoint: WebhookEndpoint, attempted_at: datetime, succeeded: bool) -> None:
    if succeeded:
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
        return
    endpoint.consecutive_failures += 1
    if endpoint.failing_since is None:
        endpoint.failing_since = attempted_at


def _run_too_long(endpoint: WebhookEndpoint, settings: Settings, now: datetime) -> bool:
    if endpoint.failing_since is None:
        return False
    long_enough = now - endpoint.failing_since >= timedelta(
        hours=settings.webhook_disable_after_hours
    )
    return endpoint.consecutive_failures >= settings.webhook_disable_after_failures and long_enough
