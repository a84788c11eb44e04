"""A prescriber's authorization of a step a clinician takes that breaks a session rule, as the
API takes and shows it (docs/domain.md#override-authorization)."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from app.catalog.names import StaffName
from app.clinical.sessions.rules import SessionRule
from app.core.examples import example
from app.core.schemas import FreeText, InputModel, OutputModel


class AuthorizedStep(StrEnum):
    """The steps a prescriber authorizes: scheduling an extra session under a plan, a dose
    beyond it (or one the blood pressure rules hold back), an early discharge."""

    scheduling = "scheduling"
    administration = "administration"
    discharge = "discharge"


class Overridable(InputModel):
    """A step that may break a session rule: a prescriber overrides it with
    ``override_reason``; a clinician who may not, with the ``override_authorization_id`` of a
    prescriber's authorization (docs/domain.md#override-authorization)."""

    override_reason: FreeText | None = Field(
        default=None,
        description="Why the step goes ahead despite the rules it breaks: a session rule's "
        "reason is a prescriber's to give; a ledger rule's (an expired lot), the caller's own, "
        "sent beside an authorization too.",
    )
    override_authorization_id: uuid.UUID | None = Field(
        default=None,
        description="A prescriber's authorization of this step (`POST "
        "/v1/session-authorizations`): the caller takes the step, the session rules it breaks "
        "are overridden with the authorization's reason, and it is used up.",
    )


class AuthorizationCreate(InputModel):
    """The prescriber authorizes ``performer_id`` to take one ``step`` breaking ``rules``:
    an administration or a discharge of ``session_id``, or scheduling a session under
    ``plan_id``."""

    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "step": "administration",
            "session_id": "7a2b3c4d-5e6f-4a70-8b91-c2d3e4f5a6b7",
            "rules": ["dose_beyond_plan"],
            "reason": "patient weighed again: 82 kg, dose 41 mg",
            "performer_id": "5bc2d6e7-8f90-41a2-9db4-cf3a4b5c6d77",
        }
    )

    registrant_id: uuid.UUID
    step: AuthorizedStep
    session_id: uuid.UUID | None = None
    """The session of an administration or a discharge."""
    plan_id: uuid.UUID | None = None
    """The plan a session is scheduled under."""
    rules: list[SessionRule] = Field(min_length=1, max_length=len(SessionRule))
    """The rules the step may break (those its refusal named)."""
    reason: FreeText
    performer_id: uuid.UUID
    """The clinician who takes the step: someone other than the authorizer."""

    @model_validator(mode="after")
    def _names_its_session_or_plan(self) -> "AuthorizationCreate":
        scheduling = self.step is AuthorizedStep.scheduling
        if scheduling != (self.plan_id is not None) or scheduling == (self.session_id is not None):
            raise ValueError("scheduling names plan_id; an administration or discharge session_id")
        return self


class AuthorizationOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    step: AuthorizedStep
    session_id: uuid.UUID | None
    plan_id: uuid.UUID | None
    rules: list[str]
    reason: str
    performer_id: uuid.UUID
    authorizer_id: uuid.UUID
    authorized_by: str = Field(description="The authorizer's token subject")
    authorized_at: datetime
    expires_at: datetime = Field(description="Unusable after this")
    used_at: datetime | None = Field(description="When the step used it (once)")
    used_by: str | None
    performer: StaffName | None = None
    authorizer: StaffName | None = None
