"""A validator of ASAP 4.2A files, independent of the code that writes them: it parses a file
from its own TH09, then checks the order of the segments, the counts in TP and TT, the
control numbers, and the required fields and their formats."""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

ORDER = re.compile(r"^TH IS PHA( PAT DSP( PRE( CDI)*( AIR)?)?)* TP TT$")
"""Per dispense PAT, DSP, PRE, a compound's CDIs and an AIR; a zero report's PAT and DSP may
be followed by an empty PRE, CDI and AIR, or by nothing."""
ZERO_REPORT_TRAILERS = ((), ("PRE",), ("PRE", "CDI", "AIR"))
"""What may follow a zero report's DSP, every segment empty: the shapes the states' guides
show."""


@dataclass(frozen=True)
class Parsed:
    terminator: str
    segments: list[list[str]]

    def named(self, name: str) -> list[list[str]]:
        return [s for s in self.segments if s[0] == name]


class Invalid(AssertionError):
    pass


def parse(text: str) -> Parsed:
    if not text.startswith("TH*"):
        raise Invalid("a file begins with TH")
    fields = text.split("*", 9)
    if len(fields) < 10 or len(fields[9]) < 2 or fields[9][0] != fields[9][1]:
        raise Invalid("TH09 declares the terminator, which then ends TH")
    terminator, body = fields[9][0], fields[9][2:]
    if not body.endswith(terminator):
        raise Invalid("every segment ends with the terminator")
    rest = [segment.split("*") for segment in body[:-1].split(terminator)]
    return Parsed(terminator, [["TH", *fields[1:9], terminator], *rest])


def validate(text: str, *, compound_qualifier: str = "06", version: str = "4.2A") -> Parsed:
    parsed = parse(text)
    names = " ".join(s[0] for s in parsed.segments)
    if not ORDER.match(names):
        raise Invalid(f"segments out of order: {names}")
    th, tt, tp = parsed.segments[0], parsed.segments[-1], parsed.segments[-2]
    _check(th[1] == version, f"TH01 {th[1]!r} is not {version}")
    _check(re.fullmatch(r"\d{1,9}", th[2]) is not None, f"TH02 {th[2]!r}: a control number")
    _check(th[3] == "01", "TH03: 01 (send)")
    _date(th[5], "TH05")
    _check(re.fullmatch(r"\d{6}", th[6]) is not None, "TH06: HHMMSS")
    _check(th[7] in ("P", "T"), "TH07: P or T")
    pharmacy_segments = len(parsed.segments) - 3  # PHA to TP
    _check(tp[1] == str(pharmacy_segments), f"TP01 {tp[1]} is not {pharmacy_segments}")
    _check(tt[1] == th[2], "TT01 repeats TH02")
    _check(tt[2] == str(len(parsed.segments)), f"TT02 {tt[2]} is not {len(parsed.segments)}")
    [pha] = parsed.named("PHA")
    _field(pha, 3, "PHA03")
    _dea(pha[3], "PHA03")
    _field(pha, 4, "PHA04")
    if any(_is_zero_patient(pat) for pat in parsed.named("PAT")):
        _zero_report(parsed.segments[3:-2])
        return parsed
    for index, segment in enumerate(parsed.segments):
        if segment[0] == "DSP":
            _dispense(parsed.segments, index, compound_qualifier)
    return parsed


def _is_zero_patient(pat: list[str]) -> bool:
    return (_get(pat, 7), _get(pat, 8)) == ("REPORT", "ZERO")


def _zero_report(detail: list[list[str]]) -> None:
    """A zero report is the file's only detail: a PAT of nothing but "REPORT" "ZERO", a DSP of
    nothing but the day in DSP05, then one of the trailers, each segment empty."""
    _check(len(detail) >= 2 and [s[0] for s in detail[:2]] == ["PAT", "DSP"],
           "a zero report is a PAT and a DSP")  # fmt: skip
    pat, dsp, *trailer = detail
    _check(pat[1:7] == [""] * 6 and len(pat) == 9, "a zero report's PAT: PAT07 and PAT08 only")
    _check(len(dsp) == 6 and all(f == "" for f in dsp[1:5]), "a zero report's DSP: DSP05")
    _date(dsp[5], "DSP05")
    names = tuple(s[0] for s in trailer)
    _check(names in ZERO_REPORT_TRAILERS, f"a zero report's DSP followed by {names}")
    for segment in trailer:
        _check(all(f == "" for f in segment[1:]), f"a zero report's {segment[0]} is empty")


