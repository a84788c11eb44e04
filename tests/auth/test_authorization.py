"""Authorisation: what each role may do, and that another registrant's data does not exist.

A role without the permission gets 403; an object of a registrant the token does not name gets
404, whatever the roles. Every refusal writes nothing but its audit row.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.auth.permissions import GRANTS, IntegrationScope, Permission, Role
from tests.conftest import TokenFactory, bearer
from tests.factories import (
    assert_refused,
    create,
    create_registrant,
    injection_body,
    location_body,
    patient_body,
    registrant_body,
    staff_body,
    staff_registration_body,
    troche_body,
)

PERMISSION_DENIED = "urn:csledger:problem:permission-denied"
NOT_FOUND = "urn:csledger:problem:not-found"
CALLER = "caller-1"
Request = tuple[str, str, dict[str, Any] | None]


@dataclass(frozen=True)
class Tenant:
    """A registrant and one object of each kind it owns."""

    registrant: str
    patient: str
    location: str
    staff: str
    product: str
    lot: str


def lot_body() -> dict[str, Any]:
    return {"lot_number": f"LOT-{uuid.uuid4().hex[:8]}", "expires_on": "2027-12-31"}


async def populate(client: httpx.AsyncClient, admin_token: str, token: TokenFactory) -> Tenant:
    registrant = (await create_registrant(client, admin_token))["id"]
    officer = token([Role.compliance_officer], [registrant])
    pharmacist = token([Role.pharmacist], [registrant])
    under = f"/v1/registrants/{registrant}"
    product = (await create(client, "/v1/products", injection_body(registrant), pharmacist))["id"]
    return Tenant(
        registrant=registrant,
        patient=(await create(client, "/v1/patients", patient_body(registrant), pharmacist))["id"],
        location=(await create(client, f"{under}/locations", location_body(), officer))["id"],
        staff=(await create(client, f"{under}/staff", staff_body(), officer))["id"],
        product=product,
        lot=(await create(client, f"/v1/products/{product}/lots", lot_body(), pharmacist))["id"],
    )


@pytest.fixture
async def tenant(client, admin_token, token) -> Tenant:
    return await populate(client, admin_token, token)


@pytest.fixture
async def tenants(client, admin_token, token) -> tuple[Tenant, Tenant]:
    """Mine (the caller's registrant) and theirs (another registrant)."""
    return await populate(client, admin_token, token), await populate(client, admin_token, token)


# 403: roles


def _renamed() -> dict[str, Any]:
    return {"name": location_body()["name"]}


ACTIONS: dict[str, tuple[Permission, Callable[[Tenant], Request]]] = {
    "read registrant": (
        Permission.read_reference,
        lambda t: ("GET", f"/v1/registrants/{t.registrant}", None),
    ),
    "create registrant": (
        Permission.manage_registrants,
        lambda t: ("POST", "/v1/registrants", registrant_body()),
    ),
    "update registrant": (
        Permission.manage_registrants,
        lambda t: ("PATCH", f"/v1/registrants/{t.registrant}", _renamed()),
    ),
    "create location": (
        Permission.manage_locations_staff,
        lambda t: ("POST", f"/v1/registrants/{t.registrant}/locations", location_body()),
    ),
    "update location": (
        Permission.manage_locations_staff,
        lambda t: ("PATCH", f"/v1/registrants/{t.registrant}/locations/{t.location}", _renamed()),
    ),
    "create staff": (
        Permission.manage_locations_staff,
        lambda t: ("POST", f"/v1/registrants/{t.registrant}/staff", staff_body()),
    ),
    "update staff": (
        Permission.manage_locations_staff,
        lambda t: ("PATCH", f"/v1/registrants/{t.registrant}/staff/{t.staff}", _renamed()),
    ),
    "add staff registration": (
        Permission.manage_locations_staff,
        lambda t: (
            "POST",
            f"/v1/registrants/{t.registrant}/staff/{t.staff}/registrations",
            staff_registration_body(),
        ),
    ),
    "create webhook endpoint": (
        Permission.manage_webhooks,
        lambda t: (
            "POST",
            "/v1/webhooks/endpoints",
            {
                "registrant_id": t.registrant,
                "url": "https://ehr.example.com/hooks",
                "event_types": ["ledger.event.dispense"],
            },
        ),
    ),
    "list webhook deliveries": (
        Permission.manage_webhooks,
        lambda t: ("GET", f"/v1/webhooks/deliveries?registrant_id={t.registrant}", None),
    ),
    "create patient": (
        Permission.patients,
        lambda t: ("POST", "/v1/patients", patient_body(t.registrant)),
    ),
    "list patients": (
        Permission.patients,
        lambda t: ("GET", f"/v1/patients?registrant_id={t.registrant}", None),
    ),
    "read patient": (Permission.patients, lambda t: ("GET", f"/v1/patients/{t.patient}", None)),
    "update patient": (
        Permission.patients,
        lambda t: ("PATCH", f"/v1/patients/{t.patient}", {"given_name": "Grace"}),
    ),
    "create product": (
        Permission.inventory,
        lambda t: ("POST", "/v1/products", troche_body(t.registrant)),
    ),
    "create lot": (
        Permission.inventory,
        lambda t: ("POST", f"/v1/products/{t.product}/lots", lot_body()),
    ),
    "post a count": (Permission.counts, lambda t: ("POST", "/v1/ledger/events", _count(t))),
}


def _count(t: Tenant) -> dict[str, Any]:
    """A count of nothing at the tenant's location (a count may be zero)."""
    return {
        "registrant_id": t.registrant, "type": "count", "location_id": t.location,
        "lot_id": t.lot, "quantity": "0", "occurred_at": "2026-03-02T14:00:00Z",
        "count": {"inventory_id": str(uuid.uuid4()), "inventory_kind": "ad_hoc",
                  "taken_at": "close_of_business", "exactness": "exact", "counted_by": t.staff},
    }  # fmt: skip


DENIED_BY_DESIGN = {
    "clinician creates a registrant": (Role.clinician, "create registrant"),
    "compliance officer creates a patient": (Role.compliance_officer, "create patient"),
    "pharmacist creates a location": (Role.pharmacist, "create location"),
    "prescriber posts a count": (Role.prescriber, "post a count"),
}


def as_caller(token_value: str) -> dict[str, str]:
    """Bearer headers and a fresh Idempotency-Key, which a refused write must not leave behind."""
    return bearer(token_value) | {"Idempotency-Key": uuid.uuid4().hex}


async def send(client: httpx.AsyncClient, request: Request, headers: dict[str, str]) -> None:
    """Send ``request``, which must succeed."""
    method, url, body = request
    response = await client.request(method, url, headers=headers, json=body)
    assert response.is_success, f"{method} {url}: {response.text}"


@pytest.mark.parametrize(("role", "action"), DENIED_BY_DESIGN.values(), ids=list(DENIED_BY_DESIGN))
async def test_a_role_without_the_permission_is_denied(client, probe, token, tenant, role, action):
    _, request_to = ACTIONS[action]
    method, url, body = request_to(tenant)
    headers = as_caller(token([role], [tenant.registrant], sub=CALLER))
    await assert_refused(
        client,
        probe,
        method,
        url,
        headers=headers,
        json=body,
        status=403,
        problem=PERMISSION_DENIED,
        subject=CALLER,
    )


@pytest.mark.parametrize(("permission", "request_to"), ACTIONS.values(), ids=list(ACTIONS))
async def test_exactly_the_roles_granted_the_permission_may_act(
    client, probe, token, tenant, permission, request_to, integration_at
):
    """Each role alone, on its own registrant: allowed as ``GRANTS`` says, else 403 (the
    integration configured there with every scope)."""
    await integration_at(tenant.registrant, *IntegrationScope, sub=f"{Role.integration}-1")
    for role in Role:
        subject = f"{role}-1"
        headers = as_caller(token([role], [tenant.registrant], sub=subject))
        if role in GRANTS[permission]:
            await send(client, request_to(tenant), headers)
            continue
        method, url, body = request_to(tenant)
        await assert_refused(
            client,
            probe,
            method,
            url,
            headers=headers,
            json=body,
            status=403,
            problem=PERMISSION_DENIED,
            subject=subject,
        )


# 404: another registrant's data


def _staff(t: Tenant) -> str:
    return f"/v1/registrants/{t.registrant}/staff/{t.staff}"


CROSS_TENANT: dict[str, Callable[[Tenant, Tenant], Request]] = {
    "read registrant": lambda me, t: ("GET", f"/v1/registrants/{t.registrant}", None),
    "read registrant history": lambda me, t: (
        "GET",
        f"/v1/registrants/{t.registrant}/history",
        None,
    ),
    "update registrant": lambda me, t: ("PATCH", f"/v1/registrants/{t.registrant}", _renamed()),
    "list locations": lambda me, t: ("GET", f"/v1/registrants/{t.registrant}/locations", None),
    "create location": lambda me, t: (
        "POST",
        f"/v1/registrants/{t.registrant}/locations",
        location_body(),
    ),
    "read location": lambda me, t: (
        "GET",
        f"/v1/registrants/{t.registrant}/locations/{t.location}",
        None,
    ),
    "read location under my registrant": lambda me, t: (
        "GET",
        f"/v1/registrants/{me.registrant}/locations/{t.location}",
        None,
    ),
    "update location": lambda me, t: (
        "PATCH",
        f"/v1/registrants/{t.registrant}/locations/{t.location}",
        _renamed(),
    ),
    "list staff": lambda me, t: ("GET", f"/v1/registrants/{t.registrant}/staff", None),
    "create staff": lambda me, t: ("POST", f"/v1/registrants/{t.registrant}/staff", staff_body()),
    "read staff": lambda me, t: ("GET", _staff(t), None),
    "read staff under my registrant": lambda me, t: (
        "GET",
        f"/v1/registrants/{me.registrant}/staff/{t.staff}",
        None,
    ),
    "update staff": lambda me, t: ("PATCH", _staff(t), _renamed()),
    "read staff history": lambda me, t: ("GET", f"{_staff(t)}/history", None),
    "list staff registrations": lambda me, t: ("GET", f"{_staff(t)}/registrations", None),
    "add staff registration": lambda me, t: (
        "POST",
        f"{_staff(t)}/registrations",
        staff_registration_body(),
    ),
    "list patients of the registrant": lambda me, t: (
        "GET",
        f"/v1/patients?registrant_id={t.registrant}",
        None,
    ),
    "create patient": lambda me, t: ("POST", "/v1/patients", patient_body(t.registrant)),
    "read patient": lambda me, t: ("GET", f"/v1/patients/{t.patient}", None),
    "read patient history": lambda me, t: ("GET", f"/v1/patients/{t.patient}/history", None),
    "update patient": lambda me, t: ("PATCH", f"/v1/patients/{t.patient}", {"given_name": "Mo"}),
    "list products of the registrant": lambda me, t: (
        "GET",
        f"/v1/products?registrant_id={t.registrant}",
        None,
    ),
    "create product": lambda me, t: ("POST", "/v1/products", troche_body(t.registrant)),
    "read product": lambda me, t: ("GET", f"/v1/products/{t.product}", None),
    "list lots": lambda me, t: ("GET", f"/v1/products/{t.product}/lots", None),
    "create lot": lambda me, t: ("POST", f"/v1/products/{t.product}/lots", lot_body()),
    "read lot": lambda me, t: ("GET", f"/v1/products/{t.product}/lots/{t.lot}", None),
    "read lot under my product": lambda me, t: (
        "GET",
        f"/v1/products/{me.product}/lots/{t.lot}",
        None,
    ),
}


@pytest.mark.parametrize("request_to", CROSS_TENANT.values(), ids=list(CROSS_TENANT))
async def test_another_registrants_data_is_not_found(client, probe, token, tenants, request_to):
    """404 for a token holding every role, which the same request on its own data satisfies."""
    mine, theirs = tenants
    caller = token(list(Role), [mine.registrant], sub=CALLER)
    method, url, body = request_to(mine, theirs)
    await assert_refused(
        client,
        probe,
        method,
        url,
        headers=as_caller(caller),
        json=body,
        status=404,
        problem=NOT_FOUND,
        subject=CALLER,
    )
    await send(client, request_to(mine, mine), as_caller(caller))


LISTS = {
    "registrants": ("/v1/registrants", "registrant"),
    "patients": ("/v1/patients", "patient"),
    "products": ("/v1/products", "product"),
}


@pytest.mark.parametrize(("url", "field"), LISTS.values(), ids=list(LISTS))
async def test_a_list_without_a_filter_shows_only_the_tokens_registrants(
    client, token, tenants, url, field
):
    mine, theirs = tenants

    async def listed(*registrants: str) -> set[str]:
        response = await client.get(url, headers=bearer(token(list(Role), list(registrants))))
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await listed(mine.registrant) == {getattr(mine, field)}
    assert await listed(mine.registrant, theirs.registrant) == {
        getattr(mine, field),
        getattr(theirs, field),
    }
