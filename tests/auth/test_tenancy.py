"""Tenancy rests in the query: for every table of a registrant's data, a read by id or a
listing for one registrant's caller never returns another registrant's row, and returns its
own. Walked over every model, on the demo's clinic and pharmacy (with what the audit walk
adds: a FHIR sender and record, a webhook endpoint and delivery, a PDMP submission)."""

import ast
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.permissions import Role
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core.db import Base
from app.core.errors import NotFound
from app.core.tenancy import find
from tests.audit.test_attribution import demo_world

APP = Path(__file__).resolve().parents[2] / "app"

UNWALKED = {
    "discrepancy_assignments": "made only by an officer assigning a discrepancy "
    "(tests/reconciliation/test_casework.py)",
    "discrepancy_notes": "made only by an officer's note on a discrepancy "
    "(tests/reconciliation/test_casework.py)",
    "fhir_code_mappings": "made only by an officer's mapping (tests/integrations/fhir)",
    "pdmp_responses": "made only when a state answers a submission (tests/reports)",
    "supplier_invoices": "made only by a file of suppliers' invoices "
    "(tests/ledger/test_supplier_invoices.py)",
    "supplier_invoice_lines": "made only by a file of suppliers' invoices "
    "(tests/ledger/test_supplier_invoices.py)",
    "session_authorizations": "made only by a prescriber authorizing a nurse's step "
    "(tests/clinical/test_session_authorizations.py)",
}
"""Tables of registrant data the demo world holds no row of, and where their rows are made;
their reads go through the same two functions the walk proves."""


def tenant_models() -> list[type[Any]]:
    """Every mapped class whose table names a registrant."""
    return sorted((mapper.class_ for mapper in Base.registry.mappers
                   if "registrant_id" in mapper.local_table.columns),
                  key=lambda model: model.__tablename__)  # fmt: skip


def caller(registrant_id: uuid.UUID) -> Principal:
    return Principal(subject="walker", name="Walker", roles=frozenset({Role.compliance_officer}),
                     registrant_ids=frozenset({registrant_id}))  # fmt: skip


async def test_no_read_returns_another_registrants_row(app, client, admin_token):
    world = await demo_world(app, client, admin_token)
    other = {world.clinic_id: world.pharmacy_id, world.pharmacy_id: world.clinic_id}
    walked, empty = [], []
    async with app.state.database.session(write=False) as session:
        for model in tenant_models():
            row = await session.scalar(select(model).where(model.registrant_id.in_(other)))
            if row is None:
                empty.append(model.__tablename__)
                continue
            owner, stranger = row.registrant_id, other[row.registrant_id]
            listing = within_registrants(select(model), model.registrant_id, caller(stranger), None)
            listed = await session.scalars(listing)
            assert all(found.registrant_id == stranger for found in listed), model.__tablename__
            if "id" not in model.__table__.columns:
                continue
            assert await find(session, model, row.id, (stranger,)) is None, model.__tablename__
            with pytest.raises(NotFound):
                await get_readable(session, model, row.id, caller(stranger), what="row")
            own = caller(owner)
            assert await get_readable(session, model, row.id, own, what="row") is row
            assert list(own.touched) == [owner]
            walked.append(model.__tablename__)
    assert set(empty) == set(UNWALKED), "UNWALKED names exactly the tables the world lacks"
    assert {"ledger_events", "patients", "prescriptions", "fhir_resources"} <= set(walked)


def test_only_the_tenancy_modules_ask_whose_a_row_is():
    """A service asks ``get_readable`` or ``find`` for a row; it never compares a row's
    registrant with the caller's itself (``Principal.sees`` on a row), which is how another
    registrant's row would slip through where someone forgot to."""
    asked = []
    for path in APP.rglob("*.py"):
        if path.parent.name == "auth":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "sees"):  # fmt: skip
                argument = ast.unparse(node.args[0]) if node.args else ""
                if argument.endswith(".registrant_id") and not argument.startswith(("e.", "data.")):
                    asked.append(f"{path.relative_to(APP)}: sees({argument})")
    assert asked == []
