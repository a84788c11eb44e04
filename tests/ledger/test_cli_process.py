"""``csledger verify`` and ``csledger export`` as a person runs them: the installed executable in
a fresh process, which has imported only what the command imports.

A test process has imported the whole app, so a column whose type depends on another module
being imported (a foreign key's, for one) looks right here and wrong in a bare command. These
tests run the real command, on the demo data and on a ledger holding every type of event.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.core.config import Settings
from app.ledger.types import EventType
from tests.conftest import START, TokenFactory, bearer
from tests.factories import create, staff_body
from tests.ledger.conftest import Clinic, open_clinic
from tests.ledger.support import appended

CSLEDGER = Path(sys.executable).with_name("csledger")
OK_LINE = re.compile(
    r"^(?P<registrant>[0-9a-f-]{36}): ok \((?P<events>\d+) events, \d+ checkpoints\)$"
)


def csledger(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``csledger`` executable against the test's database, in a process of its own."""
    environment = os.environ | {
        "CSLEDGER_DATABASE_URL": settings.database_url,
        "CSLEDGER_ENVIRONMENT": "test",
        "CSLEDGER_DEVELOPMENT_KEY_DIR": str(settings.development_key_dir),
    }
    return subprocess.run(  # noqa: S603
        [str(CSLEDGER), *args], env=environment, capture_output=True, text=True, timeout=120
    )


async def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(csledger, settings, *args)


def ok_lines(output: str) -> dict[str, int]:
    """Registrant id -> events, from verify's lines; fails on any line that is not ``ok``."""
    found = {}
    for line in output.splitlines():
        matched = OK_LINE.match(line)
        assert matched, f"not an ok line: {line!r} in\n{output}"
        found[matched["registrant"]] = int(matched["events"])
    return found


async def verified_by_the_command(settings: Settings, registrant_ids: list[str]) -> None:
    """``verify`` of the database, then ``export`` and ``verify --file --keys`` of each
    registrant: every answer ``ok``, with as many events in the file as in the database."""
    checkpointed = await run(settings, "checkpoint")
    assert checkpointed.returncode == 0, checkpointed.stderr
    whole = await run(settings, "verify")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    events = ok_lines(whole.stdout)
    assert sorted(events) == sorted(registrant_ids)
    jwks = settings.development_key_dir.parent / "jwks.json"
    jwks.write_text(json.dumps({"keys": _published_keys(settings)}))
    for registrant_id in registrant_ids:
        export = settings.development_key_dir.parent / f"{registrant_id}.jsonl"
        exported = await run(
            settings, "export", "--registrant", registrant_id, "--output", str(export)
        )
        assert exported.returncode == 0, exported.stderr
        offline = await run(settings, "verify", "--file", str(export), "--keys", str(jwks))
        assert offline.returncode == 0, offline.stdout + offline.stderr
        assert ok_lines(offline.stdout) == {registrant_id: events[registrant_id]}


def _published_keys(settings: Settings) -> list[dict[str, str]]:
    from app.ledger import keys

    return keys.published_keys(settings)


async def tamper(probe: Any, dialect: str, registrant_id: str, sequence: int) -> str:
    """Change the quantity of one stored event behind the service's back; its id."""
    async with probe.engine.begin() as connection:
        if dialect == "sqlite":
            await connection.execute(text("DROP TRIGGER ledger_events_no_update"))
        else:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        found = await connection.execute(
            text(
                "UPDATE ledger_events SET quantity = quantity + 1000 "
                "WHERE registrant_id = :registrant AND sequence = :sequence RETURNING id"
            ),
            {"registrant": registrant_id.replace("-", "") if dialect == "sqlite" else registrant_id,
             "sequence": sequence},
        )  # fmt: skip
        return str(found.scalar_one())


async def assert_tamper_named(
    settings: Settings, probe: Any, dialect: str, tampered: str, untouched: list[str]
) -> None:
    event_id = await tamper(probe, dialect, tampered, sequence=2)
    whole = await run(settings, "verify")
    assert whole.returncode == 1, whole.stdout
    lines = dict(line.split(": ", 1) for line in whole.stdout.splitlines())
    assert (
        lines[tampered]
        == f"FAILED at 2 (event {uuid.UUID(event_id)}): hash does not match the event's content"
    )
    for registrant_id in untouched:
        assert lines[registrant_id].startswith("ok (")


# The demo


@pytest.fixture
async def demo_registrants(app_settings: Settings) -> list[str]:
    loaded = await run(app_settings, "demo")
    assert loaded.returncode == 0, loaded.stderr
    return re.findall(r": ([0-9a-f-]{36})$", loaded.stdout, flags=re.MULTILINE)


async def test_the_demo_verifies_from_a_fresh_process(
    app_settings, demo_registrants, probe, dialect
):
    assert len(demo_registrants) == 2
    await verified_by_the_command(app_settings, demo_registrants)
    clinic, pharmacy = demo_registrants
    await assert_tamper_named(app_settings, probe, dialect, clinic, untouched=[pharmacy])


# Every type of event


