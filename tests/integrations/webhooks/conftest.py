"""A clinic, a receiver on loopback, and endpoints subscribed to it."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.clock import FrozenClock
from app.worker import Worker
from tests.conftest import bearer
from tests.factories import create
from tests.integrations.webhooks.receiver import Receiver
from tests.ledger.conftest import Clinic, open_clinic


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.start()
    yield running
    running.stop()


@dataclass
class Hooks:
    clinic: Clinic
    client: httpx.AsyncClient
    admin_token: str
    receiver: Receiver
    app: Any
    clock: FrozenClock

    async def endpoint(self, *event_types: str, **overrides: Any) -> tuple[dict[str, Any], str]:
        """A new endpoint at a fresh receiver path; returns it and that path's name."""
        name = uuid.uuid4().hex
        body = {"registrant_id": self.clinic.registrant.id, "url": self.receiver.url(name),
                "event_types": list(event_types or ["ledger.event.receipt"])}  # fmt: skip
        body |= overrides
        made = await create(self.client, "/v1/webhooks/endpoints", body, self.admin_token)
        self.receiver.secrets[name] = [made["secret"]]
        return made, name

    async def receipt(self, quantity: str = "10") -> dict[str, Any]:
        response = await self.clinic.post(self.clinic.event("receipt", quantity))
        assert response.status_code == 201, response.text
        event: dict[str, Any] = response.json()
        return event

    async def work(self) -> int:
        worker = Worker(self.app.state.database, self.app.state.settings, self.clock, periodic=())
        return await worker.run_until_idle()

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params, headers=bearer(self.admin_token))
        assert response.status_code == 200, response.text
        return response.json()

    async def deliveries(self, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
        page = await self.get("/v1/webhooks/deliveries", endpoint_id=endpoint["id"], limit=500)
        items: list[dict[str, Any]] = page["items"]
        return items


@pytest.fixture
async def hooks(client, admin_token, token, receiver, app, clock) -> Hooks:
    clinic = await open_clinic(client, admin_token, token)
    return Hooks(clinic, client, admin_token, receiver, app, clock)
