"""Every report the API serves, as the console offers it, read from the API's own report
routes: their paths, their query parameters (the fields of each report's form) and the
formats they answer in. A report added to the API is offered here with its form, and its
download runs that route's own code (:mod:`app.console.reports`)."""

import types
import typing
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Annotated, Any

from annotated_types import MaxLen
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute

from app.core.errors import NotFound
from app.reports import forms_router, router
from app.reports.pdmp import router as pdmp_router

REPORT_ROUTERS = (router.router, forms_router.router, pdmp_router.router)
"""The routers serving reports; a report is a GET route of theirs under :data:`API_REPORTS`."""
API_REPORTS = "/v1/reports/"

TITLES = {
    "dispensing-log": "Dispensing log",
    "waste-log": "Waste and destruction log",
    "perpetual-inventory": "Perpetual inventory",
    "inventory": "Inventory at an instant",
    "discrepancies": "Discrepancies",
    "receipts": "Receipts",
    "audit-trail": "Audit trail",
    "platform-audit-trail": "Platform audit trail",
    "dea-form-41": "DEA Form 41 (destructions)",
    "rems-monitoring": "REMS monitoring",
    "compounding-batches": "Compounding batches",
    "rems-monitoring-form": "REMS Patient Monitoring Form",
    "dea-form-106": "DEA Form 106 (theft or loss)",
    "inventory-record": "Inventory record",
    "administration-record": "Administration record",
    "pdmp": "PDMP file preview",
}
"""Each report's heading (a test holds its keys to the API's reports)."""

LABELS = {
    "from": "First day", "to": "Last day", "as_of": "As of (with its UTC offset)",
    "date": "Day", "kind": "Inventory kind", "taken_at": "Taken at", "status": "Status",
    "location_id": "Location", "lot_id": "Lot", "product_id": "Product",
    "staff_id": "Staff member", "patient_id": "Patient", "session_id": "Session",
    "discrepancy_id": "Discrepancy", "inventory_id": "Inventory",
    "prescriber_dea_number": "Prescriber's DEA number",
}  # fmt: skip
FORMAT_NAMES = {"json": "JSON", "jsonl": "JSON Lines", "csv": "CSV", "pdf": "PDF"}


class Kind(StrEnum):
    registrant = "registrant"
    """The registrant the page is about: a hidden field."""
    day = "day"
    instant = "instant"
    choice = "choice"
    """One of an enumeration's values."""
    reference = "reference"
    """The id of something of the registrant's (a location, a lot, a patient...)."""
    text = "text"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    """The query parameter, as the API names it."""
    kind: Kind
    label: str
    required: bool
    default: str = ""
    options: tuple[str, ...] = ()
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class Report:
    slug: str
    """The API route's path after /v1/reports/, and the console's."""
    title: str
    about: str
    fields: tuple[Field, ...]
    formats: tuple[str, ...]
    """The values of its ``format`` parameter; none when it answers in one format only."""
    route: APIRoute

    @property
    def name(self) -> str:
        """The API route's name: the audit log's action, whichever edge served it."""
        return self.route.name

    @property
    def of_registrant(self) -> bool:
        return any(field.kind is Kind.registrant for field in self.fields)


def api_report_routes() -> list[APIRoute]:
    return [
        route for source in REPORT_ROUTERS for route in source.routes
        if isinstance(route, APIRoute) and route.path.startswith(API_REPORTS)
        and "GET" in (route.methods or ())
    ]  # fmt: skip


def _report(route: APIRoute) -> Report:
    slug = route.path.removeprefix(API_REPORTS)
    fields, formats = [], ()
    for param in get_flat_params(route.dependant):
        if param.alias == "format":
            formats = tuple(option.value for option in _base(param.field_info.annotation))
            continue
        fields.append(_field(param.alias, param.field_info))
    fields.sort(key=_place)
    return Report(slug, TITLES.get(slug, slug.replace("-", " ").capitalize()),
                  _first_sentence(route.description), tuple(fields), formats,
                  route)  # fmt: skip


def _field(name: str, info: Any) -> Field:
    base = _base(info.annotation)
    label = LABELS.get(name, name.replace("_", " ").capitalize())
    required = bool(info.is_required())
    default = "" if info.default is None or required else str(getattr(info.default, "value",
                                                                         info.default))  # fmt: skip
    if name == "registrant_id":
        return Field(name, Kind.registrant, "Registrant", required)
    if isinstance(base, type) and issubclass(base, Enum):
        return Field(name, Kind.choice, label, required, default,
                     tuple(str(option.value) for option in base))  # fmt: skip
    if base is uuid.UUID:
        return Field(name, Kind.reference, label, required)
    if base is datetime:
        return Field(name, Kind.instant, label, required)
    if base is date:
        return Field(name, Kind.day, label, required)
    lengths = [m.max_length for m in info.metadata if isinstance(m, MaxLen)]
    return Field(name, Kind.text, label, required, default,
                 max_length=lengths[0] if lengths else None)  # fmt: skip


def _base(annotation: Any) -> Any:
    """The type a parameter holds: ``Day | None`` is a day."""
    if typing.get_origin(annotation) is Annotated:
        return _base(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        [kept] = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _base(kept)
    return annotation


_ORDER = (Kind.registrant, Kind.day, Kind.instant, Kind.reference, Kind.choice, Kind.text)


def _place(field: Field) -> tuple[int, int]:
    return _ORDER.index(field.kind), 0 if field.name != "to" else 1


def _first_sentence(text: str) -> str:
    """What a report is, from its route's description: up to its first colon (what follows
    lists its columns), or its first sentence when that is too short to say much."""
    sentence = " ".join(text.split()).replace("`", "").split(". ", 1)[0]
    head = sentence.split(": ", 1)[0]
    return (head if len(head) >= SHORTEST_ABOUT else sentence).rstrip(".") + "."


SHORTEST_ABOUT = 30


REPORTS = tuple(_report(route) for route in api_report_routes())


def named(slug: str) -> Report:
    found = next((report for report in REPORTS if report.slug == slug), None)
    if found is None:
        raise NotFound(f"no report {slug}")
    return found
