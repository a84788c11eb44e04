"""The worker: claims due jobs and runs their handlers; schedules the periodic ones.

``csledger worker`` runs it alone; ``CSLEDGER_WORKER_IN_PROCESS=true`` runs it inside the API
process (``make run`` does). Each job's work and its "succeeded" mark commit together.

Each part of the service declares its own jobs and outbox subscribers (``app.core.idempotency``,
and the ``work`` modules of the ledger, reconciliation and webhooks); this module assembles them.
"""

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from app.console import work as console
from app.core import idempotency, jobs, outbox
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database
from app.core.jobs import JobHandler, Periodic
from app.integrations.webhooks import work as webhooks
from app.integrations.webhooks.delivery import Deliverer
from app.ledger import work as ledger
from app.reconciliation import work as reconciliation

log = logging.getLogger("csledger.worker")


def default_handlers(settings: Settings) -> dict[str, JobHandler]:
    """Every kind of job, with the handler of the part that declares it."""
    return {
        idempotency.PURGE.kind: idempotency.purge_job,
        console.PURGE.kind: console.purge_job(settings),
        **ledger.handlers(settings),
        **reconciliation.handlers(settings),
    }


def default_periodic(settings: Settings) -> tuple[Periodic, ...]:
    return (idempotency.PURGE, console.PURGE, *ledger.periodic(settings),
            *reconciliation.periodic(settings))  # fmt: skip


def _subscribers() -> dict[str, tuple[outbox.Subscriber, ...]]:
    found: dict[str, tuple[outbox.Subscriber, ...]] = {}
    for part in (reconciliation.SUBSCRIBERS, webhooks.SUBSCRIBERS):
        for topic, subscribers in part.items():
            found[topic] = (*found.get(topic, ()), *subscribers)
    return found


SUBSCRIBERS: Mapping[str, Sequence[outbox.Subscriber]] = _subscribers()
"""In-process subscribers per outbox topic: reconciliation, then webhooks (whose deliveries
carry what reconciliation opened in the same dispatch only through its own messages)."""


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
