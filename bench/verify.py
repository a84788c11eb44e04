"""A long chain for ``csledger verify``: made fast, then verified by the real command.

The first two events of the chain (a receipt and an administer) go through
``app.ledger.service.append``. The rest copy the administer with a new id, sequence and times,
and are hashed, linked and given their Merkle nodes by the ledger's own functions
(:func:`app.ledger.chain.link`, :mod:`app.ledger.merkle`), then written with COPY: events,
postings and Merkle nodes, the chain head and the balance. ``csledger checkpoint`` then signs
the tree from the stored nodes, so verification checks a signature and a root as well as every
link. Outbox messages, idempotency keys and audit rows, which verification never reads, are
not made for the copied events.
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.core.config import Settings
from app.core.db import Database, create_engine, json_text
from app.core.migrations import PROJECT_ROOT
from app.core.quantity import to_minor
from app.ledger import chain, merkle
from app.ledger import service as ledger
from app.ledger.models import LedgerEvent
from app.ledger.schemas import EventCreate
from bench.seed import SUBJECT, Target, new_registrant, receipt

_CHUNK = 20_000
_EVENT_COLUMNS = tuple(column.name for column in LedgerEvent.__table__.columns)
_VERIFY_TIMEOUT_S = 1800


@dataclass(frozen=True, slots=True)
class Verified:
    events: int
    seconds: float
    peak_rss_kib: int
    output: str
    generate_seconds: float


async def _first_events(settings: Settings, stock: Decimal) -> tuple[Target, dict[str, Any]]:
    """A registrant of its own, stocked, with one administer to copy: sequences 1 and 2."""
    database = Database(create_engine(settings))
    try:
        async with database.transaction() as session:
            now = datetime.now(UTC)
            target = await new_registrant(session, settings, serial=999, now=now)
            clinician = Principal(SUBJECT, "Bench Clinician", frozenset({Role.clinician}),
                                  frozenset({target.registrant_id}))  # fmt: skip
            caller = Caller(principal=clinician, now=now, settings=settings)
            occurred = now - timedelta(minutes=1)
            await ledger.append(session, receipt(target, stock, occurred), caller)
            administer = EventCreate.model_validate(
                {"registrant_id": str(target.registrant_id), "type": "administer",
                 "location_id": str(target.location_id), "lot_id": str(target.lot_id),
                 "quantity": "0.001", "occurred_at": occurred.isoformat()}
            )  # fmt: skip
            template = await ledger.append(session, administer, caller)
    finally:
        await database.dispose()
    return target, dict(template)


def _copies(template: dict[str, Any], count: int) -> Iterator[dict[str, Any]]:
    """Events 3 .. count + 2 of the chain, each linked to the one before."""
    prev_hash = template["hash"]
    for sequence in range(template["sequence"] + 1, template["sequence"] + 1 + count):
        later = timedelta(microseconds=sequence)
        row = template | {
            "id": uuid.uuid4(),
            "sequence": sequence,
            "occurred_at": template["occurred_at"] + later,
            "recorded_at": template["recorded_at"] + later,
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = chain.link(prev_hash, chain.hashed_body(row), checked=False)
        yield row


class Tree:
    """Merkle nodes as ``merkle_store.Growth`` stores them, keeping only the peaks."""

    def __init__(self, pending: dict[merkle.Node, bytes]) -> None:
        self.pending = pending

    def add(self, index: int, event_hash: str) -> list[tuple[int, int, str]]:
        rows = []
        for level, position in merkle.nodes_completed_by(index):
            if level == 0:
                value = merkle.leaf_hash(bytes.fromhex(event_hash))
            else:
                left = self.pending.pop((level - 1, 2 * position))
                right = self.pending.pop((level - 1, 2 * position + 1))
                value = merkle.node_hash(left, right)
            self.pending[(level, position)] = value
            rows.append((level, position, value.hex()))
        return rows

    def peaks(self, size: int) -> str:
        """The peaks' hashes as the chain head keeps them (JSON), at ``size`` leaves."""
        return json_text([self.pending[node].hex() for node in merkle.peaks(size)])


def event_record(row: dict[str, Any]) -> tuple[Any, ...]:
    values = dict(row)
    for name in ("quantity", "mg"):
        values[name] = to_minor(values[name])
    for name in chain.JSON_FIELDS:  # as the service stores them: None as JSON null
        values[name] = json_text(values[name])
    return tuple(values[name] for name in _EVENT_COLUMNS)


