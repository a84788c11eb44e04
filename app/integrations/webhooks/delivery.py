"""Sending deliveries: claimed in batches under a lease, sent concurrently, results recorded.

A worker claims due deliveries of enabled endpoints (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so workers share the load) and leases them for the timeout plus a margin: a worker
that dies mid-send leaves its lease to run out, and the delivery is sent again with the same
``webhook-id``. Every attempt is recorded; a failure waits its step of the retry schedule,
spread by jitter, and after the last step the delivery fails. Deliveries are independent: one
that keeps failing never holds back the endpoint's others (receivers order by ``sequence``).
"""

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter

import httpx
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.bulk import insert_rows
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database, UTCDateTime, table_of
from app.integrations.webhooks import addresses, endpoints, health, payloads, signing
from app.integrations.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

EXCERPT_CHARS = 1000
MAX_UTF8_BYTES = 4
"""The most bytes one character takes in UTF-8."""
LEASE_MARGIN = timedelta(seconds=30)
USER_AGENT = "csledger-webhooks/1"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    registrant_id: uuid.UUID
    endpoint_id: uuid.UUID
    body: str
    retry_step: int
    url: str
    secrets: tuple[str, ...]
    lease: str
    """Who holds the delivery: this claim alone (another lane of the same worker is another)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    claimed: Claimed
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    excerpt: str | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliverer:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        *,
        name: str,
        resolver: addresses.Resolver = addresses.system_resolver,
        wall_clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.name = name
        self.resolver = resolver
        # The signature's timestamp is checked by the receiver against its own clock: it is
        # the wall clock at the send, whatever clock the service's records are kept on.
        self.wall_clock = wall_clock
        self.transport = transport
        self.timeout = settings.webhook_timeout_seconds
        self.lease = timedelta(seconds=self.timeout) + LEASE_MARGIN
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport, timeout=self.timeout, follow_redirects=False,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                headers={"user-agent": USER_AGENT, "content-type": "application/json"},
            )  # fmt: skip
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver_batch(self) -> int:
        """Claim, send and record one batch; returns how many deliveries it held."""
        async with self.database.transaction() as session:
            claimed = await self._claim(session)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(item) for item in claimed))
        async with self.database.transaction() as session:
            await self._record(session, outcomes)
        return len(claimed)

    async def run(self, stop: asyncio.Event, poll_seconds: float) -> None:
        """Send until ``stop``: several lanes at once on PostgreSQL, one on SQLite."""
        lanes = self.settings.webhook_delivery_lanes if self.database.is_postgresql else 1
        try:
            await asyncio.gather(*(self._lane(stop, poll_seconds) for _ in range(lanes)))
        finally:
            await self.aclose()

    async def _lane(self, stop: asyncio.Event, poll_seconds: float) -> None:
        while not stop.is_set():
            try:
                if await self.deliver_batch():
                    continue
            except Exception:
                endpoints.log.exception("webhook delivery loop error; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)

    # Claiming

    async def _claim(self, session: AsyncSession) -> list[Claimed]:
        now = self.clock.now()
        due = (
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
                WebhookEndpoint.enabled,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(self.settings.webhook_delivery_batch)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
        ids = list((await session.scalars(due)).all())
        if not ids:
            return []
        lease = f"{self.name[:80]}/{uuid.uuid4().hex[:16]}"
        rows = (
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(lease_until=now + self.lease, leased_by=lease)
                .returning(
                    WebhookDelivery.id,
                    WebhookDelivery.registrant_id,
                    WebhookDelivery.endpoint_id,
                    WebhookDelivery.body,
                    WebhookDelivery.retry_step,
                )
            )
        ).all()
        targets = await self._endpoints(session, {row.endpoint_id for row in rows}, now)
        return [Claimed(*row, *targets[row.endpoint_id], lease) for row in rows]

    async def _endpoints(
        self, session: AsyncSession, ids: set[uuid.UUID], now: datetime
    ) -> dict[uuid.UUID, tuple[str, tuple[str, ...]]]:
        found = await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids)))
        return {e.id: (e.url, endpoints.secrets_in_use(e, now)) for e in found}

    # Sending

    async def _send(self, claimed: Claimed) -> Outcome:
        """One attempt, whatever happens: the outcome is recorded, never raised."""
        attempted_at = self.clock.now()
        started = perf_counter()
        status_code = excerpt = error = None
        try:
            # The whole attempt (lookup, connection, a receiver trickling its answer) within
            # the timeout, so it ends before its lease does.
            async with asyncio.timeout(self.timeout):
                status_code, excerpt = await self._post(claimed)
        except addresses.AddressRefused as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except Exception as exc:  # a receiver's fault or ours: a failed attempt either way
            if not isinstance(exc, httpx.HTTPError):
                endpoints.log.exception("webhook attempt failed", extra={"delivery": claimed.id})
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = round((perf_counter() - started) * 1000)
        return Outcome(claimed, attempted_at, duration_ms, status_code, excerpt, error)

    async def _post(self, claimed: Claimed) -> tuple[int, str]:
        target = await addresses.target(
            claimed.url, allow_private=self.settings.webhooks_may_reach_private_networks,
            resolver=self.resolver,
        )  # fmt: skip
        body = claimed.body.encode()
        headers = signing.headers(
            claimed.secrets, message_id=payloads.message_id(claimed.id),
            timestamp=int(self.wall_clock()), body=body,
        )  # fmt: skip
        request = self.client.build_request("POST", claimed.url, content=body, headers=headers)
        if target.address is not None:
            request = _pinned(request, target)
        response = await self.client.send(request, stream=True)
        try:
            return response.status_code, await _excerpt(response)
        finally:
            await response.aclose()

    # Recording

    async def _record(self, session: AsyncSession, outcomes: Sequence[Outcome]) -> None:
        await insert_rows(session, table_of(WebhookAttempt), [self._attempt(o) for o in outcomes])
        await session.execute(_SETTLE, [self._settled(o) for o in outcomes])
        # Last, so that disabling an endpoint fails its pending deliveries as just settled.
        await health.record_results(
            session, [(o.claimed.endpoint_id, o.attempted_at, o.succeeded) for o in outcomes],
            settings=self.settings, now=self.clock.now(),
        )  # fmt: skip

    def _attempt(self, outcome: Outcome) -> dict[str, object]:
        return {
            "id": uuid.uuid4(), "registrant_id": outcome.claimed.registrant_id,
            "delivery_id": outcome.claimed.id,
            "endpoint_id": outcome.claimed.endpoint_id, "attempted_at": outcome.attempted_at,
            "duration_ms": outcome.duration_ms, "status_code": outcome.status_code,
            "succeeded": outcome.succeeded, "response_excerpt": outcome.excerpt,
            "error": outcome.error, "worker": self.name,
        }  # fmt: skip

    def _settled(self, outcome: Outcome) -> dict[str, object]:
        """The parameters of :data:`_SETTLE` for a delivery after an attempt."""
        claimed = outcome.claimed
        settled: dict[str, object] = {
            "b_id": claimed.id, "b_lease": claimed.lease, "b_status": DeliveryStatus.pending,
            "b_retry_step": claimed.retry_step, "b_next_attempt_at": None,
            "b_delivered_at": None, "b_status_code": outcome.status_code,
            "b_error": outcome.error, "b_at": outcome.attempted_at,
        }  # fmt: skip
        if outcome.succeeded:
            return settled | {
                "b_status": DeliveryStatus.delivered,
                "b_delivered_at": outcome.attempted_at,
            }
        return settled | self._retry(outcome)

    def _retry(self, outcome: Outcome) -> dict[str, object]:
        """After a failed attempt: the next step of the schedule, or failed after the last."""
        step = outcome.claimed.retry_step
        schedule = self.settings.webhook_retry_schedule_seconds
        if step >= len(schedule):
            return {"b_retry_step": step + 1, "b_status": DeliveryStatus.failed}
        wait = retry_wait(schedule[step], self.settings.webhook_retry_jitter)
        return {"b_retry_step": step + 1, "b_next_attempt_at": outcome.attempted_at + wait}


_DELIVERIES = table_of(WebhookDelivery)
# Core (the table, not the class): an executemany, not an ORM bulk update.
_SETTLE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"),
           _DELIVERIES.c.leased_by == bindparam("b_lease"))
    .values(
        status=bindparam("b_status"), retry_step=bindparam("b_retry_step"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        delivered_at=func.coalesce(bindparam("b_delivered_at", type_=UTCDateTime()),
                                   _DELIVERIES.c.delivered_at),
        attempt_count=_DELIVERIES.c.attempt_count + 1, lease_until=None, leased_by=None,
        last_status_code=bindparam("b_status_code"), last_error=bindparam("b_error"),
        updated_at=bindparam("b_at"),
    )
)  # fmt: skip
"""A delivery after an attempt, unless another worker has leased it since (its lease ran
out): one statement for a batch, its parameters a row per delivery."""


def retry_wait(seconds: int, jitter: float) -> timedelta:
    """A step of the schedule spread by the jitter, so retries after an outage do not
    arrive together."""
    spread = random.uniform(1 - jitter, 1 + jitter)  # noqa: S311 (timing, not secrecy)
    return timedelta(seconds=seconds * spread)


def _pinned(request: httpx.Request, target: addresses.Target) -> httpx.Request:
    """The request sent to the address that was checked; the Host header (set from the URL
    when the request was built) and TLS (SNI and the certificate's name) keep the host name."""
    assert target.address is not None
    request.url = request.url.copy_with(host=target.address)
    request.extensions["sni_hostname"] = target.host
    return request


async def _excerpt(response: httpx.Response) -> str:
    """The start of the answer, read no further than needed."""
    read = bytearray()
    async for chunk in response.aiter_bytes():
        read.extend(chunk)
        if len(read) >= EXCERPT_CHARS * MAX_UTF8_BYTES:  # enough bytes for the characters
            break
    return bytes(read).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
