"""Verifying a registrant's ledger end to end, as an inspector would.

One pass over the events in sequence order (streamed, constant memory): every event's link and
hash (the chain), the Merkle root at every checkpointed size recomputed from the event hashes
alone, and every checkpoint's signature against keys the verifier trusts. Names the first
thing that does not hold. The same walk serves the database (``csledger verify``, the
verification job) and an export file (``csledger verify --file``, offline).
"""

import asyncio
import multiprocessing
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Text, Uuid, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.tokens import StatementInvalid, verify_statement
from app.core.db import UTCDateTime, dialect_name, table_of
from app.ledger import chain, merkle, ranges
from app.ledger.checkpoints import Checkpoint, statement
from app.ledger.models import GENESIS_HASH, LedgerEvent
from app.registry.models import Registrant

_STREAM_CHUNK = 5000
_LINK_COLUMNS = [
    cast(column, Text).label(column.name) if column.name in chain.JSON_FIELDS else column
    for column in table_of(LedgerEvent).columns
    if column.name in {*chain.HASHED_FIELDS, "prev_hash", "hash"}
]
"""Plain rows, not ORM objects, with the JSON as text for orjson: verification reads every
event, and building objects and parsing with the json module cost more than the hashing."""
JOB_KIND = "verify_ledger"
"""The job that ``POST /v1/ledger/verifications`` queues for the worker."""


@dataclass(frozen=True, slots=True)
class Outcome:
    registrant_id: uuid.UUID
    events: int
    checkpoints: int
    failure: str | None = None
    sequence: int | None = None
    """The first event (or checkpoint size) that does not hold."""
    event_id: str | None = None
    """The id of the event at ``sequence`` when that event is what does not hold."""

    @classmethod
    def broken(cls, registrant_id: uuid.UUID, events: int, checkpoints: int,
               at: chain.Break) -> "Outcome":  # fmt: skip
        return cls(registrant_id, events, checkpoints, at.why, at.sequence, at.event_id)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def describe(self) -> str:
        """One line: ``ok`` with what was checked, or where and why it does not hold."""
        if self.ok:
            checked = f"{self.events} events, {self.checkpoints} checkpoints"
            return f"{self.registrant_id}: ok ({checked})"
        at = "" if self.sequence is None else f" at {self.sequence}"
        event = f" (event {self.event_id})" if self.event_id else ""
        return f"{self.registrant_id}: FAILED{at}{event}: {self.failure}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "registrant_id": str(self.registrant_id),
            "ok": self.ok,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "failure": self.failure,
            "sequence": self.sequence,
            "event_id": self.event_id,
        }


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    registrant_id: uuid.UUID
    tree_size: int
    root_hash: str
    signed_at: datetime
    jws: str


async def verify_links(
    registrant_id: uuid.UUID,
    links: AsyncIterator[chain.Link],
    checkpoints: list[SignedCheckpoint],
    keys: dict[str, dict[str, str]],
) -> Outcome:
    checkpoints = sorted(checkpoints, key=lambda c: c.tree_size)
    unsigned = _first_unsigned(registrant_id, checkpoints, keys)
    if unsigned:
        return unsigned
    walker, tree, count = chain.Walker(GENESIS_HASH), merkle.RunningRoot(), 0
    pending = list(checkpoints)
    async for link in links:
        broken = walker.check(link)
        if broken:
            return Outcome.broken(registrant_id, count, len(checkpoints), broken)
        count += 1
        tree.add(bytes.fromhex(link.hash))
        while pending and pending[0].tree_size == count:
            if pending.pop(0).root_hash != tree.root().hex():
                failure = "the checkpoint's root does not match the events"
                return Outcome(registrant_id, count, len(checkpoints), failure, count)
    return _end(registrant_id, count, checkpoints, pending)


def _first_unsigned(
    registrant_id: uuid.UUID, checkpoints: list[SignedCheckpoint], keys: dict[str, dict[str, str]]
) -> Outcome | None:
    for checkpoint in checkpoints:
        failure = signature_failure(checkpoint, keys)
        if failure:
            return Outcome(registrant_id, 0, len(checkpoints), failure, checkpoint.tree_size)
    return None


