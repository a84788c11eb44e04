"""A year of one clinic's ledger for ``csledger reconcile``, with anomalies planted.

The volume: the first events go through ``app.ledger.service.append`` (a receipt, an
administration and a count, the templates); the rest copy them, hashed and linked onto the
chain by the ledger's own functions, and are written with COPY: administrations spread over
365 days at one vault and lot, and a count at the close of every day. On ``planted`` days
(spread over the year) the count is short of the balance; every other count is exact. Merkle
nodes are made for the copies, so the service can append after them.

The care: then the year's in-clinic sessions, IV and esketamine, and weekly counts of their
lots go through the services, day by day (:mod:`bench.care`), with their own anomalies planted.

Then the real command runs twice, timed with its peak RSS: over the whole year, and over its
last day (what the nightly run does). Every planted anomaly has the fingerprint of the
discrepancy that should find it: recall is the share of them found, and the extra findings
are the discrepancies that follow from none of them.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.core.config import Settings
from app.core.db import Database, create_engine
from app.core.quantity import to_minor
from app.ledger import chain
from app.ledger import service as ledger
from app.ledger.models import ChainHead
from app.ledger.schemas import EventCreate
from app.registry.people import staff_of_subject
from bench import care, verify
from bench.seed import SUBJECT, Target, new_registrant, receipt

T = TypeVar("T")
DAYS = 365
SHORTFALL = Decimal("0.5")
"""mL missing at each planted count: small against a day's usage, found all the same."""
DOSE = Decimal("0.001")
ZONE = ZoneInfo("America/Chicago")


@dataclass(frozen=True, slots=True)
class Reconciled:
    events: int
    planted: int
    found: int
    extra: int
    sessions: int
    by_rule: dict[str, tuple[int, int]]
    """Per rule, the planted anomalies found and planted."""
    registrant_id: uuid.UUID
    lot_id: uuid.UUID
    """The lot the volume moved: the perpetual inventory of its year is measured."""
    first_day: date
    last_day: date
    full_seconds: float
    full_rss_kib: int
    full_run_ms: int
    """The run's own time, as it reports it (the rest is the command starting)."""
    nightly_seconds: float
    nightly_run_ms: int
    generate_seconds: float
    target_full_seconds: float = 60
    target_rss_mib: float = 500
    target_nightly_seconds: float = 2

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0


@dataclass(frozen=True, slots=True)
class Templates:
    """The rows the copies are made from, and the chain's head when the copies begin."""

    target: Target
    given: dict[str, Any]
    counted: dict[str, Any]
    head: tuple[int, str]


async def _templates(
    database: Database, settings: Settings, stock: Decimal, first_day: date, last_day: date
) -> tuple[Templates, care.Clinic]:
    """A REMS-certified registrant stocked at the year's start, with an administration and an
    initial inventory count made through the service, and the clinic its sessions need."""
    async with database.transaction() as session:
        target = await new_registrant(
            session, settings, serial=998, now=datetime.now(UTC),
            rems_certification_status="certified",
            rems_certification_id="HCS-TX-0048213",
        )  # fmt: skip
        staff = await staff_of_subject(session, registrant_id=target.registrant_id,
                                       subject=SUBJECT)  # fmt: skip
        assert staff is not None
        clinician = Principal(SUBJECT, "Bench Clinician", frozenset({Role.clinician}),
                              frozenset({target.registrant_id}))  # fmt: skip
        start = datetime.combine(first_day, datetime.min.time(), ZONE) + timedelta(hours=7)
        caller = Caller(principal=clinician, now=start, settings=settings)
        await ledger.append(session, receipt(target, stock, start), caller)
        administer = EventCreate.model_validate({
            "registrant_id": str(target.registrant_id), "type": "administer",
            "location_id": str(target.location_id), "lot_id": str(target.lot_id),
            "quantity": str(DOSE), "occurred_at": (start + timedelta(minutes=1)).isoformat(),
        })  # fmt: skip
        given = await ledger.append(session, administer, caller)
        count = care.count_event(target.registrant_id, target.location_id, target.lot_id,
                                 stock - DOSE, start + timedelta(minutes=2), staff.id,
                                 kind="initial")  # fmt: skip
        counted = await ledger.append(session, count, caller)
        clinic = await care.prepare(session, settings, target, first_day, last_day)
        head = await session.get(ChainHead, target.registrant_id)
        assert head is not None
        templates = Templates(target, dict(given), dict(counted), (head.sequence, head.hash))
        return templates, clinic


