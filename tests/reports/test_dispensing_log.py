"""The dispensing and administration log on both databases: a pharmacy's fills and a clinic's
infusion, with exact figures, in JSON, JSON Lines and CSV, filtered, and refused to anyone who
may not pull it (each pull and each refusal audited)."""

import csv
import io
import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.clinical.ward import Ward, at, open_ward
from tests.conftest import bearer
from tests.factories import assert_problem, create_registrant
from tests.ledger.support import reversal_body
from tests.outages import assert_unavailable
from tests.pharmacy.dispensary import Dispensary, open_dispensary

LOG = "/v1/reports/dispensing-log"
CHICAGO = ZoneInfo("America/Chicago")
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


async def pulled(
    client: httpx.AsyncClient, token: str, registrant_id: str, **params: str
) -> httpx.Response:
    return await client.get(LOG, params={"registrant_id": registrant_id, **MARCH, **params},
                            headers=bearer(token))  # fmt: skip


async def items(client: httpx.AsyncClient, token: str, rid: str, **params: str) -> list[Any]:
    response = await pulled(client, token, rid, **params)
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()["items"]
    return found


async def filled_twice(dispensary: Dispensary) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A troche prescription filled on 2 and 26 March (10:00 in Chicago), 30 troches each."""
    rx = await dispensary.receive()
    fills = []
    for day in (date(2026, 3, 2), date(2026, 3, 26)):
        response = await dispensary.fill(rx, dispensary.fill_body(dispensary.on(day)))
        assert response.status_code == 201, response.text
        fills.append(response.json()["fills"][-1])
    return rx, fills


def officer(dispensary: Dispensary) -> str:
    return dispensary.make_token(["compliance_officer"], [dispensary.id], sub="officer-rx")


async def test_a_pharmacys_fills_are_logged_with_the_1304_22_record(dispensary: Dispensary):
    rx, fills = await filled_twice(dispensary)
    token = officer(dispensary)
    response = await pulled(dispensary.client, token, dispensary.id)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    log = response.json()
    assert (log["report"], log["period"]) == ("dispensing_log", {"from": "2026-03-01",
                                                                 "to": "2026-03-31"})  # fmt: skip
    assert log["registrant"]["id"] == dispensary.id
    assert log["registrant"]["timezone"] == "America/Chicago"
    first, second = log["items"]
    assert [item["event_id"] for item in log["items"]] == [f["event_id"] for f in fills]
    troche = dispensary.troche
    assert first | {"event_id": None, "sequence": None} == {
        "event_id": None, "sequence": None, "type": "dispense",
        "occurred_at": "2026-03-02T09:55:00-06:00",
        "substance": "ketamine", "product": troche.name, "ndc": troche.compound_code,
        "dosage_form": "troche", "strength": f"{troche.json['strength']['value']} mg",
        "lot_number": dispensary.troche_lot.lot_number, "quantity": "30", "unit": "each",
        "mg": "3000",
        "patient_id": dispensary.patient.id, "patient_name": "Ada Lovelace",
        "patient_address": "100 Main St, Austin, TX 78701",
        "prescription_id": rx["id"], "rx_number": rx["rx_number"], "refill_number": 0,
        "prescriber_name": "Grace Hopper, MD", "prescriber_npi": "1245319599",
        "prescriber_dea_number": dispensary.prescriber_dea_number,
        "performed_by": dispensary.pharmacist.id,
        "performer_name": dispensary.pharmacist.name, "witnesses": [],
        "session_id": None, "location": "Dispensing shelf", "session": None,
        "reversed_by": None,
        "is_record": False, "broken_rules": [],
    }  # fmt: skip
    assert (second["refill_number"], second["occurred_at"]) == (1, "2026-03-26T10:55:00-05:00")
    assert second["sequence"] > first["sequence"]


async def test_the_same_log_as_json_lines_and_csv(dispensary: Dispensary):
    await filled_twice(dispensary)
    token = officer(dispensary)
    expected = await items(dispensary.client, token, dispensary.id)

    lines = await pulled(dispensary.client, token, dispensary.id, format="jsonl")
    assert lines.headers["content-type"] == "application/jsonl"
    assert [json.loads(line) for line in lines.text.splitlines()] == expected

    table = await pulled(dispensary.client, token, dispensary.id, format="csv")
    assert table.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = table.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="dispensing_log-')
    titles, *rows = list(csv.reader(io.StringIO(table.text)))
    assert titles[:4] == ["Event", "Sequence", "Type", "Date and time"]
    assert len(titles) == len(expected[0])
    for row, item in zip(rows, expected, strict=True):
        assert row == [_csv(value) for value in item.values()]


async def same_as_csv(
    client: httpx.AsyncClient, token: str, rid: str, expected: list[Any], **params: str
) -> None:
    """The log as CSV holds the JSON items' values, cell for cell (on PostgreSQL the
    database writes it)."""
    table = await pulled(client, token, rid, format="csv", **params)
    assert table.status_code == 200, table.text
    _titles, *rows = list(csv.reader(io.StringIO(table.text)))
    assert rows == [[_csv(value) for value in item.values()] for item in expected]


def _csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


async def test_a_period_of_the_registrants_own_days_and_a_reversed_fill(dispensary: Dispensary):
    """A fill at 23:30 on 31 March in Chicago is in March (05:30 UTC on 1 April); its
    reversal keeps it in the log, naming the reversal."""
    rx, _ = await filled_twice(dispensary)
    dispensary.clock.set(datetime(2026, 4, 20, 16, tzinfo=CHICAGO))
    late = datetime(2026, 3, 31, 23, 30, 0, 250000, tzinfo=CHICAGO).isoformat()
    response = await dispensary.fill(rx, dispensary.fill_body(late, early_refill_reason="travel"))
    assert response.status_code == 201, response.text
    event_id = response.json()["fills"][-1]["event_id"]
    token = officer(dispensary)
    undone = await dispensary.client.post(
        "/v1/ledger/events",
        json=reversal_body(dispensary.id, event_id, dispensary.clock.now().isoformat()),
        headers=bearer(token) | {"Idempotency-Key": "reverse-late-fill"},
    )
    assert undone.status_code == 201, undone.text

    march = await items(dispensary.client, token, dispensary.id)
    assert [i["occurred_at"] for i in march][-1] == "2026-03-31T23:30:00.250000-05:00"
    assert march[-1]["reversed_by"] == undone.json()["id"]
    await same_as_csv(dispensary.client, token, dispensary.id, march)
    april = {"from": "2026-04-01", "to": "2026-04-30"}
    assert await items(dispensary.client, token, dispensary.id, **april) == []


async def test_filters_combine(dispensary: Dispensary, admin_token: str):
    await filled_twice(dispensary)
    token, client, rid = officer(dispensary), dispensary.client, dispensary.id
    every = await items(client, token, rid)

    def called(**params: str) -> Any:
        return items(client, token, rid, **params)

    assert await called(product_id=dispensary.troche.id) == every
    assert await called(patient_id=dispensary.patient.id) == every
    assert await called(staff_id=dispensary.pharmacist.id) == every
    assert await called(prescriber_dea_number=dispensary.prescriber_dea_number) == every
    other = await create_registrant(client, admin_token)
    for params in ({"product_id": other["id"]}, {"patient_id": other["id"]},
                   {"staff_id": other["id"]}, {"prescriber_dea_number": "MK1234563"},
                   {"from": "2026-03-03", "to": "2026-03-25"}):  # fmt: skip
        assert await called(**params) == [], params
    assert len(await called(**{"from": "2026-03-02", "to": "2026-03-02"})) == 1


async def test_a_sessions_infusion_names_the_plans_prescriber(ward: Ward):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    given = await ward.step(ts, "administrations", {"lot_id": ward.vial_lot.id,
                                                    "quantity": "0.7", "started_at": at(10),
                                                    "ended_at": at(50)})  # fmt: skip
    registrations = await ward.get(f"/v1/registrants/{ward.id}/staff/"
                                   f"{ward.prescriber.id}/registrations")  # fmt: skip
    number = registrations.json()[0]["dea_number"]
    log = await items(ward.client, ward.officer_token, ward.id)
    [administration] = [i for i in log if i["type"] == "administer"]
    assert administration["event_id"] == given["event"]["id"]
    assert {key: administration[key] for key in (
        "quantity", "unit", "mg", "patient_id", "session_id", "prescriber_name",
        "prescriber_npi", "prescriber_dea_number", "performed_by", "rx_number",
    )} == {
        "quantity": "0.7", "unit": "mL", "mg": "35", "patient_id": ward.iv_patient.id,
        "session_id": ts["id"], "prescriber_name": "Grace Hopper",
        "prescriber_npi": "1245319599", "prescriber_dea_number": None,
        "performed_by": ward.nurse.id, "rx_number": None,
    }  # fmt: skip
    # Given in the room, though the ledger moved it through the session's holding.
    assert (administration["location"], administration["session"]) == (
        ward.room.name, datetime.fromisoformat(ts["scheduled_at"]).astimezone(CHICAGO).isoformat(),
    )  # fmt: skip
    occurred = datetime.fromisoformat(administration["occurred_at"])
    assert occurred == datetime.fromisoformat(at(10))
    assert occurred.utcoffset() == timedelta(hours=-6)
    by_number = await items(ward.client, ward.officer_token, ward.id, prescriber_dea_number=number)
    assert by_number == [administration]
    await same_as_csv(ward.client, ward.officer_token, ward.id, log)


async def test_only_the_registrants_compliance_officers_pull_it_and_every_pull_is_audited(
    dispensary: Dispensary, admin_token: str, probe
):
    await filled_twice(dispensary)
    client, rid = dispensary.client, dispensary.id
    pull = await pulled(client, officer(dispensary), rid, format="csv")
    [row] = await probe.audit_rows(pull.headers["x-request-id"])
    assert (row.kind, row.resource_type, row.resource_id, str(row.registrant_id)) == (
        "report", "report", "dispensing_log", rid,
    )  # fmt: skip
    assert row.parameters == {"registrant_id": [rid], "from": ["2026-03-01"],
                              "to": ["2026-03-31"], "format": ["csv"]}  # fmt: skip
    assert "Lovelace" not in repr(tuple(row))

    stranger = await create_registrant(client, admin_token)
    elsewhere = dispensary.make_token(["compliance_officer"], [stranger["id"]], sub="officer-2")
    refused = await pulled(client, elsewhere, rid)
    assert_problem(refused, 404, "not-found")
    [row] = await probe.audit_rows(refused.headers["x-request-id"])
    assert (row.kind, row.status_code, str(row.registrant_id)) == ("refused", 404, rid)

    assert_problem(await pulled(client, dispensary.token, rid), 403, "permission-denied")


async def test_a_malformed_pull_is_a_problem(dispensary: Dispensary):
    token, client, rid = officer(dispensary), dispensary.client, dispensary.id
    backwards = await pulled(client, token, rid, **{"from": "2026-03-31", "to": "2026-03-01"})
    problem = assert_problem(backwards, 422, "invalid-input")
    assert problem["errors"] == [{"parameter": "to", "detail": "the last day is before the first"}]
    assert_problem(await pulled(client, token, rid, format="xlsx"), 422, "invalid-input")
    missing = await client.get(LOG, params={"registrant_id": rid}, headers=bearer(token))
    assert_problem(missing, 422, "invalid-input")


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("fmt", "query"),
    [("json", b"FROM ledger_events"), ("csv", b"COPY (")],
    ids=["streamed by the service", "copied by the database"],
)
async def test_a_log_whose_rows_cannot_be_read_is_a_503_before_its_first_byte(
    client, admin_token, token, proxy, proxied, fmt, query
):
    """The database cut off when the stream asks for its rows, after the route's own
    queries: a 503, not a 200 whose body breaks off."""
    rid = (await create_registrant(client, admin_token))["id"]
    officer_token = token(["compliance_officer"], [rid])
    proxy.cut_at(query, delivered=False)
    response = await pulled(proxied, officer_token, rid, format=fmt)
    assert_unavailable(response)
    assert proxy.refusing, "the rows were read"
