"""PostgreSQL's formatting of report cells (for the CSV it writes itself) against the Python
writers', value for value: quantities, decimals, instants, lists and addresses."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, BigInteger, DateTime, Text, literal, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.quantity import format_minor, format_quantity
from app.reports import pg_text
from app.reports.snapshots import address_line
from app.reports.tabular import _CSV_TEXT

EARLIEST = datetime(2000, 1, 1)  # noqa: DTZ001 - Hypothesis bounds are naive; UTC is given
LATEST = datetime(2090, 1, 1)  # noqa: DTZ001


@pytest.fixture
async def postgres(database_url, dialect):
    if dialect != "postgresql":
        pytest.skip("PostgreSQL formats these; SQLite's CSV is written by Python")
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        await connection.execute(text("SET TIME ZONE 'America/Chicago'"))
        yield connection
    await engine.dispose()


async def one(connection, expression):
    return await connection.scalar(select(expression))


def as_csv(value):
    return _CSV_TEXT[type(value)](value)


async def test_quantities_and_decimals(postgres):
    for minor in (0, 1, 5, 10, 155, 1000, 30000, 123456789, -500, -1):
        assert await one(postgres, pg_text.minor_units(literal(minor, BigInteger))) == format_minor(
            minor
        )
    for stored in ("100.000", "0.500", "28.000", "12.345", "1000.000"):
        expected = format_quantity(Decimal(stored))
        assert await one(postgres, pg_text.decimal_text(literal(stored, Text))) == expected


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)  # fmt: skip
@given(st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)))
async def test_instants_as_isoformat_on_the_registrants_clock(postgres, instant):
    chicago = instant.astimezone(ZoneInfo("America/Chicago"))
    value = literal(instant, DateTime(timezone=True))
    assert await one(postgres, pg_text.instant(value)) == chicago.isoformat()


async def test_lists_and_addresses(postgres):
    for names in ([], ["Wes Witness"], ["A", "B, C", "D"]):
        people = [{"name": n, "id": "x"} for n in names]
        cell = await one(postgres, pg_text.joined(literal(people, JSON), "name"))
        assert (cell or "") == as_csv(names)
        assert (await one(postgres, pg_text.joined(literal(names, JSON))) or "") == as_csv(names)
    for address in (
        {"line1": "100 Main St", "city": "Austin", "state": "TX", "postal_code": "78701"},
        {"line1": "1 A St", "line2": "Suite 2", "city": "Dallas", "state": "TX",
         "postal_code": "75201-1234"},
        {"line1": "1 A St", "line2": "", "city": "Waco", "state": "TX", "postal_code": "76701"},
    ):  # fmt: skip
        assert await one(postgres, pg_text.address_line(literal(address, JSON))) == address_line(
            address
        )
    assert await one(postgres, pg_text.address_line(literal(None, JSON))) is None
    assert await one(postgres, pg_text.boolean(literal(True))) == as_csv(True)
    assert await one(postgres, pg_text.boolean(literal(False))) == as_csv(False)
