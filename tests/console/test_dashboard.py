"""The dashboard: what each reader sees of a registrant, and of the registrants they work at."""

from datetime import timedelta

import pytest

from app.auth.permissions import Role
from tests.clinical.ward import open_ward
from tests.console.conftest import shown
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, stolen

pytestmark = pytest.mark.usefixtures("dialect")


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def test_an_officer_sees_the_queue_with_its_dea_clocks(clinic, signed_in, app, clock) -> None:
    await stolen(clinic, app, clock)  # discovered Friday evening: the notice is due Monday
    officer = await signed_in([Role.compliance_officer], [clinic.id], name="Olive Officer")
    page = await officer.get("/console/", params={"registrant_id": clinic.id})
    assert page.status_code == 200
    text = shown(page)
    assert "written notice to the DEA due today" in text
    clock.advance(timedelta(days=1))
    officer = await signed_in([Role.compliance_officer], [clinic.id])  # the next morning
    overdue = await officer.get("/console/", params={"registrant_id": clinic.id})
    assert "written notice to the DEA overdue since 2026-03-02" in shown(overdue)
    assert "Stock on hand" in page.text
    assert "8 mL" in page.text
    assert "Reconciliation and integrity" in page.text


async def test_a_nurse_sees_stock_and_sessions_not_the_queue(clinic, signed_in) -> None:
    await appended(clinic, clinic.event("receipt", "50"))
    nurse = await signed_in([Role.clinician], [clinic.id], sub="nurse-1", name="Nora Nurse")
    page = await nurse.get("/console/")  # the one registrant they work at, chosen for them
    assert page.status_code == 200
    assert "Open discrepancies" not in shown(page)
    assert "Today's sessions" in shown(page)
    assert "50 mL" in page.text
    assert "Reconciliation and integrity" not in page.text


async def test_several_registrants_roll_up(client, admin_token, token, signed_in) -> None:
    first = await open_clinic(client, admin_token, token, name="North Clinic")
    second = await open_clinic(client, admin_token, token, name="South Clinic")
    await appended(first, first.event("receipt", "50"))
    officer = await signed_in([Role.compliance_officer], [first.id, second.id])
    page = await officer.get("/console/")
    assert "All your registrants" in page.text
    assert page.text.index("North Clinic") < page.text.index("South Clinic")


async def test_another_registrants_dashboard_is_not_found(client, admin_token, token, signed_in,
                                                          probe) -> None:  # fmt: skip
    ours = await open_clinic(client, admin_token, token, name="Ours")
    theirs = await open_clinic(client, admin_token, token, name="Theirs")
    officer = await signed_in([Role.compliance_officer], [ours.id])
    page = await officer.get("/console/", params={"registrant_id": theirs.id})
    assert page.status_code == 404
    assert "Theirs" not in page.text
    [row] = await probe.audit_rows(page.headers["x-request-id"])
    assert (row.kind, str(row.registrant_id)) == ("refused", theirs.id)


async def test_todays_sessions_name_their_patient_for_a_nurse_and_the_read_is_audited(
    client, admin_token, token, signed_in, probe
) -> None:
    ward = await open_ward(client, admin_token, token)
    session = await ward.open_session("iv")
    await ward.withdraw(session, "1")
    nurse = await signed_in([Role.clinician], [ward.id], sub="nurse-1")
    page = await nurse.get("/console/")
    patient = ward.iv_patient.family_name
    assert patient in page.text
    assert "50 mg" in page.text
    assert "balances" in page.text
    [row] = await probe.audit_rows(page.headers["x-request-id"])
    assert (row.kind, str(row.registrant_id)) == ("patient_read", ward.id)

    officer = await signed_in([Role.compliance_officer], [ward.id])
    shown = await officer.get("/console/")
    assert patient not in shown.text  # an officer reads sessions, not patients' names
    assert ward.iv_patient.external_id in shown.text
    assert await probe.audit_rows(shown.headers["x-request-id"]) == []
