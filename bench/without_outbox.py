"""The service with the ledger's outbox rows left out, for one measurement only: what the
outbox adds to an append (the same statement, one part fewer). Never a way to run it."""

from typing import Any

from fastapi import FastAPI

from app.ledger import writes
from app.main import create_app_from_environment

_flush = writes.PendingWrites.flush


async def _flush_without_messages(self: Any) -> None:
    self._messages = []
    await _flush(self)


def create_app() -> FastAPI:
    writes.PendingWrites.flush = _flush_without_messages  # type: ignore[method-assign]
    return create_app_from_environment()
