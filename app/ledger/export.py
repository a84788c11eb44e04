"""A registrant's ledger as a self-contained JSON Lines file, verifiable offline.

Lines, in order: one ``header``; the public ``key`` of every checkpoint signer; every
``checkpoint``; then every ``event`` in sequence order with its ``prev_hash``, ``hash`` and
hashed ``body`` (in canonical form, so ``SHA-256(prev_hash || canonical_json(body))`` is the
hash). Anyone can check the file with ``csledger verify --file`` and keys they trust.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.canonical import canonical_json_unchecked, format_timestamp
from app.ledger import chain
from app.ledger.checkpoints import Checkpoint
from app.ledger.models import LedgerEvent
from app.ledger.verification import Outcome, SignedCheckpoint, verify_links

FORMAT = "csledger-ledger-export"
VERSION = 1
_CHUNK = 5000


class ExportInvalid(ValueError):
    pass


async def export_lines(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    *,
    keys: list[dict[str, str]],
    now: datetime,
) -> AsyncIterator[bytes]:
    yield _line(
        {
            "kind": "header",
            "format": FORMAT,
            "version": VERSION,
            "registrant_id": str(registrant_id),
            "exported_at": format_timestamp(now),
        }
    )
    for key in keys:
        yield _line({"kind": "key", "jwk": key})
    rows = await session.scalars(
        select(Checkpoint)
        .where(Checkpoint.registrant_id == registrant_id)
        .order_by(Checkpoint.tree_size)
    )
    for row in rows:
        yield _line({"kind": "checkpoint", "tree_size": row.tree_size, "root_hash": row.root_hash,
                     "signed_at": format_timestamp(row.signed_at), "jws": row.jws})  # fmt: skip
    events = await session.stream_scalars(
        select(LedgerEvent)
        .where(LedgerEvent.registrant_id == registrant_id)
        .order_by(LedgerEvent.sequence)
        .execution_options(yield_per=_CHUNK)
    )
    async for event in events:
        link = chain.link_of(event)
        body = orjson.loads(canonical_json_unchecked(link.body))
        yield _line({"kind": "event", "sequence": link.sequence, "prev_hash": link.prev_hash,
                     "hash": link.hash, "body": body})  # fmt: skip


async def write_export(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    output: Path,
    *,
    keys: list[dict[str, str]],
    now: datetime,
) -> int:
    """The export written to ``output``; how many lines it holds."""
    count = 0
    lines = export_lines(session, registrant_id, keys=keys, now=now)
    with output.open("wb") as file:
        async for line in lines:
            file.write(line)
            count += 1
    return count


def _line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value) + b"\n"


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                record: dict[str, Any] = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ExportInvalid(f"line {number} is not JSON") from exc
            yield record


async def verify_file(path: Path, *, trusted_keys: list[dict[str, str]] | None) -> Outcome:
    """Verify an export; with no ``trusted_keys``, the keys the file carries are used."""
    records = _records(path)
    header = next(records, None)
    if not header or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ExportInvalid(f"not a {FORMAT} version {VERSION} file")
    registrant_id = uuid.UUID(header["registrant_id"])
    carried: list[dict[str, str]] = []
    checkpoints: list[SignedCheckpoint] = []
    first_event: dict[str, Any] | None = None
    for record in records:
        if record["kind"] == "key":
            carried.append(record["jwk"])
        elif record["kind"] == "checkpoint":
            checkpoints.append(_checkpoint(registrant_id, record))
        else:
            first_event = record
            break
    keys = {key["kid"]: key for key in (trusted_keys if trusted_keys is not None else carried)}
    return await verify_links(registrant_id, _links(first_event, records), checkpoints, keys)


def _checkpoint(registrant_id: uuid.UUID, record: dict[str, Any]) -> SignedCheckpoint:
    return SignedCheckpoint(
        registrant_id=registrant_id,
        tree_size=record["tree_size"],
        root_hash=record["root_hash"],
        signed_at=datetime.fromisoformat(record["signed_at"]),
        jws=record["jws"],
    )


async def _links(
    first: dict[str, Any] | None, rest: Iterator[dict[str, Any]]
) -> AsyncIterator[chain.Link]:
    record = first
    while record is not None:
        if record.get("kind") != "event":
            raise ExportInvalid(f"unexpected {record.get('kind')!r} line among the events")
        yield chain.Link(record["sequence"], record["prev_hash"], record["hash"], record["body"])
        record = next(rest, None)
