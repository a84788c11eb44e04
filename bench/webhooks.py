"""Webhook delivery: one worker sending to 10 endpoints on a local receiver.

Appends ``events`` administrations to one registrant, each subscribed by all 10 endpoints;
times the worker's fan-out of the outbox into deliveries, then one worker (this process, its
lanes at once) sending every delivery to a receiver in a process of its own, which verifies
each signature. Deliveries per second is the figure the target is about.
"""

import asyncio
import json
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.core.clock import SystemClock
from app.core.config import Settings
from app.core.db import Database, create_engine
from app.core.outbox import OutboxMessage
from app.integrations.webhooks import signing
from app.integrations.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.ledger import service as ledger
from app.ledger.schemas import EventCreate
from app.worker import Worker
from bench import servers
from bench.seed import SUBJECT, Target

if TYPE_CHECKING:
    from bench.run import Bench

ENDPOINTS = 10
RECEIVER = ["bench.receiver:app", "--loop", "uvloop", "--http", "httptools"]


@dataclass(frozen=True, slots=True)
class Delivered:
    endpoints: int
    events: int
    deliveries: int
    fanout_seconds: float
    delivery_seconds: float
    verified: int
    peak_rss_kib: int
    target_per_second: float = 500

    @property
    def per_second(self) -> float:
        return self.deliveries / self.delivery_seconds


def run(bench: "Bench", *, events: int) -> Delivered:
    return asyncio.run(_run(bench.settings, bench.targets[0], bench.workdir, events))


async def _run(settings: Settings, target: Target, workdir: Path, events: int) -> Delivered:
    database = Database(create_engine(settings))
    try:
        await _quiet_outbox(database)
        secrets = await _endpoints(database, target, port := servers.free_port())
        env = {"BENCH_RECEIVER_SECRETS": json.dumps(secrets)}
        await _administrations(database, settings, target, events)
        worker = Worker(database, settings, SystemClock(), periodic=(), name="bench-worker")
        started = time.perf_counter()
        while await worker.run_once():
            pass
        fanout = time.perf_counter() - started
        with servers.serve(RECEIVER, env=env, log=workdir / "receiver.log", ready_path="/counts",
                           workers=1, port=port) as receiver:  # fmt: skip
            deliveries, seconds = await _deliver(database, worker)
            verified = _counts(receiver.url)["verified"]
        await worker.deliverer.aclose()
    finally:
        await database.dispose()
    return Delivered(ENDPOINTS, events, deliveries, fanout, seconds, verified, _own_peak_rss())


async def _quiet_outbox(database: Database) -> None:
    """What earlier stages appended is not this stage's to dispatch."""
    async with database.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.dispatched_at.is_(None))
            .values(dispatched_at=func.now())
        )


async def _endpoints(database: Database, target: Target, port: int) -> dict[str, str]:
    now = datetime.now(UTC)
    secrets = {f"e{n}": signing.new_secret() for n in range(ENDPOINTS)}
    async with database.transaction() as session:
        for name, secret in secrets.items():
            session.add(WebhookEndpoint(
                id=uuid.uuid4(), registrant_id=target.registrant_id,
                url=f"http://127.0.0.1:{port}/hooks/{name}", description="bench",
                event_types=["ledger.event.administer"], enabled=True,
                include_patient_data=False, include_fhir=False, secret=secret, last_sequence=0,
                consecutive_failures=0, version=1, created_at=now, updated_at=now,
            ))  # fmt: skip
    return secrets


async def _administrations(
    database: Database, settings: Settings, target: Target, events: int
) -> None:
    clinician = Principal(subject=SUBJECT, name="Bench Clinician",
                          roles=frozenset({Role.clinician}),
                          registrant_ids=frozenset({target.registrant_id}))  # fmt: skip
    now = datetime.now(UTC)
    caller = Caller(principal=clinician, now=now, settings=settings)
    given = EventCreate.model_validate({
        "registrant_id": str(target.registrant_id), "type": "administer",
        "location_id": str(target.location_id), "lot_id": str(target.lot_id),
        "quantity": str(Decimal("0.001")), "occurred_at": (now - timedelta(minutes=1)).isoformat(),
    })  # fmt: skip
    for _ in range(0, events, 100):
        async with database.transaction() as session:
            for _ in range(100):
                await ledger.append(session, given, caller)


async def _deliver(database: Database, worker: Worker) -> tuple[int, float]:
    """Run the worker's delivery lanes until nothing is pending; the deliveries and seconds."""
    total = await _count(database, None)
    stop = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(worker.deliverer.run(stop, poll_seconds=0.05))
    while await _count(database, "pending"):  # noqa: ASYNC110 (the database is the signal)
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    stop.set()
    await running
    return total, seconds


async def _count(database: Database, status: str | None) -> int:
    statement = select(func.count()).select_from(WebhookDelivery)
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    async with database.session(write=False) as session:
        return int(await session.scalar(statement) or 0)


def _counts(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/counts", timeout=5) as response:  # noqa: S310
        counts: dict[str, int] = json.loads(response.read())
        return counts


def _own_peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
