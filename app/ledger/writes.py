"""What appends write besides balances, gathered per transaction and sent in a few statements.

Each event is linked onto its registrant's chain head in memory: the head is locked once per
transaction (and held until commit), so later events of the same transaction find it without
a round trip. Events, postings, Merkle nodes, head updates and outbox messages wait here until
:meth:`PendingWrites.flush` sends them, each kind as one multi-row statement (on PostgreSQL all
kinds as one statement); a single append sends the same statements as it would have one by
one, a batch of a thousand sends not many more.
"""

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import bulk, outbox
from app.core.bulk import insert_rows
from app.core.db import dialect_insert, dialect_name, json_text, table_of
from app.core.outbox import OutboxMessage
from app.ledger import chain
from app.ledger.balances import Change
from app.ledger.merkle_store import Growth, MerkleNode
from app.ledger.messages import LEDGER_EVENT_APPENDED
from app.ledger.models import GENESIS_HASH, ChainHead, LedgerEvent, Posting
from app.ledger.rows import EventRow, NewEvent, PostingRow, posting_of

# Built once: a statement made per call costs more Python than its round trip (its cache key is
# recomputed and every value becomes a bound parameter object).
_ADVANCE_HEAD = (
    update(table_of(ChainHead))
    .where(ChainHead.registrant_id == bindparam("head_registrant_id"))
    .values(sequence=bindparam("new_sequence"), hash=bindparam("new_hash"),
            peaks=bindparam("new_peaks", type_=ChainHead.peaks.type))
)  # fmt: skip


def _lock_heads_statement(dialect_insert: Any, rows: Any) -> Any:
    """Insert each genesis head there is not one of, "update" the others to themselves (which
    locks them as ``SELECT ... FOR UPDATE`` would, in the order given) and return them all,
    with their Merkle peaks."""
    return (
        dialect_insert(ChainHead)
        .values(rows)
        .on_conflict_do_update(
            index_elements=["registrant_id"], set_={"sequence": ChainHead.sequence}
        )
        .returning(ChainHead.registrant_id, ChainHead.sequence, ChainHead.hash, ChainHead.peaks)
    )


_HEADS = table_of(ChainHead)
_LOCK_EXISTING_HEAD = (
    select(_HEADS.c.registrant_id, _HEADS.c.sequence, _HEADS.c.hash, _HEADS.c.peaks)
    .where(_HEADS.c.registrant_id == bindparam("head_registrant_id"))
    .with_for_update()
)
"""A single append's lock on a head that exists: taken without rewriting the row, which the
upsert does (a new version of it, peaks and all, for every append, besides its update)."""

_GENESIS = {"registrant_id": bindparam("head_registrant_id"), "sequence": 0, "hash": GENESIS_HASH}
_LOCK_ONE_HEAD = {"postgresql": _lock_heads_statement(pg_insert, _GENESIS),
                  "sqlite": _lock_heads_statement(sqlite_insert, _GENESIS)}  # fmt: skip
"""A registrant's first head, created and locked; built once, as the statements above."""


def _lock_heads(session: AsyncSession, registrant_ids: list[uuid.UUID]) -> tuple[Any, Any]:
    if len(registrant_ids) == 1:
        return _LOCK_ONE_HEAD[dialect_name(session)], {"head_registrant_id": registrant_ids[0]}
    rows = [{"registrant_id": rid, "sequence": 0, "hash": GENESIS_HASH} for rid in registrant_ids]
    return _lock_heads_statement(dialect_insert(session), rows), None


class HeadAdvance(TypedDict):
    """A chain head moved to the last event a transaction linked onto it (the parameters of
    the statement that writes it)."""

    head_registrant_id: uuid.UUID
    new_sequence: int
    new_hash: str
    new_peaks: list[str]


