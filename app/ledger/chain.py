"""The hash chain: what each event's hash covers and how it links to the one before.

``hash = SHA-256(prev_hash_hex || canonical_json(body))`` where ``body`` holds every field of
the event (listed in :data:`HASHED_FIELDS`) except the hashes themselves, quantities as integers
of thousandths. The first event of a registrant links to 64 zeros. Verifiers recompute the body
from the stored columns, so changing any column of a stored event breaks its hash.
"""

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from app.core.canonical import canonical_json, canonical_json_unchecked
from app.core.quantity import to_minor

HASHED_FIELDS = (
    "id", "registrant_id", "sequence", "type", "location_id", "to_location_id", "product_id",
    "lot_id", "quantity", "mg", "occurred_at", "recorded_at", "performed_by", "witness_ids",
    "patient_id", "session_id", "prescription_id", "batch_id", "counterparty",
    "document_reference", "reason", "details", "reverses_event_id", "is_record",
    "broken_rules", "override_reason", "principal_subject", "principal_name", "snapshot",
)  # fmt: skip
_QUANTITY_FIELDS = frozenset({"quantity", "mg"})


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


def first_break(
    events: Iterable[object], *, genesis: str, first_sequence: int = 1
) -> tuple[int, str] | None:
    """The sequence of the first event whose link or hash does not hold, and why; else None.

    ``events`` in sequence order, starting at ``first_sequence`` whose predecessor's hash is
    ``genesis`` (64 zeros for a whole chain).
    """
    expected_prev, expected_sequence = genesis, first_sequence
    for event in events:
        sequence: int = getattr(event, "sequence")  # noqa: B009
        if sequence != expected_sequence:
            return expected_sequence, f"sequence {expected_sequence} is missing"
        if getattr(event, "prev_hash") != expected_prev:  # noqa: B009
            return sequence, "prev_hash does not match the hash of the event before"
        computed = link(expected_prev, hashed_body(event), checked=False)
        if computed != getattr(event, "hash"):  # noqa: B009
            return sequence, "hash does not match the event's content"
        expected_prev, expected_sequence = computed, sequence + 1
    return None
