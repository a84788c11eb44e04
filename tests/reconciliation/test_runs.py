"""Reconciliation runs through HTTP and the worker, on both databases: each rule with data that
breaks it and clean data that raises nothing, runs of a period again, the API, the nightly
schedule and ``csledger reconcile``."""

import asyncio
import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from app.auth.caller import Caller
from app.auth.permissions import IntegrationScope, Role
from app.auth.principal import Principal
from app.cli import cli
from app.core.clock import FrozenClock
from app.core.jobs import Job, Periodic
from app.ledger import service as ledger
from app.ledger.schemas import EventCreate
from app.ledger.types import EventType
from app.worker import Worker, default_periodic
from tests.clinical.ward import SUPPLIER, T0, Ward, at, open_ward
from tests.conftest import START, bearer
from tests.factories import (
    assert_problem,
    assert_refused,
    create_registrant,
)
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended, count_body, reversal_body
from tests.world import Location, Lot, Staff

DAY = "2026-03-02"
"""The frozen clock's day in Chicago (START is 09:00 there)."""
CHICAGO = ZoneInfo("America/Chicago")
VIAL = "Ketamine HCl injection 50 mg/mL, 10 mL vial"
"""The clinic's and the ward's ketamine, as findings name it."""
PROBLEM = "urn:csledger:problem:"
STABLE = {"stable": True, "assessed_at": at(125)}
OBSERVED = {"sedation": False, "dissociation": True, "respiratory_depression": False}


class Place(Protocol):
    """A clinic or a ward: a registrant's id, the client and a compliance officer's token."""

    @property
    def client(self) -> httpx.AsyncClient: ...

    @property
    def id(self) -> str: ...

    officer_token: str


def chicago(day: str, hour: int, minute: int = 0) -> datetime:
    """``hour`` on ``day`` in Chicago (the registrants' timezone)."""
    local = datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00")
    return local.replace(tzinfo=CHICAGO).astimezone(UTC)


async def worked(app: Any, clock: FrozenClock, *, periodic: tuple[Periodic, ...] = ()) -> int:
    """Run the worker until idle (without the periodic jobs unless given)."""
    worker = Worker(app.state.database, app.state.settings, clock, periodic=periodic)
    return await worker.run_until_idle()


async def started(place: Place, first: str = DAY, last: str | None = None) -> httpx.Response:
    body = {"registrant_id": place.id, "first_day": first, "last_day": last or first}
    return await place.client.post("/v1/reconciliation/runs", json=body,
                                   headers=bearer(place.officer_token))  # fmt: skip


async def shown(place: Place, run_id: str, token: str | None = None) -> httpx.Response:
    return await place.client.get(f"/v1/reconciliation/runs/{run_id}",
                                  headers=bearer(token or place.officer_token))  # fmt: skip


async def reconciled(
    place: Place, app: Any, clock: FrozenClock, first: str = DAY, last: str | None = None
) -> dict[str, Any]:
    """Queue a run of the period through the API, let the worker run it; its result."""
    response = await started(place, first, last)
    assert response.status_code == 202, response.text
    await worked(app, clock)
    run = await shown(place, response.json()["id"])
    assert run.status_code == 200, run.text
    assert run.json()["status"] == "succeeded", run.json()
    result: dict[str, Any] = run.json()["result"]
    assert result["duration_ms"] >= 0
    return result


