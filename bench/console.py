"""The console's pages over the reconciled year (:mod:`bench.reconcile` made it): a compliance
officer of that clinic signs in with a development link, and each page is requested
``REPEATS`` times after one to warm it, each timed from request to its last byte (loopback:
what the server spends, and the few microseconds of the socket). The slowest of a page's
timings is held to the target."""

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import httpx

from app.console import links
from app.core.db import Database, create_engine
from bench import servers

if TYPE_CHECKING:
    from bench.run import Bench

REPEATS = 5
TARGET_MS = 300.0


@dataclass(frozen=True, slots=True)
class Timed:
    page: str
    path: str
    median_ms: float
    slowest_ms: float
    size: int


@dataclass(frozen=True, slots=True)
class Paged:
    pages: list[Timed]
    target_ms: float = TARGET_MS

    @property
    def met(self) -> bool:
        return all(page.slowest_ms < self.target_ms for page in self.pages)


def run(bench: "Bench", dsn: str, registrant_id: uuid.UUID, lot_id: uuid.UUID) -> Paged:
    ids = asyncio.run(_ids(dsn, registrant_id, lot_id))
    link = asyncio.run(_sign_in_link(bench, registrant_id))
    with bench.serve(servers.APP) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        signed_in = c.get(link)
        assert signed_in.status_code == 303, signed_in.text
        return Paged([_timed(c, name, path.format(**ids)) for name, path in PAGES])


PAGES = (
    ("dashboard", "/console/?registrant_id={registrant}"),
    ("discrepancy queue", "/console/discrepancies?registrant_id={registrant}"),
    ("discrepancy case", "/console/discrepancies/{discrepancy}"),
    (
        "ledger view, last 30 days",
        "/console/ledger?registrant_id={registrant}&location_id={location}&lot_id={lot}",
    ),
    ("ledger event", "/console/ledger/events/{event}"),
    ("inventories", "/console/inventories?registrant_id={registrant}"),
    ("reports", "/console/reports?registrant_id={registrant}"),
    ("staff and peers", "/console/staff?registrant_id={registrant}&product_id={product}"),
    ("integrity", "/console/integrity?registrant_id={registrant}"),
)
"""Each page of the console, with the year's ids its path takes."""


async def _ids(dsn: str, registrant_id: uuid.UUID, lot_id: uuid.UUID) -> dict[str, str]:
    """The ids the pages are asked about: the year's registrant, its vault and lot, its
    product, its latest event and its most recent discrepancy."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT e.id AS event, e.location_id AS location, l.product_id AS product "
            "FROM ledger_events e JOIN lots l ON l.id = e.lot_id "
            "WHERE e.registrant_id = $1 AND e.lot_id = $2 ORDER BY e.sequence DESC LIMIT 1",
            registrant_id, lot_id,
        )  # fmt: skip
        discrepancy = await connection.fetchval(
            "SELECT id FROM discrepancies WHERE registrant_id = $1 ORDER BY created_at DESC "
            "LIMIT 1", registrant_id,
        )  # fmt: skip
    finally:
        await connection.close()
    return {"registrant": str(registrant_id), "lot": str(lot_id), "event": str(row["event"]),
            "location": str(row["location"]), "product": str(row["product"]),
            "discrepancy": str(discrepancy)}  # fmt: skip


async def _sign_in_link(bench: "Bench", registrant_id: uuid.UUID) -> str:
    database = Database(create_engine(bench.settings))
    try:
        claims = {"sub": "bench-officer", "name": "Bench Officer",
                  "roles": ["compliance_officer"], "registrants": [str(registrant_id)]}  # fmt: skip
        return await links.mint(database, bench.settings, claims, now=datetime.now(UTC))
    finally:
        await database.dispose()


def _timed(client: httpx.Client, name: str, path: str) -> Timed:
    client.get(path).raise_for_status()  # warm: templates compiled, statements cached
    timings, size = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        answer = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        size = len(answer.content)
    return Timed(name, path, statistics.median(timings), max(timings), size)
