"""A real csledger, served by uvicorn on a free loopback port in a thread of its own, on the
test's SQLite database with the demo loaded: what an integrator's client or a fuzzer talks to,
over HTTP, on the service's own event loop."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from app.core.clock import SystemClock
from app.core.config import Settings
from app.core.db import Database, create_engine
from app.demo import DemoRegistrants, load_demo
from app.main import create_app
from tests.conftest import blocking

_STARTUP_SECONDS = 20


@dataclass(frozen=True)
class Served:
    url: str
    demo: DemoRegistrants


async def _load_demo(settings: Settings) -> DemoRegistrants:
    database = Database(create_engine(settings))
    try:
        result = await load_demo(database, SystemClock(), settings)
    finally:
        await database.dispose()
    assert result is not None, "the test's database already held registrants"
    return result.registrants


@contextmanager
def serving(settings: Settings) -> Iterator[Served]:
    """The service on ``settings``' database, with the demo loaded, until the block ends."""
    demo = blocking(_load_demo(settings))
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="csledger-served", daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_SECONDS
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.05)
    [listening] = [socket for found in server.servers for socket in found.sockets]
    port = listening.getsockname()[1]
    try:
        yield Served(url=f"http://127.0.0.1:{port}", demo=demo)
    finally:
        server.should_exit = True
        thread.join(timeout=_STARTUP_SECONDS)
