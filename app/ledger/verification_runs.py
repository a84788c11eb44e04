"""A verification of a registrant's ledger run by the worker: queued by whoever may pull the
registrant's reports (``POST /v1/ledger/verifications``, the console's integrity page), and
read back with its outcome (:meth:`app.ledger.verification.Outcome.as_dict`) once it ran."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable
from app.core import jobs
from app.core.errors import NotFound
from app.core.jobs import Job
from app.ledger.verification import JOB_KIND
from app.registry.service import get_registrant

MAX_ATTEMPTS = 3


async def start(session: AsyncSession, registrant_id: uuid.UUID, caller: Caller) -> Job:
    """Queue a verification of the registrant's chain, Merkle roots and checkpoints."""
    await get_registrant(session, registrant_id, principal=caller.principal)
    caller.principal.require(Permission.reports)
    job_id = uuid.uuid4()
    await jobs.enqueue(session, kind=JOB_KIND, now=caller.now, registrant_id=registrant_id,
                       job_id=job_id, max_attempts=MAX_ATTEMPTS)  # fmt: skip
    await session.flush()
    return await get_run(session, job_id, caller.principal)


async def get_run(session: AsyncSession, job_id: uuid.UUID, principal: Principal) -> Job:
    """The verification, for whoever may pull its registrant's reports (404 across
    registrants, and for a job of another kind)."""
    job = await get_readable(session, Job, job_id, principal, what="verification")
    if job.kind != JOB_KIND:
        raise NotFound("verification not found")
    principal.require(Permission.reports)
    return job


def finished(job: Job) -> bool:
    return job.status in (jobs.JobStatus.succeeded, jobs.JobStatus.failed)
