"""The console's routers, one per area, and its assets (mounted by :mod:`app.main`)."""

from app.console import dashboard, discrepancies, sign_in
from app.console.web import HERE

ASSETS = HERE / "static"
CONSOLE_ROUTERS = (sign_in.router, dashboard.router, discrepancies.router)
