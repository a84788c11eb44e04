"""Prescriptions a pharmacy receives and their fills, over HTTP on both databases: the 1306.05
content kept as received, the rules of 21 CFR Part 1306 refusing a pharmacist's instruction
and flagging a record, who reads a prescription, and each fill a ``dispense`` in the ledger.

The dispensary (tests/pharmacy/dispensary.py) holds 300 troches on its shelf; a prescription
is issued on 2 March 2026 (the clock's day) for 30 troches, 30 days' supply, five refills."""

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import START, DatabaseProbe, bearer
from tests.factories import (
    ADDRESS,
    assert_problem,
    assert_refused,
    create,
    create_registrant,
    dea_number,
    injection_body,
    nasal_spray_body,
    patient_body,
    staff_body,
    staff_registration_body,
    troche_body,
    walk_pages,
)
from tests.pharmacy.dispensary import PRESCRIPTIONS, Dispensary, open_dispensary

PROBLEM = "urn:csledger:problem:"
PHARMACIST = "rph-1"
INTEGRATION = "pharmacy-system"
ISSUED = START.date()  # 2026-03-02
EARLY_REASON = "Patient travelling abroad for three weeks; supply authorised by prescriber"


def day(n: int) -> date:
    """``n`` days after the issue date."""
    return ISSUED + timedelta(days=n)


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


@pytest.fixture
def flexibility_ended(app: Any) -> date:
    """The telemedicine flexibility ended the day before the prescriptions' issue date."""
    ends_on = date(2026, 3, 1)
    app.state.settings = app.state.settings.model_copy(
        update={"telemedicine_flexibility_ends_on": ends_on}
    )
    return ends_on


def pointers(problem: dict[str, Any]) -> list[str]:
    return [error.get("pointer") for error in problem.get("errors", [])]


def fills_path(rx: dict[str, Any]) -> str:
    return f"{PRESCRIPTIONS}/{rx['id']}/fills"


def keyed(token: str) -> dict[str, str]:
    return bearer(token) | {"Idempotency-Key": f"rx-test-{uuid.uuid4().hex}"}


async def refused(
    dispensary: Dispensary,
    probe: DatabaseProbe,
    path: str,
    body: dict[str, Any],
    slug: str,
    *,
    status: int = 422,
    token: str | None = None,
    subject: str | None = PHARMACIST,
) -> dict[str, Any]:
    """POST ``body`` to ``path``: refused with ``slug``, nothing written but the audit row."""
    response = await assert_refused(
        dispensary.client, probe, "POST", path, status=status, problem=PROBLEM + slug,
        subject=subject, headers=keyed(token or dispensary.token), json=body,
    )  # fmt: skip
    problem: dict[str, Any] = response.json()
    return problem


async def filled(
    dispensary: Dispensary, rx: dict[str, Any], body: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    """A fill that must be accepted: the prescription as it now stands."""
    response = await dispensary.post(fills_path(rx), body, token)
    assert response.status_code == 201, response.text
    shown: dict[str, Any] = response.json()
    location = response.headers["location"]
    assert location.startswith("/v1/ledger/events/")
    assert location.rsplit("/", 1)[1] in [fill["event_id"] for fill in shown["fills"]]
    return shown


async def receive_as(dispensary: Dispensary, token: str, **overrides: Any) -> dict[str, Any]:
    response = await dispensary.post(PRESCRIPTIONS, dispensary.prescription(**overrides), token)
    assert response.status_code == 201, response.text
    received: dict[str, Any] = response.json()
    return received


async def receive_in_turn(dispensary: Dispensary, **overrides: Any) -> dict[str, Any]:
    """Receive a prescription a minute after the last: lists show them in this order."""
    dispensary.clock.advance(timedelta(minutes=1))
    return await dispensary.receive(**overrides)


async def read(dispensary: Dispensary, rx: dict[str, Any], token: str | None = None) -> Any:
    response = await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}", token)
    assert response.status_code == 200, response.text
    return response.json()


