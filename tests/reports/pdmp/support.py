"""What the PDMP tests do as a pharmacy's staff: preview a day, submit it, read a submission's
file, record the state's response; and fill a prescription on a day."""

import itertools
from datetime import date, timedelta
from typing import Any

import httpx

from tests.conftest import bearer
from tests.pharmacy.dispensary import Dispensary

PREVIEW = "/v1/reports/pdmp"
SUBMISSIONS = "/v1/pdmp/submissions"
OUTSTANDING = "/v1/pdmp/outstanding-days"
_KEYS = itertools.count(1)


def officer(dispensary: Dispensary) -> str:
    return dispensary.make_token(["compliance_officer"], [dispensary.id], sub="officer-rx",
                                 name="Olive Officer")  # fmt: skip


async def preview(dispensary: Dispensary, day: str, token: str | None = None) -> httpx.Response:
    return await dispensary.client.get(PREVIEW, params={"registrant_id": dispensary.id,
                                                        "date": day},
                                       headers=bearer(token or officer(dispensary)))  # fmt: skip


async def submit(
    dispensary: Dispensary, day: str, token: str | None = None, **body: Any
) -> httpx.Response:
    return await dispensary.client.post(
        SUBMISSIONS, json={"registrant_id": dispensary.id, "report_date": day} | body,
        headers=bearer(token or officer(dispensary)) | {"Idempotency-Key": f"pdmp-{next(_KEYS)}"},
    )  # fmt: skip


async def submitted(dispensary: Dispensary, day: str, **body: Any) -> dict[str, Any]:
    response = await submit(dispensary, day, **body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def file_of(dispensary: Dispensary, submission: dict[str, Any]) -> httpx.Response:
    return await dispensary.client.get(submission["file_url"],
                                       headers=bearer(officer(dispensary)))  # fmt: skip


async def respond(
    dispensary: Dispensary, submission_id: str, token: str | None = None, **body: Any
) -> httpx.Response:
    return await dispensary.client.post(
        f"{SUBMISSIONS}/{submission_id}/responses", json=body,
        headers=bearer(token or officer(dispensary)) | {"Idempotency-Key": f"pdmp-{next(_KEYS)}"},
    )  # fmt: skip


REJECTED: dict[str, Any] = {"outcome": "rejected", "errors": [
    {"code": "E042", "element": "PAT18", "rx_number": "RX-000001",
     "message": "Date of birth is in the future"},
]}  # fmt: skip


async def filled(dispensary: Dispensary, day: date, **fill: str) -> dict[str, Any]:
    """A prescription filled on ``day``; the clock then stands on the next day (a day is
    reported once it has ended)."""
    rx = await dispensary.receive()
    response = await dispensary.fill(rx, dispensary.fill_body(dispensary.on(day), **fill))
    assert response.status_code == 201, response.text
    dispensary.on(day + timedelta(days=1))
    return rx | {"fill": response.json()["fills"][-1]}
