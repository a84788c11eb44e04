"""The ledger view (a lot's perpetual inventory at a location) and an event's page with its
verified inclusion in the latest signed checkpoint."""

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from app.auth.permissions import Role
from app.console import ledger_view
from app.worker import Worker
from tests.conftest import START
from tests.console.conftest import claims, sign_in_link
from tests.ledger.conftest import open_clinic
from tests.ledger.support import reversal_body
from tests.ledger.test_chain import unguarded

pytestmark = pytest.mark.usefixtures("dialect")

EVENT_LINK = re.compile(r'href="/console/ledger/events/([0-9a-f-]{36})"')


def at(minutes_before: int) -> str:
    return (START - timedelta(minutes=minutes_before)).isoformat()


async def posted(clinic, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    answer = await clinic.post(body, token)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def movements(clinic) -> list[dict[str, Any]]:
    """A receipt of 100, an administration of 7.5 to the patient, a move of 10 to the room and
    a count of 80 where the ledger holds 82.5."""
    count = {"inventory_id": "6a1f0e1e-0000-4000-8000-000000000009", "inventory_kind": "ad_hoc",
             "taken_at": "close_of_business", "exactness": "exact",
             "counted_by": clinic.nurse.id}  # fmt: skip
    return [
        await posted(clinic, clinic.event("receipt", "100", occurred_at=at(50))),
        await posted(
            clinic,
            clinic.event("administer", "7.5", occurred_at=at(40), patient_id=clinic.patient.id),
        ),
        await posted(
            clinic, clinic.event("move", "10", occurred_at=at(30), to_location_id=clinic.room.id)
        ),
        await posted(clinic, clinic.event("count", "80", occurred_at=at(20), count=count)),
    ]


@pytest.fixture
async def clinic(client, admin_token, token):
    return await open_clinic(client, admin_token, token, name="Hill Country Ketamine Clinic")


async def sign_checkpoints(app, clock) -> None:
    await Worker(app.state.database, app.state.settings, clock).run_until_idle()


def ledger_url(clinic, **more: str) -> str:
    query = {"registrant_id": clinic.id, "location_id": clinic.vault.id, "lot_id": clinic.lot.id}
    return "/console/ledger?" + "&".join(f"{k}={v}" for k, v in (query | more).items())


def cells(html: str) -> list[list[str]]:
    """Each body row's cells as text, tags dropped, a cell spanning n columns as n cells."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found: list[list[str]] = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        found.append([])
        for attributes, cell in re.findall(r"<t[dh]([^>]*)>(.*?)</t[dh]>", row, re.S):
            span = re.search(r'colspan="(\d+)"', attributes)
            found[-1] += [" ".join(re.sub(r"<[^>]+>", " ", cell).split())]
            found[-1] += [""] * (int(span.group(1)) - 1 if span else 0)
    return found


async def test_a_nurse_reads_the_running_balance_of_a_lot_at_a_location(
    clinic, signed_in, probe
) -> None:
    made = await movements(clinic)
    nurse = await signed_in([Role.clinician], [clinic.id], sub="nurse-1", name="Nora Nurse")
    page = await nurse.get(ledger_url(clinic))
    assert page.status_code == 200, page.text
    assert "Lot L-100 at Vault" in page.text
    rows = cells(page.text)
    assert [row[1] for row in rows] == ["Opening balance", "receipt", "administer", "move",
                                        "count", "Closing balance"]  # fmt: skip
    assert [row[8] for row in rows] == ["0", "100", "92.5", "82.5", "82.5", "82.5"]
    assert (rows[1][6], rows[2][7], rows[3][7]) == ("100", "7.5", "10")  # in, out, out
    assert rows[4][9] == "80 (-2.5)"  # counted, and its variance
    assert rows[2][2] == "Nora Nurse"
    assert "Ada Lovelace" in rows[2][4]
    assert EVENT_LINK.findall(page.text) == [e["id"] for e in made]
    [row] = await probe.audit_rows(page.headers["x-request-id"])
    assert (row.kind, str(row.registrant_id)) == ("patient_read", clinic.id)


async def test_an_officer_reads_it_without_patients_names(clinic, signed_in, probe) -> None:
    await movements(clinic)
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    page = await officer.get(ledger_url(clinic))
    assert page.status_code == 200
    assert "Ada Lovelace" not in page.text
    assert "MRN-" in page.text  # the record number alone
    assert await probe.audit_rows(page.headers["x-request-id"]) == []


async def test_the_form_offers_the_registrants_locations_and_lots(clinic, signed_in) -> None:
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    page = await officer.get(f"/console/ledger?registrant_id={clinic.id}")
    assert page.status_code == 200
    assert f'<option value="{clinic.vault.id}"' in page.text
    assert ">Vault (vault)<" in page.text
    assert ">Room 1 (procedure room)<" in page.text
    assert "L-100 ·" in page.text
    assert "<tbody>" not in page.text  # nothing chosen, nothing shown
    assert 'name="from" value="2026-02-01"' in page.text  # the last 30 days, on its clock
    assert 'name="to" value="2026-03-02"' in page.text


async def test_the_period_and_the_pages_narrow_what_is_shown(
    clinic, signed_in, monkeypatch
) -> None:
    await movements(clinic)
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    monkeypatch.setattr(ledger_view, "PAGE_LINES", 3)
    second = await officer.get(ledger_url(clinic, page="2"))
    rows = cells(second.text)
    assert [(row[1], row[8]) for row in rows] == [
        ("Opening balance", "0"),
        ("count", "82.5"),
        ("Closing balance", "82.5"),
    ]
    assert "Movements 4 to 4 of 4." in second.text
    assert "Earlier movements" in second.text
    before = await officer.get(ledger_url(clinic, **{"from": "2026-01-01", "to": "2026-01-31"}))
    assert "nothing moved" in before.text
    backwards = await officer.get(ledger_url(clinic, **{"from": "2026-02-02", "to": "2026-02-01"}))
    assert backwards.status_code == 422


async def test_another_registrants_ledger_and_places_are_not_found(
    clinic, client, admin_token, token, signed_in
) -> None:
    other = await open_clinic(client, admin_token, token, name="Other Clinic")
    officer = await signed_in([Role.compliance_officer], [other.id])
    assert (await officer.get(ledger_url(clinic))).status_code == 404
    mixed = f"/console/ledger?registrant_id={other.id}&location_id={clinic.vault.id}"
    assert (await officer.get(mixed)).status_code == 404


async def test_an_event_in_a_signed_checkpoint_is_shown_verified(
    app, clock, clinic, signed_in
) -> None:
    first, *_ = await movements(clinic)
    await sign_checkpoints(app, clock)
    later = await posted(clinic, clinic.event("receipt", "5", occurred_at=at(10)))
    officer = await signed_in([Role.compliance_officer], [clinic.id])

    page = await officer.get(f"/console/ledger/events/{first['id']}")
    assert page.status_code == 200, page.text
    assert "Receipt of lot L-100 at Vault" in page.text
    assert ">verified<" in page.text
    assert "In the checkpoint of 4 events" in page.text
    assert first["hash"] in page.text
    assert first["prev_hash"] in page.text
    assert "Midwest Pharma Distribution" in page.text
    assert f"csledger export --registrant {clinic.id} --output ledger.jsonl" in page.text
    assert "csledger verify --file ledger.jsonl --keys trusted-jwks.json" in page.text

    pending = await officer.get(f"/console/ledger/events/{later['id']}")
    assert ">not yet in a signed checkpoint<" in pending.text
    assert "The latest checkpoint covers 4 events" in pending.text
    assert ">verified<" not in pending.text


async def test_a_checkpoint_whose_root_was_changed_fails_verification(
    app, clock, clinic, signed_in, probe, dialect
) -> None:
    first, *_ = await movements(clinic)
    await sign_checkpoints(app, clock)
    # Past the append-only triggers: PostgreSQL's databases are reused by later tests, so
    # there the triggers are bypassed for this transaction alone, never dropped.
    how = "replica role" if dialect == "postgresql" else "dropped triggers"
    async with unguarded(probe.engine, dialect, how) as connection:
        await connection.execute(text("UPDATE ledger_checkpoints SET root_hash = :forged"),
                                 {"forged": "0" * 64})  # fmt: skip
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    page = await officer.get(f"/console/ledger/events/{first['id']}")
    assert ">verification failed<" in page.text
    assert "the audit path does not lead from the event&#39;s hash" in page.text


async def test_an_events_patient_is_named_to_a_nurse_and_withheld_from_an_officer(
    clinic, signed_in, probe
) -> None:
    given = (await movements(clinic))[1]
    nurse = await signed_in([Role.clinician], [clinic.id])
    named = await nurse.get(f"/console/ledger/events/{given['id']}")
    assert "Ada Lovelace" in named.text
    [row] = await probe.audit_rows(named.headers["x-request-id"])
    assert (row.kind, row.resource_type, row.resource_id) == (
        "patient_read",
        "ledger_event",
        given["id"],
    )

    officer = await signed_in([Role.compliance_officer], [clinic.id])
    withheld = await officer.get(f"/console/ledger/events/{given['id']}")
    assert withheld.status_code == 200
    assert "Ada Lovelace" not in withheld.text
    assert "withheld: your roles do not include reading patients" in withheld.text
    assert await probe.audit_rows(withheld.headers["x-request-id"]) == []


async def test_a_reversal_and_what_it_reversed_link_to_each_other(clinic, signed_in) -> None:
    moved = (await movements(clinic))[2]
    undo = reversal_body(clinic.id, moved["id"], at(15))
    reversal = await posted(clinic, undo, clinic.officer_token)
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    page = await officer.get(f"/console/ledger/events/{moved['id']}")
    assert f'href="/console/ledger/events/{reversal["id"]}">the reversal that undid it' in page.text
    back = await officer.get(f"/console/ledger/events/{reversal['id']}")
    assert f'href="/console/ledger/events/{moved["id"]}">the event it undoes' in back.text


async def test_another_registrants_event_is_not_found(
    clinic, client, admin_token, token, signed_in, app
) -> None:
    first, *_ = await movements(clinic)
    other = await open_clinic(client, admin_token, token, name="Other Clinic")
    officer = await signed_in([Role.compliance_officer], [other.id])
    answer = await officer.get(f"/console/ledger/events/{first['id']}")
    assert answer.status_code == 404
    assert first["hash"] not in answer.text


async def test_the_ledger_is_in_the_menu_of_everyone_who_reads_it(clinic, app, client) -> None:
    nurse = await client.get(await sign_in_link(app, claims([Role.clinician], [clinic.id])))
    assert nurse.status_code == 303
    menu = (await client.get(f"/console/?registrant_id={clinic.id}")).text
    assert f'href="/console/ledger?registrant_id={clinic.id}"' in menu
    assert "/console/integrity" not in menu  # a nurse does not verify