async def listed(dispensary: Dispensary, token: str | None = None, **params: str) -> list[str]:
    response = await dispensary.get(PRESCRIPTIONS, token, **params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def dispenses(dispensary: Dispensary) -> list[dict[str, Any]]:
    response = await dispensary.get("/v1/ledger/events", registrant_id=dispensary.id,
                                    type="dispense")  # fmt: skip
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def shelf_balance(dispensary: Dispensary) -> Decimal:
    """What the shelf holds of the troche lot (nothing when the balance is not listed)."""
    response = await dispensary.get("/v1/ledger/balances", registrant_id=dispensary.id,
                                    lot_id=dispensary.troche_lot.id)  # fmt: skip
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return Decimal(items[0]["quantity"]) if items else Decimal(0)


@pytest.fixture
async def pharmacy_system(dispensary: Dispensary, integration_at) -> str:
    """The pharmacy's own system, configured to write prescriptions and fills."""
    return str(await integration_at(dispensary.id, "pharmacy", sub=INTEGRATION))


async def add_staff(
    dispensary: Dispensary, admin_token: str, registrant_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    path = f"/v1/registrants/{registrant_id or dispensary.id}/staff"
    return await create(dispensary.client, path, staff_body(**overrides), admin_token)


async def stranger(dispensary: Dispensary, admin_token: str) -> tuple[str, str]:
    """A third registrant (a pharmacy), and its pharmacist's token."""
    other = await create_registrant(dispensary.client, admin_token, kind="pharmacy",
                                    name="Elsewhere Pharmacy")  # fmt: skip
    return other["id"], dispensary.make_token(["pharmacist"], [other["id"]], sub="rph-9")


def fill_facts(fill: dict[str, Any]) -> tuple[Any, ...]:
    return (fill["quantity"], fill["refill_number"], fill["partial"], fill["broken_rules"],
            fill["early_refill_reason"], fill["reversed"])  # fmt: skip


# Receiving


async def test_a_prescription_is_kept_and_shown_with_its_1306_05_content(dispensary):
    body = dispensary.prescription(
        rx_number="RX-104233", external_rx_id="SS-88123", quantity="30",
        directions="Dissolve one troche under the tongue before sessions as directed",
        refills_authorized=2, days_supply=30, issuer_registrant_id=dispensary.clinic_id,
    )  # fmt: skip
    response = await dispensary.post(PRESCRIPTIONS, body)
    assert response.status_code == 201, response.text
    rx = response.json()
    assert response.headers["location"] == f"{PRESCRIPTIONS}/{rx['id']}"
    assert rx == {
        **{name: value for name, value in body.items() if name != "prescriber"},
        "id": rx["id"],
        "prescriber": {
            "name": "Grace Hopper, MD",
            "address": ADDRESS | {"line2": None},
            "dea_number": dispensary.prescriber_dea_number,
            "dea_schedules": ["3N", "4"],
            "dea_expires_on": "2027-01-31",
            "npi": "1245319599",
        },
        "status": "active",
        "status_reason": None,
        "broken_rules": [],
        "is_record": False,
        "created_by": PHARMACIST,
        "version": 1,
        "created_at": "2026-03-02T15:00:00Z",
        "updated_at": "2026-03-02T15:00:00Z",
        "fills": [],
        "dispensed": "0",
        "remaining": "90",
        "fill_by": "2026-09-02",
        "fillable": True,
        "not_fillable_because": None,
        "patient": {
            "id": dispensary.patient.id,
            "external_id": dispensary.patient.external_id,
            "name": f"{dispensary.patient.json['given_name']} {dispensary.patient.family_name}",
        },
        "product": rx["product"],
    }
    assert rx["product"]["name"] == dispensary.troche.json["name"]
    assert (rx["patient_id"], rx["product_id"], rx["issued_on"]) == (
        dispensary.patient.id, dispensary.troche.id, "2026-03-02",
    )  # fmt: skip
    assert await read(dispensary, rx) == rx


async def test_an_electronic_prescription_carries_its_external_rx_id(dispensary, probe):
    keyless = dispensary.prescription(external_rx_id=None)
    problem = await refused(dispensary, probe, PRESCRIPTIONS, keyless, "invalid-input")
    assert "external_rx_id" in problem["detail"]

    written = await dispensary.receive(transmission="written", external_rx_id=None)
    assert (written["transmission"], written["external_rx_id"]) == ("written", None)
    electronic = await dispensary.receive(external_rx_id="SS-1")
    assert (electronic["transmission"], electronic["external_rx_id"]) == ("electronic", "SS-1")


async def test_a_telehealth_prescription_without_an_in_person_evaluation_after_the_flexibility(
    dispensary, probe, flexibility_ended
):
    body = dispensary.prescription(encounter="telehealth_audio_video", in_person_evaluation_on=None)
    problem = await refused(dispensary, probe, PRESCRIPTIONS, body,
                            "telemedicine-flexibility-ended")  # fmt: skip
    assert problem["broken_rules"] == ["telemedicine_flexibility_ended"]

    evaluated = await dispensary.receive(in_person_evaluation_on="2026-02-20")
    in_person = await dispensary.receive(encounter="in_person", in_person_evaluation_on=None)
    on_the_last_day = await dispensary.receive(
        issued_on=flexibility_ended.isoformat(), in_person_evaluation_on=None
    )
    for rx in (evaluated, in_person, on_the_last_day):
        assert (rx["status"], rx["broken_rules"], rx["is_record"]) == ("active", [], False)
    assert (on_the_last_day["encounter"], on_the_last_day["in_person_evaluation_on"]) == (
        "telehealth_audio_video", None,
    )  # fmt: skip


async def test_an_in_person_evaluation_is_not_after_the_issue_date(dispensary, probe):
    body = dispensary.prescription(in_person_evaluation_on="2026-03-03", issued_on="2026-03-02")
    await refused(dispensary, probe, PRESCRIPTIONS, body, "invalid-input")
    rx = await dispensary.receive(in_person_evaluation_on="2026-03-02")
    assert rx["in_person_evaluation_on"] == "2026-03-02"


async def test_a_prescriber_whose_registration_expired_before_the_issue_date(dispensary, probe):
    body = dispensary.prescription(prescriber=dispensary.prescriber(dea_expires_on="2026-03-01"))
    problem = await refused(dispensary, probe, PRESCRIPTIONS, body,
                            "prescriber-registration-expired")  # fmt: skip
    assert problem["broken_rules"] == ["prescriber_registration_expired"]

    on_the_day = await dispensary.receive(
        prescriber=dispensary.prescriber(dea_expires_on="2026-03-02")
    )
    assert (on_the_day["prescriber"]["dea_expires_on"], on_the_day["broken_rules"]) == (
        "2026-03-02", [],
    )  # fmt: skip


async def test_a_prescriber_not_registered_for_schedule_iii(dispensary, probe):
    body = dispensary.prescription(prescriber=dispensary.prescriber(dea_schedules=["4"]))
    problem = await refused(dispensary, probe, PRESCRIPTIONS, body,
                            "prescriber-schedule-not-authorised")  # fmt: skip
    assert problem["broken_rules"] == ["prescriber_schedule_not_authorised"]

    for schedules in (["3"], ["3N"], ["2", "3"]):
        rx = await dispensary.receive(prescriber=dispensary.prescriber(dea_schedules=schedules))
        assert (rx["prescriber"]["dea_schedules"], rx["broken_rules"]) == (schedules, [])


async def test_an_integrations_prescription_is_kept_with_the_rules_it_breaks(
    dispensary, flexibility_ended, pharmacy_system
):
    rx = await receive_as(
        dispensary, pharmacy_system,
        encounter="telehealth_audio_video", in_person_evaluation_on=None,
        prescriber=dispensary.prescriber(dea_expires_on="2026-02-28", dea_schedules=["4"]),
    )  # fmt: skip
    assert (rx["status"], rx["is_record"], rx["created_by"]) == ("active", True, INTEGRATION)
    assert rx["broken_rules"] == [
        "telemedicine_flexibility_ended",
        "prescriber_registration_expired",
        "prescriber_schedule_not_authorised",
    ]
    assert (await read(dispensary, rx))["broken_rules"] == rx["broken_rules"]

    clean = await receive_as(dispensary, pharmacy_system)
    assert (clean["is_record"], clean["broken_rules"]) == (True, [])


async def test_a_prescription_is_not_issued_in_the_future(dispensary, probe):
    tomorrow = dispensary.prescription(issued_on="2026-03-03")
    problem = await refused(dispensary, probe, PRESCRIPTIONS, tomorrow, "invalid-input")
    assert pointers(problem) == ["#/issued_on"]

    # 03:00 UTC on 3 March is still 2 March (21:00) in Chicago, where the pharmacy is.
    dispensary.on(date(2026, 3, 3), hour=3)
    problem = await refused(dispensary, probe, PRESCRIPTIONS, tomorrow, "invalid-input")
    assert pointers(problem) == ["#/issued_on"]

    dispensary.on(date(2026, 3, 3), hour=6)  # midnight in Chicago
    rx = await dispensary.receive(issued_on="2026-03-03")
    assert (rx["issued_on"], rx["fill_by"]) == ("2026-03-03", "2026-09-03")


async def test_an_rx_number_is_unique_at_the_pharmacy(dispensary, probe, admin_token):
    first = await dispensary.receive(rx_number="RX-1")
    again = dispensary.prescription(rx_number="RX-1")
    problem = await refused(dispensary, probe, PRESCRIPTIONS, again, "already-exists", status=409)
    assert pointers(problem) == ["#/rx_number"]

    other = await dispensary.receive(rx_number="RX-2")
    assert other["id"] != first["id"]
    # Another pharmacy numbers its own prescriptions.
    elsewhere_id, elsewhere = await stranger(dispensary, admin_token)
    patient = await create(dispensary.client, "/v1/patients", patient_body(elsewhere_id),
                           elsewhere)  # fmt: skip
    troche = await create(dispensary.client, "/v1/products", troche_body(elsewhere_id), elsewhere)
    theirs = await receive_as(
        dispensary, elsewhere, registrant_id=elsewhere_id, rx_number="RX-1",
        patient_id=patient["id"], product_id=troche["id"],
    )  # fmt: skip
    assert (theirs["registrant_id"], theirs["rx_number"]) == (elsewhere_id, "RX-1")


async def test_at_most_five_refills_are_authorised(dispensary, probe):
    body = dispensary.prescription(refills_authorized=6)
    problem = await refused(dispensary, probe, PRESCRIPTIONS, body, "invalid-input")
    assert pointers(problem) == ["#/refills_authorized"]
    rx = await dispensary.receive(refills_authorized=5)
    assert (rx["refills_authorized"], rx["remaining"]) == (5, "180")


async def test_only_a_product_dispensed_to_patients_is_prescribed(dispensary, probe):
    spray = await create(dispensary.client, "/v1/products", nasal_spray_body(dispensary.id),
                         dispensary.token)  # fmt: skip
    bulk = await create(dispensary.client, "/v1/products", {
        "registrant_id": dispensary.id, "name": "Ketamine HCl USP powder", "ndc": "62991-2830-2",
        "substance": "ketamine", "dosage_form": "bulk_powder",
        "strength": {"value": "1000", "unit": "mg/g", "basis": "salt"},
        "inventory_unit": "g", "package_size": "100",
    }, dispensary.token)  # fmt: skip
    for product in (spray, bulk):
        body = dispensary.prescription(product_id=product["id"])
        problem = await refused(dispensary, probe, PRESCRIPTIONS, body, "invalid-reference")
        assert pointers(problem) == ["#/product_id"]

    injection = await create(dispensary.client, "/v1/products", injection_body(dispensary.id),
                             dispensary.token)  # fmt: skip
    rx = await dispensary.receive(product_id=injection["id"], quantity="10")
    assert rx["product_id"] == injection["id"]


async def test_the_patient_is_the_pharmacys_own(dispensary, probe, admin_token):
    elsewhere_id, elsewhere = await stranger(dispensary, admin_token)
    theirs = await create(dispensary.client, "/v1/patients", patient_body(elsewhere_id),
                          elsewhere)  # fmt: skip
    body = dispensary.prescription(patient_id=theirs["id"])
    problem = await refused(dispensary, probe, PRESCRIPTIONS, body, "invalid-reference")
    assert pointers(problem) == ["#/patient_id"]
    rx = await dispensary.receive(patient_id=dispensary.patient.id)
    assert rx["patient_id"] == dispensary.patient.id


@pytest.mark.parametrize("role", ["clinician", "prescriber"])
async def test_only_pharmacists_and_integrations_receive_cancel_and_fill(dispensary, probe, role):
    rx = await dispensary.receive()
    other = dispensary.make_token([role], [dispensary.id], sub=f"{role}-7")
    requests = [
        (PRESCRIPTIONS, dispensary.prescription()),
        (f"{PRESCRIPTIONS}/{rx['id']}/cancel", {"reason": "prescriber asked"}),
        (fills_path(rx), dispensary.fill_body(dispensary.on(day(0)))),
    ]
    for path, body in requests:
        await refused(dispensary, probe, path, body, "permission-denied", status=403,
                      token=other, subject=f"{role}-7")  # fmt: skip
    assert await listed(dispensary) == [rx["id"]]
    assert (await read(dispensary, rx))["status"] == "active"
    # A prescriber may read prescriptions; a clinician may not.
    seen = await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}", other)
    if role == "prescriber":
        assert (seen.status_code, seen.json()["id"]) == (200, rx["id"])
    else:
        assert_problem(seen, 403, "permission-denied")


# Reading and sharing


async def test_the_pharmacy_and_the_clinic_it_linked_read_it_and_its_fills(
    dispensary, probe, admin_token
):
    rx = await dispensary.receive(issuer_registrant_id=dispensary.clinic_id)
    unlinked = await receive_in_turn(dispensary)
    shown = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    assert shown["issuer_registrant_id"] == dispensary.clinic_id

    response = await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}", dispensary.prescriber_token)
    assert response.status_code == 200, response.text
    assert response.json() == shown
    assert fill_facts(response.json()["fills"][0]) == ("30", 0, False, [], None, False)
    # A read across registrants is in the owner's audit trail, and in the reader's.
    audited = await probe.audit_rows(response.headers["x-request-id"])
    assert sorted((a.kind, a.subject, str(a.registrant_id)) for a in audited) == sorted([
        ("patient_read", "prescriber-1", dispensary.id),
        ("patient_read", "prescriber-1", dispensary.clinic_id),
    ])  # fmt: skip
    assert await read(dispensary, rx) == shown

    # The clinic's list holds what the pharmacy linked to it, nothing else of the pharmacy's.
    clinic = {"registrant_id": dispensary.clinic_id}
    assert await listed(dispensary, dispensary.prescriber_token, **clinic) == [rx["id"]]
    assert await listed(dispensary, dispensary.prescriber_token) == [rx["id"]]
    assert_problem(
        await dispensary.get(f"{PRESCRIPTIONS}/{unlinked['id']}", dispensary.prescriber_token),
        404, "not-found",
    )  # fmt: skip
    assert await listed(dispensary, registrant_id=dispensary.id) == [rx["id"], unlinked["id"]]
    officer = dispensary.make_token(["compliance_officer"], [dispensary.clinic_id], sub="off-2")
    assert await listed(dispensary, officer, **clinic) == [rx["id"]]
    # Reading is not changing: the clinic neither cancels nor re-links the prescription.
    await refused(dispensary, probe, f"{PRESCRIPTIONS}/{rx['id']}/cancel", {"reason": "stop"},
                  "not-found", status=404, token=dispensary.prescriber_token,
                  subject="prescriber-1")  # fmt: skip
    relinked = await dispensary.client.patch(
        f"{PRESCRIPTIONS}/{rx['id']}", json={"issuer_registrant_id": None},
        headers=bearer(officer),
    )  # fmt: skip
    assert_problem(relinked, 404, "not-found")


