"""What a ledger event says on its own that needs a person to look at it (pure functions).

Some findings need no reconciliation run: a theft or loss, an instruction whose compliance
rule was overridden, a record stored with the rules it broke. Each opens its discrepancy
through the outbox as the event is appended (docs/adr/0007-instructions-and-records.md).
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.ledger.rules import Rule
from app.ledger.types import EventType
from app.reconciliation.workflow import Severity


@dataclass(frozen=True, slots=True)
class EventRule:
    code: str
    severity: Severity


THEFT = EventRule("theft", Severity.critical)
"""21 CFR 1301.76(b): theft is always reported to the DEA (notice, then Form 106)."""
LOSS = EventRule("loss", Severity.significant)
"""21 CFR 1301.76(b): a significant loss is reported to the DEA (notice, then Form 106);
whether it is significant is for the compliance officer to decide."""
OVERRIDE_USED = EventRule("override_used", Severity.minor)
"""An overridden rule is kept and reviewed (docs/adr/0007-instructions-and-records.md)."""
REVERSAL = EventRule("reversal", Severity.minor)
"""Separation of duties: every reversal is reviewed by a person, who sees what it undid."""
REVERSAL_BY_ITS_AUTHOR = EventRule("reversal", Severity.significant)
"""A reversal by the author of the event it undoes, co-signed by a second person: the same
review, weighed higher (undoing one's own record is how a diversion would be hidden)."""

BROKEN_RULE_SEVERITY: dict[Rule, Severity] = {
    Rule.lot_expired: Severity.minor,
    Rule.registration_expired: Severity.significant,
    Rule.schedule_not_authorised: Severity.significant,
    Rule.witness_missing: Severity.significant,
    Rule.witness_is_performer: Severity.significant,
    Rule.counterparty_dea_invalid: Severity.minor,
    Rule.occurred_in_future: Severity.minor,
    Rule.transfer_quantity_mismatch: Severity.significant,
    Rule.esketamine_dispensed: Severity.critical,
    Rule.invoice_received_before: Severity.significant,
}
"""How much a record breaking each ledger rule matters (21 CFR 1301.71: controls against
diversion; a missing witness or a short transfer may hide one)."""


@dataclass(frozen=True, slots=True)
class EventFacts:
    id: uuid.UUID
    type: EventType
    is_record: bool
    broken_rules: tuple[str, ...]
    override_reason: str | None
    discovered_at: datetime | None
    loss_kind: str | None
    reason: str | None = None
    reverses: "Reversed | None" = None
    """What a reversal undid."""
    what: str = "stock"
    """What moved, as a person says it: "2 mL of Ketamine HCl injection 50 mg/mL, 10 mL vial
    (lot L-100) at Vault"."""


@dataclass(frozen=True, slots=True)
class Reversed:
    """The event a reversal undid, and whether its author undid it."""

    id: uuid.UUID
    type: str
    by_its_author: bool


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    fingerprint: str
    """Names the finding: the same one found again updates its discrepancy (unless a person
    closed it)."""
    summary: str
    reportable: bool = False
    discovered_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subject:
    """What a finding is about, as fields a person reads by name: where, which lot and
    product, whose session."""

    location_id: uuid.UUID | None = None
    lot_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None


NO_SUBJECT = Subject()


@dataclass(frozen=True, slots=True)
class Found:
    """A finding with what it is about (for the discrepancy's filters and separation of
    duties)."""

    finding: Finding
    event_ids: tuple[uuid.UUID, ...] = ()
    staff_ids: tuple[str, ...] = ()
    subject: Subject = NO_SUBJECT


_NOUNS = {EventType.administer: "administration", EventType.destroy: "destruction",
          EventType.adjust: "adjustment", EventType.compound_consume: "use in compounding",
          EventType.compound_produce: "compounded output"}  # fmt: skip
"""What an event of each type is called in a sentence, where its code would not say it."""


def _event_named(event_type: EventType | str, what: str) -> str:
    """An event in words: "Administration of 2 mL of … (lot L-100) at Vault"."""
    kind = EventType(event_type)
    noun = _NOUNS.get(kind, _words(kind.value))
    return f"{noun[:1].upper()}{noun[1:]} of {what}"


def event_findings(f: EventFacts) -> list[Finding]:
    found = []
    named = _event_named(f.type, f.what)
    if f.type is EventType.theft:
        found.append(_finding(f, THEFT.code, THEFT.severity, named, reportable=True))
    elif f.type is EventType.loss:
        summary = f"{named} ({_words(f.loss_kind or 'other')})"
        found.append(_finding(f, LOSS.code, LOSS.severity, summary, reportable=True))
    if f.reverses is not None:
        found.append(_reversal_finding(f, f.reverses))
    if f.override_reason is not None and f.broken_rules:
        summary = f"{named}: {_listed(f.broken_rules)} overridden, because {f.override_reason}"
        found.append(_finding(f, OVERRIDE_USED.code, OVERRIDE_USED.severity, summary))
    if f.is_record:
        for broken in f.broken_rules:
            rule = Rule(broken)
            summary = f"{named}, recorded after the fact, broke a rule: {_words(rule.value)}"
            found.append(_finding(f, rule.value, BROKEN_RULE_SEVERITY[rule], summary))
    return found


def _reversal_finding(f: EventFacts, undone: Reversed) -> Finding:
    rule = REVERSAL_BY_ITS_AUTHOR if undone.by_its_author else REVERSAL
    by = "by its own author, co-signed" if undone.by_its_author else "by another person"
    summary = f"{_event_named(undone.type, f.what)} reversed {by}, because {f.reason}"
    finding = _finding(f, rule.code, rule.severity, summary)
    details = finding.details | {"reversed_event_id": str(undone.id),
                                 "reversed_event_type": undone.type,
                                 "by_its_author": undone.by_its_author}  # fmt: skip
    return Finding(finding.rule, finding.severity, finding.fingerprint, finding.summary,
                   details=details)  # fmt: skip


def _finding(
    f: EventFacts, code: str, severity: Severity, summary: str, *, reportable: bool = False
) -> Finding:
    return Finding(
        rule=code, severity=severity, fingerprint=f"{code}:event:{f.id}",
        summary=summary, reportable=reportable,
        discovered_at=f.discovered_at if reportable else None,
        details={"event_type": f.type.value, "broken_rules": list(f.broken_rules)},
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StepFacts:
    """A workflow step that broke rules (a session's, a prescription's or a fill's)."""

    subject: str
    subject_id: str
    step: str
    rules: tuple[str, ...]
    override_reason: str | None
    record: bool
    taken_by: str | None = None
    """Who took the step, by name, when another person authorized its override."""
    authorized_by: str | None = None
    """Who authorized it, by name (docs/domain.md#override-authorization)."""


STEP_RULE_SEVERITY: dict[str, Severity] = {
    "rems_setting_not_certified": Severity.critical,
    "rems_patient_not_enrolled": Severity.critical,
    "early_refill": Severity.minor,
    "devices_too_close": Severity.minor,
    "outside_plan_dates": Severity.minor,
}
"""Workflow rules whose records weigh other than significant (the REMS is the law; the rest of
the 1306 and clinical rules a record breaks are significant)."""


def step_findings(f: StepFacts) -> list[Finding]:
    """An overridden step is one finding to review; a record, one per rule it broke."""
    where = f"{f.subject}:{f.subject_id}:{f.step}"
    details: dict[str, Any] = {f"{f.subject}_id": f.subject_id, "step": f.step,
                               "rules": list(f.rules)}  # fmt: skip
    what = _step_named(f.subject, f.step)
    if not f.record:
        if f.authorized_by:
            what = f"{what} by {f.taken_by}"
        overridden = f"overridden by {f.authorized_by}" if f.authorized_by else "overridden"
        summary = f"{what}: {_listed(f.rules)} {overridden}, because {f.override_reason}"
        return [Finding(rule=OVERRIDE_USED.code, severity=OVERRIDE_USED.severity,
                        fingerprint=f"{OVERRIDE_USED.code}:{where}", summary=summary,
                        details=details)]  # fmt: skip
    return [
        Finding(rule=rule, severity=STEP_RULE_SEVERITY.get(rule, Severity.significant),
                fingerprint=f"{rule}:{where}", details=details,
                summary=f"{what}, recorded after the fact, broke a rule: {_words(rule)}")
        for rule in f.rules
    ]  # fmt: skip


def _step_named(subject: str, step: str) -> str:
    """A workflow step as a person says it: "A session's administration", "A FHIR
    MedicationAdministration from an integration"."""
    if subject == "fhir_resource":
        return f"A FHIR {step} from an integration"
    if subject == "compounding_batch":
        return "A compounding batch"
    return f"A {_words(subject)}'s {_words(step)}"


def _words(code: str) -> str:
    return code.replace("_", " ")


def _listed(codes: tuple[str, ...]) -> str:
    return ", ".join(_words(code) for code in codes)


def verification_failed(failure: str, sequence: int | None) -> Finding:
    """The ledger's chain, Merkle tree or checkpoints do not hold: the records can no longer be
    shown untouched (critical; docs/adr/0006-hash-chain-per-registrant.md#tamper-evidence)."""
    return Finding(
        rule="ledger_verification_failed", severity=Severity.critical,
        fingerprint=f"ledger_verification_failed:{sequence}", summary=failure,
        details={"failure": failure, "sequence": sequence},
    )  # fmt: skip
