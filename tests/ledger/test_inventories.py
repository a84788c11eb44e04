"""Inventories as a signed workflow (docs/domain.md#inventory): started at an instant with a
count sheet from the ledger, counted lot by lot with the variance at once, exact where
required, witnessed where required, signed by whoever took it, its counts then on the ledger
for reconciliation to weigh."""

import asyncio
import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.permissions import IntegrationScope
from app.core.outbox import OutboxMessage
from app.ledger.inventories import rules
from app.ledger.messages import INVENTORY_SIGNED
from app.ledger.models import LedgerEvent
from tests.conftest import START, bearer
from tests.factories import PROBLEM_TYPE_PREFIX, assert_problem, assert_refused, troche_body
from tests.ledger.conftest import Clinic
from tests.ledger.support import appended
from tests.reconciliation.test_runs import listed, reconciled
from tests.world import Lot

AS_OF = (START - timedelta(minutes=5)).isoformat()
_KEYS = itertools.count(1)


def headers(token: str) -> dict[str, str]:
    return bearer(token) | {"Idempotency-Key": f"inventory-{next(_KEYS)}"}


@pytest.fixture
async def stocked(clinic: Clinic) -> Clinic:
    return await stock(clinic)


async def stock(clinic: Clinic) -> Clinic:
    """90 mL of lot L-100 in the vault, 10 in the room; a compliance officer on the staff."""
    at = START - timedelta(minutes=60)
    await appended(clinic, clinic.event("receipt", "100", occurred_at=at.isoformat()))
    moved = (at + timedelta(minutes=5)).isoformat()
    await appended(clinic, clinic.event("move", "10", to_location_id=clinic.room.id,
                                        occurred_at=moved))  # fmt: skip
    await clinic.builder.staff(role="compliance_officer", subject="officer-1", name="Olive Officer")
    return clinic


async def started(clinic: Clinic, token: str | None = None, **body: Any) -> dict[str, Any]:
    response = await start(clinic, token, **body)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/inventories/{response.json()['id']}"
    found: dict[str, Any] = response.json()
    return found


async def start(clinic: Clinic, token: str | None = None, **body: Any) -> httpx.Response:
    sent = {"registrant_id": clinic.id, "kind": "biennial", "as_of": AS_OF,
            "taken_at": "close_of_business"} | body  # fmt: skip
    return await clinic.client.post("/v1/inventories", json=sent,
                                    headers=headers(token or clinic.officer_token))  # fmt: skip


async def count(
    clinic: Clinic, inventory: dict[str, Any], quantity: str, *, lot: Lot | None = None,
    location: str | None = None, exactness: str = "exact", token: str | None = None,
) -> httpx.Response:  # fmt: skip
    body = {"location_id": location or clinic.vault.id, "lot_id": (lot or clinic.lot).id,
            "quantity": quantity, "exactness": exactness}  # fmt: skip
    return await clinic.client.post(f"/v1/inventories/{inventory['id']}/counts", json=body,
                                    headers=headers(token or clinic.officer_token))  # fmt: skip


async def counted(clinic: Clinic, inventory: dict[str, Any], quantity: str, **kw: Any) -> Any:
    response = await count(clinic, inventory, quantity, **kw)
    assert response.status_code == 200, response.text
    return response.json()


