"""Check the identifiers the regulations use: DEA registration numbers, NPIs and NDCs.

Each function returns the normalised value or raises ``ValueError`` with a message meant for
the client (it becomes the ``detail`` of the field error). Digits are ASCII digits: a regular
expression's digit class and ``str.isdigit`` take fullwidth or Arabic-Indic ones too, and would
store an NDC that no lookup finds.
"""

import re

# First letter by registrant type (docs/domain.md#dea-registration-number): A, B, F, G
# practitioners, pharmacies, hospitals and clinics; M mid-level practitioners; P, R
# manufacturers, distributors, reverse distributors.
DEA_FIRST_LETTERS = frozenset("ABFGMPR")
_DEA = re.compile(r"([A-Z])([A-Z9])([0-9]{7})")
_NPI = re.compile(r"[0-9]{10}")
_NDC_DASHED = re.compile(r"([0-9]{4,5})-([0-9]{3,4})-([0-9]{1,2})")
_DIGITS = re.compile(r"[0-9]+")
_NDC_SEGMENT_LENGTHS = {(4, 4, 2), (5, 3, 2), (5, 4, 1)}
NPI_PREFIX = "80840"


def dea_check_digit(digits: str) -> int:
    """The ones digit of (d1 + d3 + d5) + 2 x (d2 + d4 + d6)."""
    d = [int(c) for c in digits[:6]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10


def validate_dea_number(value: str) -> str:
    number = value.strip().upper()
    match = _DEA.fullmatch(number)
    if match is None:
        raise ValueError("a DEA number is 2 letters and 7 digits")
    first, _, digits = match.groups()
    if first not in DEA_FIRST_LETTERS:
        raise ValueError(f"a DEA number cannot start with {first!r}")
    if dea_check_digit(digits) != int(digits[6]):
        raise ValueError("DEA number check digit does not match")
    return number


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def validate_npi(value: str) -> str:
    npi = value.strip()
    if not _NPI.fullmatch(npi):
        raise ValueError("an NPI is 10 digits")
    if not luhn_valid(NPI_PREFIX + npi):
        raise ValueError("NPI check digit does not match")
    return npi


def normalize_ndc(value: str) -> str:
    """The 11-digit (5-4-2) form of a dashed 10-digit NDC, or an 11-digit NDC as given.

    A 10-digit NDC without dashes is refused: it could be 4-4-2, 5-3-2 or 5-4-1.
    """
    ndc = value.strip()
    if _DIGITS.fullmatch(ndc):
        if len(ndc) == 11:
            return ndc
        if len(ndc) == 10:
            raise ValueError("a 10-digit NDC needs its dashes (4-4-2, 5-3-2 or 5-4-1)")
        raise ValueError("an NDC has 10 digits with dashes or 11 digits")
    match = _NDC_DASHED.fullmatch(ndc)
    if match is None:
        raise ValueError("an NDC is 4-4-2, 5-3-2 or 5-4-1 with dashes, or 11 digits")
    labeler, product, package = match.groups()
    lengths = (len(labeler), len(product), len(package))
    if lengths == (5, 4, 2):
        return labeler + product + package
    if lengths not in _NDC_SEGMENT_LENGTHS:
        raise ValueError("an NDC is 4-4-2, 5-3-2 or 5-4-1 with dashes, or 11 digits")
    return labeler.zfill(5) + product.zfill(4) + package.zfill(2)


def format_ndc(ndc11: str) -> str:
    """The 5-4-2 dashed display form of an 11-digit NDC."""
    return f"{ndc11[:5]}-{ndc11[5:9]}-{ndc11[9:]}"
