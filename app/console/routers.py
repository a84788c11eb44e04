"""The console's routers, one per area, and its assets (mounted by :mod:`app.main`)."""

from app.console import (
    dashboard,
    discrepancies,
    integrity,
    inventories,
    ledger,
    pdmp,
    reports,
    sign_in,
    staff,
)
from app.console.web import HERE

ASSETS = HERE / "static"
CONSOLE_ROUTERS = (sign_in.router, dashboard.router, discrepancies.router, ledger.router,
                   inventories.router, reports.router, pdmp.router, staff.router,
                   integrity.router)  # fmt: skip