async def test_the_pharmacy_removing_the_link_ends_the_clinics_view(dispensary, probe):
    rx = await dispensary.receive(issuer_registrant_id=dispensary.clinic_id)
    officer = dispensary.make_token(["compliance_officer"], [dispensary.clinic_id], sub="off-3")
    assert await listed(dispensary, officer, registrant_id=dispensary.clinic_id) == [rx["id"]]
    unlinked = await dispensary.client.patch(
        f"{PRESCRIPTIONS}/{rx['id']}", json={"issuer_registrant_id": None},
        headers=bearer(dispensary.token),
    )  # fmt: skip
    assert unlinked.status_code == 200, unlinked.text
    assert (unlinked.json()["issuer_registrant_id"], unlinked.json()["version"]) == (None, 2)
    assert await listed(dispensary, officer, registrant_id=dispensary.clinic_id) == []
    assert_problem(await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}", officer), 404, "not-found")
    history = await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}/history")
    assert [v["data"]["issuer_registrant_id"] for v in history.json()] == [
        dispensary.clinic_id, None,
    ]  # fmt: skip


async def test_a_registrant_cannot_open_a_view_with_data_it_wrote_itself(
    dispensary, probe, admin_token
):
    """A registrant created for the purpose gives its own prescriber the DEA number of the
    clinic's prescriber: that opens nothing, not even the clinic's own view."""
    linked = await dispensary.receive(issuer_registrant_id=dispensary.clinic_id)
    unlinked = await receive_in_turn(dispensary)
    intruder_id, _ = await stranger(dispensary, admin_token)
    officer = dispensary.make_token(["compliance_officer"], [intruder_id], sub="off-9")
    prescriber = await create(
        dispensary.client, f"/v1/registrants/{intruder_id}/staff",
        staff_body(role="prescriber", subject="prescriber-9"), officer,
    )  # fmt: skip
    await create(
        dispensary.client,
        f"/v1/registrants/{intruder_id}/staff/{prescriber['id']}/registrations",
        staff_registration_body(dea_number=dispensary.prescriber_dea_number), officer,
    )  # fmt: skip
    reader = dispensary.make_token(["pharmacist", "prescriber"], [intruder_id], sub="prescriber-9")
    assert await listed(dispensary, reader) == []
    assert await listed(dispensary, reader, registrant_id=intruder_id) == []
    assert await listed(dispensary, reader,
                        prescriber_dea_number=dispensary.prescriber_dea_number) == []  # fmt: skip
    for rx in (linked, unlinked):
        assert_problem(await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}", reader), 404,
                       "not-found")  # fmt: skip
    clinic_officer = dispensary.make_token(["compliance_officer"], [dispensary.clinic_id],
                                           sub="off-4")  # fmt: skip
    assert await listed(dispensary, clinic_officer) == [linked["id"]]


