"""Records that break compliance rules are stored with the rules they break; the same writes
as instructions are refused with each rule's own problem, unless overridden."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from app.core.config import Settings
from tests.conftest import START, bearer
from tests.factories import (
    PROBLEM_TYPE_PREFIX,
    assert_problem,
    assert_refused,
    create,
    nasal_spray_body,
)
from tests.ledger.conftest import SUPPLIER, Clinic
from tests.ledger.support import appended

Body = dict[str, Any]
OVERRIDE = "pharmacist confirmed by phone; paperwork to follow"


@dataclass(frozen=True)
class Scene:
    clinic: Clinic
    admin_token: str
    settings: Settings


async def receipt_without_supplier_dea_number(scene: Scene) -> Body:
    supplier = {name: value for name, value in SUPPLIER.items() if name != "dea_number"}
    return scene.clinic.event("receipt", counterparty=supplier)


async def administration_of_an_expired_lot(scene: Scene) -> Body:
    clinic = scene.clinic
    expired = await create(
        clinic.client,
        f"/v1/products/{clinic.product.id}/lots",
        {"lot_number": "L-OLD", "expires_on": (START - timedelta(days=1)).date().isoformat()},
        clinic.nurse_token,
    )
    await appended(clinic, clinic.event("receipt", lot_id=expired["id"]))
    return clinic.event("administer", "1", lot_id=expired["id"], patient_id=clinic.patient.id)


async def move_under_an_expired_registration(scene: Scene) -> Body:
    clinic = scene.clinic
    await appended(clinic, clinic.event("receipt"))
    lapsed = await clinic.client.patch(
        f"/v1/registrants/{clinic.registrant.id}",
        json={"registration_expires_on": (START - timedelta(days=1)).date().isoformat()},
        headers=bearer(scene.admin_token),
    )
    assert lapsed.status_code == 200, lapsed.text
    return clinic.event("move", "1", to_location_id=clinic.room.id)


async def waste_witnessed_by_its_performer(scene: Scene) -> Body:
    """Integrations name the performer; anyone else performs what they write."""
    await appended(scene.clinic, scene.clinic.event("receipt"))
    nurse = scene.clinic.nurse.id
    return scene.clinic.event("waste", "1", performed_by=nurse, witness_ids=[nurse])


async def receipt_of_an_invoice_received_before(scene: Scene) -> Body:
    """The supplier's invoice for this lot is on the ledger already: the same shipment?"""
    first = scene.clinic.event("receipt")
    await appended(scene.clinic, first)
    return first | {"quantity": "5"}


async def receipt_beyond_the_future_skew(scene: Scene) -> Body:
    beyond = START + timedelta(seconds=scene.settings.future_skew_seconds, microseconds=1)
    return scene.clinic.event("receipt", occurred_at=beyond.isoformat())


@dataclass(frozen=True)
class Case:
    """A write breaking ``rules``, made ready by ``prepare`` (which returns its body)."""

    prepare: Callable[[Scene], Awaitable[Body]]
    rules: list[str]
    problem: str
    """The problem an instruction is refused with: the first rule's."""


CASES = [
    Case(receipt_without_supplier_dea_number, ["counterparty_dea_invalid"],
         "counterparty-dea-invalid"),
    Case(administration_of_an_expired_lot, ["lot_expired"], "lot-expired"),
    Case(move_under_an_expired_registration, ["registration_expired"], "registration-expired"),
    Case(waste_witnessed_by_its_performer, ["witness_is_performer", "witness_missing"],
         "witness-is-performer"),
    Case(receipt_beyond_the_future_skew, ["occurred_in_future"], "occurred-in-future"),
    Case(receipt_of_an_invoice_received_before, ["invoice_received_before"],
         "invoice-received-before"),
]  # fmt: skip
each_case = pytest.mark.parametrize("case", CASES, ids=lambda case: case.prepare.__name__)


@pytest.fixture
def scene(clinic: Clinic, admin_token: str, app_settings: Settings) -> Scene:
    return Scene(clinic, admin_token, app_settings)


