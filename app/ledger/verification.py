"""Verifying a registrant's ledger end to end, as an inspector would.

Walks the events in sequence order once (streamed, constant memory): every event's link and
hash (the chain), the Merkle root at every checkpointed size recomputed from the event hashes
alone, and every checkpoint's signature against the published keys. Names the first thing that
does not hold.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.tokens import StatementInvalid, verify_statement
from app.ledger import chain, merkle
from app.ledger.checkpoints import Checkpoint, statement
from app.ledger.models import GENESIS_HASH, LedgerEvent

_STREAM_CHUNK = 5000
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


class RunningRoot:
    """The RFC 9162 root of a growing list of leaves, from O(log n) complete subtrees."""

    def __init__(self) -> None:
        self.peaks: list[tuple[int, bytes]] = []  # (size, hash), sizes strictly decreasing
        self.size = 0

    def add(self, leaf_data: bytes) -> None:
        size, value = 1, merkle.leaf_hash(leaf_data)
        while self.peaks and self.peaks[-1][0] == size:
            left_size, left = self.peaks.pop()
            size, value = left_size + size, merkle.node_hash(left, value)
        self.peaks.append((size, value))
        self.size += 1

    def root(self) -> bytes:
        if not self.peaks:
            return merkle.EMPTY_ROOT
        value = self.peaks[-1][1]
        for _, left in reversed(self.peaks[:-1]):
            value = merkle.node_hash(left, value)
        return value


async def verify_registrant(
    session: AsyncSession, registrant_id: uuid.UUID, *, keys: dict[str, dict[str, str]]
) -> Outcome:
    checkpoints = list(
        (
            await session.scalars(
                select(Checkpoint)
                .where(Checkpoint.registrant_id == registrant_id)
                .order_by(Checkpoint.tree_size)
            )
        ).all()
    )
    for checkpoint in checkpoints:
        failure = _signature_failure(checkpoint, keys)
        if failure:
            return Outcome(registrant_id, 0, len(checkpoints), failure, checkpoint.tree_size)
    return await _walk(session, registrant_id, checkpoints)


async def _walk(
    session: AsyncSession, registrant_id: uuid.UUID, checkpoints: list[Checkpoint]
) -> Outcome:
    events = await session.stream_scalars(
        select(LedgerEvent)
        .where(LedgerEvent.registrant_id == registrant_id)
        .order_by(LedgerEvent.sequence)
        .execution_options(yield_per=_STREAM_CHUNK)
    )
    tree, pending = RunningRoot(), list(checkpoints)
    expected_prev, count = GENESIS_HASH, 0
    async for event in events:
        broken = chain.first_break([event], genesis=expected_prev, first_sequence=count + 1)
        if broken:
            return Outcome(registrant_id, count, len(checkpoints), broken[1], broken[0])
        expected_prev, count = event.hash, count + 1
        tree.add(bytes.fromhex(event.hash))
        while pending and pending[0].tree_size == count:
            if pending.pop(0).root_hash != tree.root().hex():
                failure = "the checkpoint's root does not match the events"
                return Outcome(registrant_id, count, len(checkpoints), failure, count)
    if pending:
        failure = f"a checkpoint covers {pending[0].tree_size} events, the ledger holds {count}"
        return Outcome(registrant_id, count, len(checkpoints), failure, count + 1)
    return Outcome(registrant_id, count, len(checkpoints))


def _signature_failure(checkpoint: Checkpoint, keys: dict[str, dict[str, str]]) -> str | None:
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