async def sign(clinic: Clinic, inventory: dict[str, Any], token: str | None = None,
               key: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
    sent = key or headers(token or clinic.officer_token)
    return await clinic.client.post(f"/v1/inventories/{inventory['id']}/sign", json={},
                                    headers=sent)  # fmt: skip


async def witnessed(clinic: Clinic, inventory: dict[str, Any], token: str) -> httpx.Response:
    return await clinic.client.post(f"/v1/inventories/{inventory['id']}/witness", json={},
                                    headers=headers(token))  # fmt: skip


async def shown(clinic: Clinic, inventory: dict[str, Any]) -> dict[str, Any]:
    response = await clinic.client.get(f"/v1/inventories/{inventory['id']}",
                                       headers=bearer(clinic.officer_token))  # fmt: skip
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def sheet(inventory: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Each line as its location's name and lot number: (ledger, counted)."""
    return {f"{e['location']['name']} {e['lot']['lot_number']}": (e["ledger_quantity"],
                                                                  e["counted"])
            for e in inventory["entries"]}  # fmt: skip


async def test_a_started_inventory_lists_every_lot_on_hand_with_names(stocked):
    inventory = await started(stocked)

    assert (inventory["state"], inventory["kind"], inventory["taken_at"]) == (
        "open", "biennial", "close_of_business")  # fmt: skip
    assert (inventory["uncounted"], inventory["exact_required"]) == (2, False)
    assert inventory["taker"]["name"] == "Olive Officer"
    assert {place["name"] for place in inventory["locations"]} == {"Vault", "Room 1"}
    assert sheet(inventory) == {"Room 1 L-100": ("10", None), "Vault L-100": ("90", None)}
    line = inventory["entries"][0]
    assert (line["product"]["code"], line["product"]["strength"]) == ("00409205105", "50 mg/mL")
    assert line["lot"]["expires_on"] == "2027-01-31"
    assert await shown(stocked, inventory) == inventory
    listing = await stocked.client.get("/v1/inventories", params={"registrant_id": stocked.id},
                                       headers=bearer(stocked.officer_token))  # fmt: skip
    assert listing.status_code == 200, listing.text
    [item] = listing.json()["items"]
    assert (item["id"], item["uncounted"], item["witness_required"]) == (
        inventory["id"], 2, False)  # fmt: skip


async def test_the_sheet_holds_the_ledger_at_the_instant_and_only_the_named_locations(stocked):
    """What moved after as_of is not on the sheet; a location not named is not counted."""
    later = (START - timedelta(minutes=1)).isoformat()
    given = stocked.event("administer", "5", location_id=stocked.room.id, occurred_at=later,
                          patient_id=stocked.patient.id)  # fmt: skip
    await appended(stocked, given)
    inventory = await started(stocked, location_ids=[stocked.vault.id])

    assert sheet(inventory) == {"Vault L-100": ("90", None)}
    refused = await count(stocked, inventory, "10", location=stocked.room.id)
    assert_problem(refused, 422, "invalid-input", pointer="#/location_id")


async def test_a_count_answers_with_the_ledger_and_the_variance_at_once(stocked):
    inventory = await started(stocked)
    found = await counted(stocked, inventory, "88.5", exactness="estimated")
    assert (found["ledger_quantity"], found["counted"], found["variance"]) == ("90", "88.5", "-1.5")
    assert (found["exactness"], found["counter"]["name"]) == ("estimated", "Olive Officer")
    assert (found["location"]["name"], found["lot"]["lot_number"]) == ("Vault", "L-100")

    again = await counted(stocked, inventory, "90")
    assert (again["counted"], again["variance"], again["exactness"]) == ("90", "0", "exact")


async def test_a_lot_the_ledger_does_not_hold_there_is_added_when_counted(stocked):
    other = await stocked.builder.lot(stocked.product, "L-200", "2027-06-30", stocked.nurse_token)
    inventory = await started(stocked)
    found = await counted(stocked, inventory, "3", lot=other)
    assert (found["ledger_quantity"], found["variance"]) == ("0", "3")
    assert sheet(await shown(stocked, inventory))["Vault L-200"] == ("0", "3")


async def test_an_estimate_is_refused_where_the_state_requires_exact_counts(stocked, app, probe):
    app.state.settings = app.state.settings.model_copy(
        update={"inventory_exact_count_states": ["TX"]}
    )
    inventory = await started(stocked)
    assert inventory["exact_required"]
    assert inventory["entries"][0]["exact_required"]
    body = {"location_id": stocked.vault.id, "lot_id": stocked.lot.id, "quantity": "90",
            "exactness": "estimated"}  # fmt: skip
    await assert_refused(stocked.client, probe, "POST",
                         f"/v1/inventories/{inventory['id']}/counts",
                         headers=headers(stocked.officer_token), json=body, status=422,
                         problem="urn:csledger:problem:exact-count-required",
                         subject="officer-1", pointer="#/exactness")  # fmt: skip
    assert (await counted(stocked, inventory, "90"))["exactness"] == "exact"


@pytest.mark.parametrize(
    ("schedule", "unit", "package", "state", "exact"),
    [("3", "mL", "10", False, False), ("3", "each", "1000", False, False),
     ("3", "each", "1001", False, True), ("3N", "mL", "10", True, True),
     ("2", "mL", "10", False, True)],
)  # fmt: skip
@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_which_lots_are_counted_exactly(schedule, unit, package, state, exact, dialect):
    """21 CFR 1304.11(e)(3): over 1,000 tablets or capsules counted exactly; Schedule II
    always; everything where the state says so."""
    assert rules.exact_required(state_requires=state, schedule=schedule, inventory_unit=unit,
                                package_size=Decimal(package)) is exact  # fmt: skip


async def test_an_inventory_is_not_signed_while_a_lot_is_uncounted(stocked, probe):
    inventory = await started(stocked)
    await counted(stocked, inventory, "90")
    response = await assert_refused(stocked.client, probe, "POST",
                                    f"/v1/inventories/{inventory['id']}/sign",
                                    headers=headers(stocked.officer_token), json={}, status=409,
                                    problem="urn:csledger:problem:inventory-uncounted",
                                    subject="officer-1")  # fmt: skip
    assert response.json()["uncounted"] == [
        {"location_id": stocked.room.id, "lot_id": stocked.lot.id}
    ]


async def signed_messages(probe: Any) -> list[dict[str, Any]]:
    """The payloads of inventory.signed in the outbox (webhooks deliver them)."""
    async with probe.engine.connect() as connection:
        found = await connection.execute(
            select(OutboxMessage.payload).where(OutboxMessage.topic == INVENTORY_SIGNED)
        )
    return [payload for (payload,) in found]


async def test_signing_writes_the_counts_and_an_agreeing_inventory_finds_nothing(
    stocked, app, clock, probe
):
    inventory = await started(stocked)
    await counted(stocked, inventory, "90")
    await counted(stocked, inventory, "10", location=stocked.room.id, exactness="estimated")
    response = await sign(stocked, inventory)
    assert response.status_code == 200, response.text
    signed = response.json()
    assert (signed["state"], signed["signed_by"], signed["witness_required"]) == (
        "signed", inventory["started_by"], False)  # fmt: skip
    events = [line["event_id"] for line in signed["entries"]]
    assert all(events)
    event = await stocked.client.get(f"/v1/ledger/events/{events[0]}",
                                     headers=bearer(stocked.officer_token))  # fmt: skip
    assert event.status_code == 200, event.text
    body = event.json()
    assert (body["type"], body["occurred_at"]) == ("count", "2026-03-02T14:55:00Z")
    assert body["details"]["count"]["inventory_id"] == inventory["id"]
    assert body["details"]["count"]["inventory_kind"] == "biennial"

    [message] = await signed_messages(probe)
    assert message["inventory_id"] == inventory["id"]
    assert sorted(message["event_ids"]) == sorted(events)

    result = await reconciled(stocked, app, clock)
    assert "count_variance" not in result["findings"]
    again = await counted_after_signing(stocked, inventory)
    assert_problem(again, 409, "inventory-signed")


async def counted_after_signing(clinic: Clinic, inventory: dict[str, Any]) -> httpx.Response:
    return await count(clinic, inventory, "1")


async def test_a_variance_needs_a_witness_and_reconciliation_finds_it(stocked, app, clock):
    inventory = await started(stocked)
    await counted(stocked, inventory, "88")
    await counted(stocked, inventory, "10", location=stocked.room.id)
    assert (await shown(stocked, inventory))["witness_required"] is True
    assert_problem(await sign(stocked, inventory), 409, "inventory-witness-required")
    assert_problem(await witnessed(stocked, inventory, stocked.officer_token), 409,
                   "invalid-inventory-witness")  # fmt: skip

    response = await witnessed(stocked, inventory, stocked.witness_token)
    assert response.status_code == 200, response.text
    assert response.json()["witness"]["name"] == "Wes Witness"
    response = await sign(stocked, inventory)
    assert response.status_code == 200, response.text
    short = next(e for e in response.json()["entries"] if e["variance"] == "-2")
    event = await stocked.client.get(f"/v1/ledger/events/{short['event_id']}",
                                     headers=bearer(stocked.officer_token))  # fmt: skip
    assert event.json()["witness_status"] == "witnessed"

    result = await reconciled(stocked, app, clock)
    assert result["findings"].get("count_variance") == 1
    [found] = await listed(stocked, rule="count_variance")
    assert found["event_ids"] == [short["event_id"]]


async def test_a_recount_clears_the_witness(stocked):
    inventory = await started(stocked)
    await counted(stocked, inventory, "88")
    await counted(stocked, inventory, "10", location=stocked.room.id)
    assert (await witnessed(stocked, inventory, stocked.witness_token)).status_code == 200
    await counted(stocked, inventory, "87")
    assert (await shown(stocked, inventory))["witnessed_at"] is None
    assert_problem(await sign(stocked, inventory), 409, "inventory-witness-required")


async def test_only_whoever_took_it_signs(stocked):
    inventory = await started(stocked)
    await counted(stocked, inventory, "90", token=stocked.nurse_token)
    await counted(stocked, inventory, "10", location=stocked.room.id, token=stocked.nurse_token)
    assert_problem(await sign(stocked, inventory, stocked.nurse_token), 403, "not-inventory-taker")
    response = await sign(stocked, inventory)
    assert response.status_code == 200, response.text
    assert {line["counter"]["name"] for line in response.json()["entries"]} == {"Nora Nurse"}


async def test_a_role_that_takes_no_counts_is_refused(stocked, probe):
    prescriber = stocked.builder.token("prescriber", "prescriber-1")
    body = {"registrant_id": stocked.id, "kind": "ad_hoc", "as_of": AS_OF,
            "taken_at": "opening_of_business"}  # fmt: skip
    await assert_refused(stocked.client, probe, "POST", "/v1/inventories",
                         headers=headers(prescriber), json=body, status=403,
                         problem="urn:csledger:problem:permission-denied",
                         subject="prescriber-1")  # fmt: skip


async def test_another_registrants_inventory_is_not_found(stocked, client, admin_token, token):
    from tests.ledger.conftest import open_clinic

    other = await open_clinic(client, admin_token, token, name="Elsewhere Clinic")
    inventory = await started(stocked)
    response = await client.get(f"/v1/inventories/{inventory['id']}",
                                headers=bearer(other.officer_token))  # fmt: skip
    assert_problem(response, 404, "not-found")
    record = await client.get("/v1/reports/inventory-record",
                              params={"inventory_id": inventory["id"]},
                              headers=bearer(other.officer_token))  # fmt: skip
    assert_problem(record, 404, "not-found")


async def test_a_future_instant_is_refused(stocked):
    response = await start(stocked, as_of=(START + timedelta(hours=1)).isoformat())
    assert_problem(response, 422, "invalid-input", pointer="#/as_of")


async def test_a_retried_signature_is_replayed_and_a_second_one_refused(stocked, probe):
    inventory = await started(stocked)
    await counted(stocked, inventory, "90")
    await counted(stocked, inventory, "10", location=stocked.room.id)
    key = headers(stocked.officer_token)
    first = await sign(stocked, inventory, key=key)
    replay = await sign(stocked, inventory, key=key)
    assert first.status_code == replay.status_code == 200, replay.text
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == first.json()
    assert_problem(await sign(stocked, inventory), 409, "inventory-signed")
    assert await count_events(probe) == 2


async def count_events(probe: Any) -> int:
    async with probe.engine.connect() as connection:
        found = await connection.scalar(
            select(func.count()).select_from(LedgerEvent).where(LedgerEvent.type == "count")
        )
    return int(found or 0)


async def test_concurrent_signatures_sign_once(stocked, probe):
    """Two requests signing at once (each its own transaction): one signs, the other finds
    it signed; the counts are on the ledger once."""
    inventory = await started(stocked)
    await counted(stocked, inventory, "90")
    await counted(stocked, inventory, "10", location=stocked.room.id)
    answers = await asyncio.gather(*(sign(stocked, inventory) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "inventory-signed")
    assert await count_events(probe) == 2


async def test_concurrent_counts_of_one_sheet_keep_each(stocked):
    """Two people counting one sheet at once: each count is kept, neither lost."""
    inventory = await started(stocked)
    answers = await asyncio.gather(
        count(stocked, inventory, "90", token=stocked.nurse_token),
        count(stocked, inventory, "10", location=stocked.room.id, token=stocked.witness_token),
    )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert sheet(await shown(stocked, inventory)) == {"Room 1 L-100": ("10", "10"),
                                                      "Vault L-100": ("90", "90")}  # fmt: skip


async def test_a_zero_initial_inventory_is_an_inventory_taken(clinic, app, clock):
    """Nothing on hand at the instant: a sheet of no lines, signed, writes no count, yet the
    initial inventory is taken (21 CFR 1304.11(b)) and none is due."""
    await clinic.builder.staff(role="compliance_officer", subject="officer-1", name="Olive Officer")
    before = (START - timedelta(minutes=90)).isoformat()
    inventory = await started(clinic, kind="initial", as_of=before)
    assert (inventory["entries"], inventory["uncounted"]) == ([], 0)
    assert (await sign(clinic, inventory)).status_code == 200
    await appended(clinic, clinic.event("receipt", "10"))
    result = await reconciled(clinic, app, clock)
    assert "inventory_due" not in result["findings"]


async def test_starting_and_signing_are_audited_as_writes_of_the_inventory(stocked, probe):
    response = await start(stocked)
    inventory = response.json()
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert (row.kind, row.resource_type, row.resource_id, str(row.registrant_id)) == (
        "write", "inventory", inventory["id"], inventory["registrant_id"])  # fmt: skip
    await counted(stocked, inventory, "90")
    await counted(stocked, inventory, "10", location=stocked.room.id)
    signed = await sign(stocked, inventory)
    [row] = await probe.audit_rows(signed.headers["x-request-id"])
    assert (row.kind, row.resource_type, row.resource_id, row.status_code) == (
        "write", "inventory", inventory["id"], 200)  # fmt: skip


async def test_a_container_of_more_than_a_thousand_units_is_counted_exactly(stocked):
    """21 CFR 1304.11(e)(3): a jar of 1,200 troches is counted, not estimated."""
    jar = await stocked.builder.compound(troche_body(stocked.id, package_size="1200"),
                                         stocked.nurse_token)  # fmt: skip
    lot = await stocked.builder.lot(jar, "T-1", "2026-09-30", stocked.nurse_token)
    inventory = await started(stocked)
    line = await count(stocked, inventory, "1150", lot=lot, exactness="estimated")
    assert_problem(line, 422, "exact-count-required", pointer="#/exactness")
    found = await counted(stocked, inventory, "1150", lot=lot)
    assert (found["exact_required"], found["exactness"]) == (True, "exact")


async def test_an_integration_takes_no_inventory(stocked, integration_at, probe):
    """An inventory is a person's record: an integration posts counts, but takes none."""
    feed = await integration_at(stocked.id, IntegrationScope.ledger.value)
    body = {"registrant_id": stocked.id, "kind": "ad_hoc", "as_of": AS_OF,
            "taken_at": "close_of_business"}  # fmt: skip
    await assert_refused(stocked.client, probe, "POST", "/v1/inventories",
                         headers=headers(feed), json=body, status=403,
                         problem="urn:csledger:problem:not-inventory-taker",
                         subject="ehr-feed")  # fmt: skip


async def test_a_recount_never_hides_the_count_it_replaced(stocked):
    inventory = await started(stocked)
    await counted(stocked, inventory, "80", exactness="estimated")
    await counted(stocked, inventory, "90", token=stocked.nurse_token)
    response = await stocked.client.get(f"/v1/inventories/{inventory['id']}/history",
                                        headers=bearer(stocked.officer_token))  # fmt: skip
    assert response.status_code == 200, response.text
    versions = response.json()
    steps = [(v["version"], v["data"]["step"], v["changed_by"]) for v in versions]
    assert steps == [(1, "started", "officer-1"), (2, "counted", "officer-1"),
                     (3, "counted", "nurse-1")]  # fmt: skip
    assert [(v["data"]["entry"]["counted"], v["data"]["entry"]["exactness"])
            for v in versions[1:]] == [("80", "estimated"), ("90", "exact")]  # fmt: skip


async def void(clinic: Clinic, inventory: dict[str, Any], token: str) -> httpx.Response:
    return await clinic.client.post(f"/v1/inventories/{inventory['id']}/void",
                                    json={"reason": "started as of the wrong day"},
                                    headers=headers(token))  # fmt: skip


async def test_an_inventory_started_in_error_is_voided_and_kept_with_why(stocked, probe):
    inventory = await started(stocked)
    await counted(stocked, inventory, "90")
    await assert_refused(stocked.client, probe, "POST", f"/v1/inventories/{inventory['id']}/void",
                         status=403, problem=PROBLEM_TYPE_PREFIX + "not-inventory-taker",
                         subject="nurse-1",
                         headers=headers(stocked.nurse_token),
                         json={"reason": "not mine to void"})  # fmt: skip

    voided = await void(stocked, inventory, stocked.officer_token)
    assert voided.status_code == 200, voided.text
    shown_now = voided.json()
    assert (shown_now["state"], shown_now["void_reason"], shown_now["voided_by"]) == (
        "voided", "started as of the wrong day", "officer-1")  # fmt: skip
    assert sheet(shown_now)["Vault L-100"] == ("90", "90")  # kept, with its counts
    for refused in (await count(stocked, inventory, "89"), await sign(stocked, inventory),
                    await void(stocked, inventory, stocked.officer_token)):  # fmt: skip
        assert_problem(refused, 409, "inventory-voided")
    history = await stocked.client.get(f"/v1/inventories/{inventory['id']}/history",
                                       headers=bearer(stocked.officer_token))  # fmt: skip
    assert [v["data"]["step"] for v in history.json()] == ["started", "counted", "voided"]
    counts = {"registrant_id": stocked.id, "type": "count"}
    written = await stocked.client.get("/v1/ledger/events", params=counts,
                                       headers=bearer(stocked.nurse_token))  # fmt: skip
    assert written.json()["items"] == []


async def test_whoever_took_it_voids_it_and_a_signed_one_is_not_voided(stocked):
    taken_by_nurse = await started(stocked, stocked.nurse_token)
    assert (await void(stocked, taken_by_nurse, stocked.nurse_token)).status_code == 200
    inventory = await started(stocked)
    await counted(stocked, inventory, "90")
    await counted(stocked, inventory, "10", location=stocked.room.id)
    assert (await sign(stocked, inventory)).status_code == 200
    assert_problem(await void(stocked, inventory, stocked.officer_token), 409, "inventory-signed")
