"""A year of one clinic's ledger for ``csledger reconcile``, with anomalies planted.

The first events go through ``app.ledger.service.append``: a receipt, an administration and a
count (the templates). The rest copy them, hashed and linked onto the chain by the ledger's own
functions, and are written with COPY: administrations spread over 365 days at one vault and
lot, and a count at the close of every day. On ``planted`` days (spread over the year) the
count is short of the balance; every other count is exact. Merkle nodes are not made
for the copies (reconciliation never reads them).

Then the real command runs twice, timed with its peak RSS: over the whole year, and over its
last day (what the nightly run does); recall is what share of the planted short counts opened
a count_variance discrepancy, and the extra findings are those nobody planted.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from app.auth.permissions import Role
from app.auth.principal import Principal
from app.core.config import Settings
from app.core.db import Database, create_engine
from app.core.quantity import to_minor
from app.ledger import chain
from app.ledger import service as ledger
from app.ledger.references import staff_of_subject
from app.ledger.schemas import EventCreate
from bench import verify
from bench.seed import SUBJECT, Target, new_registrant, receipt

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


def _count_body(target: Target, quantity: Decimal, at: datetime, counted_by: uuid.UUID) -> Any:
    inventory = {"inventory_id": str(uuid.uuid4()), "inventory_kind": "initial",
                 "taken_at": "close_of_business", "exactness": "exact",
                 "counted_by": str(counted_by)}  # fmt: skip
    return EventCreate.model_validate({
        "registrant_id": str(target.registrant_id), "type": "count",
        "location_id": str(target.location_id), "lot_id": str(target.lot_id),
        "quantity": str(quantity), "occurred_at": at.isoformat(), "count": inventory,
    })  # fmt: skip


async def _templates(
    settings: Settings, stock: Decimal, first_day: date
) -> tuple[Target, dict[str, Any], dict[str, Any]]:
    """A registrant stocked at the year's start, with an administration and an initial
    inventory count made through the service: the rows the copies are made from."""
    database = Database(create_engine(settings))
    try:
        async with database.transaction() as session:
            target = await new_registrant(session, serial=998, now=datetime.now(UTC))
            staff = await staff_of_subject(session, registrant_id=target.registrant_id,
                                           subject=SUBJECT)  # fmt: skip
            assert staff is not None
            clinician = Principal(SUBJECT, "Bench Clinician", frozenset({Role.clinician}),
                                  frozenset({target.registrant_id}))  # fmt: skip
            start = datetime.combine(first_day, datetime.min.time(), ZONE) + timedelta(hours=7)
            context = ledger.Context(principal=clinician, now=start, settings=settings)
            await ledger.append(session, receipt(target, stock, start), context)
            administer = EventCreate.model_validate({
                "registrant_id": str(target.registrant_id), "type": "administer",
                "location_id": str(target.location_id), "lot_id": str(target.lot_id),
                "quantity": str(DOSE), "occurred_at": (start + timedelta(minutes=1)).isoformat(),
            })  # fmt: skip
            given = await ledger.append(session, administer, context)
            count = _count_body(target, stock - DOSE, start + timedelta(minutes=2), staff.id)
            counted = await ledger.append(session, count, context)
    finally:
        await database.dispose()
    return target, given, counted


def _history(
    given: dict[str, Any], counted: dict[str, Any], stock: Decimal, events: int,
    first_day: date, planted: set[int], short_counts: set[uuid.UUID],
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Events 4 onward: each day its administrations from 08:00, then the count at 18:00 (the
    ids of the short ones are added to ``short_counts``)."""
    per_day = max((events - 3) // DAYS - 1, 1)
    balance = stock - DOSE
    sequence, prev_hash = counted["sequence"], counted["hash"]
    for day_index in range(DAYS):
        day = first_day + timedelta(days=day_index + 1)
        opening = datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=8)
        step = timedelta(hours=10) / per_day
        for n in range(per_day):
            sequence += 1
            row = _copy(given, sequence, prev_hash, (opening + step * n).astimezone(UTC))
            prev_hash = row["hash"]
            balance -= DOSE
            yield row
        sequence += 1
        short = SHORTFALL if day_index in planted else Decimal(0)
        closing = (opening + timedelta(hours=10)).astimezone(UTC)
        row = _copy(counted, sequence, prev_hash, closing, quantity=balance - short)
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


