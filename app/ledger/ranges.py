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
    first_event_id: str | None
    last_hash: str | None
    failure: chain.Break | None
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
            cursor = await connection.cursor(job.sql, job.registrant_id, job.start, end)
            walk = _Walk(job)
            # Fetched in chunks, walked in a plain loop: iterating the cursor row by row costs
            # an await per event.
            while records := await cursor.fetch(_PREFETCH):
                for record in records:
                    if not walk.step(record):
                        return walk.result()
            return walk.result()
    finally:
        await connection.close()


class _Walk:
    """The links of one range, checked one record at a time."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.walker = chain.Walker("")
        self.walker.expected_sequence = job.start
        self.tree = merkle.RunningRoot()
        self.held = 0
        self.first_prev_hash: str | None = None
        self.first_event_id: str | None = None
        self.failure: chain.Break | None = None
        self.pending = list(job.checkpoint_sizes)
        self.peaks_at: dict[int, list[tuple[int, bytes]]] = {}

    def step(self, record: Any) -> bool:
        """Check one event; False (and ``failure`` set) when it does not hold."""
        values = list(record)
        body = dict(zip(_NAMES, values[:_COUNT], strict=True))
        for position in _JSON_POSITIONS:  # stored canonical: hashed as it is (see below)
            text = values[position]
            body[_NAMES[position]] = None if text is None else orjson.Fragment(text)
        link = chain.Link(values[_SEQUENCE], values[_COUNT], values[_COUNT + 1], body)
        if self.held == 0 and link.sequence == self.job.start:
            self.first_prev_hash = self.walker.expected_prev = link.prev_hash
            self.first_event_id = str(body["id"])
        broken = self.walker.check(link)
        if broken and broken.why == chain.CONTENT_CHANGED:
            # Stored JSON that is not in canonical form (equal, or changed): parse it and hash
            # the canonical form, as the definition says, before calling the event changed.
            for position in _JSON_POSITIONS:
                body[_NAMES[position]] = parse_json_column(values[position])
            broken = self.walker.check(link)
        if broken:
            self.failure = broken
            return False
        self.held += 1
        self.tree.add(bytes.fromhex(link.hash))
        while self.pending and self.pending[0] == self.job.start - 1 + self.held:
            self.peaks_at[self.pending.pop(0)] = list(self.tree.peaks)
        return True

    def result(self) -> Result:
        job, held, failure = self.job, self.held, self.failure
        if failure is None and not job.last and held < job.size:
            missing = job.start + held
            failure = chain.Break(missing, f"sequence {missing} is missing")
        last_hash = self.walker.expected_prev if held and self.failure is None else None
        return Result(job.start, held, self.first_prev_hash, self.first_event_id, last_hash,
                      failure, self.tree.peaks, self.peaks_at)  # fmt: skip


_NAMES = chain.HASHED_FIELDS
_COUNT = len(_NAMES)
_JSON_POSITIONS = tuple(_NAMES.index(name) for name in chain.JSON_FIELDS)
_SEQUENCE = _NAMES.index("sequence")


def _quoted(snapshot: str) -> str:
    """A snapshot id as PostgreSQL makes them (hex digits and dashes); nothing else passes."""
    if not all(c in "0123456789ABCDEFabcdef-" for c in snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    return snapshot
