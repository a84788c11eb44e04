"""Separation of duties on the ledger: nobody reverses their own work alone, and every reversal
opens a discrepancy for review."""

from typing import Any

from app.worker import Worker
from tests.conftest import START, TokenFactory, bearer
from tests.factories import PROBLEM_TYPE_PREFIX, assert_refused, create, staff_body
from tests.ledger.conftest import Clinic
from tests.ledger.support import appended, reversal_body

EVENTS = "/v1/ledger/events"


def keyed(token_value: str, key: str) -> dict[str, str]:
    return bearer(token_value) | {"Idempotency-Key": key}


async def officer_who_receives(clinic: Clinic, token: TokenFactory, admin_token: str) -> str:
    """Nora Nurse, also her clinic's compliance officer: she may both receive and reverse."""
    del admin_token
    return token(["clinician", "compliance_officer"], [clinic.registrant.id], sub="nurse-1",
                 name="Nora Nurse")  # fmt: skip


async def second_officer(clinic: Clinic, token: TokenFactory, admin_token: str) -> tuple[Any, str]:
    rid = clinic.registrant.id
    staff = await create(clinic.client, f"/v1/registrants/{rid}/staff",
                         staff_body(role="compliance_officer", subject="officer-2",
                                    name="Otto Officer"), admin_token)  # fmt: skip
    return staff, token(["compliance_officer"], [rid], sub="officer-2", name="Otto Officer")


async def test_the_author_of_an_event_does_not_reverse_it_alone(clinic, probe, token, admin_token):
    nora = await officer_who_receives(clinic, token, admin_token)
    receipt = await appended(clinic, clinic.event("receipt", "10"), nora)
    body = reversal_body(clinic.registrant.id, receipt["id"], START.isoformat())
    refused = await assert_refused(
        clinic.client, probe, "POST", EVENTS, status=403,
        problem=PROBLEM_TYPE_PREFIX + "reversal-by-its-author", subject="nurse-1",
        headers=keyed(nora, "alone"), json=body,
    )  # fmt: skip
    assert "co-signer" in refused.json()["detail"]
    # Naming herself as the co-signer is still alone.
    await assert_refused(
        clinic.client, probe, "POST", EVENTS, status=403,
        problem=PROBLEM_TYPE_PREFIX + "reversal-by-its-author", subject="nurse-1",
        headers=keyed(nora, "herself"), json=body | {"witness_ids": [clinic.nurse.id]},
    )  # fmt: skip
    assert await clinic.balance() == {clinic.vault.id: "10"}


async def test_another_person_reverses_it(clinic, token, admin_token):
    receipt = await appended(clinic, clinic.event("receipt", "10"))
    otto, otto_token = await second_officer(clinic, token, admin_token)
    body = reversal_body(clinic.registrant.id, receipt["id"], START.isoformat())
    reversal = await appended(clinic, body, otto_token)
    assert (reversal["performed_by"], reversal["witness_status"]) == (otto["id"], "not_required")
    assert await clinic.balance() == {}


async def test_the_author_reverses_it_with_a_co_signer_who_confirms(clinic, token, admin_token):
    nora = await officer_who_receives(clinic, token, admin_token)
    receipt = await appended(clinic, clinic.event("receipt", "10"), nora)
    body = reversal_body(clinic.registrant.id, receipt["id"], START.isoformat())
    reversal = await appended(clinic, body | {"witness_ids": [clinic.witness.id]}, nora)
    assert reversal["witness_status"] == "unwitnessed"
    people = reversal["snapshot"]["performer"], reversal["snapshot"]["witnesses"]
    assert [people[0]["name"], [w["name"] for w in people[1]]] == ["Nora Nurse", ["Wes Witness"]]
    confirm = f"{EVENTS}/{reversal['id']}/witness-confirmations"
    by_the_author = await clinic.client.post(confirm, headers=bearer(nora))
    assert by_the_author.status_code == 409, by_the_author.text
    by_the_co_signer = await clinic.client.post(confirm, headers=bearer(clinic.witness_token))
    assert by_the_co_signer.status_code == 201, by_the_co_signer.text
    shown = await clinic.client.get(f"{EVENTS}/{reversal['id']}", headers=bearer(nora))
    assert shown.json()["witness_status"] == "witnessed"


async def test_an_integration_withdraws_its_own_record_alone(clinic, integration_at):
    ehr = await integration_at(clinic.registrant.id, "ledger")
    record = await appended(clinic, clinic.event("receipt", "3", performed_by=clinic.nurse.id),
                            ehr)  # fmt: skip
    body = reversal_body(clinic.registrant.id, record["id"], START.isoformat())
    withdrawn = await appended(clinic, body, ehr)
    assert withdrawn["reverses_event_id"] == record["id"]


async def test_every_reversal_opens_a_discrepancy_naming_both_events(
    clinic, app, clock, token, admin_token
):
    nora = await officer_who_receives(clinic, token, admin_token)
    _, otto_token = await second_officer(clinic, token, admin_token)
    by_another = await appended(clinic, clinic.event("receipt", "10"))
    co_signed = await appended(clinic, clinic.event("receipt", "5"), nora)
    undone_by_otto = await appended(clinic, reversal_body(
        clinic.registrant.id, by_another["id"], START.isoformat()), otto_token)  # fmt: skip
    undone_by_nora = await appended(clinic, reversal_body(
        clinic.registrant.id, co_signed["id"], START.isoformat())
        | {"witness_ids": [clinic.witness.id]}, nora)  # fmt: skip
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()

    listed = await clinic.client.get("/v1/discrepancies",
                                     params={"registrant_id": clinic.registrant.id},
                                     headers=bearer(clinic.officer_token))  # fmt: skip
    found = {(d["rule"], d["severity"], tuple(d["event_ids"])) for d in listed.json()["items"]}
    assert found == {
        ("reversal", "minor", (undone_by_otto["id"], by_another["id"])),
        ("reversal", "significant", (undone_by_nora["id"], co_signed["id"])),
    }
    summaries = sorted(d["summary"] for d in listed.json()["items"])
    assert [summary.split(" reversed ")[1].split(",")[0] for summary in summaries] == [
        "by another person", "by its own author",
    ]  # fmt: skip
    assert all(summary.startswith("Receipt of ") and f"(lot {clinic.lot.lot_number})"
               in summary for summary in summaries)  # fmt: skip