class PendingWrites:
    """The chain heads, Merkle trees and rows of the appends in one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._heads: dict[uuid.UUID, tuple[int, str]] = {}
        self._trees: dict[uuid.UUID, Growth] = {}
        self._advanced: set[uuid.UUID] = set()
        self._events: list[EventRow] = []
        self._postings: list[PostingRow] = []
        self._messages: list[dict[str, Any]] = []

    async def lock_heads(self, registrant_ids: Iterable[uuid.UUID]) -> None:
        """Lock the chain heads of these registrants until commit (SQLite: the write lock is
        held), in one statement and one order, so that two batches naming the same
        registrants in different orders cannot deadlock; their Merkle trees grow from the
        peaks the heads keep."""
        wanted = sorted(set(registrant_ids) - self._heads.keys(), key=lambda rid: rid.int)
        if not wanted:
            return
        locked: Sequence[Any] = ()
        if len(wanted) == 1:
            parameters = {"head_registrant_id": wanted[0]}
            locked = (await self._session.execute(_LOCK_EXISTING_HEAD, parameters)).all()
        if not locked:  # a batch, or a registrant's first event
            locked = (await self._session.execute(*_lock_heads(self._session, wanted))).all()
        for registrant_id, sequence, hash_, peaks in locked:
            self._heads[registrant_id] = int(sequence), str(hash_)
            self._trees[registrant_id] = Growth(registrant_id, int(sequence), peaks)

    async def add(self, event: NewEvent, changes: list[Change]) -> EventRow:
        """Link ``event`` onto its registrant's chain (its sequence, prev_hash and hash) and
        hold the row, its postings, its Merkle nodes and its outbox message for :meth:`flush`;
        returns the row."""
        registrant_id = event["registrant_id"]
        await self.lock_heads([registrant_id])
        sequence, prev_hash = self._heads[registrant_id]
        row: EventRow = {**event, "sequence": sequence + 1, "prev_hash": prev_hash, "hash": ""}
        row["hash"] = chain.link(prev_hash, chain.hashed_body(row))
        self._heads[registrant_id] = row["sequence"], row["hash"]
        self._advanced.add(registrant_id)
        tree = self._trees[registrant_id]
        tree.add(row["hash"])
        self._events.append(row)
        self._postings.extend(posting_of(row, change) for change in changes)
        self._messages.append(
            outbox.message(
                topic=LEDGER_EVENT_APPENDED,
                registrant_id=registrant_id,
                payload={"event_id": str(row["id"]), "sequence": row["sequence"],
                         "type": row["type"]},
                now=row["recorded_at"],
            )
        )  # fmt: skip
        return row

    async def flush(self, with_parts: Sequence[bulk.Part] = ()) -> None:
        """Send what is pending: on PostgreSQL as one statement, after ``with_parts`` (the
        balances' changes, and what else commits with the events); elsewhere a statement per
        kind, events first."""
        nodes = [row for tree in self._trees.values() for row in tree.take_rows()]
        heads = [self._head_row(rid) for rid in self._advanced]
        if dialect_name(self._session) == "postgresql":
            await bulk.run_together(self._session, [*with_parts, *self._parts(nodes, heads)])
        else:
            assert not with_parts, "parts are PostgreSQL's"
            session = self._session
            await insert_rows(session, table_of(LedgerEvent), self._events)
            await insert_rows(session, table_of(Posting), self._postings)
            await insert_rows(session, table_of(MerkleNode), nodes)
            if heads:
                await session.execute(_ADVANCE_HEAD, heads)
            await outbox.publish_all(session, self._messages)
        self._events, self._postings, self._messages = [], [], []
        self._advanced = set()

    def _parts(self, nodes: list[dict[str, Any]], heads: list["HeadAdvance"]) -> list[bulk.Part]:
        """Events, postings, Merkle nodes, heads and outbox messages as parts of one statement
        (five round trips before): the writes of an append happen while its chain head and
        balances are locked, so every round trip saved shortens the queue for them."""
        dialect = self._session.get_bind().dialect
        tables = ((LedgerEvent, self._events, "e"), (Posting, self._postings, "p"),
                  (MerkleNode, nodes, "n"), (OutboxMessage, self._messages, "o"))  # fmt: skip
        parts = [bulk.insert_part(dialect, table_of(model), rows, tag)
                 for model, rows, tag in tables if rows]  # fmt: skip
        if heads:
            parts.append(_advance_heads(heads))
        return parts

    def _head_row(self, registrant_id: uuid.UUID) -> "HeadAdvance":
        sequence, hash_ = self._heads[registrant_id]
        return {"head_registrant_id": registrant_id, "new_sequence": sequence, "new_hash": hash_,
                "new_peaks": self._trees[registrant_id].peaks()}  # fmt: skip


_ADVANCE_HEADS_SQL = (
    f"UPDATE {ChainHead.__tablename__} AS head"  # noqa: S608 - a table name; values are parameters
    " SET sequence = new.sequence, hash = new.hash, peaks = new.peaks"
    " FROM unnest(CAST(:head_ids AS uuid[]), CAST(:head_sequences AS bigint[]),"
    " CAST(:head_hashes AS varchar[]), CAST(:head_peaks AS json[]))"
    " AS new(registrant_id, sequence, hash, peaks)"
    " WHERE head.registrant_id = new.registrant_id"
)


def _advance_heads(heads: list["HeadAdvance"]) -> bulk.Part:
    """PostgreSQL: the chain heads set to their new sequence and hash, from arrays."""
    return bulk.Part(_ADVANCE_HEADS_SQL, {
        "head_ids": [row["head_registrant_id"] for row in heads],
        "head_sequences": [row["new_sequence"] for row in heads],
        "head_hashes": [row["new_hash"] for row in heads],
        "head_peaks": [json_text(row["new_peaks"]) for row in heads],
    })  # fmt: skip
