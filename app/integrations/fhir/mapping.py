"""What a validated resource says, in the ledger's terms (pure): its business identifier and
status, who and what it names, how much and when. Nothing is looked up here; a fact the
resource lacks is refused only where a movement needs it (:func:`movement_of`)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.medicationadministration import MedicationAdministration

from app.core.identifiers import normalize_ndc
from app.core.instants import InstantError, checked_instant
from app.core.quantity import QuantityError, bounded
from app.integrations.fhir.outcome import FhirRefusal
from app.integrations.fhir.parsing import ADMINISTRATION, Resource

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
COMPOUND_CODE_SYSTEM = "urn:csledger:compound-code"
"""Codes of a registrant's own compounds (``Product.compound_code``), which have no NDC."""
SESSION_SYSTEM = "urn:csledger:session"
"""An encounter identifier of this system names a session by its id."""
UCUM_SYSTEM = "http://unitsofmeasure.org"
PATIENT_SYSTEM = "urn:csledger:patient"
"""The system we give a patient's identifier (``Patient.external_id``); inbound, a patient
identifier of any system is matched by its value."""
RX_NUMBER_SYSTEM = "urn:csledger:rx-number"
"""The system we give a pharmacy's Rx number; inbound, any system is matched by value."""
LEDGER_EVENT_SYSTEM = "urn:csledger:ledger-event"
"""The identifier of a resource made from a ledger event (outbound): the event's id."""
RESOURCE_ID_SYSTEM = "urn:csledger:fhir:resource-id"
"""The business identifier of a resource sent without one: its sender's own ``id`` (unique
per sender, as every stored resource's key names its sender)."""

STATUSES: dict[str, frozenset[str]] = {
    ADMINISTRATION: frozenset({"in-progress", "not-done", "on-hold", "completed",
                               "entered-in-error", "stopped", "unknown"}),
    "MedicationDispense": frozenset({"preparation", "in-progress", "cancelled", "on-hold",
                                     "completed", "entered-in-error", "stopped", "declined",
                                     "unknown"}),
}  # fmt: skip
"""R4's status value sets (medication-admin-status, medicationdispense-status)."""
MOVING_STATUSES: dict[str, frozenset[str]] = {
    ADMINISTRATION: frozenset({"completed", "stopped"}),
    "MedicationDispense": frozenset({"completed"}),
}
"""The statuses under which stock was given or handed over (a stopped administration gave
what its dose says before it stopped)."""
ENTERED_IN_ERROR = "entered-in-error"


@dataclass(frozen=True, slots=True)
class Identifier:
    system: str
    value: str

    def __str__(self) -> str:
        return f"{self.system}|{self.value}"


@dataclass(frozen=True, slots=True)
class PatientRef:
    id: uuid.UUID | None
    external_id: str | None


@dataclass(frozen=True, slots=True)
class Amount:
    value: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str

    def __str__(self) -> str:
        return f"{self.system}|{self.code}"


@dataclass(frozen=True, slots=True)
class Medication:
    ndc: str | None
    compound_code: str | None
    lot_number: str | None
    codes: tuple[Coding, ...] = ()
    """Every coding it carries, in order, the sender's own code systems' included: a sender's
    code mappings name products by these."""

    def __str__(self) -> str:
        return ", ".join(map(str, self.codes))


@dataclass(frozen=True, slots=True)
class Facts:
    """What either resource says."""

    resource_type: str
    identifier: Identifier
    status: str
    patient: PatientRef
    performer_npi: str | None
    medication: Medication | None
    amount: Amount | None
    """The dose given (``dosage.dose``) or the quantity handed over (``quantity``)."""
    occurred_at: datetime | None
    """When it started (``effective[x]``) or was handed over (``whenHandedOver``)."""
    ended_at: datetime | None = None
    session_id: uuid.UUID | None = None
    prescription_numbers: tuple[str, ...] = ()
    """``authorizingPrescription`` identifiers: the pharmacy's Rx number or the e-Rx id."""

    @property
    def moves_stock(self) -> bool:
        return self.status in MOVING_STATUSES[self.resource_type]

    def at(self, element: str) -> str:
        return f"{self.resource_type}.{element}"


