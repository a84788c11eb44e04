"""Development sign-in links: ``make run`` prints one, and it signs a browser in once.

Outside production only. The link carries a random ticket; the database keeps its hash with
the claims it grants, until it is used or ``console_sign_in_link_minutes`` pass.
"""

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from app.console import signing
from app.console.web import PREFIX
from app.core.config import Settings
from app.core.db import Database

KIND = "link"


async def mint(
    database: Database,
    settings: Settings,
    claims: dict[str, Any],
    *,
    now: datetime,
    return_to: str = f"{PREFIX}/",
) -> str:
    """The path (``/console/sign-in/link?ticket=...``) signing a browser in once as
    ``claims``."""
    if settings.is_production:
        raise RuntimeError("sign-in links are not made in production")
    lifetime = timedelta(minutes=settings.console_sign_in_link_minutes)
    async with database.transaction() as db:
        ticket = await signing.begin_sign_in(
            db, kind=KIND, payload=claims, return_to=return_to, now=now, lifetime=lifetime
        )
    return f"{PREFIX}/sign-in/link?ticket={quote(ticket)}"
