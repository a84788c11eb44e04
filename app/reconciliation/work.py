"""Reconciliation's work for the worker (``app.worker`` assembles each part's): its runs, the
nightly scheduling of them, the ledger's verification (whose failure opens a discrepancy),
and its subscribers to what the ledger and the workflows announce."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.jobs import ClaimedJob, JobHandler, Periodic
from app.core.outbox import Subscriber
from app.ledger import keys, verification
from app.ledger.messages import LEDGER_EVENT_APPENDED, RULES_BROKEN
from app.reconciliation import findings, runs, subscribers
from app.reconciliation import service as reconciliation

SCHEDULE_RECONCILIATION = "schedule_reconciliation"


def verify_ledger(settings: Settings) -> JobHandler:
    async def handle(session: AsyncSession, job: ClaimedJob, clock: Clock) -> dict[str, Any]:
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


def handlers(settings: Settings) -> dict[str, JobHandler]:
    return {
        verification.JOB_KIND: verify_ledger(settings),
        runs.JOB_KIND: runs.job_handler(settings),
        SCHEDULE_RECONCILIATION: runs.schedule_nightly,
    }


def periodic(settings: Settings) -> tuple[Periodic, ...]:
    return (Periodic(SCHEDULE_RECONCILIATION, timedelta(hours=1)),)


SUBSCRIBERS: Mapping[str, tuple[Subscriber, ...]] = {
    LEDGER_EVENT_APPENDED: (subscribers.on_event_appended,),
    RULES_BROKEN: (subscribers.on_rules_broken,),
}
