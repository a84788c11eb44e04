"""The discrepancies report (histories and the DEA's deadlines) and the audit trail, on both
databases."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import bearer
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, stolen
from tests.outages import assert_unavailable

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def report(clinic: Clinic, name: str, token: str | None = None, **params: str) -> Any:
    response = await clinic.client.get(
        f"/v1/reports/{name}", params={"registrant_id": clinic.registrant.id, **MARCH,
                                       **params},
        headers=bearer(token or clinic.officer_token),
    )  # fmt: skip
    return response


async def items(clinic: Clinic, name: str, **params: str) -> list[dict[str, Any]]:
    response = await report(clinic, name, **params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


async def stolen_and_acknowledged(clinic: Clinic, app, clock) -> dict[str, Any]:
    """The theft of ``stolen``, its discrepancy opened on Monday 2 March (the clock) and
    acknowledged."""
    _, found = await stolen(clinic, app, clock)
    moved = await clinic.client.post(f"/v1/discrepancies/{found['id']}/transitions",
                                     json={"to": "acknowledged"},
                                     headers=bearer(clinic.officer_token))  # fmt: skip
    assert moved.status_code == 200, moved.text
    return found


async def test_a_theft_with_its_history_and_the_deas_deadlines(clinic: Clinic, app, clock):
    found = await stolen_and_acknowledged(clinic, app, clock)
    [item] = await items(clinic, "discrepancies")
    assert item["discrepancy_id"] == found["id"]
    assert {key: item[key] for key in (
        "rule", "severity", "status", "reportable", "discovered_at", "first_found_at",
        "notice_due_on", "notice_given_on", "form_106_due_on", "overdue", "history",
    )} == {
        "rule": "theft", "severity": "critical", "status": "acknowledged", "reportable": True,
        "discovered_at": "2026-02-27T17:00:00-06:00",
        "first_found_at": "2026-03-02T09:00:00-06:00",
        "notice_due_on": "2026-03-02", "notice_given_on": None,
        "form_106_due_on": "2026-04-13", "overdue": [],
        "history": ["2026-03-02T09:00:00-06:00 open -> acknowledged by Olive"],
    }  # fmt: skip
    assert {key: item[key] for key in ("location", "lot", "product", "staff")} == {
        "location": clinic.vault.name, "lot": clinic.lot.lot_number,
        "product": f"{clinic.product.name} (00409205105)", "staff": [clinic.nurse.name],
    }  # fmt: skip
    clock.set(datetime(2026, 3, 3, 15, tzinfo=UTC))
    [later] = await items(clinic, "discrepancies")
    assert later["overdue"] == ["written notice"]
    assert await items(clinic, "discrepancies", status="reported") == []
    assert await items(clinic, "discrepancies", **{"from": "2026-03-03", "to": "2026-03-31"}) == []


async def test_the_audit_trail_holds_writes_report_pulls_and_refusals(clinic: Clinic, clock):
    """Each request a minute after the last (the trail is in the order of the clock)."""
    clock.advance(timedelta(minutes=1))
    await appended(clinic, clinic.event("receipt"))
    clock.advance(timedelta(minutes=1))
    refused = await report(clinic, "receipts", clinic.nurse_token)
    assert refused.status_code == 403
    clock.advance(timedelta(minutes=1))
    pulled = await report(clinic, "receipts", format="csv")
    assert pulled.status_code == 200
    clock.advance(timedelta(minutes=1))

    trail = await items(clinic, "audit-trail")
    kinds = [(entry["kind"], entry["action"], entry["status_code"]) for entry in trail]
    assert kinds[-4:] == [
        ("write", "append_event", 201),
        ("refused", "receipts_report", 403),
        ("report", "receipts_report", 200),
        ("report", "audit_trail_report", 200),
    ]
    write, refusal, pull, itself = trail[-4:]
    assert (write["subject"], write["roles"], write["method"]) == ("nurse-1", ["clinician"], "POST")
    assert refusal["problem_type"].endswith("permission-denied")
    assert pull["parameters"] == (
        '{"format":["csv"],"from":["2026-03-01"],"registrant_id":["'
        + clinic.registrant.id
        + '"],"to":["2026-03-31"]}'
    )
    assert itself["at"].endswith("-06:00")


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_trail_the_database_cannot_serve_is_a_503_before_it_starts(
    clinic: Clinic, proxy, proxied
):
    """Its rows are read once the response has started (see the test above), but the
    database has answered its stream before: away, it is a 503, not a 200 broken off."""
    proxy.cut_at(b"database_answers", delivered=False)
    response = await proxied.get("/v1/reports/audit-trail",
                                 params={"registrant_id": clinic.registrant.id, **MARCH},
                                 headers=bearer(clinic.officer_token))  # fmt: skip
    assert_unavailable(response)
    assert proxy.refusing, "the stream was served"