@pytest.mark.parametrize("issuer", ["itself", "nowhere"])
async def test_a_link_names_another_registrant_that_exists(dispensary, probe, issuer):
    target = dispensary.id if issuer == "itself" else str(uuid.uuid4())
    problem = await refused(dispensary, probe, PRESCRIPTIONS,
                            dispensary.prescription(issuer_registrant_id=target),
                            "invalid-reference")  # fmt: skip
    assert pointers(problem) == ["#/issuer_registrant_id"]
    rx = await dispensary.receive()
    before = await probe.business_rows()
    relinked = await dispensary.client.patch(
        f"{PRESCRIPTIONS}/{rx['id']}", json={"issuer_registrant_id": target},
        headers=bearer(dispensary.token),
    )  # fmt: skip
    assert_problem(relinked, 422, "invalid-reference")
    assert await probe.business_rows() == before


async def test_a_third_registrant_does_not_find_it_and_the_attempt_is_audited(
    dispensary, probe, admin_token
):
    rx = await dispensary.receive()
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    elsewhere_id, elsewhere = await stranger(dispensary, admin_token)
    for path in (f"{PRESCRIPTIONS}/{rx['id']}", f"{PRESCRIPTIONS}/{rx['id']}/history"):
        await assert_refused(dispensary.client, probe, "GET", path, status=404,
                             problem=PROBLEM + "not-found", subject="rph-9",
                             headers=bearer(elsewhere))  # fmt: skip
    assert_problem(await dispensary.get(PRESCRIPTIONS, elsewhere, registrant_id=dispensary.id),
                   404, "not-found")  # fmt: skip
    assert await listed(dispensary, elsewhere) == []
    assert await listed(dispensary, elsewhere, registrant_id=elsewhere_id) == []
    await refused(dispensary, probe, f"{PRESCRIPTIONS}/{rx['id']}/cancel", {"reason": "x"},
                  "not-found", status=404, token=elsewhere, subject="rph-9")  # fmt: skip
    await refused(dispensary, probe, fills_path(rx), dispensary.fill_body(dispensary.on(day(30))),
                  "not-found", status=404, token=elsewhere, subject="rph-9")  # fmt: skip
    assert (await read(dispensary, rx))["dispensed"] == "30"


async def test_the_list_filters_by_patient_status_and_prescriber(dispensary, admin_token):
    second_patient = await create(dispensary.client, "/v1/patients",
                                  patient_body(dispensary.id, given_name="Alan"),
                                  dispensary.token)  # fmt: skip
    other_dea = dea_number("MK")
    first = await receive_in_turn(dispensary)
    for_alan = await receive_in_turn(dispensary, patient_id=second_patient["id"])
    by_other = await receive_in_turn(
        dispensary, prescriber=dispensary.prescriber(dea_number=other_dea)
    )
    cancelled = await receive_in_turn(dispensary)
    response = await dispensary.post(f"{PRESCRIPTIONS}/{cancelled['id']}/cancel",
                                     {"reason": "Prescriber cancelled"})  # fmt: skip
    assert response.status_code == 200, response.text

    everything = [first["id"], for_alan["id"], by_other["id"], cancelled["id"]]
    assert await listed(dispensary) == everything
    assert await listed(dispensary, patient_id=second_patient["id"]) == [for_alan["id"]]
    assert await listed(dispensary, patient_id=dispensary.patient.id) == [
        first["id"], by_other["id"], cancelled["id"],
    ]  # fmt: skip
    assert await listed(dispensary, status="cancelled") == [cancelled["id"]]
    assert await listed(dispensary, status="active") == everything[:3]
    assert await listed(dispensary, prescriber_dea_number=other_dea) == [by_other["id"]]
    assert await listed(
        dispensary, prescriber_dea_number=dispensary.prescriber_dea_number, status="active",
        patient_id=dispensary.patient.id,
    ) == [first["id"]]  # fmt: skip


