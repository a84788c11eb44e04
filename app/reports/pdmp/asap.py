"""ASAP 4.2A, the file a pharmacy sends its state's prescription monitoring program (PDMP):
pure functions from a day's dispenses to the file's text.

A file is segments, fields separated by ``*``, each segment ended by the terminator declared
in TH09. In order: TH (header), IS (information source), PHA (pharmacy); per dispense PAT
(patient), DSP (dispensing), PRE (prescriber) and, for a compound, one CDI per ingredient;
then TP (pharmacy trailer: the segments from PHA to TP, both counted) and TT (transaction
trailer: TH02's control number again, and every segment from TH to TT). A day with nothing to
report is a zero report, in the shape the state's profile names (:class:`ZeroReport`). A
dispense reversed in the ledger is sent as a void (DSP01 ``02``) carrying the original's Rx
number, fill date, quantity and refill number, under the same pharmacy.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import partial

NO_NDC = "99999"
"""A product id for what has no NDC: a compound in DSP08, an ingredient without one in CDI03."""


class ZeroReport(StrEnum):
    """The shape of a zero report, named by the segments between PHA and TP. Every shape but
    ``header_only`` has one PAT whose PAT07 is "REPORT" and PAT08 "ZERO" and one DSP with the
    day in DSP05; the segments after them are empty."""

    pat_dsp_pre = "pat_dsp_pre"
    """PAT, DSP and an empty PRE: the zero report the states' dispenser guides show."""
    pat_dsp_pre_cdi_air = "pat_dsp_pre_cdi_air"
    """PAT, DSP and an empty PRE, CDI and AIR, for a guide that prints every segment."""
    pat_dsp = "pat_dsp"
    """PAT and DSP alone (this service's zero report until the guides' shape was adopted)."""
    header_only = "header_only"
    """TH, IS, PHA, TP and TT, and no detail."""


ZERO_REPORT_EMPTY_SEGMENTS: dict[ZeroReport, tuple[str, ...]] = {
    ZeroReport.pat_dsp_pre: ("PRE",),
    ZeroReport.pat_dsp_pre_cdi_air: ("PRE", "CDI", "AIR"),
    ZeroReport.pat_dsp: (),
}
"""The empty segments that follow a zero report's PAT and DSP, in each shape that has them."""
ZERO_PATIENT = ("REPORT", "ZERO")
"""PAT07 and PAT08 of a zero report, in capitals as the guides print them."""


@dataclass(frozen=True, slots=True)
class Profile:
    """What a state's dispenser guide fixes."""

    version: str = "4.2A"
    segment_terminator: str = "~"
    compound_qualifier: str = "06"
    """DSP07 for a compound (whose ingredients follow in CDI segments)."""
    compound_product_id: str = NO_NDC
    """DSP08 for a compound (as :data:`NO_NDC`)."""
    zero_report: ZeroReport = ZeroReport.pat_dsp_pre
    file_type: str = "P"
    """TH07: P production, T test."""


@dataclass(frozen=True, slots=True)
class Pharmacy:
    npi: str
    ncpdp: str
    dea_number: str
    name: str
    address: dict[str, str]


@dataclass(frozen=True, slots=True)
class Ingredient:
    ndc: str
    quantity: str
    unit_code: str


@dataclass(frozen=True, slots=True)
class Dispense:
    status: str
    """DSP01: 00 new, 01 revise, 02 void."""
    patient_id: str
    patient_last: str
    patient_first: str
    patient_address: dict[str, str]
    date_of_birth: date
    gender: str
    rx_number: str
    written_on: date
    refills_authorized: int
    filled_on: date
    refill_number: int
    product_id: str | None
    """The NDC; None for a compound, whose ingredients say what it is."""
    quantity: str
    days_supply: int
    unit_code: str
    transmission_code: str
    partial_fill: str
    pharmacist_npi: str
    prescriber_npi: str
    prescriber_dea_number: str
    prescriber_last: str
    prescriber_first: str
    ingredients: Sequence[Ingredient] = field(default_factory=tuple)


