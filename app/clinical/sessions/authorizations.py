"""Who may override a session rule, and how a prescriber authorizes a clinician's step
(docs/domain.md#override-authorization).

A step breaking a session rule is an instruction refused unless overridden
(docs/adr/0007-instructions-and-records.md). A prescriber overrides their own step with
``override_reason``. A clinician who may not override asks a prescriber first: the prescriber
authorizes, with their own token, the one step (of a session, or scheduling under a plan), the
rules it may break and why, for the clinician who takes it; the clinician then takes the step
with the authorization's id, and is recorded as who took it, beside who authorized it. Nothing
moves before the authorization, so a dose beyond the plan is never given first and excused
after; and the prescriber is never recorded as giving what a nurse gave.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.catalog.names import Names
from app.clinical.models import TreatmentPlan
from app.clinical.sessions import rules
from app.clinical.sessions.authorization_schemas import (
    AuthorizationCreate,
    AuthorizationOut,
    AuthorizedStep,
    Overridable,
)
from app.clinical.sessions.models import SessionAuthorization, TreatmentSession
from app.clinical.sessions.rules import SessionRule
from app.clinical.sessions.types import SessionStatus
from app.core.db import where_given
from app.core.errors import AppError, Conflict, InvalidInput, PermissionDenied
from app.core.tenancy import invalid, referenced
from app.registry.models import Staff
from app.registry.people import acting_staff, staff_of_subject
from app.registry.service import get_registrant

_ENDED = frozenset({SessionStatus.discharged, SessionStatus.aborted})
_POINTER = "#/override_authorization_id"


class AuthorizationUsed(Conflict):
    slug = "authorization-used"
    title = "Authorization used already"
    description = (
        "A prescriber's authorization allows one step, and another step used it: ask the "
        "prescriber for a new one."
    )


class AuthorizationNotUsable(AppError):
    slug = "authorization-not-usable"
    status = 422
    title = "Authorization does not allow this step"
    description = (
        "The authorization is for another step, session, plan or clinician, has expired, was "
        "given after the step, or does not cover every rule the step breaks (broken_rules)."
    )


# Authorizing


async def authorize(
    db: AsyncSession, data: AuthorizationCreate, caller: Caller
) -> SessionAuthorization:
    """The calling prescriber authorizes ``data.performer_id`` to take one step breaking
    ``data.rules``."""
    principal = caller.principal
    registrant = await get_registrant(db, data.registrant_id, principal=principal)
    principal.require(Permission.clinical_plans)
    rid = registrant.id
    authorizer = await acting_staff(db, registrant_id=rid, named=None, principal=principal,
                                    pointer="#")  # fmt: skip
    if data.plan_id is not None:
        await referenced(db, TreatmentPlan, data.plan_id, registrant_id=rid,
                         pointer="#/plan_id", what="treatment plan")  # fmt: skip
    if data.session_id is not None:
        ts = await referenced(db, TreatmentSession, data.session_id, registrant_id=rid,
                              pointer="#/session_id", what="session")  # fmt: skip
        if ts.status in _ENDED:
            raise InvalidInput.at("#/session_id", f"the session is {ts.status}")
    for index, rule in enumerate(data.rules):
        if rule in rules.NEVER_OVERRIDDEN:
            raise InvalidInput.at(f"#/rules/{index}", "the REMS is the law: no one overrides it")
    performer = await referenced(db, Staff, data.performer_id, registrant_id=rid,
                                 pointer="#/performer_id", what="staff member")  # fmt: skip
    if not performer.active:
        raise invalid("#/performer_id", "active staff member")
    if performer.id == authorizer.id:
        raise InvalidInput.at("#/performer_id", "someone other than the authorizer (a "
                              "prescriber's own step carries override_reason)")  # fmt: skip
    row = SessionAuthorization(
        id=uuid.uuid4(), registrant_id=rid, step=data.step.value, session_id=data.session_id,
        plan_id=data.plan_id, rules=list(dict.fromkeys(rule.value for rule in data.rules)),
        reason=data.reason, performer_id=performer.id, authorizer_id=authorizer.id,
        authorized_by=principal.subject, authorized_at=caller.now,
        expires_at=caller.now + timedelta(minutes=caller.settings.session_authorization_minutes),
        used_at=None, used_by=None,
    )  # fmt: skip
    db.add(row)
    await db.flush()
    return row


async def get_authorization(
    db: AsyncSession, authorization_id: uuid.UUID, *, principal: Principal
) -> SessionAuthorization:
    row = await get_readable(db, SessionAuthorization, authorization_id, principal,
                             what="authorization")  # fmt: skip
    principal.require(Permission.read_sessions)
    return row


def authorizations_query(
    principal: Principal,
    *,
    registrant_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
    plan_id: uuid.UUID | None,
    usable_at: datetime | None,
) -> Select[SessionAuthorization]:
    """Authorizations of the caller's registrants; with ``usable_at``, those a clinician may
    still use then (not used, not expired)."""
    principal.require(Permission.read_sessions)
    model = SessionAuthorization
    statement = within_registrants(select(model), model.registrant_id, principal, registrant_id)
    statement = where_given(statement, (SessionAuthorization.session_id, session_id),
                            (SessionAuthorization.plan_id, plan_id))  # fmt: skip
    if usable_at is None:
        return statement
    return statement.where(SessionAuthorization.used_at.is_(None),
                           SessionAuthorization.expires_at >= usable_at)  # fmt: skip


async def authorizations_out(
    db: AsyncSession, rows: Sequence[SessionAuthorization], principal: Principal
) -> list[AuthorizationOut]:
    """The authorizations with the names of who takes each step and who authorized it."""
    people = [staff_id for row in rows for staff_id in (row.performer_id, row.authorizer_id)]
    names = await Names.load(db, principal, staff=people)
    return [AuthorizationOut.model_validate(row).model_copy(update={
        "performer": names.staff.get(row.performer_id),
        "authorizer": names.staff.get(row.authorizer_id),
    }) for row in rows]  # fmt: skip


# Judging a step


async def judge(
    db: AsyncSession,
    broken: list[SessionRule],
    data: Overridable,
    caller: Caller,
    *,
    step: AuthorizedStep,
    when: datetime,
    registrant_id: uuid.UUID,
    session_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    why: dict[SessionRule, str] | None = None,
) -> list[dict[str, Any]]:
    """What the step broke, as an entry of the session's ``broken_rules``: a record is kept
    with what it broke; an instruction is refused (saying ``why`` when known) unless a
    prescriber overrides it, or the caller uses a prescriber's authorization of it. The entry
    names who took the step (``by``) and who authorized it."""
    if not broken:
        return []
    record = caller.reports_record(when)
    entry: dict[str, Any] = {
        "step": step.value, "rules": [rule.value for rule in broken], "override_reason": None,
        "record": record, "by": caller.principal.subject, "at": caller.now.isoformat(),
    }  # fmt: skip
    if record:
        return [entry]
    if data.override_authorization_id is not None:
        acted_at = None if step is AuthorizedStep.scheduling else when  # a schedule is ahead
        scope = (step, session_id, plan_id)
        used = await _use(db, data.override_authorization_id, broken, caller, scope=scope,
                          registrant_id=registrant_id, acted_at=acted_at, why=why)  # fmt: skip
        return [entry | used]
    rules.BOOK.refuse_unless_overridden(broken, data.override_reason, why=why)
    if not caller.principal.can(Permission.clinical_plans):
        raise PermissionDenied("a prescriber overrides a session rule: ask one to authorize "
                               "this step (POST /v1/session-authorizations) and send its "
                               "override_authorization_id")  # fmt: skip
    me = await staff_of_subject(db, registrant_id=registrant_id, subject=caller.principal.subject)
    staff_id = str(me.id) if me else None
    return [entry | {
        "override_reason": data.override_reason, "authorized_by": caller.principal.subject,
        "authorized_at": caller.now.isoformat(), "performer_id": staff_id,
        "authorizer_id": staff_id,
    }]  # fmt: skip


async def _use(
    db: AsyncSession,
    authorization_id: uuid.UUID,
    broken: list[SessionRule],
    caller: Caller,
    *,
    scope: tuple[AuthorizedStep, uuid.UUID | None, uuid.UUID | None],
    registrant_id: uuid.UUID,
    acted_at: datetime | None,
    why: dict[SessionRule, str] | None,
) -> dict[str, Any]:
    """Use the authorization for this step, once; what the entry then says."""
    row = await referenced(db, SessionAuthorization, authorization_id,
                           registrant_id=registrant_id, pointer=_POINTER,
                           what="authorization")  # fmt: skip
    if row.used_at is not None:
        raise AuthorizationUsed(f"another step used this authorization at {row.used_at}")
    me = await staff_of_subject(db, registrant_id=registrant_id, subject=caller.principal.subject)
    unfit = _unfit(row, me, broken, caller, scope=scope, acted_at=acted_at)
    if unfit:
        said = [rule.value for rule in broken]
        raise AuthorizationNotUsable("; ".join(unfit), extra={"broken_rules": said})
    rules.BOOK.refuse_unless_overridden(broken, row.reason, why=why)  # the REMS still refuses
    taken = await db.execute(
        update(SessionAuthorization)
        .where(SessionAuthorization.id == row.id, SessionAuthorization.used_at.is_(None))
        .values(used_at=caller.now, used_by=caller.principal.subject)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise AuthorizationUsed("another step used this authorization")
    assert me is not None
    return {
        "override_reason": row.reason, "authorization_id": str(row.id),
        "authorized_by": row.authorized_by, "authorized_at": row.authorized_at.isoformat(),
        "performer_id": str(me.id), "authorizer_id": str(row.authorizer_id),
    }  # fmt: skip


def _unfit(
    row: SessionAuthorization,
    me: Staff | None,
    broken: list[SessionRule],
    caller: Caller,
    *,
    scope: tuple[AuthorizedStep, uuid.UUID | None, uuid.UUID | None],
    acted_at: datetime | None,
) -> list[str]:
    """Why the authorization does not allow this step, if it does not."""
    step, session_id, plan_id = scope
    unfit = []
    if (row.step, row.session_id, row.plan_id) != (step.value, session_id, plan_id):
        unfit.append(f"it authorizes another step, session or plan (its step: {row.step})")
    if me is None or row.performer_id != me.id:
        unfit.append("it authorizes another clinician")
    if uncovered := [rule.value for rule in broken if rule.value not in row.rules]:
        unfit.append(f"it does not cover {', '.join(uncovered)}")
    if caller.now > row.expires_at:
        unfit.append(f"it expired at {row.expires_at.isoformat()}")
    skew = timedelta(seconds=caller.settings.future_skew_seconds)
    if acted_at is not None and acted_at < row.authorized_at - skew:
        unfit.append("the step happened before the prescriber authorized it")
    return unfit
