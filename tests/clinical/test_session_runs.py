"""Whole sessions, end to end through HTTP on both databases: a 0.5 mg/kg IV infusion for a
70 kg patient from a 50 mg/mL vial with witnessed waste, and an 84 mg esketamine session
with every reading the REMS asks for."""

from decimal import Decimal

import pytest

from tests.clinical.ward import Ward, at, open_ward


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


async def test_an_iv_infusion_with_witnessed_waste(ward: Ward):
    ts = await ward.open_session("iv")
    assert (ts["status"], Decimal(ts["expected_dose_mg"])) == ("scheduled", Decimal(35))

    await ward.vitals(ts, "pre_dose", 3)
    withdrawn = await ward.withdraw(ts, "1")  # one mL: 50 mg
    assert withdrawn["session"]["status"] == "in_progress"
    assert withdrawn["event"]["type"] == "move"
    given = await ward.step(ts, "administrations", {
        "lot_id": ward.vial_lot.id, "quantity": "0.7", "started_at": at(10),
        "ended_at": at(50),
    })  # fmt: skip
    assert (given["event"]["type"], Decimal(given["event"]["mg"])) == ("administer", Decimal(35))
    assert given["session"]["status"] == "observing"
    wasted = await ward.step(ts, "waste", {
        "lot_id": ward.vial_lot.id, "quantity": "0.3", "occurred_at": at(52),
        "witness_id": ward.witness.id,
    })  # fmt: skip
    assert wasted["event"]["witness_status"] == "unwitnessed"
    confirmed = await ward.step(
        ts, "witness-confirmations", {"event_id": wasted["event"]["id"]}, ward.witness_token
    )
    waste_event = next(e for e in confirmed["events"] if e["type"] == "waste")
    assert waste_event["witness_status"] == "witnessed"
    await ward.vitals(ts, "pre_discharge", 90)
    done = await ward.step(ts, "discharge", {
        "discharged_at": at(100),
        "clinical_stability": {"stable": True, "assessed_at": at(95)},
    })  # fmt: skip

    assert done["status"] == "discharged"
    assert {k: Decimal(v) for k, v in done["accounting"].items() if k.endswith("_mg")} == {
        "withdrawn_mg": 50, "administered_mg": 35, "wasted_mg": 15, "returned_mg": 0,
        "on_hand_mg": 0,
    }  # fmt: skip
    assert done["accounting"]["balanced"] is True
    assert done["unresolved_mg"] is None
    assert done["monitoring_form"] is None
    assert Decimal(await ward.vault_balance(ward.vial_lot)) == Decimal(49)
    history = (await ward.get(f"/v1/sessions/{ts['id']}/history")).json()
    assert [(r["version"], r["data"]["status"]) for r in history] == [
        (1, "scheduled"), (2, "in_progress"), (3, "observing"), (4, "observing"),
        (5, "discharged"),
    ]  # fmt: skip
    events = (await ward.get("/v1/ledger/events", registrant_id=ward.id, type="waste")).json()
    (ledger_waste,) = events["items"]
    assert ledger_waste["session_id"] == ts["id"]
    assert ledger_waste["patient_id"] == ward.iv_patient.id
    assert ledger_waste["snapshot"]["patient"]["name"] == "Ada Lovelace"
    assert ledger_waste["snapshot"]["witnesses"][0]["name"] == "Wes Witness"


async def test_an_84_mg_esketamine_session_with_every_reading(ward: Ward):
    ts = await ward.open_session("esketamine")
    assert Decimal(ts["expected_dose_mg"]) == Decimal(84)
    await ward.vitals(ts, "pre_dose", 2, systolic=132, diastolic=84)
    await ward.withdraw(ts, "3", lot="device")
    for minutes in (10, 15, 20):
        given = await ward.step(ts, "administrations", {
            "lot_id": ward.device_lot.id, "quantity": "1", "started_at": at(minutes),
        })  # fmt: skip
    assert given["session"]["status"] == "observing"
    await ward.vitals(ts, "post_dose", 50, systolic=138, diastolic=88)
    await ward.vitals(ts, "monitoring", 90, spo2_percent=96)
    await ward.vitals(ts, "pre_discharge", 128)
    done = await ward.step(ts, "discharge", {
        "discharged_at": at(135),
        "clinical_stability": {"stable": True, "assessed_at": at(130), "note": "alert, oriented"},
        "observations": {"sedation": True, "dissociation": True,
                         "respiratory_depression": False, "serious_adverse_events": []},
    })  # fmt: skip

    form = done["monitoring_form"]
    assert form["missing"] == []
    assert (form["dose"], form["dose_mg"], form["total_minutes"]) == ("84", "84", 125)
    assert form["lot_numbers"] == ["L-nasal_spray"]
    assert form["bp_pre_dose"]["systolic_mmhg"] == 132
    assert form["bp_post_dose"]["measured_at"].startswith(at(50)[:16])
    assert (form["sedation"], form["respiratory_depression"]) == (True, False)
    assert (form["due_on"], form["submitted_on"]) == ("2026-03-09", None)
    assert [a["quantity"] for a in done["administrations"]] == ["1", "1", "1"]
    assert Decimal(await ward.vault_balance(ward.device_lot)) == Decimal(9)

    submitted = await ward.step(ts, "rems-submission", {"submitted_on": "2026-03-02",
                                                        "reference": "PMF-88121"})  # fmt: skip
    assert submitted["monitoring_form"]["submitted_on"] == "2026-03-02"
    again = await ward.post(f"/v1/sessions/{ts['id']}/rems-submission",
                            {"submitted_on": "2026-03-02"})  # fmt: skip
    assert again.status_code == 409
