"""Verifying a registrant's ledger end to end, as an inspector would.

One pass over the events in sequence order (streamed, constant memory): every event's link and
hash (the chain), the Merkle root at every checkpointed size recomputed from the event hashes
alone, and every checkpoint's signature against keys the verifier trusts. Names the first
thing that does not hold. The same walk serves the database (``csledger verify``, the
verification job) and an export file (``csledger verify --file``, offline).
"""

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.tokens import StatementInvalid, verify_statement
from app.core.db import table_of
from app.ledger import chain, merkle
from app.ledger.checkpoints import Checkpoint, statement
from app.ledger.models import GENESIS_HASH, LedgerEvent

_STREAM_CHUNK = 5000
_JSON_FIELDS = ("witness_ids", "counterparty", "details", "broken_rules", "snapshot")
_LINK_COLUMNS = [
    cast(column, Text).label(column.name) if column.name in _JSON_FIELDS else column
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

    @property
    def ok(self) -> bool:
        return self.failure is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "registrant_id": str(self.registrant_id),
            "ok": self.ok,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "failure": self.failure,
            "sequence": self.sequence,
        }


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    registrant_id: uuid.UUID
    tree_size: int
    root_hash: str
    signed_at: datetime
    jws: str


class RunningRoot:
    """The RFC 9162 root of a growing list of leaves, from O(log n) complete subtrees."""

    def __init__(self) -> None:
        self.peaks: list[tuple[int, bytes]] = []  # (size, hash), sizes strictly decreasing

    def add(self, leaf_data: bytes) -> None:
        size, value = 1, merkle.leaf_hash(leaf_data)
        while self.peaks and self.peaks[-1][0] == size:
            left_size, left = self.peaks.pop()
            size, value = left_size + size, merkle.node_hash(left, value)
        self.peaks.append((size, value))

    def root(self) -> bytes:
        if not self.peaks:
            return merkle.EMPTY_ROOT
        value = self.peaks[-1][1]
        for _, left in reversed(self.peaks[:-1]):
            value = merkle.node_hash(left, value)
        return value


async def verify_links(
    registrant_id: uuid.UUID,
    links: AsyncIterator[chain.Link],
    checkpoints: list[SignedCheckpoint],
    keys: dict[str, dict[str, str]],
) -> Outcome:
    checkpoints = sorted(checkpoints, key=lambda c: c.tree_size)
    for checkpoint in checkpoints:
        failure = _signature_failure(checkpoint, keys)
        if failure:
            return Outcome(registrant_id, 0, len(checkpoints), failure, checkpoint.tree_size)
    walker, tree, pending, count = chain.Walker(GENESIS_HASH), RunningRoot(), list(checkpoints), 0
    async for link in links:
        broken = walker.check(link)
        if broken:
            return Outcome(registrant_id, count, len(checkpoints), broken[1], broken[0])
        count += 1
        tree.add(bytes.fromhex(link.hash))
        while pending and pending[0].tree_size == count:
            if pending.pop(0).root_hash != tree.root().hex():
                failure = "the checkpoint's root does not match the events"
                return Outcome(registrant_id, count, len(checkpoints), failure, count)
    if pending:
        failure = f"a checkpoint covers {pending[0].tree_size} events, the ledger holds {count}"
        return Outcome(registrant_id, count, len(checkpoints), failure, count + 1)
    return Outcome(registrant_id, count, len(checkpoints))


async def verify_registrant(
    session: AsyncSession, registrant_id: uuid.UUID, *, keys: dict[str, dict[str, str]]
) -> Outcome:
    """Verify what the database holds for ``registrant_id``."""
    rows = await session.scalars(
        select(Checkpoint).where(Checkpoint.registrant_id == registrant_id)
    )
    checkpoints = [signed_checkpoint(row) for row in rows]
    return await verify_links(registrant_id, _stored_links(session, registrant_id), checkpoints,
                              keys)  # fmt: skip


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
        for name in _JSON_FIELDS:
            event[name] = _json(event[name])
        yield chain.Link(event["sequence"], event["prev_hash"], event["hash"],
                         chain.hashed_body(event))  # fmt: skip


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what orjson refuses (NaN, huge integers) json still reads
        return json.loads(text)


def signed_checkpoint(row: Checkpoint) -> SignedCheckpoint:
    return SignedCheckpoint(
        registrant_id=row.registrant_id,
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        signed_at=row.signed_at,
        jws=row.jws,
    )


def _signature_failure(checkpoint: SignedCheckpoint, keys: dict[str, dict[str, str]]) -> str | None:
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
