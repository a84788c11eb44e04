"""The worker: claims due jobs and runs their handlers; schedules the periodic ones.

``csledger worker`` runs it alone; ``CSLEDGER_WORKER_IN_PROCESS=true`` runs it inside the API
process (the embedded demo). Each job's work and its "succeeded" mark commit together.
"""

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import idempotency, jobs, outbox
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database
from app.integrations.webhooks import events as webhook_events
from app.integrations.webhooks import fanout
from app.integrations.webhooks.delivery import Deliverer
from app.ledger import checkpoints, keys, verification
from app.ledger.messages import LEDGER_EVENT_APPENDED, RULES_BROKEN
from app.reconciliation import findings, runs
from app.reconciliation import service as reconciliation

log = logging.getLogger("csledger.worker")

JobHandler = Callable[[AsyncSession, jobs.ClaimedJob, Clock], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Periodic:
    kind: str
    every: timedelta


async def purge_idempotency_keys(
    session: AsyncSession, job: jobs.ClaimedJob, clock: Clock
) -> dict[str, Any]:
    return {"purged": await idempotency.purge_expired(session, now=clock.now())}


def sign_checkpoints(settings: Settings) -> JobHandler:
    async def handle(session: AsyncSession, job: jobs.ClaimedJob, clock: Clock) -> dict[str, Any]:
        signer = keys.signer(settings)
        made = 0
        for registrant_id in await checkpoints.registrants_behind(session):
            made += (
                await checkpoints.make(session, registrant_id, signer=signer, now=clock.now())
                is not None
            )
        return {"checkpoints": made}

    return handle


def _subscribers() -> dict[str, tuple[outbox.Subscriber, ...]]:
    found: dict[str, tuple[outbox.Subscriber, ...]] = {
        LEDGER_EVENT_APPENDED: (reconciliation.on_event_appended,),
        RULES_BROKEN: (reconciliation.on_rules_broken,),
    }
    for topic in webhook_events.TOPICS:
        found[topic] = (*found.get(topic, ()), fanout.on_message)
    return found


SUBSCRIBERS: Mapping[str, Sequence[outbox.Subscriber]] = _subscribers()
"""In-process subscribers per outbox topic: reconciliation, then webhooks (whose deliveries
carry what reconciliation opened in the same dispatch only through its own messages)."""


def verify_ledger(settings: Settings) -> JobHandler:
    async def handle(session: AsyncSession, job: jobs.ClaimedJob, clock: Clock) -> dict[str, Any]:
        assert job.registrant_id is not None
        published = {key["kid"]: key for key in keys.published_keys(settings)}
        outcome = await verification.verify_registrant(session, job.registrant_id, keys=published)
        if not outcome.ok:
            await reconciliation.record_finding(
                session, registrant_id=job.registrant_id, finding=findings.verification_failed(
                    outcome.failure or "", outcome.sequence),
                now=clock.now(), event_ids=[], staff_ids=[],
            )  # fmt: skip
        return outcome.as_dict()

    return handle


def default_handlers(settings: Settings) -> dict[str, JobHandler]:
    return {
        "purge_idempotency_keys": purge_idempotency_keys,
        "sign_checkpoints": sign_checkpoints(settings),
        verification.JOB_KIND: verify_ledger(settings),
        runs.JOB_KIND: runs.job_handler(settings),
        "schedule_reconciliation": runs.schedule_nightly,
    }


def default_periodic(settings: Settings) -> tuple[Periodic, ...]:
    return (
        Periodic("purge_idempotency_keys", timedelta(hours=1)),
        Periodic("sign_checkpoints", timedelta(minutes=settings.checkpoint_interval_minutes)),
        Periodic("schedule_reconciliation", timedelta(hours=1)),
    )


SCHEDULE_CHECK = timedelta(minutes=1)


def slot_key(periodic: Periodic, now: datetime) -> str:
    """The same key for every instant of one period, so each period runs once."""
    period = int(periodic.every.total_seconds())
    return f"{periodic.kind}@{int(now.timestamp()) // period * period}"


class Worker:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        *,
        handlers: Mapping[str, JobHandler] | None = None,
        periodic: tuple[Periodic, ...] | None = None,
        subscribers: Mapping[str, Sequence[outbox.Subscriber]] | None = None,
        name: str | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.handlers = default_handlers(settings) if handlers is None else handlers
        self.periodic = default_periodic(settings) if periodic is None else periodic
        self.subscribers = SUBSCRIBERS if subscribers is None else subscribers
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.outbox_max_attempts = settings.outbox_max_attempts
        self.poll_seconds = settings.worker_poll_seconds
        self.deliverer = Deliverer(database, settings, clock, name=self.name)
        self._scheduled_at: datetime | None = None

    async def schedule_periodic(self) -> None:
        now = self.clock.now()
        async with self.database.transaction() as session:
            for periodic in self.periodic:
                key = slot_key(periodic, now)
                await jobs.enqueue(session, kind=periodic.kind, now=now, dedupe_key=key)
        self._scheduled_at = now

    async def run_once(self) -> bool:
        """Run one due job or dispatch one outbox message; False when there was neither."""
        async with self.database.transaction() as session:
            job = await jobs.claim(
                session, worker=self.name, now=self.clock.now(), lease=self.lease
            )
        if job is not None:
            await self._run(job)
            return True
        return await self.dispatch_once()

    async def run_until_idle(self) -> int:
        """Schedule the periodic jobs, then run jobs, messages and webhook deliveries until
        none is due."""
        await self.schedule_periodic()
        done = 0
        try:
            while await self.run_once() or await self.deliverer.deliver_batch():
                done += 1
        finally:
            await self.deliverer.aclose()
        return done

    async def dispatch_once(self) -> bool:
        try:
            async with self.database.transaction() as session:
                message = await outbox.dispatch_next(
                    session, self.subscribers, now=self.clock.now()
                )
        except outbox.SubscriberFailed as failure:
            log.exception("outbox subscriber failed", extra={"message_id": failure.message_id})
            async with self.database.transaction() as session:
                await outbox.record_failure(session, failure, now=self.clock.now(),
                                            max_attempts=self.outbox_max_attempts)  # fmt: skip
            return True
        return message is not None

    async def _run(self, job: jobs.ClaimedJob) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            async with self.database.transaction() as session:
                result = await handler(session, job, self.clock)
                await jobs.succeed(session, job, now=self.clock.now(), result=result)
        except Exception as exc:
            log.exception("job failed", extra={"job_id": str(job.id), "kind": job.kind})
            async with self.database.transaction() as session:
                await jobs.fail(session, job, now=self.clock.now(), error=repr(exc))

    async def run(self, stop: asyncio.Event) -> None:
        """Jobs and outbox messages in one loop; webhook deliveries in lanes of their own."""
        log.info("worker started", extra={"worker": self.name})
        await asyncio.gather(self._run_jobs(stop), self.deliverer.run(stop, self.poll_seconds))
        log.info("worker stopped", extra={"worker": self.name})

    async def _run_jobs(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if self._schedule_due():
                    await self.schedule_periodic()
                if await self.run_once():
                    continue
            except Exception:
                log.exception("worker loop error; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)

    def _schedule_due(self) -> bool:
        last = self._scheduled_at
        return last is None or self.clock.now() - last >= SCHEDULE_CHECK
