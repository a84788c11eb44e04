"""The service with the ledger's outbox rows left out, for one measurement only: what the
outbox adds to an append (the same statement, one part fewer). Never a way to run it."""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from app.core.bulk import Part
from app.ledger import writes
from app.main import create_app_from_environment

_flush = writes.PendingWrites.flush


async def _flush_without_messages(self: Any, with_parts: Sequence[Part] = ()) -> None:
    self._messages = []
    await _flush(self, with_parts)


def create_app() -> FastAPI:
    writes.PendingWrites.flush = _flush_without_messages  # type: ignore[method-assign]
    return create_app_from_environment()