async def fetched(clinic: Clinic, event_id: str) -> Any:
    response = await clinic.client.get(
        f"/v1/ledger/events/{event_id}", headers=bearer(clinic.nurse_token)
    )
    assert response.status_code == 200, response.text
    return response.json()


@each_case
async def test_an_integration_record_is_stored_with_the_rules_it_breaks(
    scene, integration_at, case
):
    clinic = scene.clinic
    body = await case.prepare(scene)
    integration = await integration_at(clinic.registrant.id, "ledger", "sessions")
    stored = await appended(clinic, body, integration)
    for event in (stored, await fetched(clinic, stored["id"])):
        assert event["is_record"] is True
        assert event["broken_rules"] == case.rules
        assert event["override_reason"] is None


@each_case
async def test_an_instruction_breaking_a_rule_is_refused_unless_overridden(scene, probe, case):
    clinic = scene.clinic
    body = await case.prepare(scene)
    refused = await assert_refused(
        clinic.client,
        probe,
        "POST",
        "/v1/ledger/events",
        status=422,
        problem=PROBLEM_TYPE_PREFIX + case.problem,
        subject="nurse-1",
        headers=bearer(clinic.nurse_token) | {"Idempotency-Key": "refused"},
        json=body,
    )
    assert refused.json()["broken_rules"] == case.rules

    overridden = await appended(clinic, body | {"override_reason": OVERRIDE})
    for event in (overridden, await fetched(clinic, overridden["id"])):
        assert event["is_record"] is False
        assert event["broken_rules"] == case.rules
        assert event["override_reason"] == OVERRIDE


async def test_an_instruction_within_the_future_skew_is_accepted(clinic, app_settings):
    edge = START + timedelta(seconds=app_settings.future_skew_seconds)
    stored = await appended(clinic, clinic.event("receipt", occurred_at=edge.isoformat()))
    assert (stored["is_record"], stored["broken_rules"]) == (False, [])


@pytest.mark.parametrize(
    ("occurred_at", "refused"),
    [
        ("2026-03-02T03:00:00Z", False),  # 1 March, 21:00 in Chicago: the lot's last day
        ("2026-03-02T07:00:00Z", True),  # 2 March, 01:00 in Chicago: the day after
    ],
)
async def test_an_expiry_date_is_read_on_the_registrant_s_own_day(
    clinic: Clinic, occurred_at: str, refused: bool
):
    lot = await create(
        clinic.client,
        f"/v1/products/{clinic.product.id}/lots",
        {"lot_number": "L-LAST-DAY", "expires_on": "2026-03-01"},
        clinic.nurse_token,
    )
    await appended(clinic, clinic.event("receipt", lot_id=lot["id"], occurred_at=occurred_at))
    body = clinic.event("administer", "1", lot_id=lot["id"], patient_id=clinic.patient.id,
                        occurred_at=occurred_at)  # fmt: skip
    response = await clinic.post(body)
    if refused:
        assert_problem(response, 422, "lot-expired")
    else:
        assert response.status_code == 201, response.text
        assert response.json()["broken_rules"] == []


async def _esketamine_on_hand(clinic: Clinic) -> dict[str, Any]:
    kit = await create(clinic.client, "/v1/products", nasal_spray_body(clinic.registrant.id),
                       clinic.nurse_token)  # fmt: skip
    lot_body = {"lot_number": "E-1", "expires_on": "2027-01-31"}
    lot = await create(clinic.client, f"/v1/products/{kit['id']}/lots", lot_body,
                       clinic.nurse_token)  # fmt: skip
    await appended(clinic, clinic.event("receipt", "4", lot_id=lot["id"]))
    return lot


