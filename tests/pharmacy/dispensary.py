"""A compounding pharmacy with troches on the shelf: 300 troches of 100 mg ketamine HCl made
from 30 g of bulk hydrochloride (lot T-2026-001, beyond use 30 September 2026), a pharmacist
whose token fills, a patient, and a prescriber (registered at a clinic) who writes for them."""

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from app.core.clock import FrozenClock
from tests.conftest import START, TokenFactory, bearer
from tests.factories import (
    ADDRESS,
    create,
    create_registrant,
    dea_number,
    location_body,
    patient_body,
    staff_body,
    staff_registration_body,
    troche_body,
)

PRESCRIPTIONS = "/v1/prescriptions"
_KEYS = itertools.count(1)


@dataclass
class Dispensary:
    client: httpx.AsyncClient
    clock: FrozenClock
    id: str
    token: str
    shelf: dict[str, Any]
    troche: dict[str, Any]
    troche_lot: dict[str, Any]
    patient: dict[str, Any]
    pharmacist: dict[str, Any]
    clinic_id: str
    prescriber_token: str
    prescriber_dea_number: str
    make_token: TokenFactory

    async def post(
        self, path: str, body: dict[str, Any], token: str | None = None, key: str | None = None
    ) -> httpx.Response:
        headers = bearer(token or self.token) | {"Idempotency-Key": key or f"rx-{next(_KEYS)}"}
        return await self.client.post(path, json=body, headers=headers)

    async def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        return await self.client.get(path, params=params, headers=bearer(token or self.token))

    def prescriber(self, **overrides: Any) -> dict[str, Any]:
        return {
            "name": "Grace Hopper, MD", "address": ADDRESS,
            "dea_number": self.prescriber_dea_number, "dea_schedules": ["3N", "4"],
            "dea_expires_on": "2027-01-31", "npi": "1245319599",
        } | overrides  # fmt: skip

    def prescription(self, **overrides: Any) -> dict[str, Any]:
        return {
            "registrant_id": self.id,
            "rx_number": f"RX-{next(_KEYS):06d}",
            "transmission": "electronic",
            "external_rx_id": f"SS-{next(_KEYS)}",
            "patient_id": self.patient["id"],
            "product_id": self.troche["id"],
            "quantity": "30",
            "directions": "Dissolve one troche under the tongue before sessions as directed",
            "issued_on": START.date().isoformat(),
            "refills_authorized": 5,
            "days_supply": 30,
            "encounter": "telehealth_audio_video",
            "in_person_evaluation_on": "2026-02-20",
            "prescriber": self.prescriber(),
        } | overrides

    async def receive(self, **overrides: Any) -> dict[str, Any]:
        response = await self.post(PRESCRIPTIONS, self.prescription(**overrides))
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def on(self, day: date, hour: int = 16) -> str:
        """Move the clock to ``day`` (16:00 UTC, 10:00 in Chicago) and give the instant just
        before, when the fill happened."""
        self.clock.set(datetime(day.year, day.month, day.day, hour, tzinfo=START.tzinfo))
        return (self.clock.now() - timedelta(minutes=5)).isoformat()

    def fill_body(self, filled_at: str, quantity: str = "30", **overrides: Any) -> dict[str, Any]:
        return {
            "lot_id": self.troche_lot["id"], "location_id": self.shelf["id"],
            "quantity": quantity, "filled_at": filled_at,
        } | overrides  # fmt: skip

    async def fill(self, rx: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        return await self.post(f"{PRESCRIPTIONS}/{rx['id']}/fills", body)

    async def shelf_balance(self) -> str:
        response = await self.get("/v1/ledger/balances", registrant_id=self.id,
                                  lot_id=self.troche_lot["id"])  # fmt: skip
        assert response.status_code == 200, response.text
        return str(response.json()["items"][0]["quantity"])


async def open_dispensary(
    client: httpx.AsyncClient, admin_token: str, token: TokenFactory, clock: FrozenClock
) -> Dispensary:
    pharmacy = await create_registrant(client, admin_token, kind="pharmacy",
                                       name="Lone Star Compounding")  # fmt: skip
    rid = pharmacy["id"]
    staff = f"/v1/registrants/{rid}/staff"
    pharmacist = await create(client, staff, staff_body(role="pharmacist", subject="rph-1"),
                              admin_token)  # fmt: skip
    checker = await create(client, staff, staff_body(role="pharmacist", subject="rph-2"),
                           admin_token)  # fmt: skip
    shelf_body = location_body(name="Dispensing shelf", kind="cabinet")
    shelf = await create(client, f"/v1/registrants/{rid}/locations", shelf_body, admin_token)
    pharmacist_token = token(["pharmacist"], [rid], sub="rph-1")
    troche_lot, troche = await _compound_troches(client, pharmacist_token, rid, shelf, checker)
    patient = await create(client, "/v1/patients", patient_body(rid), pharmacist_token)
    clinic = await create_registrant(client, admin_token, name="Hill Country Ketamine Clinic")
    prescriber = await create(
        client, f"/v1/registrants/{clinic['id']}/staff",
        staff_body(role="prescriber", subject="prescriber-1"), admin_token,
    )  # fmt: skip
    number = dea_number("MK")
    officer = token(["compliance_officer"], [clinic["id"]], sub="officer-1")
    await create(
        client, f"/v1/registrants/{clinic['id']}/staff/{prescriber['id']}/registrations",
        staff_registration_body(dea_number=number), officer,
    )  # fmt: skip
    return Dispensary(
        client=client, clock=clock, id=rid, token=pharmacist_token, shelf=shelf, troche=troche,
        troche_lot=troche_lot, patient=patient, pharmacist=pharmacist, clinic_id=clinic["id"],
        prescriber_token=token(["prescriber"], [clinic["id"]], sub="prescriber-1"),
        prescriber_dea_number=number, make_token=token,
    )  # fmt: skip


async def _compound_troches(
    client: httpx.AsyncClient,
    pharmacist_token: str,
    rid: str,
    shelf: dict[str, Any],
    checker: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """300 troches of 100 mg of the salt from 30 g of bulk hydrochloride."""
    bulk = await create(client, "/v1/products", {
        "registrant_id": rid, "name": "Ketamine HCl USP powder", "ndc": "62991-2830-1",
        "substance": "ketamine", "dosage_form": "bulk_powder",
        "strength": {"value": "1000", "unit": "mg/g", "basis": "salt"},
        "inventory_unit": "g", "package_size": "100",
    }, pharmacist_token)  # fmt: skip
    bulk_lot = await create(client, f"/v1/products/{bulk['id']}/lots",
                            {"lot_number": "API-77", "expires_on": "2027-06-30"},
                            pharmacist_token)  # fmt: skip
    headers = bearer(pharmacist_token)
    receipt = {
        "registrant_id": rid, "type": "receipt", "location_id": shelf["id"],
        "lot_id": bulk_lot["id"], "quantity": "30", "occurred_at": START.isoformat(),
        "counterparty": {"name": "Spectrum Chemical", "dea_number": "PK1234563",
                         "address": ADDRESS},
        "document_reference": "INV-5521",
    }  # fmt: skip
    response = await client.post("/v1/ledger/events", json=receipt,
                                 headers=headers | {"Idempotency-Key": f"bulk-{rid}"})  # fmt: skip
    assert response.status_code == 201, response.text
    troche = await create(
        client, "/v1/products",
        troche_body(rid, strength={"value": "100", "unit": "mg", "basis": "salt"}),
        pharmacist_token,
    )  # fmt: skip
    batch = {
        "registrant_id": rid, "location_id": shelf["id"], "product_id": troche["id"],
        "lot_number": "T-2026-001", "units": "300", "beyond_use_date": "2026-09-30",
        "compounded_at": START.isoformat(), "checked_by": checker["id"],
        "ingredients": [{"lot_id": bulk_lot["id"], "quantity": "30"}],
    }  # fmt: skip
    response = await client.post("/v1/compounding-batches", json=batch,
                                 headers=headers | {"Idempotency-Key": f"batch-{rid}"})  # fmt: skip
    assert response.status_code == 201, response.text
    made = response.json()
    return {"id": made["finished_lot_id"], "lot_number": made["lot_number"]}, troche
