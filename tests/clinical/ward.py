"""A REMS-certified clinic ready for sessions: a prescriber, two nurses, IV ketamine and
esketamine in the vault, and two patients with active plans (IV 0.5 mg/kg, esketamine 84 mg).

Times are before the frozen clock (``START``, 09:00 in Chicago): a session happens in the
early morning, so its steps are instructions (not late) and none lies in the future.
"""

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conftest import START, TokenFactory, bearer
from tests.factories import (
    create,
    create_registrant,
    injection_body,
    location_body,
    nasal_spray_body,
    patient_body,
    staff_body,
    staff_registration_body,
)

T0 = START - timedelta(hours=5)
"""When the day's session is scheduled (04:00 in Chicago)."""
SUPPLIER = {
    "name": "Midwest Pharma Distribution",
    "address": {"line1": "1 Depot Rd", "city": "Dallas", "state": "TX", "postal_code": "78701"},
    "dea_number": "PK1234563",
}
SCREENING = dict.fromkeys(
    (
        "uncontrolled_hypertension", "psychosis_history", "cardiovascular_disease",
        "cerebrovascular_disease", "pregnancy", "active_substance_use_disorder",
        "aneurysmal_vascular_disease_or_avm", "intracerebral_hemorrhage_history",
        "hypersensitivity",
    ),
    False,
)  # fmt: skip
TRIALS = [
    {"treatment_class": "ssri", "agent": "sertraline", "duration_weeks": 8,
     "outcome": "inadequate_response"},
    {"treatment_class": "snri", "agent": "venlafaxine", "duration_weeks": 6,
     "outcome": "inadequate_response"},
]  # fmt: skip
_KEYS = itertools.count(1)