async def listed(place: Place, **params: str) -> list[dict[str, Any]]:
    response = await place.client.get(
        "/v1/discrepancies", params={"registrant_id": place.id, **params},
        headers=bearer(place.officer_token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def resolve(place: Place, found: dict[str, Any]) -> dict[str, Any]:
    """Acknowledge, then resolve ``found`` as a count error (as the compliance officer)."""
    path = f"/v1/discrepancies/{found['id']}/transitions"
    headers = bearer(place.officer_token)
    acknowledged = await place.client.post(path, json={"to": "acknowledged"}, headers=headers)
    assert acknowledged.status_code == 200, acknowledged.text
    resolved = await place.client.post(path, json={"to": "resolved", "reason_code": "count_error"},
                                       headers=headers)  # fmt: skip
    assert resolved.status_code == 200, resolved.text
    body: dict[str, Any] = resolved.json()
    return body


async def jobs_of(app: Any, kind: str) -> list[Job]:
    async with app.state.database.transaction() as session:
        rows = await session.scalars(select(Job).where(Job.kind == kind).order_by(Job.created_at))
        return list(rows)


def numbers(details: dict[str, Any]) -> dict[str, Any]:
    """A discrepancy's details with its decimal strings read as numbers."""
    return {k: Decimal(v) if isinstance(v, str) else v for k, v in details.items()}


async def counted(
    clinic: Clinic,
    quantity: str,
    when: datetime,
    kind: str = "ad_hoc",
    location: Location | None = None,
) -> dict[str, Any]:
    body = count_body(clinic.registrant.id, (location or clinic.vault).id,
                      clinic.lot.id, clinic.nurse.id, quantity, when, kind)  # fmt: skip
    event: dict[str, Any] = await appended(clinic, body)
    return event


async def received(clinic: Clinic, quantity: str, when: datetime, lot: Lot | None = None):
    body = clinic.event("receipt", quantity, occurred_at=when.isoformat(),
                        lot_id=(lot or clinic.lot).id)  # fmt: skip
    return await appended(clinic, body)


async def moved(clinic: Clinic, quantity: str, when: datetime) -> None:
    await appended(clinic, clinic.event("move", quantity, occurred_at=when.isoformat(),
                                        to_location_id=clinic.room.id))  # fmt: skip


async def new_lot(clinic: Clinic, number: str, expires_on: str) -> Lot:
    return await clinic.builder.lot(clinic.product, number, expires_on, clinic.nurse_token)


@pytest.fixture
async def clinic(client, admin_token, token) -> Clinic:
    return await open_clinic(client, admin_token, token)


async def inventoried(ward: Ward) -> None:
    """The ward's initial inventory, before the day's sessions: each lot as received."""
    for lot, quantity in ((ward.vial_lot, "50"), (ward.device_lot, "12")):
        body = count_body(ward.id, ward.vault.id, lot.id, ward.nurse.id, quantity,
                          at(-30), "initial")  # fmt: skip
        response = await ward.post("/v1/ledger/events", body)
        assert response.status_code == 201, response.text


async def ward_at(client, admin_token, token, clock: FrozenClock, now: datetime) -> Ward:
    """An inventoried ward opened with the clock at ``now`` (left there)."""
    clock.set(now)
    ward = await open_ward(client, admin_token, token)
    await inventoried(ward)
    return ward


@pytest.fixture
async def ward(client, admin_token, token, clock) -> Ward:
    return await ward_at(client, admin_token, token, clock, START)


@pytest.fixture
async def prompt_ward(client, admin_token, token, clock) -> Ward:
    """A ward whose clock stands at 04:55, 55 minutes into the day's session: waste entered
    now is within the hour after its withdrawal (at 04:05)."""
    return await ward_at(client, admin_token, token, clock, T0 + timedelta(minutes=55))


SECOND = at(180)
"""When a test's second session of one patient is scheduled: after the first has ended (one
patient is not in two sessions at once)."""


async def infused(
    ward: Ward, withdrawn: str = "1", given: str = "0.7", scheduled_at: str = at(0)
) -> dict[str, Any]:
    """An IV session: ``withdrawn`` mL drawn at 5 minutes, ``given`` mL infused from 10 to 50."""
    ts = await ward.open_session("iv", scheduled_at=scheduled_at)
    await ward.withdraw(ts, withdrawn)
    await ward.step(ts, "administrations", {"lot_id": ward.vial_lot.id, "quantity": given,
                                            "started_at": at(10), "ended_at": at(50)})  # fmt: skip
    return ts


async def wasted(ward: Ward, ts: dict[str, Any], quantity: str = "0.3") -> dict[str, Any]:
    step = await ward.step(ts, "waste", {"lot_id": ward.vial_lot.id, "quantity": quantity,
                                         "occurred_at": at(52),
                                         "witness_id": ward.witness.id})  # fmt: skip
    event: dict[str, Any] = step["event"]
    return event


async def confirmed(ward: Ward, ts: dict[str, Any], event: dict[str, Any]) -> None:
    await ward.step(ts, "witness-confirmations", {"event_id": event["id"]}, ward.witness_token)


async def discharged_esketamine(ward: Ward, scheduled_at: str = at(0)) -> dict[str, Any]:
    """An 84 mg esketamine session (devices at 10, 15, 20) discharged at 130 minutes."""
    ts = await ward.open_session("esketamine", scheduled_at=scheduled_at)
    await ward.vitals(ts, "pre_dose", 2)
    await ward.withdraw(ts, "3", lot="device")
    for minutes in (10, 15, 20):
        await ward.step(ts, "administrations", {"lot_id": ward.device_lot.id, "quantity": "1",
                                                "started_at": at(minutes)})  # fmt: skip
    await ward.vitals(ts, "post_dose", 50)
    await ward.vitals(ts, "pre_discharge", 128)
    await ward.step(ts, "discharge", {"discharged_at": at(130), "clinical_stability": STABLE,
                                      "observations": OBSERVED})  # fmt: skip
    return ts


# count_variance


async def test_an_exact_count_opens_nothing(clinic, app, clock):
    await received(clinic, "10", START - timedelta(minutes=10))
    await counted(clinic, "10", START - timedelta(minutes=5), "initial")
    result = await reconciled(clinic, app, clock)
    assert (result["findings"], result["opened"], result["updated"]) == ({}, 0, 0)
    assert await listed(clinic) == []


async def test_a_short_count_opens_a_discrepancy_sized_against_the_usage(clinic, app, clock):
    """100 mL received, 50 moved to the room (the vault's usage): a count 1 short is minor,
    one 10 short (20 % of the usage) significant and reportable."""
    await received(clinic, "100", START - timedelta(minutes=60))
    await moved(clinic, "50", START - timedelta(minutes=50))
    small = await counted(clinic, "49", START - timedelta(minutes=40), "initial")
    large = await counted(clinic, "40", START - timedelta(minutes=30))
    result = await reconciled(clinic, app, clock)
    assert (result["findings"], result["opened"], result["updated"]) == (
        {"count_variance": 2}, 2, 0,
    )  # fmt: skip

    found = {d["event_ids"][0]: d for d in await listed(clinic, rule="count_variance")}
    minor, significant = found[small["id"]], found[large["id"]]
    assert numbers(minor["details"]) == {"counted": 49, "expected": 50, "usage_30_days": 50,
                                         "shortfalls_in_window": 1}  # fmt: skip
    assert (minor["severity"], minor["reportable"], minor["discovered_at"]) == (
        "minor", False, None,
    )  # fmt: skip
    assert numbers(significant["details"]) == {"counted": 40, "expected": 50,
                                               "usage_30_days": 50,
                                               "shortfalls_in_window": 2}  # fmt: skip
    assert (significant["severity"], significant["reportable"]) == ("significant", True)
    assert significant["discovered_at"] == "2026-03-02T14:30:00Z"
    assert (significant["notice_due_on"], significant["form_106_due_on"]) == (
        "2026-03-03", "2026-04-16",
    )  # fmt: skip
    for d in (minor, significant):
        assert (d["status"], d["staff_ids"]) == ("open", [clinic.nurse.id])
        assert (d["product_id"], d["location_id"]) == (clinic.product.id, clinic.vault.id)
        # What it is about, as fields with names, and in words.
        assert (d["lot_id"], d["lot"]["lot_number"], d["location"]["name"]) == (
            clinic.lot.id, "L-100", "Vault",
        )  # fmt: skip
        assert [person["name"] for person in d["staff"]] == ["Nora Nurse"]
    assert minor["summary"] == (
        "Count of lot L-100 at Vault short by 1 mL (expected 50 mL, counted 49 mL) on "
        "2026-03-02 08:20 CST"
    )
    assert significant["summary"] == (
        "Count of lot L-100 at Vault short by 10 mL (expected 50 mL, counted 40 mL) on "
        "2026-03-02 08:30 CST"
    )


async def test_three_small_shortfalls_in_thirty_days_at_one_location_are_significant(
    clinic, app, clock
):
    """Vault counts each 1 short of 900 or 800 with 100 used: the one of 20 February has one
    earlier shortfall within 30 days, that of 2 March two (15 January is outside the window,
    and a shortfall in the room is another location's)."""
    await received(clinic, "1000", datetime(2026, 1, 1, 18, tzinfo=UTC))
    await counted(clinic, "999", datetime(2026, 1, 15, 18, tzinfo=UTC), "initial")
    await moved(clinic, "100", datetime(2026, 2, 5, 18, tzinfo=UTC))
    await counted(clinic, "899", datetime(2026, 2, 10, 18, tzinfo=UTC))
    february = await counted(clinic, "899", datetime(2026, 2, 20, 18, tzinfo=UTC))
    await counted(clinic, "99", datetime(2026, 2, 25, 18, tzinfo=UTC), location=clinic.room)
    await moved(clinic, "100", datetime(2026, 2, 28, 18, tzinfo=UTC))
    march = await counted(clinic, "799", START - timedelta(minutes=5))

    earlier = await reconciled(clinic, app, clock, "2026-02-20")
    assert earlier["findings"] == {"count_variance": 1}
    [minor] = await listed(clinic)
    assert (minor["event_ids"], minor["severity"], minor["reportable"]) == (
        [february["id"]], "minor", False,
    )  # fmt: skip
    assert numbers(minor["details"]) == {"counted": 899, "expected": 900, "usage_30_days": 100,
                                         "shortfalls_in_window": 2}  # fmt: skip

    clock.advance(timedelta(minutes=1))
    result = await reconciled(clinic, app, clock)
    assert (result["findings"], result["opened"]) == ({"count_variance": 1}, 1)
    [escalated] = await listed(clinic, severity="significant")
    assert (escalated["event_ids"], escalated["reportable"]) == ([march["id"]], True)
    assert numbers(escalated["details"]) == {"counted": 799, "expected": 800,
                                             "usage_30_days": 200,
                                             "shortfalls_in_window": 3}  # fmt: skip
    assert escalated["summary"] == (
        "Count of lot L-100 at Vault short by 1 mL (expected 800 mL, counted 799 mL) on "
        f"2026-03-02 08:55 CST, the 3rd short count of {VIAL} there within 30 days"
    )


async def decreased(
    clinic: Clinic, when: datetime, location: Location | None = None
) -> dict[str, Any]:
    """The compliance officer takes 0.5 mL off the book at ``location`` (the vault)."""
    body = clinic.event("adjust", "0.5", adjust_direction="decrease", occurred_at=when.isoformat(),
                        location_id=(location or clinic.vault).id,
                        reason="a vial's loss written off")  # fmt: skip
    event: dict[str, Any] = await appended(clinic, body, clinic.officer_token)
    return event


async def test_three_decreases_of_the_book_in_thirty_days_at_one_location_are_significant(
    clinic, app, clock
):
    """Decreases at the vault on 10 and 20 February and 2 March make a pattern by the third;
    an increase, a decrease in the room and a reversed one (1 March) are no part of it."""
    await received(clinic, "100", datetime(2026, 1, 1, 18, tzinfo=UTC))
    await counted(clinic, "100", datetime(2026, 1, 1, 19, tzinfo=UTC), "initial")
    await moved(clinic, "10", datetime(2026, 1, 2, 18, tzinfo=UTC))
    first = await decreased(clinic, datetime(2026, 2, 10, 18, tzinfo=UTC))
    second = await decreased(clinic, datetime(2026, 2, 20, 18, tzinfo=UTC))
    increase = clinic.event(
        "adjust",
        "1",
        adjust_direction="increase",
        reason="a vial found",
        occurred_at=datetime(2026, 2, 22, 18, tzinfo=UTC).isoformat(),
    )
    await appended(clinic, increase, clinic.officer_token)
    await decreased(clinic, datetime(2026, 2, 25, 18, tzinfo=UTC), clinic.room)
    undone = await decreased(clinic, datetime(2026, 3, 1, 18, tzinfo=UTC))
    await appended(clinic, reversal_body(clinic.registrant.id, undone["id"],
                                         datetime(2026, 3, 1, 19, tzinfo=UTC).isoformat())
                   | {"witness_ids": [clinic.witness.id]}, clinic.officer_token)  # fmt: skip
    third = await decreased(clinic, START - timedelta(minutes=5))

    assert (await reconciled(clinic, app, clock, "2026-02-20", "2026-03-01"))["findings"] == {}
    result = await reconciled(clinic, app, clock)
    assert result["findings"] == {"adjustment_pattern": 1}
    [found] = await listed(clinic, rule="adjustment_pattern")
    assert found["event_ids"] == [first["id"], second["id"], third["id"]]
    assert (found["severity"], found["reportable"], found["discovered_at"]) == (
        "significant", True, "2026-03-02T14:55:00Z",
    )  # fmt: skip
    assert (found["product_id"], found["location_id"], found["lot_id"]) == (
        clinic.product.id, clinic.vault.id, clinic.lot.id,
    )  # fmt: skip
    assert found["summary"] == (
        "Adjustment of lot L-100 at Vault down by 0.5 mL on 2026-03-02 08:55 CST, the 3rd "
        f"decrease of {VIAL} there within 30 days"
    )


async def test_a_count_is_weighed_against_the_usage_before_it(clinic, app, clock):
    await received(clinic, "100", START - timedelta(minutes=60))
    await counted(clinic, "97", START - timedelta(minutes=50), "initial")  # nothing used yet
    await moved(clinic, "90", START - timedelta(minutes=40))
    assert (await reconciled(clinic, app, clock))["findings"] == {"count_variance": 1}
    [found] = await listed(clinic)
    assert numbers(found["details"])["usage_30_days"] == 0
    assert (found["severity"], found["reportable"]) == ("significant", True)


# holding_not_emptied


async def test_a_session_discharged_with_stock_in_its_holding_is_found(ward: Ward, app, clock):
    left = await infused(ward)  # 50 mg drawn, 35 given: 15 left
    await ward.step(left, "discharge", {"discharged_at": at(100),
                                        "unresolved_reason": "vial sent to pharmacy"})  # fmt: skip
    clean = await infused(ward, withdrawn="0.7", scheduled_at=SECOND)
    await ward.step(clean, "discharge", {"discharged_at": at(100)})

    result = await reconciled(ward, app, clock)
    assert result["findings"] == {"holding_not_emptied": 1}
    [found] = await listed(ward)
    assert (found["rule"], found["severity"], found["details"]) == (
        "holding_not_emptied", "significant", {"session_id": left["id"]},
    )  # fmt: skip
    assert found["summary"] == (
        f"Session of patient {ward.iv_patient.external_id} in Room 1 discharged on 2026-03-02 "
        "05:40 CST with 15 mg left in its holding, neither given, wasted nor returned"
    )
    assert found["staff_ids"] == [ward.nurse.id, ward.witness.id]
    # What it is about, as fields with names: the session, its patient, the room.
    assert (found["session_id"], found["location"]["name"], found["patient"]["id"]) == (
        left["id"], ward.room.name, ward.iv_patient.id,
    )  # fmt: skip
    assert [person["name"] for person in found["staff"]] == [ward.nurse.name, ward.witness.name]
    # The events involved: the session's withdrawal and administration, in their order.
    detail = await ward.client.get(f"/v1/discrepancies/{found['id']}",
                                   headers=bearer(ward.officer_token))  # fmt: skip
    events = detail.json()["events"]
    assert [(e["type"], e["session_id"]) for e in events] == [
        ("move", left["id"]), ("administer", left["id"]),
    ]  # fmt: skip
    assert found["event_ids"] == [e["id"] for e in events]


# waste_witnessing


async def test_waste_is_unwitnessed_until_its_witness_confirms_it(prompt_ward: Ward, app, clock):
    ward = prompt_ward
    ts = await infused(ward)
    waste = await wasted(ward, ts)
    result = await reconciled(ward, app, clock)
    assert result["findings"] == {"waste_unwitnessed": 1}
    [found] = await listed(ward)
    assert (found["rule"], found["severity"], found["event_ids"], found["staff_ids"]) == (
        "waste_unwitnessed", "significant", [waste["id"]], [ward.nurse.id],
    )  # fmt: skip
    assert found["details"] == {"session_id": ts["id"]}
    assert (found["session_id"], found["location_id"], found["lot"]["lot_number"]) == (
        ts["id"], ward.room.id, "L-injection",
    )  # fmt: skip
    assert (found["patient"]["id"], found["product_id"]) == (
        ward.iv_patient.id,
        ward.vial_lot.product_id,
    )
    assert found["summary"] == (
        f"Waste of 0.3 mL of lot L-injection in the session of patient "
        f"{ward.iv_patient.external_id} in Room 1 on 2026-03-02 04:52 CST: no witness other "
        "than its waster, Nora Nurse, confirmed it"
    )

    await confirmed(ward, ts, waste)
    clock.advance(timedelta(minutes=1))
    assert (await reconciled(ward, app, clock))["findings"] == {}


async def test_an_integration_record_naming_the_waster_as_witness_is_found(
    prompt_ward: Ward, app, clock
):
    """The session's waste step refuses such a waste; an integration's record reaches the
    ledger with the session's holding (as the session workflow writes it)."""
    ward = prompt_ward
    ts = await infused(ward)
    at_ward = uuid.UUID(ward.id)
    integration = Principal(subject="emr-bridge", name="EMR bridge",
                            roles=frozenset({Role.integration}),
                            registrant_ids=frozenset({at_ward}),
                            scopes={at_ward: frozenset({IntegrationScope.sessions})})  # fmt: skip
    nurse = uuid.UUID(ward.nurse.id)
    event = EventCreate(
        registrant_id=uuid.UUID(ward.id), type=EventType.waste,
        location_id=uuid.UUID(ts["holding_location_id"]), lot_id=uuid.UUID(ward.vial_lot.id),
        quantity=Decimal("0.3"), occurred_at=datetime.fromisoformat(at(52)), performed_by=nurse,
        witness_ids=[nurse], patient_id=uuid.UUID(ts["patient_id"]), session_id=uuid.UUID(ts["id"]),
    )  # fmt: skip
    caller = Caller(principal=integration, now=clock.now(), settings=app.state.settings,
                             holding_session_id=uuid.UUID(ts["id"]))  # fmt: skip
    async with app.state.database.transaction() as session:
        row = await ledger.append(session, event, caller)

    result = await reconciled(ward, app, clock)
    assert result["findings"] == {"waste_witnessed_by_waster": 1, "waste_unwitnessed": 1}
    [found] = await listed(ward, rule="waste_witnessed_by_waster")
    assert (found["severity"], found["event_ids"], found["staff_ids"]) == (
        "significant", [str(row["id"])], [ward.nurse.id],
    )  # fmt: skip
    assert found["summary"].endswith(": its waster, Nora Nurse, is named as its witness")


async def test_waste_entered_more_than_an_hour_after_the_withdrawal_is_late(ward: Ward, app, clock):
    """The clock stands at 09:00: the waste of 04:52 is entered 4 h 55 min after the
    withdrawal of 04:05."""
    assert app.state.settings.waste_window_minutes == 60
    ts = await infused(ward)
    waste = await wasted(ward, ts)
    await confirmed(ward, ts, waste)
    result = await reconciled(ward, app, clock)
    assert result["findings"] == {"waste_late": 1}
    [found] = await listed(ward)
    assert (found["rule"], found["severity"], found["event_ids"]) == (
        "waste_late", "minor", [waste["id"]],
    )  # fmt: skip
    assert found["summary"] == (
        f"Waste of 0.3 mL of lot L-injection in the session of patient "
        f"{ward.iv_patient.external_id} in Room 1 on 2026-03-02 04:52 CST: recorded 295 minutes "
        "after the session's first withdrawal, past the 60 minutes allowed"
    )


# monitoring_form_overdue


async def test_an_esketamine_session_discharged_after_one_device_is_found(ward: Ward, app, clock):
    """Two or three devices make a dose (56 or 84 mg); one is not a dose the label knows."""
    ts = await ward.open_session("esketamine")
    await ward.vitals(ts, "pre_dose", 2)
    await ward.withdraw(ts, "1", lot="device")
    await ward.step(ts, "administrations", {"lot_id": ward.device_lot.id, "quantity": "1",
                                            "started_at": at(10)})  # fmt: skip
    await ward.vitals(ts, "post_dose", 50)
    await ward.vitals(ts, "pre_discharge", 128)
    await ward.step(ts, "discharge", {"discharged_at": at(130), "clinical_stability": STABLE,
                                      "observations": OBSERVED})  # fmt: skip
    assert (await reconciled(ward, app, clock))["findings"] == {"esketamine_dose_unusual": 1}
    [found] = await listed(ward)
    assert (found["severity"], found["details"]) == ("significant", {"session_id": ts["id"]})
    assert (found["session_id"], found["location_id"], found["patient_id"]) == (
        ts["id"], ward.room.id, ward.esketamine_patient.id,
    )  # fmt: skip
    assert found["summary"] == (
        f"Esketamine session of patient {ward.esketamine_patient.external_id} in Room 1 "
        "discharged on 2026-03-02 06:10 CST after 28 mg given, not 56 or 84 mg"
    )
    # A full dose, 56 or 84 mg, is not found.
    await discharged_esketamine(ward, scheduled_at=SECOND)
    assert (await reconciled(ward, app, clock))["findings"] == {"esketamine_dose_unusual": 1}


async def more_nurses(ward: Ward, count: int) -> list[tuple[Staff, str]]:
    """The ward's nurse and ``count`` more, each with a token of their own."""
    nurses = [(ward.nurse, ward.nurse_token)]
    for n in range(count):
        subject = f"nurse-{n + 3}"
        staff = await ward.builder.staff(role="nurse", subject=subject)
        nurses.append((staff, ward.token(["clinician"], [ward.id], sub=subject)))
    return nurses


async def restocked(ward: Ward) -> None:
    """A thousand mL of vials and a hundred devices more, received after the inventory."""
    for lot, quantity in ((ward.vial_lot, "1000"), (ward.device_lot, "100")):
        receipt = {"registrant_id": ward.id, "type": "receipt", "location_id": ward.vault.id,
                   "lot_id": lot.id, "quantity": quantity, "occurred_at": at(-20),
                   "counterparty": SUPPLIER, "document_reference": "INV-2"}  # fmt: skip
        response = await ward.post("/v1/ledger/events", receipt)
        assert response.status_code == 201, response.text


async def infusion_by(
    ward: Ward, token: str, waste_ml: str, *, withdrawn: str = "2", given: str = "0.7"
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A session of its own patient (0.5 mg/kg of 70 kg) run with ``token``: ``withdrawn`` mL
    drawn, ``given`` infused, ``waste_ml`` wasted (witnessed, unconfirmed) and the rest
    returned; the session and its waste event."""
    patient = await ward.add_patient(weight_kg="70")
    plan = await ward.add_plan(patient, modality="iv_infusion", dose_mg_per_kg="0.5")
    body = ward.session_body("iv", patient_id=patient.id, plan_id=plan.id)
    ts = (await ward.post("/v1/sessions", body, token)).json()
    left = Decimal(withdrawn) - Decimal(given) - Decimal(waste_ml)
    steps = [
        ("withdrawals", {"from_location_id": ward.vault.id, "quantity": withdrawn,
                         "occurred_at": at(5)}),
        ("administrations", {"quantity": given, "started_at": at(10), "ended_at": at(50)}),
        ("waste", {"quantity": waste_ml, "occurred_at": at(52),
                   "witness_id": ward.witness.id}),
        ("returns", {"quantity": str(left), "to_location_id": ward.vault.id,
                     "occurred_at": at(53)}),
    ]  # fmt: skip
    waste = None
    for what, fields in steps:
        if Decimal(fields["quantity"]) > 0:
            done = await ward.step(ts, what, {"lot_id": ward.vial_lot.id, **fields}, token)
            waste = done["event"] if what == "waste" else waste
    return ts, waste


async def vials_wasted(ward: Ward, token: str, waste_ml: str, sessions: int = 3) -> None:
    """``sessions`` infusions each drawing whole 10 mL vials (500 mg each): what the dose of
    35 to 38 mg leaves of them, ``waste_ml``, is wasted."""
    withdrawn = str(10 * math.ceil(Decimal(waste_ml) / 10))
    for _ in range(sessions):
        given = str(Decimal(withdrawn) - Decimal(waste_ml))
        await infusion_by(ward, token, waste_ml, withdrawn=withdrawn, given=given)


def peer_outliers(result: dict[str, Any]) -> int:
    return int(result["findings"].get("peer_outlier", 0))


async def test_near_identical_peers_are_not_flagged_for_rounding(ward: Ward, app, clock):
    """The clean replay's IV waste per session: whole vials less the dose, five nurses at
    462.3 to 464.2 mg (a median of 463.55, a median absolute deviation of 0.05): the last,
    0.65 mg (0.14 %) above the median, lies at a robust z of 8.8, and matters not at all."""
    await restocked(ward)
    nurses = await more_nurses(ward, 4)
    for (_staff, token), waste_ml in zip(
        nurses, ("9.246", "9.27", "9.271", "9.272", "9.284"), strict=True
    ):
        await vials_wasted(ward, token, waste_ml)
    assert peer_outliers(await reconciled(ward, app, clock)) == 0


async def test_a_nurse_who_draws_a_second_vial_and_wastes_it_whole_is_flagged(
    ward: Ward, app, clock
):
    """Beside the near-identical peers above: four nurses waste what a vial leaves after the
    dose (463.5 mg a session), the fifth draws a second vial every session and wastes it whole
    (963.5 mg): flagged, for her waste and her withdrawals, for review."""
    await restocked(ward)
    nurses = await more_nurses(ward, 4)
    for _staff, token in nurses[:4]:
        await vials_wasted(ward, token, "9.27")
    await vials_wasted(ward, nurses[4][1], "19.27")
    result = await reconciled(ward, app, clock)
    assert peer_outliers(result) == 2, result
    found = {d["details"]["measure"]: d for d in await listed(ward, rule="peer_outlier")}
    assert found.keys() == {"waste", "withdrawn"}
    waste = found["waste"]
    assert (waste["severity"], waste["staff_ids"], waste["product_id"]) == (
        "info", [nurses[4][0].id], ward.vial_lot.product_id,
    )  # fmt: skip
    assert {k: waste["details"][k] for k in ("work", "per_session", "peer_median", "sessions",
                                             "peers")} == {
        "work": "iv_infusion 0.5 mg/kg", "per_session": "963.5", "peer_median": "463.5",
        "sessions": 3, "peers": 5,
    }  # fmt: skip
    assert (found["withdrawn"]["details"]["per_session"],
            found["withdrawn"]["details"]["peer_median"]) == ("1000", "500")  # fmt: skip
    nurse = nurses[4][0]
    assert [person["name"] for person in waste["staff"]] == [nurse.name]
    assert waste["summary"] == (
        f"{nurse.name} (nurse) wasted 963.5 mg per session of {VIAL} in 3 iv infusion 0.5 "
        f"mg/kg sessions, against a median of 463.5 mg among the 5 compared (robust z "
        f"{waste['details']['robust_z']})"
    )
    assert found["withdrawn"]["summary"].startswith(f"{nurse.name} (nurse) withdrew 1000 mg ")


async def test_a_nurse_after_a_single_session_is_not_compared(ward: Ward, app, clock):
    """Five nurses with three sessions each are compared, and alike; a sixth, after one session
    in which she drew and wasted a second vial, is not compared yet."""
    await restocked(ward)
    nurses = await more_nurses(ward, 5)
    for _staff, token in nurses[:5]:
        await vials_wasted(ward, token, "9.27")
    await vials_wasted(ward, nurses[5][1], "19.27", sessions=1)
    assert peer_outliers(await reconciled(ward, app, clock)) == 0


async def esketamine_by(ward: Ward, token: str, dose_mg: int) -> None:
    """A session of its own REMS-enrolled patient on an esketamine plan of ``dose_mg``, run with
    ``token``: the dose's devices withdrawn, and given five minutes apart."""
    patient = await ward.add_patient(rems_enrollment_id=f"REMS-P-{uuid.uuid4().hex[:8]}")
    plan = await ward.add_plan(patient, modality="esketamine_nasal", dose_mg=str(dose_mg))
    body = ward.session_body("esketamine", patient_id=patient.id, plan_id=plan.id)
    ts = (await ward.post("/v1/sessions", body, token)).json()
    await ward.vitals(ts, "pre_dose", 2)
    devices = dose_mg // 28
    lot = ward.device_lot.id
    await ward.step(ts, "withdrawals", {"lot_id": lot, "from_location_id": ward.vault.id,
                                        "quantity": str(devices), "occurred_at": at(5)},
                    token)  # fmt: skip
    for device in range(devices):
        await ward.step(ts, "administrations", {"lot_id": lot, "quantity": "1",
                                                "started_at": at(10 + 5 * device)},
                        token)  # fmt: skip


async def test_a_nurse_treating_only_84_mg_patients_is_not_flagged_for_her_withdrawals(
    ward: Ward, app, clock
):
    """Five nurses give 56 mg (two devices) three times each; the sixth's three patients take
    84 mg (three devices). Her withdrawals per session are a third above theirs because of
    her patients' plans: she is compared with nobody doing 56 mg sessions."""
    await restocked(ward)
    nurses = await more_nurses(ward, 5)
    for index, (_staff, token) in enumerate(nurses):
        for _ in range(3):
            await esketamine_by(ward, token, 84 if index == 5 else 56)
    assert peer_outliers(await reconciled(ward, app, clock)) == 0


async def test_a_nurse_named_in_more_discrepancies_per_session_than_their_peers_is_flagged(
    prompt_ward: Ward, app, clock
):
    """Five nurses waste alike, three sessions each, and the witness confirms the waste of
    four of them: the fifth nurse's unwitnessed wastes are a discrepancy a session, against
    none for the others (most peers at the median: the mean absolute deviation gives a z about
    4.0). The run that found the discrepancies compares what was found before it; the next
    one flags the nurse."""
    ward = prompt_ward
    await restocked(ward)
    nurses = await more_nurses(ward, 4)
    for index, (_staff, token) in enumerate(nurses):
        for _ in range(3):
            ts, waste = await infusion_by(ward, token, "0.3")
            assert waste is not None
            if index < 4:
                await confirmed(ward, ts, waste)
    assert (await reconciled(ward, app, clock))["findings"] == {"waste_unwitnessed": 3}
    result = await reconciled(ward, app, clock)
    assert result["findings"] == {"waste_unwitnessed": 3, "peer_outlier": 1}, result
    [found] = await listed(ward, rule="peer_outlier")
    details = found["details"]
    assert (found["staff_ids"], details["measure"], Decimal(details["per_session"])) == (
        [nurses[4][0].id], "discrepancies", Decimal(1),
    )  # fmt: skip


async def test_a_monitoring_form_not_submitted_within_seven_days_is_found(ward: Ward, app, clock):
    late = await discharged_esketamine(ward)
    in_time = await discharged_esketamine(ward, scheduled_at=SECOND)
    await ward.step(in_time, "rems-submission", {"submitted_on": DAY, "reference": "PMF-1"})

    clock.set(chicago("2026-03-09", 23, 59))  # the due day
    assert (await reconciled(ward, app, clock))["findings"] == {}
    clock.set(chicago("2026-03-10", 0, 1))
    result = await reconciled(ward, app, clock)
    assert (result["findings"], result["opened"]) == ({"monitoring_form_overdue": 1}, 1)
    [found] = await listed(ward)
    assert (found["rule"], found["severity"], found["details"]) == (
        "monitoring_form_overdue", "significant", {"session_id": late["id"]},
    )  # fmt: skip
    assert found["summary"] == (
        "Patient Monitoring Form of the esketamine session of patient "
        f"{ward.esketamine_patient.external_id} in Room 1, discharged 2026-03-02 06:10 CST: due "
        "2026-03-09, not submitted (1 day late)"
    )
    assert (found["session_id"], found["location_id"], found["patient_id"]) == (
        late["id"], ward.room.id, ward.esketamine_patient.id,
    )  # fmt: skip
    assert found["staff_ids"] == [ward.nurse.id, ward.witness.id]


async def test_the_nightly_runs_flag_a_monitoring_form_left_unsubmitted(ward: Ward, app, clock):
    await discharged_esketamine(ward)
    for day in range(3, 12):  # each night from 3 to 11 March, at 03:00 in Chicago
        clock.set(chicago(f"2026-03-{day:02d}", 3))
        await worked(app, clock, periodic=default_periodic(app.state.settings))
    runs = await jobs_of(app, "reconciliation_run")
    assert len(runs) == 9
    assert [d["rule"] for d in await listed(ward)] == ["monitoring_form_overdue"]


# expired_stock_on_hand


async def test_stock_of_a_lot_expired_before_today_is_found(clinic, app, clock):
    old = await new_lot(clinic, "L-OLD", "2026-03-01")
    today = await new_lot(clinic, "L-TODAY", DAY)
    await received(clinic, "10", START - timedelta(minutes=30))
    await received(clinic, "5", START - timedelta(minutes=30), old)
    await received(clinic, "3", START - timedelta(minutes=30), today)
    for lot, quantity in ((clinic.lot, "10"), (old, "5"), (today, "3")):
        body = count_body(clinic.registrant.id, clinic.vault.id, lot.id,
                          clinic.nurse.id, quantity, START - timedelta(minutes=20),
                          "initial")  # fmt: skip
        await appended(clinic, body)

    result = await reconciled(clinic, app, clock)
    assert result["findings"] == {"expired_stock_on_hand": 1}
    [found] = await listed(clinic)
    assert (found["rule"], found["severity"], found["product_id"], found["location_id"]) == (
        "expired_stock_on_hand", "minor", clinic.product.id, clinic.vault.id,
    )  # fmt: skip
    assert (found["lot_id"], found["lot"]["lot_number"]) == (old.id, "L-OLD")
    assert found["summary"] == (
        f"5 mL of lot L-OLD ({VIAL}) at Vault, expired 2026-03-01, still on hand"
    )


# inventory_due


async def test_activity_without_an_initial_inventory_is_found_until_one_is_taken(
    clinic, app, clock
):
    await received(clinic, "10", datetime(2026, 2, 20, 18, tzinfo=UTC))
    result = await reconciled(clinic, app, clock)
    assert result["findings"] == {"inventory_due": 1}
    [found] = await listed(clinic)
    assert (found["rule"], found["severity"], found["summary"]) == (
        "inventory_due", "significant",
        "Initial inventory overdue since 2026-02-20 (stock first handled 2026-02-20), 10 days "
        "late",
    )  # fmt: skip

    await counted(clinic, "10", START - timedelta(minutes=5), "initial")
    clock.advance(timedelta(minutes=1))
    assert (await reconciled(clinic, app, clock))["findings"] == {}
    clock.set(chicago("2028-01-31", 23, 59))  # the biennial one is due on 2 March 2028
    assert (await reconciled(clinic, app, clock))["findings"] == {
        "expired_stock_on_hand": 1  # the lot expired on 31 January 2027
    }
    clock.set(chicago("2028-02-01", 0, 1))  # 30 days before
    due = await reconciled(clinic, app, clock)
    assert due["findings"] == {"expired_stock_on_hand": 1, "inventory_due": 1}
    [biennial] = await listed(clinic, rule="inventory_due", severity="info")
    assert biennial["summary"] == (
        "Biennial inventory due 2028-03-02 (the last full inventory taken 2026-03-02)"
    )


async def test_an_inventory_count_reversed_was_never_taken(clinic, app, clock):
    """The initial inventory counted, then reversed as entered in error: none was taken."""
    await received(clinic, "10", START - timedelta(minutes=30))
    count = await counted(clinic, "10", START - timedelta(minutes=20), "initial")
    assert (await reconciled(clinic, app, clock))["findings"] == {}
    undone = reversal_body(clinic.registrant.id, count["id"], START.isoformat())
    await appended(clinic, undone, clinic.officer_token)
    clock.advance(timedelta(minutes=1))
    assert (await reconciled(clinic, app, clock))["findings"] == {"inventory_due": 1}
    [due] = await listed(clinic, rule="inventory_due")
    assert due["summary"] == "Initial inventory due 2026-03-02 (stock first handled 2026-03-02)"


# Running a period again


async def short_count(clinic: Clinic) -> dict[str, Any]:
    """10 mL received and counted 9 at once: a significant shortfall (nothing was used)."""
    await received(clinic, "10", START - timedelta(minutes=10))
    return await counted(clinic, "9", START - timedelta(minutes=5))


async def test_a_period_run_again_updates_its_discrepancies_and_opens_none(clinic, app, clock):
    count = await short_count(clinic)
    first = await reconciled(clinic, app, clock)
    found = {"count_variance": 1, "inventory_due": 1}
    assert (first["findings"], first["opened"], first["updated"]) == (found, 2, 0)
    opened = {d["id"]: d for d in await listed(clinic)}

    clock.advance(timedelta(hours=1))
    again = await reconciled(clinic, app, clock)
    assert (again["findings"], again["opened"], again["updated"]) == (found, 0, 2)
    updated = {d["id"]: d for d in await listed(clinic)}
    assert updated.keys() == opened.keys()
    assert {(d["rule"], d["status"], d["first_found_at"], d["last_found_at"], d["version"])
            for d in updated.values()} == {
        ("count_variance", "open", "2026-03-02T15:00:00Z", "2026-03-02T16:00:00Z", 1),
        ("inventory_due", "open", "2026-03-02T15:00:00Z", "2026-03-02T16:00:00Z", 1),
    }  # fmt: skip

    [variance] = [d for d in updated.values() if d["rule"] == "count_variance"]
    await resolve(clinic, variance)
    clock.advance(timedelta(hours=1))
    third = await reconciled(clinic, app, clock)
    assert (third["findings"], third["opened"], third["updated"]) == (found, 1, 1)
    [recurred] = await listed(clinic, rule="count_variance", status="open")
    assert recurred["id"] != variance["id"]
    assert (recurred["previous_id"], recurred["event_ids"], recurred["first_found_at"]) == (
        variance["id"], [count["id"]], "2026-03-02T17:00:00Z",
    )  # fmt: skip
    [old] = await listed(clinic, rule="count_variance", status="resolved")
    assert (old["id"], old["previous_id"]) == (variance["id"], None)


async def test_a_period_run_again_at_the_same_instant_opens_nothing(clinic, app, clock):
    await short_count(clinic)
    assert (await reconciled(clinic, app, clock))["opened"] == 2
    again = await reconciled(clinic, app, clock)
    assert (again["opened"], again["updated"]) == (0, 2)
    assert len(await listed(clinic)) == 2


async def test_an_inventory_due_becomes_significant_once_overdue(clinic, app, clock):
    await received(clinic, "10", START - timedelta(minutes=10))
    await reconciled(clinic, app, clock)
    [due] = await listed(clinic)
    assert (due["severity"], due["summary"]) == (
        "info", "Initial inventory due 2026-03-02 (stock first handled 2026-03-02)",
    )  # fmt: skip
    clock.set(chicago("2026-03-03", 9))
    assert (await reconciled(clinic, app, clock))["updated"] == 1
    [overdue] = await listed(clinic)
    assert overdue["summary"] == (
        "Initial inventory overdue since 2026-03-02 (stock first handled 2026-03-02), 1 day late"
    )
    assert (overdue["id"], overdue["severity"]) == (due["id"], "significant")


# The API


async def test_a_run_is_queued_then_shows_what_the_worker_found(clinic, app, clock):
    """Counts (each short, nothing used) just before, at the start and at the end of a
    two-day period: those within it are found."""
    await received(clinic, "10", datetime(2026, 2, 20, 18, tzinfo=UTC))
    await counted(clinic, "9", chicago("2026-02-28", 23, 59))
    first = await counted(clinic, "9", chicago("2026-03-01", 0))
    last = await counted(clinic, "8", START - timedelta(minutes=5), "initial")
    response = await started(clinic, "2026-03-01", DAY)
    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["location"] == f"/v1/reconciliation/runs/{run['id']}"
    assert run == {
        "id": run["id"], "registrant_id": clinic.registrant.id, "first_day": "2026-03-01",
        "last_day": DAY, "requested_by": "officer-1", "status": "queued", "attempts": 0,
        "result": None, "last_error": None, "created_at": "2026-03-02T15:00:00Z",
        "finished_at": None,
    }  # fmt: skip
    assert (await shown(clinic, run["id"])).json() == run

    clock.advance(timedelta(minutes=2))
    await worked(app, clock)
    done = (await shown(clinic, run["id"])).json()
    assert (done["status"], done["attempts"], done["finished_at"], done["last_error"]) == (
        "succeeded", 1, "2026-03-02T15:02:00Z", None,
    )  # fmt: skip
    result = done["result"]
    assert isinstance(result.pop("duration_ms"), int)
    assert result == {
        "run_id": run["id"],
        "registrant_id": clinic.registrant.id, "first_day": "2026-03-01", "last_day": DAY,
        "findings": {"count_variance": 2}, "opened": 2, "reopened": 0, "updated": 0,
        "cured": 0,
    }  # fmt: skip
    assert sorted(d["event_ids"][0] for d in await listed(clinic)) == sorted(
        [first["id"], last["id"]]
    )


async def test_a_retried_request_queues_one_run(clinic, app, clock):
    headers = bearer(clinic.officer_token) | {"Idempotency-Key": "run-1"}
    body = {"registrant_id": clinic.registrant.id, "first_day": DAY, "last_day": DAY}
    responses = [
        await clinic.client.post("/v1/reconciliation/runs", json=body, headers=headers)
        for _ in range(2)
    ]
    assert [r.status_code for r in responses] == [202, 202]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert [str(j.id) for j in await jobs_of(app, "reconciliation_run")] == [
        responses[0].json()["id"]
    ]


async def test_a_run_is_refused_backwards_to_clinicians_and_to_other_registrants(
    clinic, app, clock, token, admin_token, probe
):
    path, rid = "/v1/reconciliation/runs", clinic.registrant.id
    backwards = {"registrant_id": rid, "first_day": DAY, "last_day": "2026-03-01"}
    refused = await assert_refused(
        clinic.client, probe, "POST", path, status=422, problem=PROBLEM + "invalid-input",
        subject="officer-1", headers=bearer(clinic.officer_token), json=backwards,
    )  # fmt: skip
    assert [e["pointer"] for e in refused.json()["errors"]] == ["#/last_day"]
    body = {"registrant_id": rid, "first_day": DAY, "last_day": DAY}
    await assert_refused(
        clinic.client, probe, "POST", path, status=403, problem=PROBLEM + "permission-denied",
        subject="nurse-1", headers=bearer(clinic.nurse_token), json=body,
    )  # fmt: skip
    other = await create_registrant(clinic.client, admin_token)
    stranger = token(["compliance_officer"], [other["id"]], sub="officer-9")
    await assert_refused(
        clinic.client, probe, "POST", path, status=404, problem=PROBLEM + "not-found",
        subject="officer-9", headers=bearer(stranger), json=body,
    )  # fmt: skip

    queued = await started(clinic)
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["id"]
    assert_problem(await shown(clinic, run_id, clinic.nurse_token), 403, "permission-denied")
    assert_problem(await shown(clinic, run_id, stranger), 404, "not-found")
    assert_problem(await shown(clinic, str(uuid.uuid4())), 404, "not-found")
    assert len(await jobs_of(app, "reconciliation_run")) == 1


# The nightly schedule


async def test_the_schedule_queues_each_registrants_previous_day_once_its_night_has_come(
    clinic, app, clock, admin_token
):
    west = await create_registrant(clinic.client, admin_token, timezone="America/Los_Angeles")
    await short_count(clinic)
    periodic = default_periodic(app.state.settings)

    async def night(hour: int, minute: int = 0) -> list[tuple[str, str, str, str]]:
        """Run the worker at ``hour`` on 3 March in Chicago; every run so far."""
        clock.set(chicago("2026-03-03", hour, minute))
        await worked(app, clock, periodic=periodic)
        return [(str(j.registrant_id), j.payload["first_day"], j.payload["last_day"], j.status)
                for j in await jobs_of(app, "reconciliation_run")]  # fmt: skip

    # 01:30 in Chicago is 23:30 on 2 March in Los Angeles: its 1 March is over.
    west_before = (west["id"], "2026-03-01", "2026-03-01", "succeeded")
    assert await night(1, 30) == [west_before]
    chicago_run = (clinic.registrant.id, DAY, DAY, "succeeded")
    assert await night(3) == [west_before, chicago_run]  # 01:00 in Los Angeles
    assert await night(3, 30) == [west_before, chicago_run]  # the hour's schedule ran already
    west_run = (west["id"], DAY, DAY, "succeeded")
    assert await night(4, 30) == [west_before, chicago_run, west_run]  # 02:30 in Los Angeles
    assert len(await night(23)) == 3  # 4 March has come nowhere
    schedules = await jobs_of(app, "schedule_reconciliation")
    assert [j.result for j in schedules] == [{"queued": 1}, {"queued": 1}, {"queued": 1},
                                             {"queued": 0}]  # fmt: skip

    [_, first, _] = await jobs_of(app, "reconciliation_run")
    run = (await shown(clinic, str(first.id))).json()
    assert (run["requested_by"], run["status"], run["first_day"]) == ("schedule", "succeeded", DAY)
    assert (run["result"]["findings"], run["result"]["opened"]) == (
        {"count_variance": 1, "inventory_due": 1}, 2,
    )  # fmt: skip
    assert_problem(await shown(clinic, str(schedules[0].id)), 404, "not-found")


# csledger reconcile


async def test_csledger_reconcile_prints_what_it_found(runner, clinic):
    """The command runs now (the system's clock): a lot that never expires keeps the result
    the same whatever the day."""
    lot = await new_lot(clinic, "L-2099", "2099-12-31")
    await received(clinic, "10", START - timedelta(minutes=10), lot)
    short = await appended(clinic, count_body(
        clinic.registrant.id, clinic.vault.id, lot.id, clinic.nurse.id, "9",
        START - timedelta(minutes=5),
    ))  # fmt: skip
    rid = clinic.registrant.id
    args = ["reconcile", "--registrant", rid, "--from", DAY, "--to", DAY]
    result = await asyncio.to_thread(runner.invoke, cli, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert isinstance(printed.pop("duration_ms"), int)
    assert printed == {
        "run_id": None, "registrant_id": rid, "first_day": DAY, "last_day": DAY,
        "findings": {"count_variance": 1, "inventory_due": 1}, "opened": 2, "reopened": 0,
        "updated": 0, "cured": 0,
    }  # fmt: skip
    [found] = await listed(clinic, rule="count_variance")
    assert found["event_ids"] == [short["id"]]

    missing = str(uuid.uuid4())
    refused = await asyncio.to_thread(runner.invoke, cli, ["reconcile", "--registrant", missing])
    assert refused.exit_code == 2
    assert f"no registrant {missing}" in refused.output


async def test_csledger_reconcile_refuses_a_period_ending_before_it_starts(runner, clinic):
    args = ["reconcile", "--registrant", clinic.registrant.id, "--from", DAY,
            "--to", "2026-03-01"]  # fmt: skip
    result = await asyncio.to_thread(runner.invoke, cli, args)
    assert result.exit_code == 2, result.output