async def every_type_of_event(a: Clinic, b: Clinic, token: TokenFactory, admin_token: str) -> None:
    """One event of each type at ``a`` (a transfer_in at ``b``), written through the API."""
    registrants = [a.registrant.id, b.registrant.id]
    anyone = token(["clinician", "pharmacist"], registrants, sub="nurse-1", name="Nora Nurse")
    officer = await _officer(a, token, admin_token)
    second = await create(
        a.client, f"/v1/registrants/{a.registrant.id}/staff",
        staff_body(role="nurse", subject="nurse-3", name="Tess Third"), admin_token,
    )  # fmt: skip
    loss = {"discovered_at": START.isoformat(), "kind": "other"}
    at_room = {"location_id": a.room.id}
    await appended(a, a.event("receipt", "40"), anyone)
    sent = await appended(a, a.event("transfer_out", "2", counterparty=_addressed_to(b)), anyone)
    for body in [
        b.event("transfer_in", "2", transfer_event_id=sent["id"]),
        a.event("move", "10", to_location_id=a.room.id),
        a.event("administer", "1", patient_id=a.patient.id, **at_room),
        a.event("waste", "0.5", witness_ids=[a.witness.id], **at_room),
        a.event("return_to_stock", "1", to_location_id=a.vault.id, **at_room),
        a.event("dispense", "1", patient_id=a.patient.id),
        a.event("breakage", "1", witness_ids=[a.witness.id]),
        a.event("loss", "1", loss=loss),
        a.event("theft", "1", loss=loss | {"kind": "theft"}),
        a.event("destroy", "1", witness_ids=[a.witness.id, second["id"]], destruction=_DESTRUCTION),
        a.event("compound_consume", "1"),
        a.event("compound_produce", "1"),
        a.event("count", "20", count=_count(a)),
    ]:
        await appended(b if body["registrant_id"] == b.registrant.id else a, body, anyone)
    await appended(
        a, a.event("adjust", "1", adjust_direction="increase", reason="vial found"), officer
    )
    twice = await appended(a, a.event("receipt", "1"), anyone)
    reversal = {"registrant_id": a.registrant.id, "type": "reversal", "reason": "entered twice",
                "reverses_event_id": twice["id"], "occurred_at": START.isoformat()}  # fmt: skip
    await appended(a, reversal, officer)


_DESTRUCTION = {"method": "incineration", "place": "reverse distributor", "full_packages": 0,
                "partial_packages": 1}  # fmt: skip


def _count(clinic: Clinic) -> dict[str, str]:
    return {"inventory_id": str(uuid.uuid4()), "inventory_kind": "ad_hoc",
            "taken_at": "close_of_business", "exactness": "exact",
            "counted_by": clinic.witness.id}  # fmt: skip


def _addressed_to(clinic: Clinic) -> dict[str, Any]:
    registrant = clinic.registrant
    return {"name": registrant.name, "address": registrant.address,
            "dea_number": registrant.dea_number}  # fmt: skip


async def _officer(clinic: Clinic, token: TokenFactory, admin_token: str) -> str:
    rid, name = clinic.registrant.id, "Olive Officer"
    officer = staff_body(role="compliance_officer", subject="officer-1", name=name)
    await create(clinic.client, f"/v1/registrants/{rid}/staff", officer, admin_token)
    return token(["compliance_officer"], [rid], sub="officer-1", name=name)


async def stored_types(client: Any, token_value: str, registrant_ids: list[str]) -> set[str]:
    found = set()
    for registrant_id in registrant_ids:
        response = await client.get(
            "/v1/ledger/events", params={"registrant_id": registrant_id, "limit": "500"},
            headers=bearer(token_value),
        )  # fmt: skip
        assert response.status_code == 200, response.text
        found |= {event["type"] for event in response.json()["items"]}
    return found


async def test_every_type_of_event_verifies_from_a_fresh_process(
    client, admin_token, token, app_settings, probe, dialect
):
    a = await open_clinic(client, admin_token, token, "Hill Country Ketamine Clinic")
    b = await open_clinic(client, admin_token, token, "Lone Star Ketamine Clinic")
    await every_type_of_event(a, b, token, admin_token)
    registrants = [a.registrant.id, b.registrant.id]
    reader = token(["compliance_officer"], registrants, sub="reader", name="Reader")
    assert await stored_types(client, reader, registrants) == set(EventType)

    await verified_by_the_command(app_settings, registrants)
    await assert_tamper_named(
        app_settings, probe, dialect, a.registrant.id, untouched=[b.registrant.id]
    )


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
async def test_verify_names_what_it_cannot_check(app_settings, demo_registrants):
    stranger = str(uuid.uuid4())
    unknown = await run(app_settings, "verify", "--registrant", stranger)
    assert (unknown.returncode, unknown.stdout) == (1, f"{stranger}: FAILED: no such registrant\n")
    malformed = await run(app_settings, "verify", "--registrant", "vault-1")
    assert malformed.returncode == 2
    assert "'vault-1' is not a registrant id" in malformed.stderr
    assert "Traceback" not in malformed.stderr
