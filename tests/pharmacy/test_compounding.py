"""Compounding batches: bulk lots consumed and a finished lot made through the ledger, in one
transaction, mg in and out compared as base."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from app.core.config import Settings
from app.worker import Worker
from tests.conftest import START, DatabaseProbe, TokenFactory, bearer
from tests.factories import (
    assert_problem,
    assert_refused,
    create,
    create_registrant,
    injection_body,
    location_body,
    staff_body,
    troche_body,
)

PHARMACIST = "pharmacist-1"
CHECKER = "pharmacist-2"
PROBLEM = "urn:csledger:problem:"
BATCHES = "/v1/compounding-batches"
DAY = START.date()  # 2026-03-02, the frozen clock's day and the batches' compounding day
NAMES = ("location", "product", "finished_lot", "compounder", "checker")
"""What a batch's answer names beside its ids (tests/catalog/test_names.py)."""
REASON = "10 troches failed weight check and were destroyed"


def bulk_body(registrant_id: str, **overrides: Any) -> dict[str, Any]:
    """Ketamine hydrochloride powder: 1 g is 1,000 mg of the salt."""
    return {
        "registrant_id": registrant_id,
        "name": "Ketamine HCl USP powder",
        "ndc": "62991-2830-1",
        "substance": "ketamine",
        "dosage_form": "bulk_powder",
        "strength": {"value": "1000", "unit": "mg/g", "basis": "salt"},
        "inventory_unit": "g",
        "package_size": "100",
    } | overrides


def pointers(problem: dict[str, Any]) -> list[str]:
    return [error.get("pointer") for error in problem.get("errors", [])]


