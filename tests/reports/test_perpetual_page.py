"""A page of a place's perpetual inventory is exactly a slice of the report: the same lines
in the same order with the same balances, whatever page, however many lines share an
instant, with a reversal among them and counts at the page's edges."""

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from app.auth.permissions import Role
from app.auth.principal import Principal
from app.reports import perpetual
from app.reports.perpetual_page import page_of
from app.reports.scope import report_scope
from tests.conftest import START
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, count_body, reversal_body

pytestmark = pytest.mark.usefixtures("dialect")


def at(minutes_before: float) -> str:
    return (START - timedelta(minutes=minutes_before)).isoformat()


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def a_busy_hour(clinic: Clinic) -> None:
    """Stock before the period, then moves, administrations (three at one instant), a
    reversal, a move of stock back in, and two counts, within it."""
    await appended(clinic, clinic.event("receipt", "100", occurred_at=at(24 * 60)))
    taken = [await appended(clinic, clinic.event("administer", "1.5", occurred_at=at(50 - i)))
             for i in range(4)]  # fmt: skip
    for _ in range(3):
        await appended(clinic, clinic.event("administer", "0.25", occurred_at=at(40)))
    await appended(clinic, reversal_body(clinic.id, taken[1]["id"], at(38)), clinic.officer_token)
    await appended(clinic, clinic.event("move", "10", occurred_at=at(35),
                                        to_location_id=clinic.room.id))  # fmt: skip
    await appended(clinic, clinic.event("move", "4", occurred_at=at(30), location_id=clinic.room.id,
                                        to_location_id=clinic.vault.id))  # fmt: skip
    for minutes, counted in ((25, "86"), (40, "88")):
        body = count_body(clinic.id, clinic.vault.id, clinic.lot.id, clinic.nurse.id, counted,
                          at(minutes))  # fmt: skip
        await appended(clinic, body)


async def test_every_page_is_a_slice_of_the_report(app, clinic) -> None:
    await a_busy_hour(clinic)
    registrant_id, vault, lot = (uuid.UUID(x) for x in (clinic.id, clinic.vault.id, clinic.lot.id))
    principal = Principal("o", "Olive", frozenset({Role.compliance_officer}),
                          frozenset({registrant_id}))  # fmt: skip
    async with app.state.database.session(write=False) as db:
        scope = await report_scope(db, registrant_id, principal, START)
        period = perpetual.Period(
            scope, START - timedelta(hours=2), START + timedelta(hours=1),
            perpetual.Filters(location_id=vault, lot_id=lot),
            patients_named=False,
        )  # fmt: skip
        report: list[Mapping[str, Any]] = [row async for chunk in perpetual.rows(db, period)
                                        for row in chunk]  # fmt: skip
        opening, *lines, closing = report
        assert len(lines) >= 10
        for limit in (1, 3, 4, len(lines)):
            shown = []
            for offset in range(0, len(lines), limit):
                page = await page_of(db, period, offset=offset, limit=limit)
                assert (page.opening, page.closing, page.total) == (opening, closing, len(lines))
                shown += page.lines
            assert shown == lines, limit
        empty = await page_of(db, period, offset=len(lines), limit=5)
        assert (empty.lines, empty.total) == ([], len(lines))