async def test_the_list_is_paged_in_the_order_received(dispensary):
    received = [(await receive_in_turn(dispensary))["id"] for _ in range(5)]
    first_page = await dispensary.get(PRESCRIPTIONS, limit="2")
    assert [item["id"] for item in first_page.json()["items"]] == received[:2]
    assert first_page.json()["next_cursor"] is not None
    items = await walk_pages(dispensary.client, PRESCRIPTIONS, dispensary.token, limit=2,
                             params={"registrant_id": dispensary.id})  # fmt: skip
    assert [item["id"] for item in items] == received
    assert all("fills" not in item for item in items)


async def test_the_history_keeps_the_active_and_the_cancelled_versions(dispensary):
    rx = await dispensary.receive(issuer_registrant_id=dispensary.clinic_id)
    dispensary.clock.advance(timedelta(hours=2))
    reason = "Prescriber cancelled: therapy changed"
    response = await dispensary.post(f"{PRESCRIPTIONS}/{rx['id']}/cancel", {"reason": reason})
    assert response.status_code == 200, response.text
    history = await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}/history")
    assert history.status_code == 200, history.text
    versions = [
        (v["version"], v["data"]["version"], v["data"]["status"], v["data"]["status_reason"],
         v["changed_at"], v["changed_by"])
        for v in history.json()
    ]  # fmt: skip
    assert versions == [
        (1, 1, "active", None, "2026-03-02T15:00:00Z", PHARMACIST),
        (2, 2, "cancelled", reason, "2026-03-02T17:00:00Z", PHARMACIST),
    ]
    clinic_view = await dispensary.get(f"{PRESCRIPTIONS}/{rx['id']}/history",
                                       dispensary.prescriber_token)  # fmt: skip
    assert clinic_view.json() == history.json()


# Cancelling


async def test_a_cancelled_prescription_stays_cancelled_and_is_not_filled(dispensary, probe):
    rx = await dispensary.receive()
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    response = await dispensary.post(f"{PRESCRIPTIONS}/{rx['id']}/cancel",
                                     {"reason": "Prescriber cancelled"})  # fmt: skip
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert (cancelled["status"], cancelled["status_reason"], cancelled["version"]) == (
        "cancelled", "Prescriber cancelled", 2,
    )  # fmt: skip
    assert (cancelled["dispensed"], len(cancelled["fills"])) == ("30", 1)

    again = {"reason": "twice"}
    problem = await refused(dispensary, probe, f"{PRESCRIPTIONS}/{rx['id']}/cancel", again,
                            "prescription-not-active", status=409)  # fmt: skip
    assert "cancelled" in problem["detail"]
    body = dispensary.fill_body(dispensary.on(day(30)))
    problem = await refused(dispensary, probe, fills_path(rx), body, "prescription-cancelled")
    assert problem["broken_rules"] == ["prescription_cancelled"]
    # No reason excuses it.
    early = body | {"early_refill_reason": EARLY_REASON}
    await refused(dispensary, probe, fills_path(rx), early, "prescription-cancelled")
    assert await shelf_balance(dispensary) == Decimal(270)
    assert (await read(dispensary, rx))["status"] == "cancelled"


# Fills


async def test_partial_fills_of_one_filling_share_its_refill_number(dispensary):
    rx = await dispensary.receive()
    first = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0)), "10"))
    # Ten troches supply ten of the thirty days: a fill is early until 75 % of them, 8 days on.
    second = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(8)), "20"))
    third = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(31)), "30"))
    assert first["fills"][0] == second["fills"][0]
    assert [fill_facts(f) for f in third["fills"]] == [
        ("10", 0, True, [], None, False),
        ("20", 0, True, [], None, False),
        ("30", 1, False, [], None, False),
    ]
    assert (third["dispensed"], third["remaining"]) == ("60", "120")
    assert sorted(e["quantity"] for e in await dispenses(dispensary)) == ["10", "20", "30"]
    assert await shelf_balance(dispensary) == Decimal(240)


async def test_fills_do_not_exceed_the_quantity_prescribed_with_its_refills(dispensary, probe):
    rx = await dispensary.receive(refills_authorized=1)  # 60 troches in all
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0)), "25"))
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(1)), "5"))
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(23)), "25"))
    body = dispensary.fill_body(dispensary.on(day(38)), "11")
    problem = await refused(dispensary, probe, fills_path(rx), body, "fills-exceed-total")
    assert problem["broken_rules"] == ["fills_exceed_total"]

    shown = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(38)), "5"))
    assert [(f["quantity"], f["refill_number"], f["partial"]) for f in shown["fills"]] == [
        ("25", 0, True), ("5", 0, True), ("25", 1, True), ("5", 1, True),
    ]  # fmt: skip
    assert (shown["dispensed"], shown["remaining"]) == ("60", "0")
    body = dispensary.fill_body(dispensary.on(day(60)), "1")
    problem = await refused(dispensary, probe, fills_path(rx), body, "refills-exhausted")
    assert problem["broken_rules"] == ["refills_exhausted"]


async def test_one_dispensing_stays_within_its_filling(dispensary, probe):
    """Two fillings at once, or a partial fill's remainder and the next refill together, are
    not one dispensing: each refill is recorded as its own."""
    rx = await dispensary.receive()
    both = dispensary.fill_body(dispensary.on(day(0)), "60")
    await refused(dispensary, probe, fills_path(rx), both, "fill-spans-fillings")
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0)), "10"))
    across = dispensary.fill_body(dispensary.on(day(2)), "30")
    await refused(dispensary, probe, fills_path(rx), across, "fill-spans-fillings")
    # Completing the partly filled original two days on is not an early refill.
    shown = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(2)), "20"))
    assert [(f["refill_number"], f["broken_rules"]) for f in shown["fills"]] == [
        (0, []), (0, []),
    ]  # fmt: skip


async def test_no_fill_more_than_six_months_after_issue(dispensary, probe):
    rx = await dispensary.receive()
    assert rx["fill_by"] == "2026-09-02"
    late = dispensary.fill_body(dispensary.on(date(2026, 9, 3)))
    problem = await refused(dispensary, probe, fills_path(rx), late, "fill-after-six-months")
    assert problem["broken_rules"] == ["fill_after_six_months"]

    # 03:55 UTC on 3 September is 22:55 on 2 September in Chicago: still the last day.
    shown = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(date(2026, 9, 3),
                                                                            hour=4)))  # fmt: skip
    [fill] = shown["fills"]
    assert (fill["filled_at"], fill["broken_rules"]) == ("2026-09-03T03:55:00Z", [])


