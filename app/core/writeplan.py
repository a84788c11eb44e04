"""The write plan of a unit of work: writes left to go last, sent in one round trip with what
the unit of work writes when it commits (docs/adr/0003-deferred-writes.md).

On PostgreSQL an append may leave its statement parts here instead of sending them: the edge
sends them with the stored idempotent response and the audit row, one round trip fewer while
the writer holds its chain head and balance locks. That is safe only if the unit of work reads
nothing after planning: a read would not see the planned rows, and a refusal they carry (too
little stock) would come after the code that read. So the rule is checked here, where the plan
lives: once parts are planned, any statement the session executes before the plan is taken
raises :class:`PlannedWritesPending` (a programming error, never a client's).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from app.core.bulk import Part

_KEY = "write_plan"
"""Where a session keeps its plan (``Session.info``)."""


class PlannedWritesPending(RuntimeError):
    """A statement was executed while planned writes waited: it could not see them."""


@dataclass(slots=True)
class WritePlan:
    """The statement parts planned to go last, in the order planned."""

    parts: list[Part] = field(default_factory=list)


def plan(session: AsyncSession, parts: Sequence[Part]) -> None:
    """Leave ``parts`` for the unit of work to send last (:func:`take`); nothing may be
    executed on ``session`` until then."""
    found: WritePlan = session.info.setdefault(_KEY, WritePlan())
    found.parts.extend(parts)


def take(session: AsyncSession) -> list[Part]:
    """The parts planned in ``session``, now the caller's to send (the plan is empty again)."""
    found: WritePlan | None = session.info.get(_KEY)
    if found is None:
        return []
    parts, found.parts = found.parts, []
    return parts


@event.listens_for(Session, "do_orm_execute")
def _nothing_after_planning(state: ORMExecuteState) -> None:
    """Every statement a session executes passes here: refused while planned parts wait."""
    found: WritePlan | None = state.session.info.get(_KEY)
    if found is not None and found.parts:
        raise PlannedWritesPending(
            f"{len(found.parts)} planned write(s) wait to be sent last; this unit of work "
            "must read and send nothing before they go (app/core/writeplan.py)"
        )
