"""Reports over the reconciled year (:mod:`bench.reconcile` made it, about a million
administrations): the year's dispensing log streamed as CSV by the service under uvicorn,
read as it comes, with the workers' peak RSS sampled meanwhile; the year's perpetual
inventory of the lot those administrations drew from, as CSV, read the same way; and the
inventory as of three instants of that year (its start, its middle, its last day), each timed.
"""

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING

import httpx

from app.auth.permissions import Role
from app.auth.tokens import mint_token
from bench import servers

if TYPE_CHECKING:
    from bench.run import Bench

TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class Streamed:
    """A report read as CSV: its rows (lines but the title's), bytes and seconds from the
    request to its last byte."""

    rows: int
    size: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class Reported:
    rows: int
    seconds: float
    megabytes: float
    peak_rss_kib: int
    inventory_seconds: list[float] = field(default_factory=list)
    perpetual: Streamed | None = None
    target_rows_per_second: float = 50_000
    target_inventory_seconds: float = 1.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def run(
    bench: "Bench", registrant_id: uuid.UUID, first_day: date, last_day: date, *,
    lot_id: uuid.UUID,
) -> Reported:  # fmt: skip
    token = mint_token(bench.settings, subject="bench-officer", name="Bench Officer",
                       roles=[Role.compliance_officer], registrants=[str(registrant_id)],
                       now=datetime.now(UTC), lifetime=timedelta(hours=2))  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    with (
        bench.serve(servers.APP) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=TIMEOUT_S) as client,
    ):
        with server.sampling_rss():
            rows, size, seconds = _log(client, registrant_id, first_day, last_day)
        peak = max(server.peak_rss_kib.values(), default=0)
        perpetual = _csv(client, "perpetual-inventory", registrant_id, first_day, last_day,
                         lot_id=str(lot_id))  # fmt: skip
        middle = first_day + (last_day - first_day) / 2
        instants = [datetime.combine(day, clock_time(12), UTC)
                    for day in (first_day + timedelta(days=1), middle, last_day)]  # fmt: skip
        inventories = [_inventory(client, registrant_id, instant) for instant in instants]
    return Reported(rows, seconds, size / 1e6, peak, inventories, perpetual)


def _log(
    client: httpx.Client, registrant_id: uuid.UUID, first_day: date, last_day: date
) -> tuple[int, int, float]:
    """The rows (lines but the title's) and bytes of the year's log as CSV, and the seconds
    from the request to its last byte."""
    params = {"registrant_id": str(registrant_id), "from": first_day.isoformat(),
              "to": last_day.isoformat(), "format": "csv"}  # fmt: skip
    lines = size = 0
    started = time.perf_counter()
    with client.stream("GET", "/v1/reports/dispensing-log", params=params) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    return lines - 1, size, time.perf_counter() - started


def _csv(
    client: httpx.Client, report: str, registrant_id: uuid.UUID, first_day: date,
    last_day: date, **filters: str,
) -> Streamed:  # fmt: skip
    """The year's ``report`` as CSV, read as it streams."""
    params = {"registrant_id": str(registrant_id), "from": first_day.isoformat(),
              "to": last_day.isoformat(), "format": "csv", **filters}  # fmt: skip
    lines = size = 0
    started = time.perf_counter()
    with client.stream("GET", f"/v1/reports/{report}", params=params) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    return Streamed(lines - 1, size, time.perf_counter() - started)


def _inventory(client: httpx.Client, registrant_id: uuid.UUID, instant: datetime) -> float:
    params = {"registrant_id": str(registrant_id), "as_of": instant.isoformat()}
    started = time.perf_counter()
    response = client.get("/v1/reports/inventory", params=params)
    response.raise_for_status()
    return time.perf_counter() - started