@dataclass(frozen=True, slots=True)
class Movement:
    """The facts a movement needs, all present but its lot: a lot the resource does not name
    is told from the stock on hand, or assigned by a compliance officer."""

    facts: Facts
    performer_npi: str
    medication: Medication
    lot_number: str | None
    amount: Amount
    occurred_at: datetime


def facts_of(resource: Resource) -> Facts:
    name = resource.get_resource_type()
    common: dict[str, Any] = {
        "resource_type": name,
        "identifier": _identifier(resource, name),
        "status": _status(resource, name),
        "patient": _patient(resource.subject, f"{name}.subject"),
        "performer_npi": _npi(resource.performer),
        "medication": _medication(resource, name),
    }
    if isinstance(resource, MedicationAdministration):
        started, ended = _effective(resource, name)
        dosage = resource.dosage
        return Facts(**common, amount=_amount(dosage.dose if dosage else None,
                                              f"{name}.dosage.dose"),
                     occurred_at=started, ended_at=ended,
                     session_id=_session(resource.context, name))  # fmt: skip
    return Facts(
        **common, amount=_amount(resource.quantity, f"{name}.quantity"),
        occurred_at=_instant(resource.whenHandedOver, f"{name}.whenHandedOver"),
        prescription_numbers=tuple(
            str(ref.identifier.value) for ref in resource.authorizingPrescription or ()
            if ref.identifier is not None and ref.identifier.value
        ),
    )  # fmt: skip


def movement_of(facts: Facts) -> Movement:
    """The facts of a movement, or a refusal naming the first element missing."""
    administration = facts.resource_type == ADMINISTRATION
    amount_at = "dosage.dose" if administration else "quantity"
    time_at = "effective" if administration else "whenHandedOver"
    if facts.performer_npi is None:
        raise _required(facts.at("performer"), "a performer identified by NPI")
    if facts.medication is None:
        raise _required(facts.at("medication"), "a code naming the medication")
    if facts.amount is None:
        raise _required(facts.at(amount_at), "the amount given")
    if facts.occurred_at is None:
        raise _required(facts.at(time_at), "when it happened")
    return Movement(facts, facts.performer_npi, facts.medication, facts.medication.lot_number,
                    facts.amount, facts.occurred_at)  # fmt: skip


def content_digest_source(raw: dict[str, Any]) -> dict[str, Any]:
    """What the sender said: the resource without the server's ``id`` and ``meta``."""
    return {key: value for key, value in raw.items() if key not in ("id", "meta")}


def _required(expression: str, what: str) -> FhirRefusal:
    return FhirRefusal.at("required", f"{expression}: {what} is needed to move stock",
                          expression)  # fmt: skip


def _identifier(resource: Resource, name: str) -> Identifier:
    """The first identifier with a system and a value, else the sender's resource id."""
    for found in resource.identifier or ():
        if found.system and found.value:
            return Identifier(str(found.system), str(found.value))
    if resource.id:
        return Identifier(RESOURCE_ID_SYSTEM, str(resource.id))
    raise FhirRefusal.at("required", "an identifier with system and value, or the resource's "
                         "id, is required (the business identifier)",
                         f"{name}.identifier")  # fmt: skip


def _status(resource: Resource, name: str) -> str:
    status = str(resource.status)
    if status not in STATUSES[name]:
        raise FhirRefusal.at("code-invalid", f"{status!r} is not an R4 {name} status",
                             f"{name}.status")  # fmt: skip
    return status


