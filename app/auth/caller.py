"""Who acts, when, and under which settings: the one object a request hands a service that
writes (a read needs only the :class:`~app.auth.principal.Principal`, whose view it is)."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.auth.principal import Principal
from app.core.clock import Clock
from app.core.config import Settings


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    now: datetime
    """The request's one instant: every row it writes is stamped with it."""
    settings: Settings
    holding_session_id: uuid.UUID | None = None
    """The clinical session whose workflow this caller acts within, if any: stock enters and
    leaves a session's holding (an ``in_use`` location) only through that session's workflow."""

    @classmethod
    def at(cls, principal: Principal, clock: Clock, settings: Settings) -> "Caller":
        """``principal`` acting now, by ``clock``."""
        return cls(principal=principal, now=clock.now(), settings=settings)

    def reports_record(self, occurred_at: datetime) -> bool:
        """Whether what happened at ``occurred_at``, told now by this caller, is a record (a
        fact reported after it happened: from an integration, or entered late) rather than an
        instruction. A record is stored and flagged when it breaks a rule; an instruction is
        refused (docs/adr/0007-instructions-and-records.md)."""
        late = self.now - occurred_at > timedelta(hours=self.settings.late_entry_window_hours)
        return self.principal.is_integration or late
