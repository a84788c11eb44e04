"""A registrant with what a movement refers to: locations, staff, a product and a lot."""

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import START, TokenFactory, bearer
from tests.factories import injection_body
from tests.world import Builder, Location, Lot, Patient, Product, Staff, World

SUPPLIER = {
    "name": "Midwest Pharma Distribution",
    "address": {"line1": "1 Depot Rd", "city": "Dallas", "state": "TX", "postal_code": "75201"},
    "dea_number": "PK1234563",
}


@dataclass
class Clinic(World):
    vault: Location
    room: Location
    lot: Lot
    product: Product
    patient: Patient
    nurse: Staff
    witness: Staff
    nurse_token: str
    witness_token: str
    officer_token: str
    keys: int = 0

    async def post(self, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        self.keys += 1
        headers = bearer(token or self.nurse_token) | {"Idempotency-Key": f"key-{self.keys}"}
        return await self.client.post("/v1/ledger/events", json=body, headers=headers)

    def event(self, type_: str, quantity: str = "10", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "registrant_id": self.registrant.id,
            "type": type_,
            "location_id": self.vault.id,
            "lot_id": self.lot.id,
            "quantity": quantity,
            "occurred_at": (START - timedelta(minutes=5)).isoformat(),
        }
        if type_ == "receipt":
            body |= {"counterparty": SUPPLIER, "document_reference": f"INV-{next(_INVOICES)}"}
        return body | overrides

    async def balance(self, **params: str) -> dict[str, str]:
        response = await self.client.get(
            "/v1/ledger/balances",
            params={"registrant_id": self.registrant.id, **params},
            headers=bearer(self.nurse_token),
        )
        assert response.status_code == 200, response.text
        return {item["location_id"]: item["quantity"] for item in response.json()["items"]}


_INVOICES = itertools.count(1)
"""Each receipt on an invoice of its own: one invoice received twice is a duplicate."""
_KEY_BLOCKS = itertools.count(0, 100_000)
"""Where each opened clinic starts numbering its Idempotency-Keys: keys are scoped to the
token's subject, and nurse-1 is a subject at every clinic."""


async def open_clinic(
    client: httpx.AsyncClient, admin_token: str, token: TokenFactory, name: str | None = None
) -> Clinic:
    """A registrant with nurse-1 and nurse-2, a vault and a room, a product, a lot and a
    patient; opened again, the same token subjects are staff at each."""
    names = {"name": name} if name else {}
    site = await Builder.open(client, admin_token, token, **names)
    nurse = await site.staff(role="nurse", subject="nurse-1", name="Nora Nurse")
    witness = await site.staff(role="nurse", subject="nurse-2", name="Wes Witness")
    vault = await site.location("Vault", "vault")
    room = await site.location("Room 1", "procedure_room")
    nurse_token = site.token("clinician", "nurse-1", "Nora Nurse")
    product = await site.product(injection_body(site.id), nurse_token)
    lot = await site.lot(product, "L-100", "2027-01-31", nurse_token)
    patient = await site.patient(nurse_token)
    return Clinic(
        builder=site, vault=vault, room=room, lot=lot, product=product, patient=patient,
        nurse=nurse, witness=witness, nurse_token=nurse_token,
        witness_token=site.token("clinician", "nurse-2", "Wes Witness"),
        officer_token=site.token("compliance_officer", "officer-1", "Olive"),
        keys=next(_KEY_BLOCKS),
    )  # fmt: skip


@pytest.fixture
async def clinic(client, admin_token: str, token: TokenFactory) -> Clinic:
    return await open_clinic(client, admin_token, token)
