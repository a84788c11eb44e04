"""Who appends to the ledger, when, and under which settings: one append's context."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.auth.principal import Principal
from app.core.clock import Clock
from app.core.config import Settings
from app.ledger.rows import Author
from app.ledger.schemas import EventCreate


@dataclass(frozen=True, slots=True)
class Context:
    """Who appends, when, under which settings."""

    principal: Principal
    now: datetime
    settings: Settings
    holding_session_id: uuid.UUID | None = None
    """The session whose holding (an ``in_use`` location) this write may use: stock enters and
    leaves a holding only through its own session's workflow."""

    @classmethod
    def of(cls, principal: Principal, clock: Clock, settings: Settings) -> "Context":
        return cls(principal=principal, now=clock.now(), settings=settings)

    def reports_record(self, occurred_at: datetime) -> bool:
        """Whether what happened at ``occurred_at``, written now, is a record (a fact reported
        after it happened: from an integration, or entered late) rather than an instruction."""
        late = self.now - occurred_at > timedelta(hours=self.settings.late_entry_window_hours)
        return self.principal.is_integration or late


def is_record(data: EventCreate, context: Context) -> bool:
    """A fact reported after it happened: from an integration, or entered late."""
    return context.reports_record(data.occurred_at)


def author_of(data: EventCreate, context: Context) -> Author:
    """Who writes ``data`` and when, as its event keeps it."""
    return {"recorded_at": context.now, "is_record": is_record(data, context),
            "principal_subject": context.principal.subject,
            "principal_name": context.principal.name}  # fmt: skip