UNIT_CODES = {"each": "01", "device": "01", "mL": "02", "g": "03"}
"""DSP11 and CDI05: drug dosage units (a nasal-spray device is counted as each)."""
TRANSMISSION_CODES = {"written": "01", "oral": "02", "fax": "04", "electronic": "05"}
"""DSP12: how the prescription reached the pharmacy (01 written, 02 telephone, 03 telephone
emergency, 04 fax, 05 electronic, 06 transferred)."""
GENDER_CODES = {"female": "F", "male": "M"}


def ccyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


def file_text(
    profile: Profile,
    control_number: str,
    created_at: datetime,
    pharmacy: Pharmacy,
    dispenses: Sequence[Dispense],
    report_date: date,
) -> str:
    """The whole file: every segment ended by the profile's terminator."""
    segment = partial(_segment, terminator=profile.segment_terminator)
    address = pharmacy.address
    detail = [segment("PHA", pharmacy.npi, pharmacy.ncpdp, pharmacy.dea_number, pharmacy.name,
                      address.get("line1", ""), address.get("line2") or "",
                      address.get("city", ""), address.get("state", ""),
                      address.get("postal_code", "").replace("-", ""))]  # fmt: skip
    for dispense in dispenses:
        detail += _dispense_segments(profile, dispense)
    if not dispenses:
        detail += _zero_report(profile, report_date)
    detail.append(segment("TP", str(len(detail) + 1)))
    # TH09 declares the terminator (so it is not cleaned out), then ends TH like any segment.
    header = [
        "*".join(["TH", profile.version, control_number, "01", "", ccyymmdd(created_at.date()),
                  created_at.strftime("%H%M%S"), profile.file_type, "",
                  profile.segment_terminator]),
        segment("IS", pharmacy.ncpdp or pharmacy.npi, pharmacy.name),
    ]  # fmt: skip
    segments = [*header, *detail]
    segments.append(segment("TT", control_number, str(len(segments) + 1)))
    return "".join(text + profile.segment_terminator for text in segments)


def _dispense_segments(profile: Profile, d: Dispense) -> list[str]:
    segment = partial(_segment, terminator=profile.segment_terminator)
    compound = d.product_id is None
    address = d.patient_address
    segments = [
        segment("PAT", "", "", "", "", "", "", d.patient_last, d.patient_first, "", "", "",
                address.get("line1", ""), address.get("line2") or "", address.get("city", ""),
                address.get("state", ""), address.get("postal_code", "").replace("-", ""), "",
                ccyymmdd(d.date_of_birth), GENDER_CODES.get(d.gender, "U"), "01"),
        segment("DSP", d.status, d.rx_number, ccyymmdd(d.written_on), str(d.refills_authorized),
                ccyymmdd(d.filled_on), str(d.refill_number),
                profile.compound_qualifier if compound else "01",
                profile.compound_product_id if compound else d.product_id or "",
                d.quantity, str(d.days_supply), d.unit_code, d.transmission_code,
                d.partial_fill, d.pharmacist_npi),
        segment("PRE", d.prescriber_npi, d.prescriber_dea_number, "", "", d.prescriber_last,
                d.prescriber_first),
    ]  # fmt: skip
    segments += [
        segment("CDI", str(n), "01", i.ndc, i.quantity, i.unit_code)
        for n, i in enumerate(d.ingredients, start=1)
    ]
    return segments


def _zero_report(profile: Profile, report_date: date) -> list[str]:
    """The detail of a day with nothing to report, in the profile's shape."""
    if profile.zero_report is ZeroReport.header_only:
        return []
    segment = partial(_segment, terminator=profile.segment_terminator)
    return [
        segment("PAT", "", "", "", "", "", "", *ZERO_PATIENT),
        segment("DSP", "", "", "", "", ccyymmdd(report_date)),
        # An empty segment is printed as the guides print it: its name and one empty field.
        *(f"{name}*" for name in ZERO_REPORT_EMPTY_SEGMENTS[profile.zero_report]),
    ]


def _segment(name: str, *fields: str, terminator: str) -> str:
    """A segment without its terminator; trailing empty fields are left off. A field's own
    separator, terminator or line break (in a name or an address) would end it early: each
    becomes a space."""
    values = [_clean(value, terminator) for value in fields]
    while values and values[-1] == "":
        values.pop()
    return "*".join([name, *values])


def _clean(value: str, terminator: str) -> str:
    for character in ("*", terminator, "\r", "\n"):
        value = value.replace(character, " ")
    return value
