"""A worker killed while the ledger's writer commits a group: the real ``csledger serve`` in a
process of its own, under appends from 32 connections, killed with SIGKILL (no shutdown, no
cleanup). Every append it acknowledged is there, no event is partly written, the chain and the
checkpoint trees verify, and each request retried with its key, once the worker is back, is
replayed or written once."""

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.config import Settings
from tests.conftest import bearer
from tests.ledger.conftest import Clinic
from tests.ledger.support import balance_rows, chain_break, posting_sums, stored_chain
from tests.ledger.test_cli_process import CSLEDGER, ok_lines, run

CONNECTIONS, ACKNOWLEDGED_BEFORE_THE_KILL = 32, 300


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_worker_killed_mid_commit_loses_no_acknowledged_append(
    clinic: Clinic, probe: Any, app_settings: Settings
) -> None:
    sent: dict[str, dict[str, Any]] = {}
    acknowledged: dict[str, dict[str, Any]] = {}
    enough, killed = asyncio.Event(), asyncio.Event()

    with _serving(app_settings) as (server, url):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def keep_appending(connection: int) -> None:
                for n in range(10**6):
                    key = f"crash-{connection}-{n}"
                    sent[key] = _receipt(clinic)
                    try:
                        answer = await http.post("/v1/ledger/events", json=sent[key],
                                                 headers=_headers(clinic, key))  # fmt: skip
                    except httpx.TransportError:
                        assert killed.is_set()
                        return
                    assert answer.status_code == 201, answer.text
                    acknowledged[key] = answer.json()
                    if len(acknowledged) == ACKNOWLEDGED_BEFORE_THE_KILL:
                        enough.set()

            clients = [asyncio.create_task(keep_appending(n)) for n in range(CONNECTIONS)]
            await enough.wait()
            groups, grouped = _groups((await http.get("/metrics")).text)
            killed.set()
            os.kill(server.pid, signal.SIGKILL)
            await asyncio.gather(*clients)
    assert len(sent) - len(acknowledged) == CONNECTIONS  # one in flight on each when killed
    assert grouped > groups  # the process was committing appends in groups

    rid = clinic.registrant.id
    stored = {str(event.id): event for event in await stored_chain(probe.engine, rid)}
    for answer in acknowledged.values():
        event = stored[answer["id"]]
        assert (event.sequence, event.hash) == (answer["sequence"], answer["hash"])
    assert await chain_break(probe.engine, rid) is None
    assert await balance_rows(probe.engine, rid) == await posting_sums(probe.engine, rid)
    assert await _events_without_their_rows(probe) == []
    verified = await run(app_settings, "verify", "--registrant", rid)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ok_lines(verified.stdout) == {rid: len(stored)}

    with _serving(app_settings) as (_, url):  # the worker back: every request retried
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            answers = await asyncio.gather(*(
                http.post("/v1/ledger/events", json=body, headers=_headers(clinic, key))
                for key, body in sent.items()
            ))  # fmt: skip
    retried = dict(zip(sent, answers, strict=True))
    assert {r.status_code for r in retried.values()} == {201}
    for key, answer in acknowledged.items():
        assert retried[key].json() == answer  # replayed, not written again
    after = await stored_chain(probe.engine, rid)
    assert len(after) == len(sent)  # each key's once


def _groups(metrics: str) -> tuple[float, float]:
    """The writer's groups so far, and the appends they held, from ``/metrics``."""
    samples = dict(line.rsplit(" ", 1) for line in metrics.splitlines()
                   if line.startswith("csledger_ledger_group_size_"))  # fmt: skip
    return (float(samples["csledger_ledger_group_size_count"]),
            float(samples["csledger_ledger_group_size_sum"]))  # fmt: skip


def _receipt(clinic: Clinic) -> dict[str, Any]:
    occurred = datetime.now(UTC) - timedelta(minutes=1)
    return clinic.event("receipt", "1", occurred_at=occurred.isoformat())


def _headers(clinic: Clinic, key: str) -> dict[str, str]:
    return bearer(clinic.nurse_token) | {"Idempotency-Key": key}


async def _events_without_their_rows(probe: Any) -> list[str]:
    """Events missing a posting, a Merkle leaf or an outbox message: a partial write."""
    async with probe.engine.connect() as connection:
        found = await connection.execute(text(
            "SELECT e.id::text FROM ledger_events AS e"
            " WHERE NOT EXISTS (SELECT 1 FROM ledger_postings AS p WHERE p.event_id = e.id)"
            " OR NOT EXISTS (SELECT 1 FROM outbox_messages AS o"
            "                WHERE o.payload ->> 'event_id' = e.id::text)"
        ))  # fmt: skip
        return list(found.scalars())


@contextmanager
def _serving(settings: Settings) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``csledger serve`` on the test's database and a free loopback port, one process."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    environment = os.environ | {
        "CSLEDGER_DATABASE_URL": settings.database_url,
        "CSLEDGER_ENVIRONMENT": "test",
        "CSLEDGER_DEVELOPMENT_KEY_DIR": str(settings.development_key_dir),
        "CSLEDGER_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(  # noqa: S603
        [str(CSLEDGER), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            assert server.poll() is None, "csledger serve stopped before it served"
            assert time.monotonic() < deadline, "csledger serve did not start in time"
            time.sleep(0.1)
        yield server, url
    finally:
        server.kill()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