@dataclass
class Pharmacy:
    """A pharmacy with a compounding lab holding 100 g of bulk ketamine HCl (lot API-77), a troche
    of 100 mg of the salt, the compounding pharmacist (whose token is ``token``) and a checker."""

    client: httpx.AsyncClient
    id: str
    token: str
    lab: dict[str, Any]
    checker: dict[str, Any]
    bulk_lot: dict[str, Any]
    troche: dict[str, Any]
    compounder: dict[str, Any]
    bulk: dict[str, Any]
    admin_token: str
    make_token: TokenFactory
    keys: int = 0

    def headers(self, token: str | None = None) -> dict[str, str]:
        """The token (the pharmacist's by default) and a fresh Idempotency-Key."""
        self.keys += 1
        return bearer(token or self.token) | {"Idempotency-Key": f"batch-{self.keys}"}

    async def post(
        self, path: str, body: dict[str, Any], token: str | None = None
    ) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.headers(token))

    async def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        return await self.client.get(path, params=params, headers=bearer(token or self.token))

    def batch(self, **overrides: Any) -> dict[str, Any]:
        return {
            "registrant_id": self.id,
            "location_id": self.lab["id"],
            "product_id": self.troche["id"],
            "lot_number": "T-2026-001",
            "units": "300",
            "beyond_use_date": "2026-04-30",
            "compounded_at": START.isoformat(),
            "checked_by": self.checker["id"],
            "ingredients": [{"lot_id": self.bulk_lot["id"], "quantity": "30"}],
        } | overrides

    async def compound(self, token: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Record a batch that must be accepted."""
        response = await self.post(BATCHES, self.batch(**overrides), token)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def balance(self, lot_id: str) -> str | None:
        response = await self.client.get(
            "/v1/ledger/balances",
            params={"registrant_id": self.id, "lot_id": lot_id},
            headers=bearer(self.token),
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return items[0]["quantity"] if items else None

    async def events(self, **params: str) -> list[dict[str, Any]]:
        response = await self.get("/v1/ledger/events", registrant_id=self.id, **params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def add_staff(self, **overrides: Any) -> dict[str, Any]:
        path = f"/v1/registrants/{self.id}/staff"
        return await create(self.client, path, staff_body(**overrides), self.admin_token)

    async def add_product(self, body: dict[str, Any]) -> dict[str, Any]:
        return await create(self.client, "/v1/products", body, self.token)

    async def add_lot(
        self, product: dict[str, Any], lot_number: str, expires_on: str = "2027-06-30"
    ) -> dict[str, Any]:
        path = f"/v1/products/{product['id']}/lots"
        body = {"lot_number": lot_number, "expires_on": expires_on}
        return await create(self.client, path, body, self.token)

    async def receive(self, lot: dict[str, Any], quantity: str) -> None:
        """Bulk bought on an invoice from a DEA-registered supplier, into the lab."""
        receipt = {
            "registrant_id": self.id, "type": "receipt", "location_id": self.lab["id"],
            "lot_id": lot["id"], "quantity": quantity, "occurred_at": START.isoformat(),
            "counterparty": {"name": "Spectrum Chemical", "dea_number": "PK1234563",
                             "address": {"line1": "14422 S San Pedro St", "city": "Gardena",
                                         "state": "CA", "postal_code": "90248"}},
            "document_reference": f"INV-{lot['lot_number']}-{quantity}",
        }  # fmt: skip
        response = await self.post("/v1/ledger/events", receipt)
        assert response.status_code == 201, response.text

    async def add_bulk_lot(
        self, lot_number: str, grams: str, expires_on: str = "2027-06-30"
    ) -> dict[str, Any]:
        """Another lot of the bulk powder, ``grams`` of it received into the lab."""
        lot = await self.add_lot(self.bulk, lot_number, expires_on)
        await self.receive(lot, grams)
        return lot

    async def base_troche(self) -> dict[str, Any]:
        """A troche whose label states 100 mg of ketamine base."""
        return await self.add_product(troche_body(self.id))

    async def other_registrant(self) -> tuple[str, str]:
        """Another pharmacy, and a pharmacist token of its own."""
        other = await create_registrant(self.client, self.admin_token, kind="pharmacy")
        return other["id"], self.make_token(["pharmacist"], [other["id"]], sub="elsewhere-1")


@pytest.fixture
async def pharmacy(client, admin_token: str, token: TokenFactory) -> Pharmacy:
    registrant = await create_registrant(client, admin_token, kind="pharmacy")
    rid = registrant["id"]
    staff = f"/v1/registrants/{rid}/staff"
    compounder = await create(
        client, staff, staff_body(role="pharmacist", subject=PHARMACIST), admin_token
    )
    checker = await create(
        client, staff, staff_body(role="pharmacist", subject=CHECKER, name="Chen"), admin_token
    )
    lab = await create(
        client, f"/v1/registrants/{rid}/locations",
        location_body(name="Compounding lab", kind="cabinet"), admin_token,
    )  # fmt: skip
    pharmacist = token(["pharmacist"], [rid], sub=PHARMACIST)
    bulk = await create(client, "/v1/products", bulk_body(rid), pharmacist)
    bulk_lot = await create(
        client, f"/v1/products/{bulk['id']}/lots",
        {"lot_number": "API-77", "expires_on": "2027-06-30"}, pharmacist,
    )  # fmt: skip
    troche = await create(
        client, "/v1/products",
        troche_body(rid, strength={"value": "100", "unit": "mg", "basis": "salt"}), pharmacist,
    )  # fmt: skip
    built = Pharmacy(
        client=client, id=rid, token=pharmacist, lab=lab, checker=checker, bulk_lot=bulk_lot,
        troche=troche, compounder=compounder, bulk=bulk, admin_token=admin_token,
        make_token=token,
    )  # fmt: skip
    await built.receive(bulk_lot, "100")
    return built


async def refused(
    pharmacy: Pharmacy,
    probe: DatabaseProbe,
    body: dict[str, Any],
    slug: str,
    *,
    status: int = 422,
    token: str | None = None,
    subject: str | None = PHARMACIST,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST ``body`` as a batch: refused with ``slug``, nothing written but the audit row."""
    response = await assert_refused(
        pharmacy.client, probe, "POST", BATCHES, status=status, problem=PROBLEM + slug,
        subject=subject, json=body,
        headers=pharmacy.headers(token) if headers is None else headers,
    )  # fmt: skip
    problem: dict[str, Any] = response.json()
    return problem


def yield_of(batch: dict[str, Any]) -> tuple[str, str, str]:
    return batch["mg_in_base"], batch["mg_out_base"], batch["yield_percent"]


# Batches that balance


async def test_300_troches_of_100_mg_hcl_from_30_g_of_bulk_hcl(pharmacy):
    response = await pharmacy.post(BATCHES, pharmacy.batch())
    assert response.status_code == 201, response.text
    batch = response.json()
    assert response.headers["location"] == f"/v1/compounding-batches/{batch['id']}"
    # 30 g of the salt is 26,022 mg of base; 300 x 100 mg of the salt is the same.
    assert (batch["mg_in_base"], batch["mg_out_base"], batch["yield_percent"]) == (
        "26022", "26022", "100",
    )  # fmt: skip
    assert (batch["broken_rules"], batch["yield_reason"]) == ([], None)
    assert [(i["lot_id"], i["quantity"], i["mg_base"]) for i in batch["ingredients"]] == [
        (pharmacy.bulk_lot["id"], "30", "26022")
    ]
    assert await pharmacy.balance(pharmacy.bulk_lot["id"]) == "70"
    assert await pharmacy.balance(batch["finished_lot_id"]) == "300"
    fetched = await pharmacy.client.get(
        f"/v1/compounding-batches/{batch['id']}", headers=bearer(pharmacy.token)
    )
    assert fetched.json() == batch
    events = await pharmacy.client.get(
        "/v1/ledger/events",
        params={"registrant_id": pharmacy.id, "type": "compound_consume"},
        headers=bearer(pharmacy.token),
    )
    [consumed] = events.json()["items"]
    assert (consumed["id"], consumed["batch_id"]) == (
        batch["ingredients"][0]["consume_event_id"], batch["id"],
    )  # fmt: skip


async def test_300_troches_of_100_mg_base_need_34_587_g_of_the_salt(pharmacy):
    """30,000 mg of base / 0.8674 = 34,586.1 mg of the salt: 34.587 g, rounded up to the mg,
    holds 30,000.764 mg of base, so the batch yields 99.997 %."""
    troche = await pharmacy.base_troche()
    body = pharmacy.batch(
        product_id=troche["id"], lot_number="TB-2026-001",
        ingredients=[{"lot_id": pharmacy.bulk_lot["id"], "quantity": "34.587"}],
    )  # fmt: skip
    response = await pharmacy.post(BATCHES, body)
    assert response.status_code == 201, response.text
    named = response.json()
    batch = {key: value for key, value in named.items() if key not in NAMES}
    batch["ingredients"] = [{key: value for key, value in used.items() if key != "lot"}
                            for used in batch["ingredients"]]  # fmt: skip
    [ingredient] = batch["ingredients"]
    assert named["finished_lot"]["lot_number"] == "TB-2026-001"
    assert named["ingredients"][0]["lot"]["id"] == pharmacy.bulk_lot["id"]
    assert batch == {
        **{name: value for name, value in body.items() if name != "ingredients"},
        "compounded_at": "2026-03-02T15:00:00Z",
        "id": batch["id"],
        "finished_lot_id": batch["finished_lot_id"],
        "compounded_by": pharmacy.compounder["id"],
        "ingredients": [
            {"lot_id": pharmacy.bulk_lot["id"], "quantity": "34.587", "mg_base": "30000.764",
             "consume_event_id": ingredient["consume_event_id"]},
        ],
        "mg_in_base": "30000.764",
        "mg_out_base": "30000",
        "yield_percent": "99.997",
        "yield_reason": None,
        "broken_rules": [],
        "produce_event_id": batch["produce_event_id"],
        "created_by": PHARMACIST,
        "created_at": "2026-03-02T15:00:00Z",
    }  # fmt: skip
    assert await pharmacy.balance(pharmacy.bulk_lot["id"]) == "65.413"
    assert await pharmacy.balance(batch["finished_lot_id"]) == "300"
    finished = await pharmacy.get(f"/v1/products/{troche['id']}/lots/{batch['finished_lot_id']}")
    assert finished.status_code == 200, finished.text
    assert (finished.json()["lot_number"], finished.json()["expires_on"]) == (
        "TB-2026-001", "2026-04-30",
    )  # fmt: skip


async def test_a_batch_from_two_bulk_lots_adds_their_mg_and_consumes_each(pharmacy):
    second = await pharmacy.add_bulk_lot("API-78", "50")
    troche = await pharmacy.base_troche()
    batch = await pharmacy.compound(
        product_id=troche["id"],
        ingredients=[
            {"lot_id": pharmacy.bulk_lot["id"], "quantity": "30"},
            {"lot_id": second["id"], "quantity": "4.587"},
        ],
    )
    assert [(i["lot_id"], i["quantity"], i["mg_base"]) for i in batch["ingredients"]] == [
        (pharmacy.bulk_lot["id"], "30", "26022"),
        (second["id"], "4.587", "3978.764"),
    ]
    assert yield_of(batch) == ("30000.764", "30000", "99.997")
    assert await pharmacy.balance(pharmacy.bulk_lot["id"]) == "70"
    assert await pharmacy.balance(second["id"]) == "45.413"
    assert await pharmacy.balance(batch["finished_lot_id"]) == "300"
    consumed = await pharmacy.events(type="compound_consume")
    assert sorted((e["id"], e["lot_id"], e["quantity"], e["batch_id"]) for e in consumed) == sorted(
        (i["consume_event_id"], i["lot_id"], i["quantity"], batch["id"])
        for i in batch["ingredients"]
    )


# The yield


async def test_a_yield_beyond_the_tolerance_needs_a_reason_and_is_kept(pharmacy):
    short = pharmacy.batch(units="290")  # 96.667 % of the bulk's mg
    refused = await pharmacy.post("/v1/compounding-batches", short)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "urn:csledger:problem:yield-outside-tolerance"
    assert await pharmacy.balance(pharmacy.bulk_lot["id"]) == "100"
    reason = "10 troches failed weight check and were destroyed"
    accepted = await pharmacy.post("/v1/compounding-batches", short | {"yield_reason": reason})
    assert accepted.status_code == 201, accepted.text
    body = accepted.json()
    assert (body["yield_percent"], body["broken_rules"], body["yield_reason"]) == (
        "96.667", ["yield_outside_tolerance"], reason,
    )  # fmt: skip


async def test_a_yield_excused_by_its_reason_is_opened_for_review(pharmacy, app, clock):
    reason = "10 troches failed weight check and were destroyed"
    accepted = await pharmacy.post("/v1/compounding-batches",
                                   pharmacy.batch(units="290", yield_reason=reason))  # fmt: skip
    assert accepted.status_code == 201, accepted.text
    await Worker(app.state.database, app.state.settings, clock, periodic=()).run_until_idle()
    officer = pharmacy.make_token(["compliance_officer"], [pharmacy.id], sub="officer-1")
    listed = await pharmacy.get("/v1/discrepancies", officer, registrant_id=pharmacy.id)
    [found] = listed.json()["items"]
    assert (found["rule"], found["details"]["compounding_batch_id"], found["summary"]) == (
        "override_used", accepted.json()["id"],
        f"A compounding batch: yield outside tolerance overridden, because {reason}",
    )  # fmt: skip


# Troches of 100 mg of the salt (86.74 mg of base) from bulk of 867.4 mg of base per g:
# the yield is 10 x units / grams %.
AT_THE_TOLERANCE = {
    "98 %": ("294", "30", "98"),
    "102 %": ("306", "30", "102"),
}
JUST_BEYOND = {
    "97.999 %": ("289", "29.49", "97.999"),
    "102.001 %": ("311", "30.49", "102.001"),
}


@pytest.mark.parametrize(("units", "grams", "percent"), AT_THE_TOLERANCE.values(),
                         ids=AT_THE_TOLERANCE)  # fmt: skip
async def test_a_yield_exactly_at_the_tolerance_needs_no_reason(
    pharmacy, app_settings: Settings, units, grams, percent
):
    assert app_settings.compounding_yield_tolerance_percent == Decimal(2)
    ingredients = [{"lot_id": pharmacy.bulk_lot["id"], "quantity": grams}]
    batch = await pharmacy.compound(units=units, ingredients=ingredients)
    assert batch["yield_percent"] == percent
    assert (batch["broken_rules"], batch["yield_reason"]) == ([], None)


@pytest.mark.parametrize(("units", "grams", "percent"), JUST_BEYOND.values(), ids=JUST_BEYOND)
async def test_a_yield_just_beyond_the_tolerance_needs_a_reason(
    pharmacy, probe, app_settings: Settings, units, grams, percent
):
    assert app_settings.compounding_yield_tolerance_percent == Decimal(2)
    ingredients = [{"lot_id": pharmacy.bulk_lot["id"], "quantity": grams}]
    body = pharmacy.batch(units=units, ingredients=ingredients)
    problem = await refused(pharmacy, probe, body, "yield-outside-tolerance")
    assert problem["broken_rules"] == ["yield_outside_tolerance"]

    batch = await pharmacy.compound(units=units, ingredients=ingredients, yield_reason=REASON)
    assert (batch["yield_percent"], batch["broken_rules"], batch["yield_reason"]) == (
        percent, ["yield_outside_tolerance"], REASON,
    )  # fmt: skip


async def test_the_yield_problem_names_the_field_that_excuses_it(pharmacy, probe):
    problem = await refused(pharmacy, probe, pharmacy.batch(units="290"), "yield-outside-tolerance")
    assert "yield_reason" in problem["detail"]


async def test_a_reason_for_a_yield_within_the_tolerance_is_not_kept(pharmacy):
    batch = await pharmacy.compound(yield_reason="just in case")
    assert (batch["yield_percent"], batch["broken_rules"], batch["yield_reason"]) == (
        "100", [], None,
    )  # fmt: skip


async def test_an_integrations_record_is_flagged_not_refused_for_its_yield(
    pharmacy, integration_at
):
    integration = await integration_at(pharmacy.id, "pharmacy", sub="pharmacy-system")
    batch = await pharmacy.compound(
        integration, units="290", compounded_by=pharmacy.compounder["id"]
    )
    assert (batch["yield_percent"], batch["broken_rules"], batch["yield_reason"]) == (
        "96.667", ["yield_outside_tolerance"], None,
    )  # fmt: skip
    assert (batch["compounded_by"], batch["created_by"]) == (
        pharmacy.compounder["id"], "pharmacy-system",
    )  # fmt: skip


async def test_a_batch_entered_late_is_flagged_not_refused_for_its_yield(pharmacy):
    two_days_ago = (START - timedelta(days=2)).isoformat()
    batch = await pharmacy.compound(units="290", compounded_at=two_days_ago)
    assert (batch["broken_rules"], batch["yield_reason"]) == (["yield_outside_tolerance"], None)


async def test_an_integrations_batch_moves_stock_in_the_compounders_name(pharmacy, integration_at):
    integration = await integration_at(pharmacy.id, "pharmacy", sub="pharmacy-system")
    batch = await pharmacy.compound(integration, compounded_by=pharmacy.compounder["id"])
    events = await pharmacy.events(type="compound_consume") + await pharmacy.events(
        type="compound_produce"
    )
    assert [(e["batch_id"], e["performed_by"]) for e in events] == [
        (batch["id"], pharmacy.compounder["id"])
    ] * 2


# Who compounds and who checks


async def test_the_compounder_cannot_check_their_own_batch(pharmacy, probe):
    body = pharmacy.batch(checked_by=pharmacy.compounder["id"])
    problem = await refused(pharmacy, probe, body, "invalid-input")
    assert pointers(problem) == ["#/checked_by"]
    batch = await pharmacy.compound()
    assert (batch["compounded_by"], batch["checked_by"]) == (
        pharmacy.compounder["id"], pharmacy.checker["id"],
    )  # fmt: skip


async def a_pharmacy_technician(pharmacy: Pharmacy) -> str:
    return str((await pharmacy.add_staff(role="pharmacy_technician", subject="tech-1"))["id"])


async def an_inactive_pharmacist(pharmacy: Pharmacy) -> str:
    staff = await pharmacy.add_staff(role="pharmacist", subject="retired-1", active=False)
    return str(staff["id"])


async def another_registrants_pharmacist(pharmacy: Pharmacy) -> str:
    other_id, _ = await pharmacy.other_registrant()
    path = f"/v1/registrants/{other_id}/staff"
    body = staff_body(role="pharmacist", subject="elsewhere-1")
    return str((await create(pharmacy.client, path, body, pharmacy.admin_token))["id"])


async def nobody(pharmacy: Pharmacy) -> str:
    return str(uuid.uuid4())


NOT_A_CHECKER: dict[str, Callable[[Pharmacy], Awaitable[str]]] = {
    "a pharmacy technician": a_pharmacy_technician,
    "an inactive pharmacist": an_inactive_pharmacist,
    "another registrant's pharmacist": another_registrants_pharmacist,
    "an unknown id": nobody,
}


@pytest.mark.parametrize("checker", NOT_A_CHECKER.values(), ids=NOT_A_CHECKER)
async def test_the_checker_is_an_active_pharmacist_of_the_registrant(pharmacy, probe, checker):
    body = pharmacy.batch(checked_by=await checker(pharmacy))
    problem = await refused(pharmacy, probe, body, "invalid-reference")
    assert pointers(problem) == ["#/checked_by"]


NOT_A_COMPOUNDER = {
    "no staff member": None,
    "a pharmacy technician": {"role": "pharmacy_technician"},
    "an inactive pharmacist": {"role": "pharmacist", "active": False},
}


@pytest.mark.parametrize("staff", NOT_A_COMPOUNDER.values(), ids=NOT_A_COMPOUNDER)
async def test_only_an_active_pharmacist_on_staff_compounds(pharmacy, probe, staff):
    """A pharmacist token is not enough: its subject must be an active pharmacist's."""
    if staff is not None:
        await pharmacy.add_staff(subject="caller-1", **staff)
    caller = pharmacy.make_token(["pharmacist"], [pharmacy.id], sub="caller-1")
    problem = await refused(
        pharmacy, probe, pharmacy.batch(), "invalid-reference", token=caller, subject="caller-1"
    )
    assert pointers(problem) == ["#/compounded_by"]


async def test_a_pharmacist_records_only_what_they_compounded(pharmacy, probe):
    colleague = await pharmacy.add_staff(role="pharmacist", subject="pharmacist-3")
    body = pharmacy.batch(compounded_by=colleague["id"])
    problem = await refused(pharmacy, probe, body, "invalid-reference")
    assert pointers(problem) == ["#/compounded_by"]
    named = await pharmacy.compound(compounded_by=pharmacy.compounder["id"])
    assert named["compounded_by"] == pharmacy.compounder["id"]


async def test_an_integration_names_who_compounded(pharmacy, probe, integration_at):
    integration = await integration_at(pharmacy.id, "pharmacy", sub="pharmacy-system")
    problem = await refused(
        pharmacy, probe, pharmacy.batch(), "invalid-input",
        token=integration, subject="pharmacy-system",
    )  # fmt: skip
    assert pointers(problem) == ["#/compounded_by"]
    technician = await a_pharmacy_technician(pharmacy)
    problem = await refused(
        pharmacy, probe, pharmacy.batch(compounded_by=technician), "invalid-reference",
        token=integration, subject="pharmacy-system",
    )  # fmt: skip
    assert pointers(problem) == ["#/compounded_by"]
    batch = await pharmacy.compound(integration, compounded_by=pharmacy.compounder["id"])
    assert batch["compounded_by"] == pharmacy.compounder["id"]


# What goes in


async def an_injection_lot(pharmacy: Pharmacy) -> str:
    injection = await pharmacy.add_product(injection_body(pharmacy.id))
    return str((await pharmacy.add_lot(injection, "INJ-1"))["id"])


async def an_esketamine_powder_lot(pharmacy: Pharmacy) -> str:
    body = bulk_body(pharmacy.id, substance="esketamine", ndc="62991-2831-1")
    return str((await pharmacy.add_lot(await pharmacy.add_product(body), "ESK-1"))["id"])


async def another_registrants_bulk_lot(pharmacy: Pharmacy) -> str:
    other_id, other_token = await pharmacy.other_registrant()
    bulk = await create(pharmacy.client, "/v1/products", bulk_body(other_id), other_token)
    lot_body = {"lot_number": "API-77", "expires_on": "2027-06-30"}
    path = f"/v1/products/{bulk['id']}/lots"
    return str((await create(pharmacy.client, path, lot_body, other_token))["id"])


NOT_AN_INGREDIENT: dict[str, Callable[[Pharmacy], Awaitable[str]]] = {
    "an injection's lot": an_injection_lot,
    "esketamine powder for a ketamine troche": an_esketamine_powder_lot,
    "another registrant's bulk lot": another_registrants_bulk_lot,
    "an unknown lot": nobody,
}


@pytest.mark.parametrize("lot", NOT_AN_INGREDIENT.values(), ids=NOT_AN_INGREDIENT)
async def test_an_ingredient_is_a_lot_of_the_registrants_bulk_powder(pharmacy, probe, lot):
    body = pharmacy.batch(ingredients=[{"lot_id": await lot(pharmacy), "quantity": "30"}])
    problem = await refused(pharmacy, probe, body, "invalid-reference")
    assert pointers(problem) == ["#/ingredients/0/lot_id"]


async def test_an_ingredient_lot_expired_before_the_compounding_day_is_refused(
    pharmacy: Pharmacy, probe
):
    expired = await pharmacy.add_bulk_lot("API-60", "1", expires_on="2026-03-01")
    expiring_today = await pharmacy.add_bulk_lot("API-61", "1", expires_on="2026-03-02")

    def from_api_77_and(lot: dict[str, Any]) -> dict[str, Any]:
        # 31 g of the salt, 26,889.4 mg of base: 310 troches of 86.74 mg of base.
        return pharmacy.batch(units="310", ingredients=[
            {"lot_id": pharmacy.bulk_lot["id"], "quantity": "30"},
            {"lot_id": lot["id"], "quantity": "1"},
        ])  # fmt: skip

    problem = await refused(pharmacy, probe, from_api_77_and(expired), "ingredient-lot-expired")
    assert pointers(problem) == ["#/ingredients/1/lot_id"]
    response = await pharmacy.post(BATCHES, from_api_77_and(expiring_today))
    assert response.status_code == 201, response.text
    assert yield_of(response.json()) == ("26889.4", "26889.4", "100")


async def test_each_ingredient_lot_is_named_once(pharmacy, probe):
    lot_id = pharmacy.bulk_lot["id"]
    halves = [{"lot_id": lot_id, "quantity": "15"}, {"lot_id": lot_id, "quantity": "15"}]
    problem = await refused(pharmacy, probe, pharmacy.batch(ingredients=halves), "invalid-input")
    assert pointers(problem) == ["#"]
    batch = await pharmacy.compound(ingredients=[{"lot_id": lot_id, "quantity": "30"}])
    assert [i["quantity"] for i in batch["ingredients"]] == ["30"]


async def test_a_batch_takes_no_more_bulk_than_its_location_holds(pharmacy, probe):
    """The lab holds 100 g: 1,000 troches of 100 mg of the salt take all of it."""
    vault = await create(
        pharmacy.client, f"/v1/registrants/{pharmacy.id}/locations",
        location_body(name="Vault", kind="vault"), pharmacy.admin_token,
    )  # fmt: skip
    everything = [{"lot_id": pharmacy.bulk_lot["id"], "quantity": "100"}]
    one_mg_more = [{"lot_id": pharmacy.bulk_lot["id"], "quantity": "100.001"}]
    for body in (
        pharmacy.batch(units="1000", ingredients=one_mg_more),
        pharmacy.batch(units="1000", ingredients=everything, location_id=vault["id"]),
    ):
        await refused(pharmacy, probe, body, "insufficient-stock", status=409)

    batch = await pharmacy.compound(units="1000", ingredients=everything)
    assert batch["yield_percent"] == "100"
    assert await pharmacy.balance(pharmacy.bulk_lot["id"]) is None  # nothing left to list
    assert await pharmacy.balance(batch["finished_lot_id"]) == "1000"


# What comes out


async def another_registrants_troche(pharmacy: Pharmacy) -> str:
    other_id, other_token = await pharmacy.other_registrant()
    return str(
        (await create(pharmacy.client, "/v1/products", troche_body(other_id), other_token))["id"]
    )


async def an_injection(pharmacy: Pharmacy) -> str:
    return str((await pharmacy.add_product(injection_body(pharmacy.id)))["id"])


async def the_bulk_powder(pharmacy: Pharmacy) -> str:
    return str(pharmacy.bulk["id"])


NOT_A_COMPOUND: dict[str, Callable[[Pharmacy], Awaitable[str]]] = {
    "an injection (no compound code)": an_injection,
    "the bulk powder": the_bulk_powder,
    "another registrant's troche": another_registrants_troche,
    "an unknown product": nobody,
}


@pytest.mark.parametrize("product", NOT_A_COMPOUND.values(), ids=NOT_A_COMPOUND)
async def test_a_batch_makes_a_compound_of_the_registrant(pharmacy, probe, product):
    body = pharmacy.batch(product_id=await product(pharmacy))
    problem = await refused(pharmacy, probe, body, "invalid-reference")
    assert pointers(problem) == ["#/product_id"]


@pytest.mark.parametrize("beyond_use_date", ["2026-03-01", "2026-03-02"])
async def test_the_beyond_use_date_is_after_the_compounding_day(pharmacy, probe, beyond_use_date):
    body = pharmacy.batch(beyond_use_date=beyond_use_date)
    problem = await refused(pharmacy, probe, body, "invalid-input")
    assert pointers(problem) == ["#/beyond_use_date"]
    batch = await pharmacy.compound(beyond_use_date="2026-03-03")
    assert batch["beyond_use_date"] == "2026-03-03"


async def test_troches_are_counted_whole(pharmacy, probe):
    """300.5 troches would be within the yield tolerance (100.167 %): only the count refuses."""
    problem = await refused(pharmacy, probe, pharmacy.batch(units="300.5"), "invalid-input")
    assert pointers(problem) == ["#/units"]
    assert (await pharmacy.compound(units="300"))["units"] == "300"


async def test_the_finished_lot_number_is_new_for_the_product(pharmacy, probe):
    first = await pharmacy.compound(lot_number="T-2026-001")
    again = pharmacy.batch(lot_number="T-2026-001")
    problem = await refused(pharmacy, probe, again, "already-exists", status=409)
    assert pointers(problem) == ["#/lot_number"]
    assert await pharmacy.balance(pharmacy.bulk_lot["id"]) == "70"

    second = await pharmacy.compound(lot_number="T-2026-002")
    assert second["finished_lot_id"] != first["finished_lot_id"]
    assert await pharmacy.balance(pharmacy.bulk_lot["id"]) == "40"


# Permissions


@pytest.mark.parametrize("role", ["clinician", "prescriber"])
async def test_only_pharmacists_and_integrations_compound(pharmacy, probe, role):
    batch = await pharmacy.compound()
    other = pharmacy.make_token([role], [pharmacy.id], sub=f"{role}-1")
    await refused(
        pharmacy, probe, pharmacy.batch(lot_number="T-2026-002"), "permission-denied",
        token=other, subject=f"{role}-1", status=403,
    )  # fmt: skip
    for path in (BATCHES, f"{BATCHES}/{batch['id']}"):
        assert_problem(await pharmacy.get(path, other), 403, "permission-denied")


async def test_a_registrant_the_token_does_not_name_is_not_found(pharmacy, probe):
    batch = await pharmacy.compound()
    _, outsider = await pharmacy.other_registrant()
    await refused(
        pharmacy, probe, pharmacy.batch(lot_number="T-2026-002"), "not-found",
        token=outsider, subject="elsewhere-1", status=404,
    )  # fmt: skip
    assert_problem(await pharmacy.get(f"{BATCHES}/{batch['id']}", outsider), 404, "not-found")
    listed = await pharmacy.get(BATCHES, outsider, registrant_id=pharmacy.id)
    assert_problem(listed, 404, "not-found")
    own = await pharmacy.get(BATCHES, outsider)
    assert (own.status_code, own.json()["items"]) == (200, [])


# Idempotency


async def test_a_batch_needs_an_idempotency_key(pharmacy, probe):
    rows_before = await probe.business_rows()
    keyless = await pharmacy.client.post(
        BATCHES, json=pharmacy.batch(), headers=bearer(pharmacy.token)
    )
    assert_problem(keyless, 428, "precondition-required")
    assert await probe.business_rows() == rows_before
    assert (await pharmacy.compound())["lot_number"] == "T-2026-001"


async def test_a_refusal_for_a_missing_key_is_audited_with_its_caller(pharmacy, probe):
    await refused(
        pharmacy, probe, pharmacy.batch(), "precondition-required", status=428,
        headers=bearer(pharmacy.token),
    )  # fmt: skip


async def test_a_batch_without_a_token_is_unauthenticated(pharmacy, probe):
    await refused(
        pharmacy, probe, pharmacy.batch(), "unauthenticated", status=401, subject=None, headers={}
    )


async def test_a_retried_batch_replays_the_first_and_takes_the_stock_once(pharmacy, probe):
    body = pharmacy.batch()
    headers = bearer(pharmacy.token) | {"Idempotency-Key": "batch-T-2026-001"}
    first = await pharmacy.client.post(BATCHES, json=body, headers=headers)
    again = await pharmacy.client.post(BATCHES, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    rows = await probe.business_rows()
    assert (len(rows["compounding_batches"]), len(rows["compounding_ingredients"])) == (1, 1)
    assert await pharmacy.balance(pharmacy.bulk_lot["id"]) == "70"
    assert await pharmacy.balance(first.json()["finished_lot_id"]) == "300"


# Traceability


async def test_the_batches_of_a_product_list_their_bulk_lots(pharmacy):
    second = await pharmacy.add_bulk_lot("API-78", "50")
    base_troche = await pharmacy.base_troche()
    salt_batch = await pharmacy.compound()
    base_batch = await pharmacy.compound(
        product_id=base_troche["id"], lot_number="TB-2026-001",
        ingredients=[{"lot_id": second["id"], "quantity": "34.587"}],
    )  # fmt: skip

    async def listed(product: dict[str, Any]) -> list[dict[str, Any]]:
        response = await pharmacy.get(BATCHES, product_id=product["id"])
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    assert await listed(pharmacy.troche) == [salt_batch]
    assert await listed(base_troche) == [base_batch]
    [from_bulk] = (await listed(base_troche))[0]["ingredients"]
    assert (from_bulk["lot_id"], from_bulk["quantity"]) == (second["id"], "34.587")


async def test_the_finished_lots_ledger_events_name_the_batch(pharmacy):
    batch = await pharmacy.compound()
    [produced] = await pharmacy.events(lot_id=batch["finished_lot_id"])
    [consumed] = await pharmacy.events(lot_id=pharmacy.bulk_lot["id"], type="compound_consume")
    assert (produced["id"], produced["type"], produced["quantity"], produced["batch_id"]) == (
        batch["produce_event_id"], "compound_produce", "300", batch["id"],
    )  # fmt: skip
    assert (consumed["id"], consumed["quantity"], consumed["batch_id"]) == (
        batch["ingredients"][0]["consume_event_id"], "30", batch["id"],
    )  # fmt: skip
    for event in (produced, consumed):
        assert (event["location_id"], event["occurred_at"]) == (
            pharmacy.lab["id"], "2026-03-02T15:00:00Z",
        )  # fmt: skip
        assert event["performed_by"] == pharmacy.compounder["id"]


REWRITES = {
    "compounding_batches": {
        "UPDATE": "UPDATE compounding_batches SET yield_reason = 'rewritten'",
        "DELETE": "DELETE FROM compounding_batches",
    },
    "compounding_ingredients": {
        "UPDATE": "UPDATE compounding_ingredients SET quantity = 1",
        "DELETE": "DELETE FROM compounding_ingredients",
    },
}


@pytest.mark.parametrize("table", REWRITES)
async def test_batches_and_their_ingredients_are_append_only(pharmacy, probe, table):
    batch = await pharmacy.compound()
    for operation, statement in REWRITES[table].items():
        with pytest.raises(DBAPIError, match=f"{table} is append-only: {operation} refused"):
            async with probe.engine.begin() as connection:
                await connection.exec_driver_sql(statement)
    assert (await pharmacy.get(f"{BATCHES}/{batch['id']}")).json() == batch
