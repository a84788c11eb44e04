"""The staff page: each person beside their peers, with the numbers the peer-comparison rule's
findings hold, and the discrepancies by rule week by week; who may see it."""

import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.auth.permissions import Role
from app.reconciliation import service
from app.reconciliation.findings import Finding
from app.reconciliation.workflow import Severity
from tests.clinical.ward import Ward
from tests.conftest import START
from tests.console.conftest import SignIn
from tests.factories import create_registrant
from tests.reconciliation.test_runs import listed, reconciled, restocked, vials_wasted, ward_at
from tests.world import Staff

pytestmark = pytest.mark.usefixtures("dialect")

CHICAGO = ZoneInfo("America/Chicago")


class Tables(HTMLParser):
    """Every table of a page, by caption: its rows, each a list of its cells' text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._in: str | None = None
        self._text = ""
        self._row: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("caption", "th", "td"):
            self._in, self._text = tag, ""
        elif tag == "tr":
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        text = " ".join(self._text.split())
        if tag == "caption":
            self._caption = text
            self.tables[text] = []
        elif tag in ("th", "td"):
            self._row.append(text)
        elif tag == "tr" and self._caption is not None:
            self.tables[self._caption].append(self._row)
        self._in = None if tag in ("caption", "th", "td") else self._in

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data


def rows_of(page: str, caption_start: str) -> dict[str, list[str]]:
    """The body rows of the table whose caption begins so, by their first cell."""
    [rows] = [rows for caption, rows in Tables(page).tables.items()
              if caption.startswith(caption_start)]  # fmt: skip
    return {row[0]: row[1:] for row in rows[1:]}


@pytest.fixture
async def ward(client, admin_token, token, clock) -> Ward:
    return await ward_at(client, admin_token, token, clock, START)


async def named_nurses(ward: Ward, count: int) -> list[tuple[Staff, str]]:
    """The ward's nurse and ``count`` more, each named and with a token of their own."""
    nurses = [(ward.nurse, ward.nurse_token)]
    for n in range(count):
        subject = f"nurse-{n + 3}"
        staff = await ward.builder.staff(role="nurse", subject=subject, name=f"Nurse {n + 3}")
        nurses.append((staff, ward.token(["clinician"], [ward.id], sub=subject)))
    return nurses


async def officer(signed_in: SignIn, ward: Ward):
    return await signed_in([Role.compliance_officer], [ward.id], name="Olive Officer")


async def test_the_nurse_who_wastes_far_more_is_marked_with_the_findings_numbers(
    ward: Ward, app, clock, signed_in: SignIn
) -> None:
    """Four nurses waste what a vial leaves after the dose (463.5 mg a session); the fifth
    draws a second vial and wastes it whole (963.5 mg): the page marks her, with the
    per-session amount, median and z-score of the rule's finding."""
    await restocked(ward)
    nurses = await named_nurses(ward, 4)
    for _staff, token in nurses[:4]:
        await vials_wasted(ward, token, "9.27")
    await vials_wasted(ward, nurses[4][1], "19.27")
    await reconciled(ward, app, clock)
    found = {d["details"]["measure"]: d["details"] for d in await listed(ward, rule="peer_outlier")}
    assert found.keys() == {"waste", "withdrawn"}

    browser = await officer(signed_in, ward)
    answer = await browser.get("/console/staff", params={"registrant_id": ward.id})
    assert answer.status_code == 200, answer.text
    flagged = nurses[4][0].name
    for measure, caption in (("waste", "Wasted per session"), ("withdrawn", "Withdrawn per")):
        rows = rows_of(answer.text, caption)
        assert set(rows) == {staff.name for staff, _ in nurses}
        sessions, per_session, z, standing = rows[flagged]
        details = found[measure]
        assert (sessions, per_session, z, standing) == (
            str(details["sessions"]), details["per_session"], details["robust_z"],
            "flagged for review",
        )  # fmt: skip
        assert f"Peer median {details['peer_median']} mg" in answer.text
        assert all(row[3] == "within their peers" for name, row in rows.items() if name != flagged)
    # The run's findings about their sessions (each waste unconfirmed by its witness) name
    # them all alike, after it: nobody stands out.
    discrepancies = rows_of(answer.text, "Discrepancies naming them")
    assert len({row[1] for row in discrepancies.values()}) == 1
    assert {row[3] for row in discrepancies.values()} == {"within their peers"}
    # The chart says the same: a flagged bar, her z-score, the median line and the band.
    assert answer.text.count('class="bar flagged"') == 2
    assert f"z {found['waste']['robust_z']}, flagged" in answer.text
    assert 'class="median"' in answer.text
    assert 'class="band"' in answer.text
    assert 'role="img"' in answer.text