def _end(
    registrant_id: uuid.UUID,
    count: int,
    checkpoints: list[SignedCheckpoint],
    pending: list[SignedCheckpoint],
) -> Outcome:
    if pending:
        failure = f"a checkpoint covers {pending[0].tree_size} events, the ledger holds {count}"
        return Outcome(registrant_id, count, len(checkpoints), failure, count + 1)
    return Outcome(registrant_id, count, len(checkpoints))


async def verify_registrant(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    *,
    keys: dict[str, dict[str, str]],
    processes: int = 1,
    range_size: int = ranges.RANGE_SIZE,
) -> Outcome:
    """Verify what the database holds for ``registrant_id``. PostgreSQL's chains are read as
    canonical text (see :mod:`app.ledger.ranges`), in ``processes`` worker processes when
    there is more than one."""
    rows = await session.scalars(
        select(Checkpoint).where(Checkpoint.registrant_id == registrant_id)
    )
    checkpoints = [signed_checkpoint(row) for row in rows]
    if dialect_name(session) == "postgresql":
        return await _verify_in_ranges(
            session, registrant_id, checkpoints, keys, processes, range_size
        )
    return await verify_links(registrant_id, _stored_links(session, registrant_id), checkpoints,
                              keys)  # fmt: skip


async def verify_registrants(
    session: AsyncSession,
    registrant_ids: list[uuid.UUID],
    *,
    keys: dict[str, dict[str, str]],
    processes: int = 1,
) -> list[Outcome]:
    """Each registrant named (none named: every registrant, oldest first) verified in turn; a
    registrant that does not exist is an outcome that failed."""
    known = await session.scalars(select(Registrant.id).order_by(Registrant.created_at))
    existing = list(known.all())
    return [
        await verify_registrant(session, registrant_id, keys=keys, processes=processes)
        if registrant_id in existing
        else Outcome(registrant_id, 0, 0, "no such registrant")
        for registrant_id in registrant_ids or existing
    ]


async def _verify_in_ranges(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    checkpoints: list[SignedCheckpoint],
    keys: dict[str, dict[str, str]],
    processes: int,
    range_size: int = ranges.RANGE_SIZE,
) -> Outcome:
    checkpoints = sorted(checkpoints, key=lambda c: c.tree_size)
    unsigned = _first_unsigned(registrant_id, checkpoints, keys)
    if unsigned:
        return unsigned
    sizes = [c.tree_size for c in checkpoints]
    if processes == 1:  # one range, read here
        [job] = await _range_jobs(session, registrant_id, sizes, size=None)
        return await _combine(registrant_id, [asyncio.ensure_future(ranges.run(job))], checkpoints)
    jobs = await _range_jobs(session, registrant_id, sizes, size=range_size)
    loop = asyncio.get_running_loop()
    # A clean interpreter (no inherited event loop), forked from a server that has imported
    # only the range walk, not the whole service.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([ranges.__name__])
    with ProcessPoolExecutor(min(processes, len(jobs)), mp_context=context) as pool:
        futures = [loop.run_in_executor(pool, ranges.verify_range, job) for job in jobs]
        try:
            return await _combine(registrant_id, futures, checkpoints)
        finally:
            for pending in futures:
                pending.cancel()


async def _range_jobs(
    session: AsyncSession, registrant_id: uuid.UUID, checkpoint_sizes: list[int], size: int | None
) -> list[ranges.Job]:
    """Jobs over ranges of ``size`` events (None: one range), all reading this transaction's
    snapshot."""
    snapshot = await session.scalar(text("SELECT pg_export_snapshot()"))
    events = await session.scalar(
        select(func.count()).where(LedgerEvent.registrant_id == registrant_id)
    )
    url = session.get_bind().engine.url.set(drivername="postgresql")
    step = size or max(int(events or 0), 1)
    starts = range(1, max(int(events or 0), 1) + 1, step)
    return [
        ranges.Job(
            dsn=url.render_as_string(hide_password=False),
            snapshot=str(snapshot),
            sql=_canonical_text_sql(),
            registrant_id=registrant_id,
            start=start,
            size=step,
            last=start == starts[-1],
            checkpoint_sizes=tuple(s for s in checkpoint_sizes if start <= s < start + step)
            if size
            else tuple(checkpoint_sizes),
        )
        for start in starts
    ]


