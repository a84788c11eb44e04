"""The job queue and worker on real databases: claiming, leases, retries, concurrency."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.core import jobs
from app.core.clock import FrozenClock
from app.core.config import Environment, Settings
from app.core.db import Database, create_engine
from app.core.jobs import Periodic
from app.worker import Worker, slot_key
from tests.conftest import START


@pytest.fixture
async def database(database_url: str):
    db = Database(create_engine(Settings(environment=Environment.test, database_url=database_url)))
    yield db
    await db.dispose()


def _worker(database, clock, handlers, **kwargs: Any) -> Worker:
    settings = Settings(environment=Environment.test, job_lease_seconds=60)
    return Worker(database, settings, clock, handlers=handlers, periodic=(), **kwargs)


async def _enqueue(database, clock, kind="echo", **kwargs: Any) -> None:
    async with database.transaction() as session:
        await jobs.enqueue(session, kind=kind, now=clock.now(), **kwargs)


async def _jobs(database) -> list[jobs.Job]:
    async with database.session(write=False) as session:
        return list((await session.scalars(select(jobs.Job).order_by(jobs.Job.created_at))).all())


async def test_a_due_job_runs_once_and_records_its_result(database, clock):
    ran: list[dict[str, Any]] = []

    async def echo(session, job, clock_):
        ran.append(job.payload)
        return {"echoed": job.payload["n"]}

    await _enqueue(database, clock, payload={"n": 1})
    worker = _worker(database, clock, {"echo": echo})
    assert await worker.run_once()
    assert not await worker.run_once()
    [job] = await _jobs(database)
    assert ran == [{"n": 1}]
    assert (job.status, job.attempts, job.result) == ("succeeded", 1, {"echoed": 1})


async def test_a_job_waits_for_its_time(database, clock):
    await _enqueue(database, clock, run_after=clock.now() + timedelta(minutes=5))
    worker = _worker(database, clock, {"echo": _succeed})
    assert not await worker.run_once()
    clock.advance(timedelta(minutes=5))
    assert await worker.run_once()


async def _succeed(session, job, clock_):
    return {}


async def test_failures_back_off_then_give_up(database, clock):
    async def boom(session, job, clock_):
        raise RuntimeError("receiver down")

    await _enqueue(database, clock, kind="boom", max_attempts=2)
    worker = _worker(database, clock, {"boom": boom})
    assert await worker.run_once()
    [job] = await _jobs(database)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.run_after == clock.now() + jobs.backoff(1)
    assert not await worker.run_once()
    clock.advance(jobs.backoff(1))
    assert await worker.run_once()
    [job] = await _jobs(database)
    assert job.status == "failed"
    assert "receiver down" in (job.last_error or "")


async def test_the_work_of_a_failed_job_is_rolled_back(database, clock):
    async def half_done(session, job, clock_):
        await jobs.enqueue(session, kind="side-effect", now=clock_.now())
        raise RuntimeError("failed after writing")

    await _enqueue(database, clock, kind="half")
    await _worker(database, clock, {"half": half_done}).run_once()
    assert [job.kind for job in await _jobs(database)] == ["half"]


async def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(database, clock):
    await _enqueue(database, clock)
    async with database.transaction() as session:
        assert await jobs.claim(
            session, worker="dead", now=clock.now(), lease=timedelta(seconds=60)
        )
    worker = _worker(database, clock, {"echo": _succeed})
    assert not await worker.run_once()
    clock.advance(timedelta(seconds=61))
    assert await worker.run_once()
    [job] = await _jobs(database)
    assert (job.status, job.attempts, job.leased_by) == ("succeeded", 2, worker.name)


async def test_periodic_jobs_are_queued_once_per_period(database, clock):
    periodic = Periodic("echo", timedelta(hours=1))
    worker = Worker(
        database,
        Settings(environment=Environment.test),
        clock,
        handlers={"echo": _succeed},
        periodic=(periodic,),
    )
    await worker.schedule_periodic()
    await worker.schedule_periodic()
    assert len(await _jobs(database)) == 1
    clock.advance(timedelta(hours=1))
    await worker.schedule_periodic()
    keys = [job.dedupe_key for job in await _jobs(database)]
    assert keys == [slot_key(periodic, START), slot_key(periodic, clock.now())]


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_concurrent_workers_never_take_the_same_job(database):
    clock = FrozenClock(START)
    for n in range(20):
        await _enqueue(database, clock, payload={"n": n})
    taken: list[int] = []

    async def slow_echo(session, job, clock_):
        taken.append(job.payload["n"])
        await asyncio.sleep(0.01)
        return {}

    workers = [_worker(database, clock, {"echo": slow_echo}, name=f"w{i}") for i in range(4)]

    async def drain(worker: Worker) -> None:
        while await worker.run_once():
            pass

    await asyncio.gather(*(drain(w) for w in workers))
    assert sorted(taken) == list(range(20))
    assert {job.status for job in await _jobs(database)} == {"succeeded"}
    assert len({job.leased_by for job in await _jobs(database)}) > 1