def at(minutes: float) -> str:
    """``minutes`` after T0, as the API takes it."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


@dataclass
class Ward:
    client: httpx.AsyncClient
    token: TokenFactory
    registrant: dict[str, Any]
    vault: dict[str, Any]
    room: dict[str, Any]
    vial_lot: dict[str, Any]
    device_lot: dict[str, Any]
    iv_patient: dict[str, Any]
    esketamine_patient: dict[str, Any]
    iv_plan: dict[str, Any]
    esketamine_plan: dict[str, Any]
    prescriber: dict[str, Any]
    nurse: dict[str, Any]
    witness: dict[str, Any]
    prescriber_token: str
    nurse_token: str
    witness_token: str
    officer_token: str
    created: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.registrant["id"])

    async def post(
        self, path: str, body: dict[str, Any], token: str | None = None, key: str | None = None
    ) -> httpx.Response:
        headers = bearer(token or self.nurse_token) | {
            "Idempotency-Key": key or f"ward-{next(_KEYS)}"
        }
        return await self.client.post(path, json=body, headers=headers)

    async def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        return await self.client.get(path, params=params, headers=bearer(token or self.nurse_token))

    def session_body(self, modality: str = "iv", **overrides: Any) -> dict[str, Any]:
        iv = modality == "iv"
        body: dict[str, Any] = {
            "registrant_id": self.id,
            "patient_id": (self.iv_patient if iv else self.esketamine_patient)["id"],
            "plan_id": (self.iv_plan if iv else self.esketamine_plan)["id"],
            "location_id": self.room["id"],
            "scheduled_at": at(0),
            "staff_ids": [self.nurse["id"], self.witness["id"]],
        }
        if iv:
            body["weight_kg"] = "70"
        return body | overrides

    async def open_session(self, modality: str = "iv", **overrides: Any) -> dict[str, Any]:
        response = await self.post("/v1/sessions", self.session_body(modality, **overrides))
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def step(
        self, ts: dict[str, Any], what: str, body: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        """POST a step expected to succeed; returns the response body."""
        response = await self.post(f"/v1/sessions/{ts['id']}/{what}", body, token)
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    async def withdraw(
        self, ts: dict[str, Any], quantity: str, minutes: float = 5, lot: str = "vial"
    ) -> dict[str, Any]:
        lot_id = (self.vial_lot if lot == "vial" else self.device_lot)["id"]
        body = {"lot_id": lot_id, "from_location_id": self.vault["id"], "quantity": quantity,
                "occurred_at": at(minutes)}  # fmt: skip
        return await self.step(ts, "withdrawals", body)

    async def vitals(
        self, ts: dict[str, Any], moment: str, minutes: float, systolic: int = 128,
        diastolic: int = 82, **extra: Any,
    ) -> dict[str, Any]:  # fmt: skip
        body = {"measured_at": at(minutes), "moment": moment, "systolic_mmhg": systolic,
                "diastolic_mmhg": diastolic, "heart_rate_bpm": 76, "spo2_percent": 98}  # fmt: skip
        body |= extra
        return await self.step(ts, "vitals", body)

    async def session(self, ts: dict[str, Any]) -> dict[str, Any]:
        response = await self.get(f"/v1/sessions/{ts['id']}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def add_patient(self, **overrides: Any) -> dict[str, Any]:
        """Another patient of the clinic (no REMS enrollment unless given)."""
        body = patient_body(self.id, **overrides)
        return await create(self.client, "/v1/patients", body, self.nurse_token)

    async def add_plan(self, patient: dict[str, Any], **plan: Any) -> dict[str, Any]:
        """A candidate evaluation of ``patient`` and a plan on it (``plan`` names the modality
        and dose, and may change the sessions and dates)."""
        return await _plan(self.client, self.prescriber_token, self.id, patient, **plan)

    async def vault_balance(self, lot: dict[str, Any]) -> str:
        response = await self.get(
            "/v1/ledger/balances", registrant_id=self.id, location_id=self.vault["id"],
            lot_id=lot["id"],
        )  # fmt: skip
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return str(items[0]["quantity"]) if items else "0"


async def open_ward(
    client: httpx.AsyncClient, admin_token: str, token: TokenFactory, **registrant: Any
) -> Ward:
    registrant_row = await create_registrant(
        client, admin_token, rems_certification_status="certified",
        rems_certification_id="HCS-TX-0048213", **registrant,
    )  # fmt: skip
    rid = registrant_row["id"]
    staff_path = f"/v1/registrants/{rid}/staff"

    async def staff(role: str, subject: str, name: str) -> dict[str, Any]:
        body = staff_body(role=role, subject=subject, name=name)
        return await create(client, staff_path, body, admin_token)

    prescriber = await staff("prescriber", "prescriber-1", "Grace Hopper")
    nurse = await staff("nurse", "nurse-1", "Nora Nurse")
    witness = await staff("nurse", "nurse-2", "Wes Witness")
    officer_token = token(["compliance_officer"], [rid], sub="officer-1", name="Olive")
    await create(
        client, f"{staff_path}/{prescriber['id']}/registrations",
        staff_registration_body(expires_on="2027-01-31"), officer_token,
    )  # fmt: skip
    locations = f"/v1/registrants/{rid}/locations"
    vault = await create(client, locations, location_body(name="Vault", kind="vault"), admin_token)
    room = await create(
        client, locations, location_body(name="Room 1", kind="procedure_room"), admin_token
    )
    nurse_token = token(["clinician"], [rid], sub="nurse-1", name="Nora Nurse")
    prescriber_token = token(["prescriber"], [rid], sub="prescriber-1", name="Grace Hopper")
    vial_lot = await _stocked_lot(client, nurse_token, rid, vault, injection_body(rid), "50")
    device_lot = await _stocked_lot(client, nurse_token, rid, vault, nasal_spray_body(rid), "12")
    iv_patient = await create(client, "/v1/patients", patient_body(rid, weight_kg="70"),
                              nurse_token)  # fmt: skip
    esketamine_patient = await create(
        client, "/v1/patients", patient_body(rid, rems_enrollment_id="REMS-P-7731"), nurse_token
    )
    iv_plan = await _plan(client, prescriber_token, rid, iv_patient,
                          modality="iv_infusion", dose_mg_per_kg="0.5")  # fmt: skip
    esketamine_plan = await _plan(client, prescriber_token, rid, esketamine_patient,
                                  modality="esketamine_nasal", dose_mg="84")  # fmt: skip
    return Ward(
        client=client, token=token, registrant=registrant_row, vault=vault, room=room,
        vial_lot=vial_lot, device_lot=device_lot, iv_patient=iv_patient,
        esketamine_patient=esketamine_patient, iv_plan=iv_plan,
        esketamine_plan=esketamine_plan, prescriber=prescriber, nurse=nurse, witness=witness,
        prescriber_token=prescriber_token, nurse_token=nurse_token,
        witness_token=token(["clinician"], [rid], sub="nurse-2", name="Wes Witness"),
        officer_token=officer_token,
    )  # fmt: skip


async def _stocked_lot(
    client: httpx.AsyncClient,
    nurse_token: str,
    rid: str,
    vault: dict[str, Any],
    product_body: dict[str, Any],
    quantity: str,
) -> dict[str, Any]:
    product = await create(client, "/v1/products", product_body, nurse_token)
    lot = await create(
        client, f"/v1/products/{product['id']}/lots",
        {"lot_number": f"L-{product['dosage_form']}", "expires_on": "2027-01-31"}, nurse_token,
    )  # fmt: skip
    receipt = {
        "registrant_id": rid, "type": "receipt", "location_id": vault["id"],
        "lot_id": lot["id"], "quantity": quantity, "occurred_at": at(-60),
        "counterparty": SUPPLIER, "document_reference": "INV-1",
    }  # fmt: skip
    headers = bearer(nurse_token) | {"Idempotency-Key": f"receipt-{lot['id']}"}
    response = await client.post("/v1/ledger/events", json=receipt, headers=headers)
    assert response.status_code == 201, response.text
    return lot | {"product": product}


async def _plan(
    client: httpx.AsyncClient,
    prescriber_token: str,
    rid: str,
    patient: dict[str, Any],
    **dose: Any,
) -> dict[str, Any]:
    evaluation = {
        "registrant_id": rid, "patient_id": patient["id"], "evaluated_on": "2026-02-27",
        "in_person": True, "prior_treatments": TRIALS, "contraindications": SCREENING,
        "vitals": {"systolic_mmhg": 122, "diastolic_mmhg": 78, "heart_rate_bpm": 72},
        "outcome": "candidate",
    }  # fmt: skip
    made = await create(client, "/v1/evaluations", evaluation, prescriber_token)
    plan = {
        "registrant_id": rid, "patient_id": patient["id"], "evaluation_id": made["id"],
        "sessions_per_week": 2, "total_sessions": 6, "starts_on": "2026-03-01",
        "ends_on": "2026-03-31", **dose,
    }  # fmt: skip
    return await create(client, "/v1/treatment-plans", plan, prescriber_token)


def minutes_after(iso: str, base: datetime = T0) -> float:
    return (datetime.fromisoformat(iso) - base).total_seconds() / 60