async def test_no_fill_dated_before_the_prescription_was_issued(dispensary, probe):
    rx = await dispensary.receive(issued_on="2026-03-02")
    now = dispensary.on(date(2026, 3, 2), hour=18)  # 12:55 on 2 March in Chicago
    before_issue = dispensary.fill_body("2026-03-02T05:00:00Z")  # 23:00 on 1 March there
    problem = await refused(dispensary, probe, fills_path(rx), before_issue, "filled-before-issue")
    assert problem["broken_rules"] == ["filled_before_issue"]

    shown = await filled(dispensary, rx, dispensary.fill_body(now))
    assert shown["fills"][0]["broken_rules"] == []


async def test_no_fill_after_the_prescribers_registration_expired(dispensary, probe):
    rx = await dispensary.receive(prescriber=dispensary.prescriber(dea_expires_on="2026-03-20"))
    assert rx["broken_rules"] == []
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0)), "15"))
    body = dispensary.fill_body(dispensary.on(date(2026, 3, 21)), "15")
    problem = await refused(dispensary, probe, fills_path(rx), body,
                            "prescriber-registration-expired")  # fmt: skip
    assert problem["broken_rules"] == ["prescriber_registration_expired"]
    shown = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(date(2026, 3, 20)),
                                                              "15"))  # fmt: skip
    assert [f["quantity"] for f in shown["fills"]] == ["15", "15"]


async def test_a_lot_past_its_beyond_use_date_is_not_dispensed(dispensary, probe):
    """The troches are beyond use after 30 September 2026: a prescription issued in
    mid-September can still be filled from them on the 30th, not on 1 October."""
    dispensary.on(date(2026, 9, 15))
    rx = await dispensary.receive(issued_on="2026-09-15", in_person_evaluation_on="2026-09-01")
    body = dispensary.fill_body(dispensary.on(date(2026, 10, 1)))
    problem = await refused(dispensary, probe, fills_path(rx), body, "lot-expired")
    assert problem["broken_rules"] == ["lot_expired"]
    shown = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(date(2026, 9, 30))))
    assert shown["fills"][0]["lot_id"] == dispensary.troche_lot.id


async def test_an_early_refill_needs_a_reason_which_is_kept(dispensary, probe):
    rx = await dispensary.receive()
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    early = dispensary.fill_body(dispensary.on(day(10)))
    problem = await refused(dispensary, probe, fills_path(rx), early, "early-refill")
    assert problem["broken_rules"] == ["early_refill"]
    assert "early_refill_reason" in problem["detail"]

    shown = await filled(dispensary, rx, early | {"early_refill_reason": EARLY_REASON})
    assert fill_facts(shown["fills"][1]) == (
        "30", 1, False, ["early_refill"], EARLY_REASON, False,
    )  # fmt: skip
    # The next refill is early until 75 % of 30 days (23 days) after the previous one.
    on_day_32 = dispensary.fill_body(dispensary.on(day(32)))
    await refused(dispensary, probe, fills_path(rx), on_day_32, "early-refill")
    on_time = dispensary.fill_body(dispensary.on(day(33)), early_refill_reason="just in case")
    shown = await filled(dispensary, rx, on_time)
    assert fill_facts(shown["fills"][2]) == ("30", 2, False, [], None, False)
    assert [f["early_refill_reason"] for f in (await read(dispensary, rx))["fills"]] == [
        None, EARLY_REASON, None,
    ]  # fmt: skip


async def test_a_refill_exactly_at_the_share_of_a_partial_fills_supply_is_not_early(dispensary):
    rx = await dispensary.receive(quantity="9", days_supply=12)
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0)), "8"))
    shown = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(8)), "1"))
    assert fill_facts(shown["fills"][1]) == ("1", 0, True, [], None, False)


async def a_technicians_token(dispensary: Dispensary, admin_token: str) -> tuple[str, str]:
    technician = await add_staff(dispensary, admin_token, role="pharmacy_technician",
                                 subject="tech-1", name="Tess Tech")  # fmt: skip
    return technician["id"], dispensary.make_token(["pharmacist"], [dispensary.id], sub="tech-1")


async def test_only_a_pharmacist_dispenses(dispensary, probe, admin_token, pharmacy_system):
    rx = await dispensary.receive()
    technician_id, technician = await a_technicians_token(dispensary, admin_token)
    body = dispensary.fill_body(dispensary.on(day(0)))
    problem = await refused(dispensary, probe, fills_path(rx), body, "invalid-reference",
                            token=technician, subject="tech-1")  # fmt: skip
    assert pointers(problem) == ["#/dispensed_by"]

    integration = pharmacy_system
    by_technician = body | {"dispensed_by": technician_id}
    problem = await refused(dispensary, probe, fills_path(rx), by_technician, "invalid-reference",
                            token=integration, subject=INTEGRATION)  # fmt: skip
    assert pointers(problem) == ["#/dispensed_by"]
    shown = await filled(dispensary, rx, body)
    assert shown["fills"][0]["dispensed_by"] == dispensary.pharmacist.id
    [event] = await dispenses(dispensary)
    assert (event["performed_by"], event["principal_subject"]) == (
        dispensary.pharmacist.id, PHARMACIST,
    )  # fmt: skip


async def test_a_pharmacist_records_only_their_own_fill(dispensary, probe, admin_token):
    colleague = await add_staff(dispensary, admin_token, role="pharmacist", subject="rph-3")
    rx = await dispensary.receive()
    body = dispensary.fill_body(dispensary.on(day(0)), dispensed_by=colleague["id"])
    problem = await refused(dispensary, probe, fills_path(rx), body, "invalid-reference")
    assert pointers(problem) == ["#/dispensed_by"]
    shown = await filled(dispensary, rx, body | {"dispensed_by": dispensary.pharmacist.id})
    assert shown["fills"][0]["dispensed_by"] == dispensary.pharmacist.id


async def test_an_integration_names_the_pharmacist_who_dispensed(
    dispensary, probe, pharmacy_system
):
    rx = await dispensary.receive()
    integration = pharmacy_system
    body = dispensary.fill_body(dispensary.on(day(0)))
    problem = await refused(dispensary, probe, fills_path(rx), body, "invalid-input",
                            token=integration, subject=INTEGRATION)  # fmt: skip
    assert pointers(problem) == ["#/dispensed_by"]

    named = body | {"dispensed_by": dispensary.pharmacist.id}
    shown = await filled(dispensary, rx, named, integration)
    assert fill_facts(shown["fills"][0]) == ("30", 0, False, [], None, False)
    assert shown["fills"][0]["dispensed_by"] == dispensary.pharmacist.id
    [event] = await dispenses(dispensary)
    assert (event["performed_by"], event["principal_subject"], event["is_record"]) == (
        dispensary.pharmacist.id, INTEGRATION, True,
    )  # fmt: skip


