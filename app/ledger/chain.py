"""The hash chain: what each event's hash covers and how it links to the one before.

``hash = SHA-256(prev_hash_hex || canonical_json(body))`` where ``body`` holds every field of
the event (listed in :data:`HASHED_FIELDS`) except the hashes themselves, quantities as integers
of thousandths. The first event of a registrant links to 64 zeros. Verifiers recompute the body
from the stored columns, so changing any column of a stored event breaks its hash.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from app.core.canonical import canonical_json, canonical_json_unchecked
from app.core.quantity import to_minor

HASHED_FIELDS = (
    "id", "registrant_id", "sequence", "type", "location_id", "to_location_id", "product_id",
    "lot_id", "quantity", "mg", "occurred_at", "recorded_at", "performed_by", "witness_ids",
    "patient_id", "session_id", "prescription_id", "batch_id", "counterparty",
    "document_reference", "reason", "details", "reverses_event_id", "transfer_event_id",
    "is_record",
    "broken_rules", "override_reason", "principal_subject", "principal_name", "snapshot",
)  # fmt: skip
_QUANTITY_FIELDS = frozenset({"quantity", "mg"})
JSON_FIELDS = ("witness_ids", "counterparty", "details", "broken_rules", "snapshot")
"""The hashed fields stored as JSON."""
CONTENT_CHANGED = "hash does not match the event's content"
PREV_HASH_CHANGED = "prev_hash does not match the hash of the event before"


def hashed_body(event: Mapping[str, Any] | object) -> dict[str, Any]:
    """The body of an event (a row object or a mapping of its columns)."""
    if isinstance(event, Mapping):
        body = {name: event[name] for name in HASHED_FIELDS}
    else:
        body = {name: getattr(event, name) for name in HASHED_FIELDS}
    for name in _QUANTITY_FIELDS:
        body[name] = to_minor(body[name])
    return body


def link(prev_hash: str, body: dict[str, Any], *, checked: bool = True) -> str:
    encoded = canonical_json(body) if checked else canonical_json_unchecked(body)
    return hashlib.sha256(prev_hash.encode("ascii") + encoded).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    """One event as the chain sees it: its place, its hashes and the body they cover."""

    sequence: int
    prev_hash: str
    hash: str
    body: dict[str, Any]


def link_of(event: object) -> Link:
    """The link of a stored event row."""
    return Link(
        sequence=getattr(event, "sequence"),  # noqa: B009
        prev_hash=getattr(event, "prev_hash"),  # noqa: B009
        hash=getattr(event, "hash"),  # noqa: B009
        body=hashed_body(event),
    )


class Break(NamedTuple):
    """Where a chain stops holding: the sequence, why, and the id of the event found there
    (None when that sequence is missing)."""

    sequence: int
    why: str
    event_id: str | None = None


class Walker:
    """Checks links one at a time, in sequence order, from the start of a chain."""

    def __init__(self, genesis: str) -> None:
        self.expected_prev = genesis
        self.expected_sequence = 1

    def check(self, current: Link) -> Break | None:
        """The first thing wrong with ``current``; None if it holds."""
        if current.sequence != self.expected_sequence:
            return Break(self.expected_sequence, f"sequence {self.expected_sequence} is missing")
        event_id = str(current.body["id"])
        if current.prev_hash != self.expected_prev:
            return Break(current.sequence, PREV_HASH_CHANGED, event_id)
        if link(self.expected_prev, current.body, checked=False) != current.hash:
            return Break(current.sequence, CONTENT_CHANGED, event_id)
        self.expected_prev, self.expected_sequence = current.hash, current.sequence + 1
        return None


def first_break(events: Iterable[object], *, genesis: str) -> Break | None:
    """The first stored event whose link or hash does not hold, and why."""
    walker = Walker(genesis)
    for event in events:
        broken = walker.check(link_of(event))
        if broken:
            return broken
    return None