async def _write_history(dsn: str, target: Target, rows: Iterator[dict[str, Any]]) -> int:
    connection = await asyncpg.connect(dsn)
    written, delta, last = 0, -to_minor(DOSE), None
    try:
        events: list[Any] = []
        postings: list[Any] = []
        for row in rows:
            events.append(verify.event_record(row))
            if row["type"] == "administer":
                postings.append(_posting(row, target, delta))
            written, last = written + 1, row
            if len(events) >= 20_000:
                await verify.write(connection, events, postings, [])
                events, postings = [], []
        await verify.write(connection, events, postings, [])
        assert last is not None
        await connection.execute(
            "UPDATE ledger_heads SET sequence = $2, hash = $3 WHERE registrant_id = $1",
            target.registrant_id, last["sequence"], last["hash"],
        )  # fmt: skip
        await connection.execute(
            "UPDATE ledger_balances SET quantity = (SELECT sum(delta) FROM ledger_postings "
            "WHERE location_id = $1 AND lot_id = $2) WHERE location_id = $1 AND lot_id = $2",
            target.location_id, target.lot_id,
        )  # fmt: skip
    finally:
        await connection.close()
    return written + 3


def _posting(row: dict[str, Any], target: Target, delta: int) -> tuple[Any, ...]:
    return (row["id"], row["location_id"], target.registrant_id, row["lot_id"],
            row["product_id"], delta, row["occurred_at"])  # fmt: skip


def _planted(count: int) -> set[int]:
    """Days of the year (0-based) whose count is short: spread evenly."""
    return {round(n * (DAYS - 1) / max(count - 1, 1)) for n in range(count)}


async def _recall(dsn: str, target: Target, short_counts: set[uuid.UUID]) -> tuple[int, int]:
    """The planted short counts found, and the findings that follow from none of them (a
    significant shortfall's DEA clocks running out follows from it)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, rule, event_ids, details FROM discrepancies WHERE registrant_id = $1",
            target.registrant_id,
        )
    finally:
        await connection.close()
    found = {row["id"] for row in rows if row["rule"] == "count_variance"
             and {uuid.UUID(e) for e in json.loads(row["event_ids"])} <= short_counts}  # fmt: skip
    following = {
        row["id"] for row in rows if row["rule"] == "dea_report_overdue"
        and uuid.UUID(json.loads(row["details"])["discrepancy_id"]) in found
    }  # fmt: skip
    return len(found), len(rows) - len(found) - len(following)


def run(settings: Settings, dsn: str, *, events: int, planted: int = 24) -> Reconciled:
    started = time.perf_counter()
    first_day = datetime.now(ZONE).date() - timedelta(days=DAYS + 1)
    stock = DOSE * events * 2
    target, given, counted = asyncio.run(_templates(settings, stock, first_day))
    days, short_counts = _planted(planted), set[uuid.UUID]()
    history = _history(given, counted, stock, events, first_day, days, short_counts)
    made = asyncio.run(_write_history(dsn, target, history))
    generated = time.perf_counter() - started
    last_day = first_day + timedelta(days=DAYS)
    arguments = ["reconcile", "--registrant", str(target.registrant_id),
                 "--from", first_day.isoformat(), "--to", last_day.isoformat()]  # fmt: skip
    full_seconds, full_rss, output = verify.timed(arguments, settings)
    nightly = ["reconcile", "--registrant", str(target.registrant_id),
               "--from", last_day.isoformat(), "--to", last_day.isoformat()]  # fmt: skip
    nightly_seconds, _, nightly_output = verify.timed(nightly, settings)
    found, extra = asyncio.run(_recall(dsn, target, short_counts))
    return Reconciled(
        events=made, planted=len(days), found=found, extra=extra, full_seconds=full_seconds,
        full_rss_kib=full_rss, full_run_ms=json.loads(output)["duration_ms"],
        nightly_seconds=nightly_seconds, nightly_run_ms=json.loads(nightly_output)["duration_ms"],
        generate_seconds=generated,
    )  # fmt: skip