async def pending_nodes(connection: Any, registrant_id: uuid.UUID) -> dict[merkle.Node, bytes]:
    """The peaks of the registrant's tree, from its chain head."""
    head = await connection.fetchrow(
        "SELECT sequence, peaks FROM ledger_heads WHERE registrant_id = $1", registrant_id
    )
    hashes = orjson.loads(head["peaks"])
    return dict(zip(merkle.peaks(head["sequence"]), map(bytes.fromhex, hashes), strict=True))


async def _copy(dsn: str, target: Target, template: dict[str, Any], count: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        tree = Tree(await pending_nodes(connection, target.registrant_id))
        rid, delta = target.registrant_id, -to_minor(template["quantity"])
        events, postings, nodes, last = [], [], [], template
        for row in _copies(template, count):
            events.append(event_record(row))
            postings.append((row["id"], row["location_id"], rid, row["lot_id"],
                             row["product_id"], delta, row["occurred_at"]))  # fmt: skip
            nodes += [(rid, *node) for node in tree.add(row["sequence"] - 1, row["hash"])]
            last = row
            if len(events) >= _CHUNK:
                await write(connection, events, postings, nodes)
                events, postings, nodes = [], [], []
        await write(connection, events, postings, nodes)
        await connection.execute(
            "UPDATE ledger_heads SET sequence = $2, hash = $3, peaks = $4::json"
            " WHERE registrant_id = $1",
            rid, last["sequence"], last["hash"], tree.peaks(last["sequence"]),
        )  # fmt: skip
        await connection.execute(
            "UPDATE ledger_balances SET quantity = quantity + $3 "
            "WHERE location_id = $1 AND lot_id = $2",
            target.location_id, target.lot_id, delta * count,
        )  # fmt: skip
    finally:
        await connection.close()


async def write(connection: Any, events: list[Any], postings: list[Any], nodes: list[Any]) -> None:
    async with connection.transaction():
        await connection.copy_records_to_table(
            "ledger_events", records=events, columns=_EVENT_COLUMNS
        )
        await connection.copy_records_to_table(
            "ledger_postings",
            records=postings,
            columns=("event_id", "location_id", "registrant_id", "lot_id", "product_id",
                     "delta", "occurred_at"),
        )  # fmt: skip
        await connection.copy_records_to_table(
            "ledger_merkle_nodes",
            records=nodes,
            columns=("registrant_id", "level", "index", "hash"),
        )


def generate(settings: Settings, dsn: str, *, events: int) -> Target:
    """A registrant whose chain holds ``events`` events (at least 2), checkpointed."""
    stock = Decimal(events)  # 0.001 per event, with room to spare
    target, template = asyncio.run(_first_events(settings, stock))
    asyncio.run(_copy(dsn, target, template, max(events - 2, 0)))
    _csledger(["checkpoint"], settings)
    return target


def _csledger(
    arguments: list[str], settings: Settings, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        cwd=PROJECT_ROOT,
        env=os.environ | _environment(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def _environment(settings: Settings) -> dict[str, str]:
    return {
        "CSLEDGER_DATABASE_URL": settings.database_url,
        "CSLEDGER_ENVIRONMENT": settings.environment.value,
        "CSLEDGER_DEVELOPMENT_KEY_DIR": str(settings.development_key_dir),
    }


def time_verify(settings: Settings, registrant_id: uuid.UUID) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and output of ``csledger verify --registrant``."""
    return timed(["verify", "--registrant", str(registrant_id)], settings)


def timed(arguments: list[str], settings: Settings) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and output of ``csledger`` with ``arguments``."""
    with tempfile.TemporaryFile("w+") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *arguments],
            cwd=PROJECT_ROOT,
            env=os.environ | _environment(settings),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        # wait4, not wait: its rusage is this child's alone (ru_maxrss, KiB on Linux).
        watchdog = threading.Timer(_VERIFY_TIMEOUT_S, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        printed = output.read().strip()
    if process.returncode != 0:
        raise RuntimeError(f"csledger {arguments[0]} exited {process.returncode}:\n{printed}")
    return seconds, usage.ru_maxrss, printed


def run(settings: Settings, dsn: str, *, events: int) -> Verified:
    started = time.perf_counter()
    target = generate(settings, dsn, events=events)
    generated = time.perf_counter() - started
    seconds, peak, output = time_verify(settings, target.registrant_id)
    return Verified(events, seconds, peak, output, generated)
