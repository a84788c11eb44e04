"""A state machine over the append path (SQLite): receipts, takes, moves, reversals and counts
in any order. After every step the balances equal the model and the sum of the postings, none
is below zero, refused writes left nothing, and the chain verifies."""

import asyncio
import itertools
import sqlite3
import uuid
from collections.abc import Coroutine
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.core.config import Environment, Settings
from app.core.db import Database, create_engine
from app.ledger import chain, service
from app.ledger.balances import InsufficientStock
from app.ledger.models import GENESIS_HASH
from app.ledger.rows import EventRow
from app.ledger.schemas import EventCreate
from app.ledger.types import EventType
from tests.conftest import START
from tests.factories import create
from tests.ledger.conftest import SUPPLIER, Clinic
from tests.ledger.support import Key, balance_rows, posting_sums, stored_chain

T = TypeVar("T")
STEPS = settings(max_examples=15, stateful_step_count=20, deadline=None)
AMOUNTS = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(20), places=3)
OCCURRED_AT = START - timedelta(minutes=5)


@dataclass(frozen=True)
class Seed:
    """A SQLite database holding a clinic with two locations and two lots of one product."""

    path: Path
    clinic: Clinic
    lots: tuple[str, str]


@pytest.fixture
async def seed(clinic: Clinic, database_url: str) -> Seed:
    second = await create(
        clinic.client,
        f"/v1/products/{clinic.product.id}/lots",
        {"lot_number": "L-200", "expires_on": "2027-06-30"},
        clinic.nurse_token,
    )
    path = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
    return Seed(path, clinic, (clinic.lot.id, second["id"]))


