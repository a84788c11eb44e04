"""Request-scoped dependencies: the unit of work's session, the clock, the settings.

Each is ``async``: FastAPI runs a plain ``def`` dependency in a thread pool, a thread hop per
dependency per request for what is an attribute read.
"""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.edge.answers import answering


@answering(503)
async def request_session(request: Request) -> AsyncSession:
    """The session the edge (``UnitOfWorkRoute``) opened for this request."""
    session: AsyncSession = request.state.session
    return session


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(request_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
