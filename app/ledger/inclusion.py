"""Whether an event is in its registrant's latest signed checkpoint, checked here as a verifier
holding the published keys would check it: the event's hash recomputed from its content, the
checkpoint's root recomputed from that hash and the inclusion proof's audit path (RFC 9162),
and the checkpoint's signature verified with the published keys. Nothing is taken on trust
from the proof service's own answer: a root it computed is compared, never believed."""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.canonical import NotCanonical
from app.ledger import chain, checkpoints, merkle, proofs
from app.ledger.checkpoints import Checkpoint
from app.ledger.models import LedgerEvent
from app.ledger.schemas import InclusionProofOut
from app.ledger.verification import signature_failure, signed_checkpoint


class Inclusion(StrEnum):
    verified = "verified"
    not_yet_signed = "not_yet_signed"
    """The event came after the latest checkpoint (or there is none yet)."""
    failed = "failed"


@dataclass(frozen=True, slots=True)
class CheckpointInclusion:
    status: Inclusion
    checkpoint: Checkpoint | None = None
    proof: InclusionProofOut | None = None
    failure: str | None = None


async def in_latest_checkpoint(
    session: AsyncSession, event: LedgerEvent, keys: dict[str, dict[str, str]]
) -> CheckpointInclusion:
    """``event``'s inclusion in the latest checkpoint of its registrant, verified with
    ``keys`` (the published ones, by kid)."""
    checkpoint = await checkpoints.latest(session, event.registrant_id)
    if checkpoint is None or checkpoint.tree_size < event.sequence:
        return CheckpointInclusion(Inclusion.not_yet_signed, checkpoint)
    proof = await proofs.inclusion(session, event, checkpoint.tree_size)
    failure = _failure(event, proof, checkpoint, keys)
    status = Inclusion.verified if failure is None else Inclusion.failed
    return CheckpointInclusion(status, checkpoint, proof, failure)


def _failure(
    event: LedgerEvent,
    proof: InclusionProofOut,
    checkpoint: Checkpoint,
    keys: dict[str, dict[str, str]],
) -> str | None:
    """What does not hold, first found; None when everything does."""
    if not _hash_holds(event):
        return chain.CONTENT_CHANGED
    leaf = merkle.leaf_hash(bytes.fromhex(event.hash))
    path = [bytes.fromhex(node) for node in proof.audit_path]
    root = bytes.fromhex(checkpoint.root_hash)
    if not merkle.verify_inclusion(leaf, proof.leaf_index, proof.tree_size, path, root):
        return "the audit path does not lead from the event's hash to the checkpoint's root"
    return signature_failure(signed_checkpoint(checkpoint), keys)


def _hash_holds(event: LedgerEvent) -> bool:
    """Whether the event's hash is the hash of its stored content and its link."""
    try:
        return chain.link(event.prev_hash, chain.hashed_body(event)) == event.hash
    except NotCanonical:  # a column changed to something the ledger never writes
        return False