def _patient(subject: Any, expression: str) -> PatientRef:
    reference = str(subject.reference or "")
    if reference.startswith("Patient/"):
        return PatientRef(_uuid(reference.removeprefix("Patient/"), f"{expression}.reference"),
                          None)  # fmt: skip
    if subject.identifier is not None and subject.identifier.value:
        return PatientRef(None, str(subject.identifier.value))
    raise FhirRefusal.at("required", "the patient is named by identifier or Patient/{id}",
                         expression)  # fmt: skip


def _npi(performers: Any) -> str | None:
    for performer in performers or ():
        identifier = performer.actor.identifier
        if identifier is not None and identifier.system == NPI_SYSTEM and identifier.value:
            return str(identifier.value)
    return None


def _medication(resource: Resource, name: str) -> Medication | None:
    concept, lot_number = resource.medicationCodeableConcept, None
    if resource.medicationReference is not None:
        contained = _contained(resource, str(resource.medicationReference.reference or ""), name)
        concept = contained.code
        lot_number = contained.batch.lotNumber if contained.batch else None
    codes = tuple(Coding(str(coding.system), str(coding.code))
                  for coding in (concept.coding if concept else None) or ()
                  if coding.system and coding.code)  # fmt: skip
    if not codes:
        return None
    ndc = next((_ndc(c.code, name) for c in codes if c.system == NDC_SYSTEM), None)
    compound = next((c.code for c in codes if c.system == COMPOUND_CODE_SYSTEM), None)
    return Medication(ndc, compound, str(lot_number) if lot_number else None, codes)


def _contained(resource: Resource, reference: str, name: str) -> Any:
    for candidate in resource.contained or ():
        if f"#{candidate.id}" == reference and candidate.get_resource_type() == "Medication":
            return candidate
    raise FhirRefusal.at("not-supported", "medicationReference names a contained Medication "
                         "(#id)", f"{name}.medicationReference")  # fmt: skip


def _ndc(code: str, name: str) -> str:
    try:
        return normalize_ndc(code)
    except ValueError as exc:
        raise FhirRefusal.at("value", f"NDC {code!r}: {exc}", f"{name}.medication") from exc


def _amount(quantity: Any, expression: str) -> Amount | None:
    if quantity is None or quantity.value is None:
        return None
    if quantity.system not in (None, UCUM_SYSTEM) or quantity.value <= 0:
        raise FhirRefusal.at("value", "a positive UCUM quantity is expected", expression)
    try:
        value = bounded(Decimal(quantity.value))
    except QuantityError as exc:
        raise FhirRefusal.at("value", f"{quantity.value}: {exc}", expression) from exc
    return Amount(value, str(quantity.code or quantity.unit or ""))


def _effective(resource: Any, name: str) -> tuple[datetime | None, datetime | None]:
    if resource.effectivePeriod is not None:
        period = resource.effectivePeriod
        started = _instant(period.start, f"{name}.effectivePeriod.start")
        ended = _instant(period.end, f"{name}.effectivePeriod.end")
        if started and ended and ended < started:
            raise FhirRefusal.at("value", "the period ends before it starts",
                                 f"{name}.effectivePeriod")  # fmt: skip
        return started, ended
    return _instant(resource.effectiveDateTime, f"{name}.effectiveDateTime"), None


def _instant(value: Any, expression: str) -> datetime | None:
    """A time of day with its offset: a date alone does not place a movement."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise FhirRefusal.at("value", "a date and time with its offset is needed", expression)
    try:
        return checked_instant(value)
    except InstantError as exc:
        raise FhirRefusal.at("value", f"{value.isoformat()}: {exc}", expression) from exc


def _session(context: Any, name: str) -> uuid.UUID | None:
    identifier = context.identifier if context is not None else None
    if identifier is None or identifier.system != SESSION_SYSTEM:
        return None
    return _uuid(str(identifier.value or ""), f"{name}.context.identifier.value")


def _uuid(value: str, expression: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.removeprefix("urn:uuid:"))
    except ValueError as exc:
        raise FhirRefusal.at("value", f"{value!r} is not an id of ours", expression) from exc
