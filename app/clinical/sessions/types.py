"""The values of a session's status column."""

from enum import StrEnum


class SessionStatus(StrEnum):
    """Forward only: scheduled, in progress (from the first withdrawal), observing (once the
    dose is given), then discharged; or aborted from any of the first three."""

    scheduled = "scheduled"
    in_progress = "in_progress"
    observing = "observing"
    discharged = "discharged"
    aborted = "aborted"
