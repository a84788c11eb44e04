"""The ledger's work for the worker (``app.worker`` assembles each part's): signing a
checkpoint for every registrant whose ledger grew since its last one, periodically.

Verifying a registrant's ledger (``verification.JOB_KIND``) is run by reconciliation's work,
which opens a discrepancy when it fails.
"""

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.jobs import ClaimedJob, JobHandler, Periodic
from app.ledger import checkpoints, keys

SIGN_CHECKPOINTS = "sign_checkpoints"


def sign_checkpoints(settings: Settings) -> JobHandler:
    async def handle(session: AsyncSession, job: ClaimedJob, clock: Clock) -> dict[str, Any]:
        signer = keys.signer(settings)
        made = 0
        for registrant_id in await checkpoints.registrants_behind(session):
            made += (
                await checkpoints.make(session, registrant_id, signer=signer, now=clock.now())
                is not None
            )
        return {"checkpoints": made}

    return handle


def handlers(settings: Settings) -> dict[str, JobHandler]:
    return {SIGN_CHECKPOINTS: sign_checkpoints(settings)}


def periodic(settings: Settings) -> tuple[Periodic, ...]:
    every = timedelta(minutes=settings.checkpoint_interval_minutes)
    return (Periodic(SIGN_CHECKPOINTS, every),)