async def test_esketamine_is_never_dispensed_whatever_the_reason(clinic, token, probe):
    lot = await _esketamine_on_hand(clinic)
    pharmacist = token(["pharmacist"], [clinic.registrant.id], sub="rph-1", name="Rae")
    body = clinic.event("dispense", "1", lot_id=lot["id"], patient_id=clinic.patient.id,
                        override_reason=OVERRIDE)  # fmt: skip
    refused = await assert_refused(
        clinic.client, probe, "POST", "/v1/ledger/events", status=422,
        problem=PROBLEM_TYPE_PREFIX + "esketamine-dispensed", subject="rph-1",
        headers=bearer(pharmacist) | {"Idempotency-Key": "kit-home"}, json=body,
    )  # fmt: skip
    assert refused.json()["broken_rules"] == ["esketamine_dispensed"]


async def test_an_integration_reporting_an_esketamine_dispense_is_stored_and_flagged(
    clinic, integration_at
):
    lot = await _esketamine_on_hand(clinic)
    integration = await integration_at(clinic.registrant.id, "pharmacy")
    body = clinic.event("dispense", "1", lot_id=lot["id"], patient_id=clinic.patient.id,
                        performed_by=clinic.nurse.id)  # fmt: skip
    stored = await appended(clinic, body, integration)
    assert (stored["is_record"], stored["broken_rules"]) == (True, ["esketamine_dispensed"])


async def test_an_integration_withdraws_only_a_record_it_sent_itself(clinic, integration_at, probe):
    """An EHR's entered-in-error: the source of a record may reverse it, and nothing else."""
    rid = clinic.registrant.id
    ehr = await integration_at(rid, "sessions", sub="ehr-1")
    other = await integration_at(rid, "sessions", sub="ehr-2", name="Another EHR")
    await appended(clinic, clinic.event("receipt", "20"))
    given = await appended(clinic, clinic.event(
        "administer", "2", patient_id=clinic.patient.id, performed_by=clinic.nurse.id,
    ), ehr)  # fmt: skip
    by_nurse = await appended(clinic, clinic.event("administer", "1"))

    def reversal(event: Body) -> Body:
        return {"registrant_id": rid, "type": "reversal", "reverses_event_id": event["id"],
                "reason": "entered in error", "occurred_at": START.isoformat()}  # fmt: skip

    for sender, event in ((other, given), (ehr, by_nurse)):
        await assert_refused(
            clinic.client, probe, "POST", "/v1/ledger/events", status=403,
            problem=PROBLEM_TYPE_PREFIX + "permission-denied", json=reversal(event),
            subject="ehr-2" if sender is other else "ehr-1",
            headers=bearer(sender) | {"Idempotency-Key": f"undo-{event['id']}"},
        )  # fmt: skip
    withdrawn = await appended(clinic, reversal(given), ehr)
    assert (withdrawn["reverses_event_id"], withdrawn["is_record"]) == (given["id"], True)


async def test_an_invoice_received_and_reversed_may_be_received_again(clinic, token):
    first = await appended(clinic, clinic.event("receipt", "4"))
    officer = token(["compliance_officer"], [clinic.registrant.id], sub="officer-1")
    await appended(clinic, {"registrant_id": clinic.registrant.id, "type": "reversal",
                            "reverses_event_id": first["id"], "reason": "wrong lot entered",
                            "occurred_at": START.isoformat()}, officer)  # fmt: skip
    body = {name: first[name] for name in ("registrant_id", "location_id", "lot_id",
                                           "document_reference", "counterparty")}  # fmt: skip
    again = await appended(clinic, body | {"type": "receipt", "quantity": "4",
                                           "occurred_at": START.isoformat()})  # fmt: skip
    assert again["broken_rules"] == []


async def test_one_batch_holding_an_invoice_twice_is_refused(clinic, probe):
    receipt = clinic.event("receipt", "3")
    refused = await assert_refused(
        clinic.client, probe, "POST", "/v1/ledger/events:batch", status=422,
        problem=PROBLEM_TYPE_PREFIX + "invoice-received-before", subject="nurse-1",
        headers=bearer(clinic.nurse_token) | {"Idempotency-Key": "twice"},
        json={"events": [receipt, receipt | {"quantity": "2"}]},
    )  # fmt: skip
    assert refused.json()["index"] == 1