async def test_a_nurse_with_too_few_sessions_is_listed_as_not_compared(
    ward: Ward, signed_in: SignIn
) -> None:
    await restocked(ward)
    await vials_wasted(ward, ward.nurse_token, "9.27", sessions=2)
    browser = await officer(signed_in, ward)
    answer = await browser.get("/console/staff", params={"registrant_id": ward.id, "window": "7"})
    assert answer.status_code == 200, answer.text
    rows = rows_of(answer.text, "Wasted per session")
    assert rows == {ward.nurse.name: ["2", "463.5", "", "not compared: 2 of the 3 sessions needed"]}
    assert "over the 7 days from 2026-02-24 to 2026-03-02" in " ".join(answer.text.split())
    assert "Too few to compare" in answer.text


def chicago(day: str, hour: int, minute: int = 0) -> datetime:
    local = datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00").replace(tzinfo=CHICAGO)
    return local.astimezone(UTC)


async def opened(app: Any, registrant_id: str, rule: str, at: datetime, n: int) -> None:
    """``n`` discrepancies of ``rule`` opened at ``at``, as a run records them."""
    async with app.state.database.transaction() as db:
        for _ in range(n):
            finding = Finding(rule=rule, severity=Severity.minor, summary=f"{rule} at {at}",
                              fingerprint=f"{rule}:{at.isoformat()}:{_}")  # fmt: skip
            await service.record_finding(db, registrant_id=uuid.UUID(registrant_id),
                                         finding=finding, now=at, event_ids=[],
                                         staff_ids=[])  # fmt: skip


async def test_the_trend_counts_discrepancies_in_the_registrants_weeks(
    ward: Ward, app, signed_in: SignIn
) -> None:
    """The clock stands on Monday 2026-03-02, 09:00 in Chicago. Sunday 23:30 belongs to the
    week before, Monday 00:30 to this one (on the registrant's clock, not UTC's); the
    Sunday before the twelve weeks shown is in none of them."""
    await opened(app, ward.id, "count_variance", chicago("2026-03-01", 23, 30), 2)
    await opened(app, ward.id, "count_variance", chicago("2026-03-02", 0, 30), 1)
    await opened(app, ward.id, "waste_unwitnessed", chicago("2026-03-02", 8), 3)
    await opened(app, ward.id, "waste_unwitnessed", chicago("2026-01-07", 12), 4)
    await opened(app, ward.id, "count_variance", chicago("2025-12-14", 23), 5)  # before them
    browser = await officer(signed_in, ward)
    answer = await browser.get("/console/staff", params={"registrant_id": ward.id})
    assert answer.status_code == 200, answer.text
    rows = rows_of(answer.text, "Discrepancies opened per week and rule")
    assert next(iter(rows)) == "2025-12-15"
    assert len(rows) == 12
    # Columns: count variance, waste unwitnessed, all rules.
    assert rows["2026-03-02"] == ["1", "3", "4"]
    assert rows["2026-02-23"] == ["2", "0", "2"]
    assert rows["2026-01-05"] == ["0", "4", "4"]
    assert sum(int(row[2]) for row in rows.values()) == 10
    assert 'id="trend-chart"' in answer.text

    four = await browser.get("/console/staff", params={"registrant_id": ward.id, "weeks": "4"})
    assert list(rows_of(four.text, "Discrepancies opened per week")) == [
        "2026-02-09", "2026-02-16", "2026-02-23", "2026-03-02"
    ]  # fmt: skip


async def test_a_clinician_may_not_see_it_and_another_registrants_officer_finds_nothing(
    ward: Ward, client, admin_token, signed_in: SignIn, probe
) -> None:
    clinician = await signed_in([Role.clinician], [ward.id])
    refused = await clinician.get("/console/staff", params={"registrant_id": ward.id})
    assert refused.status_code == 403
    assert "Staff and peers" not in (await clinician.get("/console/")).text

    elsewhere = (await create_registrant(client, admin_token))["id"]
    stranger = await signed_in([Role.compliance_officer], [elsewhere])
    hidden = await stranger.get("/console/staff", params={"registrant_id": ward.id})
    assert hidden.status_code == 404
    assert "Not found" in hidden.text

    browser = await officer(signed_in, ward)
    shown = await browser.get("/console/staff", params={"registrant_id": ward.id})
    [row] = await probe.audit_rows(shown.headers["x-request-id"])
    assert (row.kind, str(row.registrant_id)) == ("report", ward.id)
    nothing = "00000000-0000-0000-0000-000000000000"
    asked = {"registrant_id": ward.id, "product_id": nothing}
    other_product = await browser.get("/console/staff", params=asked)
    assert other_product.status_code == 404
    wrong_window = await browser.get("/console/staff", params={"registrant_id": ward.id,
                                                                "window": "0"})  # fmt: skip
    assert wrong_window.status_code in (400, 422)
