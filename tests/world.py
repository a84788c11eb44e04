"""What the test worlds are built from: a registrant and the things it holds, created through
the API (each kind by one method here) and answered as typed records.

``Builder.open`` creates a registrant; its methods add locations, staff and their DEA
registrations, products, lots, receipts into stock, patients, and treatment plans (each on a
candidate evaluation), and mint tokens naming the registrant. The worlds (the ward, the
dispensary, the ledger's clinic) are each a few calls to it.
"""

from dataclasses import dataclass, field, fields
from typing import Any, Self

import httpx

from tests.conftest import TokenFactory, bearer
from tests.factories import (
    create,
    create_registrant,
    location_body,
    patient_body,
    staff_body,
    staff_registration_body,
)

# Records: what the API answered, the fields tests read typed, and the whole answer in json.


@dataclass(frozen=True, kw_only=True)
class Record:
    """A resource the API created: its id, and in ``json`` the answer that created it."""

    id: str
    json: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, json: dict[str, Any]) -> Self:
        """The record of an API answer: each field of the record from the key of its name."""
        named = {f.name: json[f.name] for f in fields(cls) if f.name != "json"}
        return cls(json=json, **named)


@dataclass(frozen=True, kw_only=True)
class Registrant(Record):
    name: str
    dea_number: str
    address: dict[str, str | None]


@dataclass(frozen=True, kw_only=True)
class Location(Record):
    name: str
    kind: str


@dataclass(frozen=True, kw_only=True)
class Staff(Record):
    name: str
    role: str
    subject: str | None


@dataclass(frozen=True, kw_only=True)
class Patient(Record):
    external_id: str
    family_name: str


@dataclass(frozen=True, kw_only=True)
class Product(Record):
    name: str
    dosage_form: str


@dataclass(frozen=True, kw_only=True)
class Compound(Product):
    """A product compounded here: known by its compound code, not an NDC."""

    compound_code: str


@dataclass(frozen=True, kw_only=True)
class Lot(Record):
    """A lot of a product (for a compounded lot, ``json`` is the batch that made it)."""

    product_id: str
    lot_number: str


@dataclass(frozen=True, kw_only=True)
class Plan(Record):
    patient_id: str


# A candidate evaluation, on which each plan rests: two adequate trials that failed, and a
# clean screening.

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


@dataclass
class Builder:
    """Creates what one registrant holds. The registry (locations, staff) is set up with the
    admin's token; records are written with the ``token`` each call names, as the clinic's or
    pharmacy's own staff would."""

    client: httpx.AsyncClient
    admin_token: str
    make_token: TokenFactory
    registrant: Registrant

    @classmethod
    async def open(
        cls, client: httpx.AsyncClient, admin_token: str, make_token: TokenFactory, **body: Any
    ) -> Self:
        """A new registrant (``body`` changes the factory's registrant body)."""
        made = await create_registrant(client, admin_token, **body)
        return cls(client, admin_token, make_token, Registrant.of(made))

    @property
    def id(self) -> str:
        return self.registrant.id

    def token(self, role: str, sub: str, name: str | None = None) -> str:
        """A token of ``sub`` in ``role`` at the registrant (named "Test User" unless given)."""
        named = {"name": name} if name else {}
        return self.make_token([role], [self.id], sub=sub, **named)

    async def location(self, name: str, kind: str) -> Location:
        body = location_body(name=name, kind=kind)
        path = f"/v1/registrants/{self.id}/locations"
        return Location.of(await create(self.client, path, body, self.admin_token))

    async def staff(self, **body: Any) -> Staff:
        """A staff member (``body`` changes the factory's staff body)."""
        path = f"/v1/registrants/{self.id}/staff"
        return Staff.of(await create(self.client, path, staff_body(**body), self.admin_token))

    async def registration(self, staff: Staff, token: str, **body: Any) -> None:
        """A DEA registration of ``staff``, recorded with ``token`` (a compliance officer's)."""
        path = f"/v1/registrants/{self.id}/staff/{staff.id}/registrations"
        await create(self.client, path, staff_registration_body(**body), token)

    async def product(self, body: dict[str, Any], token: str) -> Product:
        return Product.of(await create(self.client, "/v1/products", body, token))

    async def compound(self, body: dict[str, Any], token: str) -> Compound:
        return Compound.of(await create(self.client, "/v1/products", body, token))

    async def lot(self, product: Product, lot_number: str, expires_on: str, token: str) -> Lot:
        body = {"lot_number": lot_number, "expires_on": expires_on}
        path = f"/v1/products/{product.id}/lots"
        return Lot.of(await create(self.client, path, body, token))

    async def receive(
        self,
        lot: Lot,
        location: Location,
        quantity: str,
        *,
        token: str,
        occurred_at: str,
        counterparty: dict[str, Any],
        document_reference: str,
        key: str,
    ) -> None:
        """A receipt of ``quantity`` of ``lot`` into ``location``, under Idempotency-Key
        ``key``."""
        receipt = {
            "registrant_id": self.id, "type": "receipt", "location_id": location.id,
            "lot_id": lot.id, "quantity": quantity, "occurred_at": occurred_at,
            "counterparty": counterparty, "document_reference": document_reference,
        }  # fmt: skip
        headers = bearer(token) | {"Idempotency-Key": key}
        response = await self.client.post("/v1/ledger/events", json=receipt, headers=headers)
        assert response.status_code == 201, response.text

    async def patient(self, token: str, **body: Any) -> Patient:
        """A patient (``body`` changes the factory's patient body)."""
        made = await create(self.client, "/v1/patients", patient_body(self.id, **body), token)
        return Patient.of(made)

    async def plan(self, patient: Patient, token: str, **plan: Any) -> Plan:
        """A candidate evaluation of ``patient`` and a plan on it, by the prescriber whose
        ``token`` is given (``plan`` names the modality and dose, and may change the sessions
        and dates)."""
        evaluation = {
            "registrant_id": self.id, "patient_id": patient.id, "evaluated_on": "2026-02-27",
            "in_person": True, "prior_treatments": TRIALS, "contraindications": SCREENING,
            "vitals": {"systolic_mmhg": 122, "diastolic_mmhg": 78, "heart_rate_bpm": 72},
            "outcome": "candidate",
        }  # fmt: skip
        made = await create(self.client, "/v1/evaluations", evaluation, token)
        body = {
            "registrant_id": self.id, "patient_id": patient.id, "evaluation_id": made["id"],
            "sessions_per_week": 2, "total_sessions": 6, "starts_on": "2026-03-01",
            "ends_on": "2026-03-31", **plan,
        }  # fmt: skip
        return Plan.of(await create(self.client, "/v1/treatment-plans", body, token))


@dataclass
class World:
    """A world a test works in, built by one :class:`Builder`: its client and registrant."""

    builder: Builder

    @property
    def client(self) -> httpx.AsyncClient:
        return self.builder.client

    @property
    def registrant(self) -> Registrant:
        return self.builder.registrant

    @property
    def id(self) -> str:
        return self.registrant.id
