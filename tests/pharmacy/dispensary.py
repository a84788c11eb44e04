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
from tests.factories import ADDRESS, dea_number, troche_body
from tests.world import Builder, Compound, Location, Lot, Patient, Registrant, Staff, World

PRESCRIPTIONS = "/v1/prescriptions"
_KEYS = itertools.count(1)


@dataclass
class Dispensary(World):
    clock: FrozenClock
    token: str
    shelf: Location
    troche: Compound
    troche_lot: Lot
    patient: Patient
    pharmacist: Staff
    clinic: Registrant
    prescriber_token: str
    prescriber_dea_number: str

    @property
    def make_token(self) -> TokenFactory:
        return self.builder.make_token

    @property
    def clinic_id(self) -> str:
        """The clinic at which the prescriber is registered."""
        return self.clinic.id

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
            "patient_id": self.patient.id,
            "product_id": self.troche.id,
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
            "lot_id": self.troche_lot.id, "location_id": self.shelf.id,
            "quantity": quantity, "filled_at": filled_at,
        } | overrides  # fmt: skip

    async def fill(self, rx: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        return await self.post(f"{PRESCRIPTIONS}/{rx['id']}/fills", body)

    async def shelf_balance(self) -> str:
        response = await self.get("/v1/ledger/balances", registrant_id=self.id,
                                  lot_id=self.troche_lot.id)  # fmt: skip
        assert response.status_code == 200, response.text
        return str(response.json()["items"][0]["quantity"])


async def open_dispensary(
    client: httpx.AsyncClient, admin_token: str, token: TokenFactory, clock: FrozenClock
) -> Dispensary:
    site = await Builder.open(client, admin_token, token, kind="pharmacy",
                              name="Lone Star Compounding")  # fmt: skip
    pharmacist = await site.staff(role="pharmacist", subject="rph-1")
    checker = await site.staff(role="pharmacist", subject="rph-2")
    shelf = await site.location("Dispensing shelf", "cabinet")
    pharmacist_token = site.token("pharmacist", "rph-1")
    troche_lot, troche = await _compound_troches(site, pharmacist_token, shelf, checker)
    patient = await site.patient(pharmacist_token)
    clinic = await Builder.open(client, admin_token, token, name="Hill Country Ketamine Clinic")
    prescriber = await clinic.staff(role="prescriber", subject="prescriber-1")
    number = dea_number("MK")
    officer = clinic.token("compliance_officer", "officer-1")
    await clinic.registration(prescriber, officer, dea_number=number)
    return Dispensary(
        builder=site, clock=clock, token=pharmacist_token, shelf=shelf, troche=troche,
        troche_lot=troche_lot, patient=patient, pharmacist=pharmacist,
        clinic=clinic.registrant, prescriber_token=clinic.token("prescriber", "prescriber-1"),
        prescriber_dea_number=number,
    )  # fmt: skip


async def _compound_troches(
    site: Builder, pharmacist_token: str, shelf: Location, checker: Staff
) -> tuple[Lot, Compound]:
    """300 troches of 100 mg of the salt from 30 g of bulk hydrochloride."""
    bulk = await site.product({
        "registrant_id": site.id, "name": "Ketamine HCl USP powder", "ndc": "62991-2830-1",
        "substance": "ketamine", "dosage_form": "bulk_powder",
        "strength": {"value": "1000", "unit": "mg/g", "basis": "salt"},
        "inventory_unit": "g", "package_size": "100",
    }, pharmacist_token)  # fmt: skip
    bulk_lot = await site.lot(bulk, "API-77", "2027-06-30", pharmacist_token)
    await site.receive(
        bulk_lot, shelf, "30", token=pharmacist_token, occurred_at=START.isoformat(),
        counterparty={"name": "Spectrum Chemical", "dea_number": "PK1234563", "address": ADDRESS},
        document_reference="INV-5521", key=f"bulk-{site.id}",
    )  # fmt: skip
    troche = await site.compound(
        troche_body(site.id, strength={"value": "100", "unit": "mg", "basis": "salt"}),
        pharmacist_token,
    )
    batch = {
        "registrant_id": site.id, "location_id": shelf.id, "product_id": troche.id,
        "lot_number": "T-2026-001", "units": "300", "beyond_use_date": "2026-09-30",
        "compounded_at": START.isoformat(), "checked_by": checker.id,
        "ingredients": [{"lot_id": bulk_lot.id, "quantity": "30"}],
    }  # fmt: skip
    headers = bearer(pharmacist_token) | {"Idempotency-Key": f"batch-{site.id}"}
    response = await site.client.post("/v1/compounding-batches", json=batch, headers=headers)
    assert response.status_code == 201, response.text
    made = response.json()
    finished = Lot(id=made["finished_lot_id"], product_id=made["product_id"],
                   lot_number=made["lot_number"], json=made)  # fmt: skip
    return finished, troche