def _dispense(segments: list[list[str]], index: int, compound_qualifier: str) -> None:
    patient, dsp = segments[index - 1], segments[index]
    _field(patient, 7, "PAT07")
    _field(patient, 8, "PAT08")
    _date(_get(patient, 18), "PAT18")
    _check(_get(patient, 19) in ("F", "M", "U"), "PAT19: F, M or U")
    _check(dsp[1] in ("00", "01", "02"), "DSP01: 00, 01 or 02")
    _field(dsp, 2, "DSP02")
    _date(dsp[3], "DSP03")
    _check(dsp[4].isdigit() and dsp[6].isdigit(), "DSP04 and DSP06: numbers")
    _date(dsp[5], "DSP05")
    _check(dsp[7] in ("01", compound_qualifier), f"DSP07 {dsp[7]!r}")
    _check(re.fullmatch(r"\d{11}|99999", dsp[8]) is not None, f"DSP08 {dsp[8]!r}")
    _positive(dsp[9], "DSP09")
    _check(dsp[10].isdigit(), "DSP10: days")
    _check(dsp[11] in ("01", "02", "03"), "DSP11: 01, 02 or 03")
    _check(dsp[12] in ("01", "02", "03", "04", "05", "06", "99"), "DSP12")
    _check(re.fullmatch(r"\d{2}", dsp[13]) is not None, "DSP13")
    prescriber = segments[index + 1]
    _check(prescriber[0] == "PRE", "PRE follows DSP")
    _dea(_get(prescriber, 2), "PRE02")
    _field(prescriber, 5, "PRE05")
    ingredients = []
    for segment in segments[index + 2 :]:
        if segment[0] != "CDI":
            break
        ingredients.append(segment)
    _check(bool(ingredients) == (dsp[7] == compound_qualifier), "CDIs exactly for a compound")
    for number, cdi in enumerate(ingredients, start=1):
        _check(cdi[1] == str(number) and cdi[2] == "01", "CDI01 numbers them, CDI02 01")
        _check(re.fullmatch(r"\d{11}|99999", cdi[3]) is not None, f"CDI03 {cdi[3]!r}")
        _positive(cdi[4], "CDI04")
        _check(cdi[5] in ("01", "02", "03"), "CDI05")


def _get(segment: list[str], index: int) -> str:
    return segment[index] if index < len(segment) else ""


def _field(segment: list[str], index: int, name: str) -> None:
    _check(_get(segment, index) != "", f"{name} is required")


def _dea(value: str, name: str) -> None:
    """Two letters, seven digits, the last the ones digit of (d1 + d3 + d5) + 2 (d2 + d4 + d6)."""
    _check(re.fullmatch(r"[A-Z]{2}\d{7}", value) is not None, f"{name} {value!r}: a DEA number")
    d = [int(c) for c in value[2:]]
    _check((d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6], f"{name}: check digit")


def _date(value: str, name: str) -> None:
    _check(re.fullmatch(r"\d{8}", value) is not None, f"{name} {value!r}: CCYYMMDD")
    try:
        datetime.strptime(value, "%Y%m%d")  # noqa: DTZ007 - a calendar date, no instant
    except ValueError as exc:
        raise Invalid(f"{name} {value!r}: CCYYMMDD") from exc


def _positive(value: str, name: str) -> None:
    try:
        _check(Decimal(value) > 0, f"{name} {value!r}: more than 0")
    except InvalidOperation as exc:
        raise Invalid(f"{name} {value!r}: a number") from exc


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise Invalid(message)
