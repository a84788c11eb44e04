"""Verifying a PostgreSQL chain in parallel: aligned ranges of events, each in a process.

A chain of a million events is a million SHA-256 links over canonical JSON: Python work that
one core does at a few tens of thousands of events a second. The chain splits cleanly:

- each event is checked against its own stored ``prev_hash`` and content, so a range needs
  nothing from the ranges before it except, at its start, the hash of the event before (a
  string comparison the parent makes when it puts the results together);
- ranges are :data:`RANGE_SIZE` events long (a power of two) and start at a multiple of it,
  so every complete range is a complete subtree of the Merkle tree, and the root at any size is
  those subtrees' roots followed by the peaks of the last range so far.

All workers read one snapshot, the one exported by the parent's transaction, so they verify
exactly what a single reader would. This module runs in the worker processes: it imports only
what the links need, not the service.
"""

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from app.ledger import chain, merkle

RANGE_SIZE = 1 << 16
_PREFETCH = 5000


@dataclass(frozen=True, slots=True)
class Job:
    dsn: str
    snapshot: str
    sql: str
    """The canonical-text query (see app.ledger.verification), with $2 and $3 for the range."""
    registrant_id: uuid.UUID
    start: int
    """The first sequence of the range."""
    size: int
    """Events in a range (a power of two); the last range reads every sequence from ``start``."""
    last: bool
    checkpoint_sizes: tuple[int, ...]
    """The checkpointed tree sizes that end inside this range."""


@dataclass(frozen=True, slots=True)
class Result:
    start: int
    held: int
    """Events from ``start`` on that held, in order, before any failure."""
    first_prev_hash: str | None
    """The ``prev_hash`` of the event at ``start`` (to match the range before)."""
    last_hash: str | None
    failure: tuple[int, str] | None
    peaks: list[tuple[int, bytes]] = field(default_factory=list)
    """The peaks of this range's part of the tree, over the events that held."""
    peaks_at: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
    """Per checkpointed size reached, the peaks of this range's part of the tree then."""


def parse_json_column(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what orjson refuses (NaN, huge integers) json still reads
        return json.loads(text)


def verify_range(job: Job) -> Result:
    """Run in a worker process."""
    return asyncio.run(run(job))


async def run(job: Job) -> Result:
    connection = await asyncpg.connect(job.dsn)
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            await connection.execute(f"SET TRANSACTION SNAPSHOT '{_quoted(job.snapshot)}'")
            end = None if job.last else job.start + job.size - 1
            rows = connection.cursor(job.sql, job.registrant_id, job.start, end,
                                     prefetch=_PREFETCH)  # fmt: skip
            return await _walk(job, rows)
    finally:
        await connection.close()


async def _walk(job: Job, rows: Any) -> Result:
    names, count = chain.HASHED_FIELDS, len(chain.HASHED_FIELDS)
    json_positions = [names.index(name) for name in chain.JSON_FIELDS]
    sequence_position = names.index("sequence")
    walker, tree, held = chain.Walker(""), merkle.RunningRoot(), 0
    walker.expected_sequence = job.start
    first_prev_hash: str | None = None
    pending = list(job.checkpoint_sizes)
    peaks_at: dict[int, list[tuple[int, bytes]]] = {}
    async for record in rows:
        values = list(record)
        body = dict(zip(names, values[:count], strict=True))
        for position in json_positions:  # stored canonical: hashed as it is (see below)
            text = values[position]
            body[names[position]] = None if text is None else orjson.Fragment(text)
        link = chain.Link(values[sequence_position], values[count], values[count + 1], body)
        if held == 0 and link.sequence == job.start:
            first_prev_hash = walker.expected_prev = link.prev_hash
        broken = walker.check(link)
        if broken and broken[1] == chain.CONTENT_CHANGED:
            # Stored JSON that is not in canonical form (equal, or changed): parse it and hash
            # the canonical form, as the definition says, before calling the event changed.
            for position in json_positions:
                body[names[position]] = parse_json_column(values[position])
            broken = walker.check(link)
        if broken:
            return Result(job.start, held, first_prev_hash, None, broken, tree.peaks, peaks_at)
        held += 1
        tree.add(bytes.fromhex(link.hash))
        while pending and pending[0] == job.start - 1 + held:
            peaks_at[pending.pop(0)] = list(tree.peaks)
    last_hash = walker.expected_prev if held else None
    if not job.last and held < job.size:
        missing = job.start + held
        failure: tuple[int, str] | None = (missing, f"sequence {missing} is missing")
    else:
        failure = None
    return Result(job.start, held, first_prev_hash, last_hash, failure, tree.peaks, peaks_at)


def _quoted(snapshot: str) -> str:
    """A snapshot id as PostgreSQL makes them (hex digits and dashes); nothing else passes."""
    if not all(c in "0123456789ABCDEFabcdef-" for c in snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    return snapshot
