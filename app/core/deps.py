"""Request-scoped dependencies: the unit of work, the clock, the settings."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed once after the endpoint returns without error.

    Declared with ``scope="function"`` so the commit happens before the response is sent: a
    client never sees 201 for a change that failed to commit.
    """
    database: Database = request.app.state.database
    write = request.method not in _READ_METHODS
    async with database.session(write=write) as session:
        yield session
        if write:
            await session.commit()


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