@dataclass
class Appended:
    id: uuid.UUID
    changes: dict[Key, Decimal]
    reversible: bool


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, seed: Seed, workdir: Path) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        path = workdir / f"{uuid.uuid4().hex}.db"
        with closing(sqlite3.connect(seed.path)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)  # the committed rows, WAL included
        self.settings = Settings(
            environment=Environment.test, database_url=f"sqlite+aiosqlite:///{path}"
        )
        self.database = Database(create_engine(self.settings))
        clinic = seed.clinic
        self.registrant_id = uuid.UUID(clinic.registrant.id)
        self.locations = [uuid.UUID(clinic.vault.id), uuid.UUID(clinic.room.id)]
        self.lots = [uuid.UUID(lot) for lot in seed.lots]
        self.patient_id, self.witness_id = clinic.patient.id, clinic.witness.id
        self.nurse_id = clinic.nurse.id
        self.nurse = self._principal("nurse-1", Role.clinician, Role.pharmacist)
        self.officer = self._principal("officer-1", Role.compliance_officer)
        self.model: dict[Key, Decimal] = {}
        self.appended: list[Appended] = []

    def _principal(self, subject: str, *roles: Role) -> Principal:
        return Principal(subject, subject, frozenset(roles), frozenset({self.registrant_id}))

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self.database.dispose())
        self.loop.close()

    async def _append(self, body: dict[str, Any], principal: Principal) -> EventRow:
        data = EventCreate.model_validate({"registrant_id": self.registrant_id, **body})
        caller = Caller(principal=principal, now=START, settings=self.settings)
        async with self.database.transaction() as session:
            return await service.append(session, data, caller)

    def expect(
        self, body: dict[str, Any], changes: dict[Key, Decimal], principal: Principal | None = None
    ) -> bool:
        """Append, expecting a refusal exactly when the model would go below zero."""
        after = {key: self.model.get(key, Decimal(0)) + delta for key, delta in changes.items()}
        if any(quantity < 0 for quantity in after.values()):
            with pytest.raises(InsufficientStock):
                self.run(self._append(body, principal or self.nurse))
            return False
        row = self.run(self._append(body, principal or self.nurse))
        self.model |= after
        reversible = row["type"] != EventType.reversal
        self.appended.append(Appended(row["id"], changes, reversible))
        return True

    def movement(self, type_: str, at: int, lot: int, quantity: Decimal, **more: Any) -> Any:
        return {
            "type": type_,
            "location_id": self.locations[at],
            "lot_id": self.lots[lot],
            "quantity": quantity,
            "occurred_at": OCCURRED_AT,
            **more,
        }

    def key(self, at: int, lot: int) -> Key:
        return self.locations[at], self.lots[lot]

    def place(self, data: st.DataObject) -> tuple[int, int]:
        """(location, lot) indexes, mostly where there is stock to take."""
        anywhere = st.tuples(st.integers(0, 1), st.integers(0, 1))
        stocked = [
            p for p in itertools.product((0, 1), (0, 1)) if self.model.get(self.key(*p), 0) > 0
        ]
        return data.draw(st.one_of(st.sampled_from(stocked), anywhere) if stocked else anywhere)

    def amount(self, data: st.DataObject, at: int, lot: int) -> Decimal:
        """Part of the balance, all of it, a thousandth more, or anything."""
        held = self.model.get(self.key(at, lot), Decimal(0))
        edges = st.sampled_from(sorted({held, held + Decimal("0.001")} - {Decimal(0)}))
        part = st.decimals(
            min_value=Decimal("0.001"), max_value=max(held, Decimal("0.001")), places=3
        )
        return data.draw(st.one_of(part, edges, AMOUNTS))

    @initialize(quantities=st.lists(AMOUNTS, min_size=4, max_size=4))
    def stock_everywhere(self, quantities: list[Decimal]) -> None:
        for (at, lot), quantity in zip(itertools.product((0, 1), (0, 1)), quantities, strict=True):
            self.receipt(at, lot, quantity)

    @rule(at=st.integers(0, 1), lot=st.integers(0, 1), quantity=AMOUNTS)
    def receipt(self, at: int, lot: int, quantity: Decimal) -> None:
        body = self.movement("receipt", at, lot, quantity, counterparty=SUPPLIER)
        self.expect(body, {self.key(at, lot): quantity})

    @rule(
        type_=st.sampled_from(["administer", "dispense", "waste", "transfer_out"]),
        data=st.data(),
    )
    def take(self, type_: str, data: st.DataObject) -> None:
        needs: dict[str, dict[str, Any]] = {
            "administer": {"patient_id": self.patient_id},
            "dispense": {"patient_id": self.patient_id},
            "waste": {"witness_ids": [self.witness_id]},
            "transfer_out": {"counterparty": SUPPLIER},
        }
        at, lot = self.place(data)
        quantity = self.amount(data, at, lot)
        body = self.movement(type_, at, lot, quantity, **needs[type_])
        self.expect(body, {self.key(at, lot): -quantity})

    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        at, lot = self.place(data)
        quantity = self.amount(data, at, lot)
        body = self.movement("move", at, lot, quantity, to_location_id=self.locations[1 - at])
        self.expect(body, {self.key(at, lot): -quantity, self.key(1 - at, lot): quantity})

    @rule(at=st.integers(0, 1), lot=st.integers(0, 1), quantity=st.just(Decimal(0)) | AMOUNTS)
    def count(self, at: int, lot: int, quantity: Decimal) -> None:
        details = {
            "inventory_id": uuid.UUID(int=1),
            "inventory_kind": "ad_hoc",
            "taken_at": "close_of_business",
            "exactness": "exact",
            "counted_by": self.nurse_id,
        }
        self.expect(self.movement("count", at, lot, quantity, count=details), {})

    @precondition(lambda self: any(event.reversible for event in self.appended))
    @rule(data=st.data())
    def reversal(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from([e for e in self.appended if e.reversible]))
        body = {
            "type": "reversal",
            "reverses_event_id": target.id,
            "reason": "entered in error",
            "occurred_at": START,
        }
        undo = {key: -delta for key, delta in target.changes.items()}
        if self.expect(body, undo, self.officer):
            target.reversible = False

    @invariant()
    def the_ledger_agrees_with_the_model(self) -> None:
        engine, rid = self.database.engine, self.registrant_id
        balances = self.run(balance_rows(engine, rid))
        assert balances == self.model
        assert self.run(posting_sums(engine, rid)) == self.model
        assert all(quantity >= 0 for quantity in balances.values())
        stored = self.run(stored_chain(engine, rid))
        assert [event.id for event in stored] == [event.id for event in self.appended]
        assert chain.first_break(stored, genesis=GENESIS_HASH) is None


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_balances_follow_the_events_and_the_chain_verifies(seed, tmp_path):
    class OnTheSeed(LedgerMachine):
        def __init__(self) -> None:
            super().__init__(seed, tmp_path)

    run_state_machine_as_test(OnTheSeed, settings=STEPS)