async def _combine(
    registrant_id: uuid.UUID,
    futures: list["asyncio.Future[ranges.Result]"],
    checkpoints: list[SignedCheckpoint],
) -> Outcome:
    """The ranges' results in order, checked as one walk would have: the link between ranges,
    each checkpoint's root, then the first failure inside a range."""
    tree, count, prev_hash, pending = merkle.RunningRoot(), 0, GENESIS_HASH, list(checkpoints)
    for future in futures:
        result = await future
        if result.first_prev_hash is not None and result.first_prev_hash != prev_hash:
            at = chain.Break(result.start, chain.PREV_HASH_CHANGED, result.first_event_id)
            return Outcome.broken(registrant_id, count, len(checkpoints), at)
        for size, peaks in sorted(result.peaks_at.items()):
            root = tree.extended(peaks).root().hex()
            while pending and pending[0].tree_size == size:
                if pending.pop(0).root_hash != root:
                    failure = "the checkpoint's root does not match the events"
                    return Outcome(registrant_id, size, len(checkpoints), failure, size)
        count += result.held
        if result.failure:
            return Outcome.broken(registrant_id, count, len(checkpoints), result.failure)
        tree = tree.extended(result.peaks)
        prev_hash = result.last_hash or prev_hash
    return _end(registrant_id, count, checkpoints, pending)


async def _stored_links(
    session: AsyncSession, registrant_id: uuid.UUID
) -> AsyncIterator[chain.Link]:
    rows = await session.stream(
        select(*_LINK_COLUMNS)
        .where(LedgerEvent.registrant_id == registrant_id)
        .order_by(LedgerEvent.sequence)
        .execution_options(yield_per=_STREAM_CHUNK)
    )
    async for row in rows:
        event = dict(row._mapping)
        for name in chain.JSON_FIELDS:
            event[name] = ranges.parse_json_column(event[name])
        yield chain.Link(event["sequence"], event["prev_hash"], event["hash"],
                         chain.hashed_body(event))  # fmt: skip


@cache
def _canonical_text_sql() -> str:
    """The events of a registrant with every hashed column as its canonical JSON value, made
    by PostgreSQL: ids and JSON as text, timestamps formatted, quantities as the stored
    integers. Read through the driver directly, each row costs Python a few microseconds
    instead of a type conversion per column (verification reads millions)."""
    columns = []
    for name in (*chain.HASHED_FIELDS, "prev_hash", "hash"):
        type_ = table_of(LedgerEvent).columns[name].type
        if isinstance(type_, UTCDateTime):
            columns.append(f"to_char({name} AT TIME ZONE 'UTC', '{_PG_TIMESTAMP}')")
        elif isinstance(type_, Uuid | JSON):
            columns.append(f"{name}::text")
        else:
            columns.append(name)
    return (
        f"SELECT {', '.join(columns)} FROM {LedgerEvent.__tablename__}"  # noqa: S608 - no values
        " WHERE registrant_id = $1 AND sequence >= $2"
        " AND sequence <= COALESCE($3::bigint, 9223372036854775807) ORDER BY sequence"
    )


_PG_TIMESTAMP = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
"""canonical.format_timestamp, in PostgreSQL's to_char."""


def signed_checkpoint(row: Checkpoint) -> SignedCheckpoint:
    return SignedCheckpoint(
        registrant_id=row.registrant_id,
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        signed_at=row.signed_at,
        jws=row.jws,
    )


def signature_failure(checkpoint: SignedCheckpoint, keys: dict[str, dict[str, str]]) -> str | None:
    try:
        payload = verify_statement(checkpoint.jws, keys)
    except StatementInvalid as exc:
        return f"checkpoint signature does not verify: {exc}"
    expected = statement(
        registrant_id=checkpoint.registrant_id,
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        signed_at=checkpoint.signed_at,
    )
    return None if payload == expected else "checkpoint row differs from what was signed"
