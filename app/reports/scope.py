"""What a report is about: one registrant (seen by the caller, or 404), and a period of its own
days or an instant, with the header every format prints."""

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.core.errors import FieldError, InvalidInput
from app.core.quantity import format_quantity
from app.ledger.models import LedgerEvent
from app.registry.models import Registrant
from app.registry.service import get_registrant


@dataclass(frozen=True, slots=True)
class Scope:
    registrant: Registrant
    generated_at: datetime
    generated_by: str = ""
    """The name of whoever pulled the report (its header and every printed page say so)."""
    zone: ZoneInfo = field(init=False)
    """The registrant's time zone (looked up once: every row of a report reads it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.registrant.timezone))

    def local(self, instant: datetime) -> datetime:
        """An instant on the registrant's clock (RFC 3339 with its offset when printed)."""
        return instant.astimezone(self.zone)

    def day_bounds(self, first: date, last: date) -> tuple[datetime, datetime]:
        """From the start of ``first`` to the end of ``last``, on the registrant's days."""
        start = datetime.combine(first, datetime.min.time(), self.zone)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def header(self, report: str, **about: Any) -> dict[str, Any]:
        """Who the report is of, what it is and when it was made; ``about`` adds its period
        or instant."""
        registrant = self.registrant
        return {
            "report": report,
            "registrant": {
                "id": str(registrant.id),
                "name": registrant.name,
                "dea_number": registrant.dea_number,
                "address": registrant.address,
                "timezone": registrant.timezone,
            },
            **{key: _plain(value) for key, value in about.items()},
            "generated_at": self.local(self.generated_at).isoformat(),
            "generated_by": self.generated_by,
        }


def _plain(value: Any) -> Any:
    """A head field as JSON holds it: instants RFC 3339, days ISO, ids as strings (a
    driver's own UUID class among them), quantities as the API writes them."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return format_quantity(value) if isinstance(value, Decimal) else value


async def report_scope(
    db: AsyncSession,
    registrant_id: uuid.UUID,
    principal: Principal,
    now: datetime,
    *,
    permission: Permission = Permission.reports,
) -> Scope:
    """The registrant, if the caller sees it (404 otherwise, like any other resource), and
    may pull its reports (or do what ``permission`` names)."""
    registrant = await get_registrant(db, registrant_id, principal=principal)
    principal.require(permission)
    return Scope(registrant, now, principal.name)


def check_period(first: date, last: date) -> None:
    if last < first:
        detail = "the last day is before the first"
        raise InvalidInput(detail, errors=[FieldError(parameter="to", detail=detail)])


S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


def events_of_period(
    query: S, scope: Scope, start: datetime, end: datetime, types: Collection[str]
) -> S:
    """``query`` narrowed to the registrant's events of ``types`` that happened from ``start``
    to before ``end``, in the order they happened."""
    event = LedgerEvent
    return query.where(
        event.registrant_id == scope.registrant.id, event.type.in_(types),
        event.occurred_at >= start, event.occurred_at < end,
    ).order_by(event.occurred_at, event.sequence)  # fmt: skip
