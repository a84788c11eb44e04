"""A REMS-certified clinic ready for sessions: a prescriber, two nurses, IV ketamine and
esketamine in the vault, and two patients with active plans (IV 0.5 mg/kg, esketamine 84 mg).

Times are before the frozen clock (``START``, 09:00 in Chicago): a session happens in the
early morning, so its steps are instructions (not late) and none lies in the future.
"""

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import START, TokenFactory, bearer
from tests.factories import injection_body, nasal_spray_body
from tests.world import Builder, Location, Lot, Patient, Plan, Product, Staff, World

T0 = START - timedelta(hours=5)
"""When the day's session is scheduled (04:00 in Chicago)."""
SUPPLIER = {
    "name": "Midwest Pharma Distribution",
    "address": {"line1": "1 Depot Rd", "city": "Dallas", "state": "TX", "postal_code": "78701"},
    "dea_number": "PK1234563",
}
_KEYS = itertools.count(1)


def at(minutes: float) -> str:
    """``minutes`` after T0, as the API takes it."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


@dataclass
class Ward(World):
    vault: Location
    room: Location
    vial_lot: Lot
    device_lot: Lot
    iv_patient: Patient
    esketamine_patient: Patient
    iv_plan: Plan
    esketamine_plan: Plan
    prescriber: Staff
    nurse: Staff
    witness: Staff
    prescriber_token: str
    nurse_token: str
    witness_token: str
    officer_token: str

    @property
    def token(self) -> TokenFactory:
        return self.builder.make_token

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
            "patient_id": (self.iv_patient if iv else self.esketamine_patient).id,
            "plan_id": (self.iv_plan if iv else self.esketamine_plan).id,
            "location_id": self.room.id,
            "scheduled_at": at(0),
            "staff_ids": [self.nurse.id, self.witness.id],
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
        lot_id = (self.vial_lot if lot == "vial" else self.device_lot).id
        body = {"lot_id": lot_id, "from_location_id": self.vault.id, "quantity": quantity,
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

    async def add_patient(self, **overrides: Any) -> Patient:
        """Another patient of the clinic (no REMS enrollment unless given)."""
        return await self.builder.patient(self.nurse_token, **overrides)

    async def add_plan(self, patient: Patient, **plan: Any) -> Plan:
        """A candidate evaluation of ``patient`` and a plan on it (``plan`` names the modality
        and dose, and may change the sessions and dates)."""
        return await self.builder.plan(patient, self.prescriber_token, **plan)

    async def vault_balance(self, lot: Lot) -> str:
        response = await self.get(
            "/v1/ledger/balances", registrant_id=self.id, location_id=self.vault.id,
            lot_id=lot.id,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return str(items[0]["quantity"]) if items else "0"


async def open_ward(
    client: httpx.AsyncClient, admin_token: str, token: TokenFactory, **registrant: Any
) -> Ward:
    site = await Builder.open(
        client, admin_token, token, rems_certification_status="certified",
        rems_certification_id="HCS-TX-0048213", **registrant,
    )  # fmt: skip
    prescriber = await site.staff(role="prescriber", subject="prescriber-1", name="Grace Hopper")
    nurse = await site.staff(role="nurse", subject="nurse-1", name="Nora Nurse")
    witness = await site.staff(role="nurse", subject="nurse-2", name="Wes Witness")
    officer_token = site.token("compliance_officer", "officer-1", "Olive")
    await site.registration(prescriber, officer_token, expires_on="2027-01-31")
    vault = await site.location("Vault", "vault")
    room = await site.location("Room 1", "procedure_room")
    nurse_token = site.token("clinician", "nurse-1", "Nora Nurse")
    prescriber_token = site.token("prescriber", "prescriber-1", "Grace Hopper")
    vial = await site.product(injection_body(site.id), nurse_token)
    vial_lot = await _stocked_lot(site, nurse_token, vault, vial, "50")
    device = await site.product(nasal_spray_body(site.id), nurse_token)
    device_lot = await _stocked_lot(site, nurse_token, vault, device, "12")
    iv_patient = await site.patient(nurse_token, weight_kg="70")
    esketamine_patient = await site.patient(nurse_token, rems_enrollment_id="REMS-P-7731")
    iv_plan = await site.plan(iv_patient, prescriber_token, modality="iv_infusion",
                              dose_mg_per_kg="0.5")  # fmt: skip
    esketamine_plan = await site.plan(esketamine_patient, prescriber_token,
                                      modality="esketamine_nasal", dose_mg="84")  # fmt: skip
    return Ward(
        builder=site, vault=vault, room=room, vial_lot=vial_lot, device_lot=device_lot,
        iv_patient=iv_patient, esketamine_patient=esketamine_patient, iv_plan=iv_plan,
        esketamine_plan=esketamine_plan, prescriber=prescriber, nurse=nurse, witness=witness,
        prescriber_token=prescriber_token, nurse_token=nurse_token,
        witness_token=site.token("clinician", "nurse-2", "Wes Witness"),
        officer_token=officer_token,
    )  # fmt: skip


async def _stocked_lot(
    site: Builder, nurse_token: str, vault: Location, product: Product, quantity: str
) -> Lot:
    """A lot of ``product``, ``quantity`` of it received into the vault an hour before T0."""
    lot = await site.lot(product, f"L-{product.dosage_form}", "2027-01-31", nurse_token)
    await site.receive(
        lot, vault, quantity, token=nurse_token, occurred_at=at(-60), counterparty=SUPPLIER,
        document_reference="INV-1", key=f"receipt-{lot.id}",
    )  # fmt: skip
    return lot