async def test_the_lot_is_of_the_prescribed_product(dispensary, probe):
    injection = await create(dispensary.client, "/v1/products", injection_body(dispensary.id),
                             dispensary.token)  # fmt: skip
    vials = await create(dispensary.client, f"/v1/products/{injection['id']}/lots",
                         {"lot_number": "INJ-1", "expires_on": "2027-06-30"},
                         dispensary.token)  # fmt: skip
    rx = await dispensary.receive()
    body = dispensary.fill_body(dispensary.on(day(0)), lot_id=vials["id"])
    problem = await refused(dispensary, probe, fills_path(rx), body, "invalid-reference")
    assert pointers(problem) == ["#/lot_id"]
    unknown = body | {"lot_id": str(uuid.uuid4())}
    problem = await refused(dispensary, probe, fills_path(rx), unknown, "invalid-reference")
    assert pointers(problem) == ["#/lot_id"]
    shown = await filled(dispensary, rx, body | {"lot_id": dispensary.troche_lot.id})
    assert shown["fills"][0]["lot_id"] == dispensary.troche_lot.id


async def test_a_fill_takes_no_more_than_the_shelf_holds(dispensary, probe):
    rx = await dispensary.receive(quantity="400", refills_authorized=0)
    body = dispensary.fill_body(dispensary.on(day(0)), "301")
    await refused(dispensary, probe, fills_path(rx), body, "insufficient-stock", status=409)
    assert await shelf_balance(dispensary) == Decimal(300)

    shown = await filled(dispensary, rx, body | {"quantity": "300"})
    assert (shown["dispensed"], shown["remaining"]) == ("300", "100")
    assert fill_facts(shown["fills"][0]) == ("300", 0, True, [], None, False)
    assert await shelf_balance(dispensary) == Decimal(0)


async def test_a_fill_is_not_dated_in_the_future(dispensary, probe):
    rx = await dispensary.receive()
    dispensary.on(day(0))
    six_minutes_on = (dispensary.clock.now() + timedelta(minutes=6)).isoformat()
    body = dispensary.fill_body(six_minutes_on)
    problem = await refused(dispensary, probe, fills_path(rx), body, "occurred-in-future")
    assert problem["broken_rules"] == ["occurred_in_future"]
    five_minutes_on = (dispensary.clock.now() + timedelta(minutes=5)).isoformat()
    shown = await filled(dispensary, rx, dispensary.fill_body(five_minutes_on))
    assert shown["fills"][0]["filled_at"] == "2026-03-02T16:05:00Z"


async def test_a_refused_fill_writes_only_its_audit_row(dispensary, probe):
    """Each refusal above goes through ``assert_refused``; this one also checks the row names
    the prescription."""
    rx = await dispensary.receive(refills_authorized=0)
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    body = dispensary.fill_body(dispensary.on(day(30)))
    problem = await refused(dispensary, probe, fills_path(rx), body, "refills-exhausted")
    (audit,) = await probe.audit_rows(problem["request_id"])
    assert (audit.resource_type, audit.resource_id, audit.action) == (
        "prescription", rx["id"], "fill_prescription",
    )  # fmt: skip
    assert len(await dispenses(dispensary)) == 1


# Reversal


async def reverse(dispensary: Dispensary, fill: dict[str, Any]) -> dict[str, Any]:
    officer = dispensary.make_token(["compliance_officer"], [dispensary.id], sub="officer-rx")
    reversal = {
        "registrant_id": dispensary.id, "type": "reversal",
        "reverses_event_id": fill["event_id"], "reason": "Entered against the wrong patient",
        "occurred_at": dispensary.clock.now().isoformat(),
    }  # fmt: skip
    response = await dispensary.post("/v1/ledger/events", reversal, officer)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_reversed_fill_counts_for_nothing_and_its_refill_is_dispensed_again(
    dispensary, probe
):
    rx = await dispensary.receive(refills_authorized=1)
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    shown = await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(23))))
    assert (shown["dispensed"], shown["remaining"]) == ("60", "0")
    exhausted = dispensary.fill_body(dispensary.on(day(24)))
    await refused(dispensary, probe, fills_path(rx), exhausted, "refills-exhausted")

    reversal = await reverse(dispensary, shown["fills"][1])
    assert (reversal["type"], reversal["reverses_event_id"], reversal["quantity"]) == (
        "reversal", shown["fills"][1]["event_id"], "30",
    )  # fmt: skip
    after = await read(dispensary, rx)
    assert [(f["refill_number"], f["reversed"]) for f in after["fills"]] == [(0, False), (1, True)]
    assert (after["dispensed"], after["remaining"]) == ("30", "30")
    assert await shelf_balance(dispensary) == Decimal(270)

    again = await filled(dispensary, rx, exhausted)
    assert [fill_facts(f) for f in again["fills"]] == [
        ("30", 0, False, [], None, False),
        ("30", 1, False, [], None, True),
        ("30", 1, False, [], None, False),
    ]
    assert (again["dispensed"], again["remaining"]) == ("60", "0")
    assert await shelf_balance(dispensary) == Decimal(240)


# Records


async def test_an_integrations_fill_is_kept_with_the_rules_it_breaks(dispensary, pharmacy_system):
    rx = await dispensary.receive()
    body = dispensary.fill_body(dispensary.on(date(2026, 9, 3)),
                                dispensed_by=dispensary.pharmacist.id)  # fmt: skip
    shown = await filled(dispensary, rx, body, pharmacy_system)
    assert fill_facts(shown["fills"][0]) == (
        "30", 0, False, ["fill_after_six_months"], None, False,
    )  # fmt: skip
    [event] = await dispenses(dispensary)
    assert (event["id"], event["is_record"]) == (shown["fills"][0]["event_id"], True)


async def test_a_pharmacists_late_entry_is_kept_with_the_rules_it_breaks(dispensary):
    rx = await dispensary.receive(refills_authorized=0)
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    dispensary.on(date(2026, 9, 10))
    # Entered a week late: a second fill on 3 September, past the six months and the refills.
    shown = await filled(dispensary, rx, dispensary.fill_body("2026-09-03T15:00:00+00:00"))
    assert fill_facts(shown["fills"][1]) == (
        "30", 1, False, ["refills_exhausted", "fill_after_six_months"], None, False,
    )  # fmt: skip
    events = await dispenses(dispensary)
    assert sorted((e["occurred_at"], e["is_record"]) for e in events) == [
        ("2026-03-02T15:55:00Z", False), ("2026-09-03T15:00:00Z", True),
    ]  # fmt: skip