def _history(
    templates: Templates, stock: Decimal, events: int, first_day: date, planted: set[int],
    short_counts: set[uuid.UUID],
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """The copies: each day its administrations from 08:00, then the count at 18:00 (the ids of
    the short ones are added to ``short_counts``)."""
    per_day = max((events - 3) // DAYS - 1, 1)
    balance = stock - DOSE
    sequence, prev_hash = templates.head
    for day_index in range(DAYS):
        day = first_day + timedelta(days=day_index + 1)
        opening = datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=8)
        step = timedelta(hours=10) / per_day
        for n in range(per_day):
            sequence += 1
            row = _copy(templates.given, sequence, prev_hash, (opening + step * n).astimezone(UTC))
            prev_hash = row["hash"]
            balance -= DOSE
            yield row
        sequence += 1
        short = SHORTFALL if day_index in planted else Decimal(0)
        closing = (opening + timedelta(hours=10)).astimezone(UTC)
        row = _copy(templates.counted, sequence, prev_hash, closing, quantity=balance - short)
        prev_hash = row["hash"]
        if short:
            short_counts.add(row["id"])
        yield row


def _copy(
    template: dict[str, Any], sequence: int, prev_hash: str, at: datetime, **changes: Any
) -> dict[str, Any]:
    row = template | {"id": uuid.uuid4(), "sequence": sequence, "occurred_at": at,
                      "recorded_at": at, "prev_hash": prev_hash} | changes  # fmt: skip
    if "quantity" in changes:
        row["mg"] = changes["quantity"] * Decimal(template["mg"]) / Decimal(template["quantity"])
    row["hash"] = chain.link(prev_hash, chain.hashed_body(row), checked=False)
    return row


async def _write_history(dsn: str, target: Target, rows: Iterator[dict[str, Any]]) -> None:
    """The copies, their postings and Merkle nodes (the service appends after them), then the
    chain head and the balance."""
    connection = await asyncpg.connect(dsn)
    rid, delta, last = target.registrant_id, -to_minor(DOSE), None
    try:
        tree = verify.Tree(await verify.pending_nodes(connection, rid))
        events: list[Any] = []
        postings: list[Any] = []
        nodes: list[Any] = []
        for row in rows:
            events.append(verify.event_record(row))
            if row["type"] == "administer":
                postings.append(_posting(row, target, delta))
            nodes += [(rid, *node) for node in tree.add(row["sequence"] - 1, row["hash"])]
            last = row
            if len(events) >= 20_000:
                await verify.write(connection, events, postings, nodes)
                events, postings, nodes = [], [], []
        await verify.write(connection, events, postings, nodes)
        assert last is not None
        await connection.execute(
            "UPDATE ledger_heads SET sequence = $2, hash = $3, peaks = $4::json"
            " WHERE registrant_id = $1",
            rid, last["sequence"], last["hash"], tree.peaks(last["sequence"]),
        )  # fmt: skip
        await connection.execute(
            "UPDATE ledger_balances SET quantity = (SELECT sum(delta) FROM ledger_postings "
            "WHERE location_id = $1 AND lot_id = $2) WHERE location_id = $1 AND lot_id = $2",
            target.location_id, target.lot_id,
        )  # fmt: skip
    finally:
        await connection.close()


def _posting(row: dict[str, Any], target: Target, delta: int) -> tuple[Any, ...]:
    return (row["id"], row["location_id"], target.registrant_id, row["lot_id"],
            row["product_id"], delta, row["occurred_at"])  # fmt: skip


def _planted(count: int) -> set[int]:
    """Days of the year (0-based) whose count is short: spread evenly."""
    return {round(n * (DAYS - 1) / max(count - 1, 1)) for n in range(count)}


async def _care(database: Database, clinic: care.Clinic, first_day: date, last_day: date) -> None:
    await care.run_year(database.transaction, clinic, first_day, last_day)


@dataclass(frozen=True, slots=True)
class Found:
    events: int
    found: set[str]
    """The planted fingerprints found."""
    extra: int


async def _recall(dsn: str, target: Target, planted: set[str]) -> Found:
    """The planted anomalies found (by fingerprint), and the discrepancies that follow from
    none of them (a significant shortfall's DEA clocks running out follows from it)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, fingerprint, details FROM discrepancies WHERE registrant_id = $1",
            target.registrant_id,
        )
        events = await connection.fetchval(
            "SELECT count(*) FROM ledger_events WHERE registrant_id = $1", target.registrant_id
        )
    finally:
        await connection.close()
    found = {row["id"]: row["fingerprint"] for row in rows if row["fingerprint"] in planted}
    following = {
        row["id"] for row in rows if row["fingerprint"].startswith("dea_report_overdue:")
        and uuid.UUID(json.loads(row["details"])["discrepancy_id"]) in found
    }  # fmt: skip
    return Found(events, set(found.values()), len(rows) - len(found) - len(following))


def run(settings: Settings, dsn: str, *, events: int, planted: int = 24) -> Reconciled:
    started = time.perf_counter()
    first_day = datetime.now(ZONE).date() - timedelta(days=DAYS + 1)
    last_day = first_day + timedelta(days=DAYS)
    stock = DOSE * events * 2
    templates, clinic = asyncio.run(_prepared(settings, stock, first_day, last_day))
    days, short_counts = _planted(planted), set[uuid.UUID]()
    history = _history(templates, stock, events, first_day, days, short_counts)
    asyncio.run(_write_history(dsn, templates.target, history))
    asyncio.run(_with_database(settings, lambda db: _care(db, clinic, first_day, last_day)))
    generated = time.perf_counter() - started
    rid = str(templates.target.registrant_id)
    arguments = ["reconcile", "--registrant", rid,
                 "--from", first_day.isoformat(), "--to", last_day.isoformat()]  # fmt: skip
    full_seconds, full_rss, output = verify.timed(arguments, settings)
    nightly = ["reconcile", "--registrant", rid,
               "--from", last_day.isoformat(), "--to", last_day.isoformat()]  # fmt: skip
    nightly_seconds, _, nightly_output = verify.timed(nightly, settings)
    expected = clinic.planted | {f"count_variance:event:{e}" for e in short_counts}
    found = asyncio.run(_recall(dsn, templates.target, expected))
    return Reconciled(
        events=found.events, planted=len(expected), found=len(found.found), extra=found.extra,
        sessions=clinic.sessions, by_rule=_by_rule(expected, found.found),
        full_seconds=full_seconds, full_rss_kib=full_rss,
        full_run_ms=json.loads(output)["duration_ms"], nightly_seconds=nightly_seconds,
        nightly_run_ms=json.loads(nightly_output)["duration_ms"], generate_seconds=generated,
        registrant_id=templates.target.registrant_id, lot_id=templates.target.lot_id,
        first_day=first_day, last_day=last_day,
    )  # fmt: skip


def _by_rule(planted: set[str], found: set[str]) -> dict[str, tuple[int, int]]:
    """Fingerprints begin with their rule's code."""

    def of(rule: str, among: set[str]) -> int:
        return sum(1 for fingerprint in among if fingerprint.startswith(f"{rule}:"))

    rules = sorted({fingerprint.split(":")[0] for fingerprint in planted})
    return {rule: (of(rule, found), of(rule, planted)) for rule in rules}


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    database = Database(create_engine(settings))
    try:
        return await work(database)
    finally:
        await database.dispose()


async def _prepared(
    settings: Settings, stock: Decimal, first_day: date, last_day: date
) -> tuple[Templates, care.Clinic]:
    return await _with_database(
        settings, lambda db: _templates(db, settings, stock, first_day, last_day)
    )