async def test_a_late_entry_is_judged_against_the_fill_before_it(dispensary):
    rx = await dispensary.receive()
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(30))))
    dispensary.on(day(40))
    # Entered late: a fill on day 25, 25 days after the original (not early) and before day 30.
    shown = await filled(dispensary, rx, dispensary.fill_body("2026-03-27T15:00:00+00:00"))
    [late] = [f for f in shown["fills"] if f["filled_at"] == "2026-03-27T15:00:00Z"]
    assert late["broken_rules"] == []


async def test_an_entry_just_within_the_window_is_an_instruction(dispensary, probe):
    rx = await dispensary.receive()
    dispensary.on(date(2026, 9, 4))
    within = (dispensary.clock.now() - timedelta(hours=24)).isoformat()  # 3 Sept 16:00 UTC
    problem = await refused(dispensary, probe, fills_path(rx), dispensary.fill_body(within),
                            "fill-after-six-months")  # fmt: skip
    assert problem["broken_rules"] == ["fill_after_six_months"]


async def test_nothing_remains_once_the_six_months_are_over(dispensary):
    rx = await dispensary.receive()
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    dispensary.on(date(2026, 9, 3))
    shown = await read(dispensary, rx)
    assert (shown["fill_by"], shown["dispensed"], shown["remaining"]) == ("2026-09-02", "30", "0")


# Idempotency


async def test_a_retried_fill_replays_the_first_and_dispenses_once(dispensary, probe):
    rx = await dispensary.receive()
    body = dispensary.fill_body(dispensary.on(day(0)))
    first = await dispensary.post(fills_path(rx), body, key="fill-RX-1")
    again = await dispensary.post(fills_path(rx), body, key="fill-RX-1")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(first.json()["fills"]) == 1
    assert len((await read(dispensary, rx))["fills"]) == 1
    assert len(await dispenses(dispensary)) == 1
    assert len((await probe.business_rows())["prescription_fills"]) == 1
    assert await shelf_balance(dispensary) == Decimal(270)

    other_body = await dispensary.post(fills_path(rx), body | {"quantity": "10"}, key="fill-RX-1")
    assert_problem(other_body, 422, "idempotency-key-reused")


async def test_a_fill_needs_an_idempotency_key(dispensary, probe):
    rx = await dispensary.receive()
    body = dispensary.fill_body(dispensary.on(day(0)))
    await assert_refused(dispensary.client, probe, "POST", fills_path(rx), status=428,
                         problem=PROBLEM + "precondition-required", subject=PHARMACIST,
                         headers=bearer(dispensary.token), json=body)  # fmt: skip
    assert (await filled(dispensary, rx, body))["dispensed"] == "30"


# Concurrency


async def concurrently(
    dispensary: Dispensary, rx: dict[str, Any], body: dict[str, Any]
) -> tuple[httpx.Response, httpx.Response]:
    """The same fill sent twice at once (each with its own key): one wins, the other loses."""

    async def attempt() -> httpx.Response:
        return await dispensary.client.post(fills_path(rx), json=body,
                                            headers=keyed(dispensary.token))  # fmt: skip

    responses = await asyncio.gather(attempt(), attempt())
    assert sorted(r.status_code for r in responses) == [201, 422], [r.text for r in responses]
    [won] = [r for r in responses if r.status_code == 201]
    [lost] = [r for r in responses if r.status_code == 422]
    return won, lost


async def test_concurrent_fills_of_the_last_refill_dispense_once(dispensary):
    rx = await dispensary.receive(refills_authorized=1)
    await filled(dispensary, rx, dispensary.fill_body(dispensary.on(day(0))))
    won, lost = await concurrently(dispensary, rx, dispensary.fill_body(dispensary.on(day(25))))
    assert_problem(lost, 422, "refills-exhausted")
    # The loser was counted after the winner: that fill, the same day, made it early too.
    assert lost.json()["broken_rules"] == ["refills_exhausted", "early_refill"]
    shown = await read(dispensary, rx)
    assert shown["fills"] == won.json()["fills"]
    assert [(f["refill_number"], f["filled_at"]) for f in shown["fills"]] == [
        (0, "2026-03-02T15:55:00Z"), (1, "2026-03-27T15:55:00Z"),
    ]  # fmt: skip
    assert (shown["dispensed"], shown["remaining"]) == ("60", "0")
    events = await dispenses(dispensary)
    assert sorted(e["occurred_at"] for e in events) == [
        "2026-03-02T15:55:00Z", "2026-03-27T15:55:00Z",
    ]  # fmt: skip
    assert await shelf_balance(dispensary) == Decimal(240)


async def test_concurrent_partial_fills_past_the_total_dispense_once(dispensary):
    rx = await dispensary.receive(refills_authorized=0)
    won, lost = await concurrently(
        dispensary, rx, dispensary.fill_body(dispensary.on(day(0)), "20")
    )
    assert_problem(lost, 422, "fills-exceed-total")
    shown = await read(dispensary, rx)
    assert shown["fills"] == won.json()["fills"]
    assert [fill_facts(f) for f in shown["fills"]] == [("20", 0, True, [], None, False)]
    assert (shown["dispensed"], shown["remaining"]) == ("20", "10")
    assert [e["quantity"] for e in await dispenses(dispensary)] == ["20"]
    assert await shelf_balance(dispensary) == Decimal(280)


async def test_a_prescription_received_after_its_six_months_says_it_cannot_be_filled(
    dispensary, probe
):
    stale = await dispensary.receive(issued_on=(ISSUED - timedelta(days=200)).isoformat(),
                                     in_person_evaluation_on="2025-08-01")  # fmt: skip
    assert stale["status"] == "active"
    assert (stale["fillable"], stale["remaining"]) == (False, "0")
    assert stale["not_fillable_because"].startswith("more than six months after issue")
    fresh = await receive_in_turn(dispensary)
    assert (fresh["fillable"], fresh["not_fillable_because"]) == (True, None)
    cancelled = await dispensary.post(f"{PRESCRIPTIONS}/{fresh['id']}/cancel",
                                      {"reason": "prescriber asked"})  # fmt: skip
    assert (cancelled.json()["fillable"], cancelled.json()["not_fillable_because"]) == (
        False, "cancelled",
    )  # fmt: skip
