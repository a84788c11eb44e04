"""Reading a file of suppliers' invoices (CSV, UTF-8, a header row): every row checked, and
every problem named by its row, column and kind, so that one answer lists all there is to
fix and nothing of a faulty file is kept.

Pure: bytes in, invoices or the problems out. A file may hold several invoices; the rows of
one invoice are those of one supplier's DEA number and one invoice number.
"""

import csv
import hashlib
import io
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from app.core.canonical import canonical_json
from app.core.identifiers import normalize_ndc, validate_dea_number
from app.core.instants import InstantError, parse_day
from app.core.quantity import QuantityError, format_quantity, parse_quantity

COLUMNS = ("invoice_number", "invoice_date", "supplier_dea_number", "ndc", "lot_number",
           "quantity")  # fmt: skip
"""The header row, in any order; no other column is taken."""
INVOICE_NUMBER_LENGTH = 100
"""As long as a receipt's ``document_reference`` may be, which names the invoice."""
LOT_NUMBER_LENGTH = 50
"""As long as a lot's number in the catalog may be."""

T = TypeVar("T")


class Problem(StrEnum):
    """What is wrong with a cell, a row or the file."""

    not_utf8 = "not_utf8"
    no_header = "no_header"
    column_missing = "column_missing"
    column_unknown = "column_unknown"
    column_repeated = "column_repeated"
    no_rows = "no_rows"
    cells_count = "cells_count"
    empty = "empty"
    too_long = "too_long"
    invalid_date = "invalid_date"
    invalid_dea_number = "invalid_dea_number"
    invalid_ndc = "invalid_ndc"
    invalid_quantity = "invalid_quantity"
    zero_quantity = "zero_quantity"
    date_differs = "date_differs"
    line_repeated = "line_repeated"


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A problem at ``row`` (the header is row 1; 0 for the file as a whole) and ``column``
    (None for a row or the file)."""

    row: int
    column: str | None
    problem: Problem
    detail: str


@dataclass(frozen=True, slots=True)
class Line:
    row: int
    ndc: str
    """11 digits."""
    lot_number: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Invoice:
    supplier_dea_number: str
    invoice_number: str
    invoice_date: date
    lines: tuple[Line, ...]

    @property
    def content_sha256(self) -> str:
        """What the invoice says (its date and lines, in no order), as a digest: the same
        invoice sent again has the same one, whatever file it came in."""
        lines = sorted([line.ndc, line.lot_number, format_quantity(line.quantity)]
                       for line in self.lines)  # fmt: skip
        said = {"invoice_date": self.invoice_date.isoformat(), "lines": lines}
        return hashlib.sha256(canonical_json(said)).hexdigest()


class Refused(ValueError):
    """The file cannot be taken: every problem found in it."""

    def __init__(self, problems: list[FileProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the file")
        self.problems = problems


def read(body: bytes) -> list[Invoice]:
    """The invoices ``body`` holds, in the order they first appear, or :class:`Refused`."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        said = f"the file is not UTF-8 (byte {error.start})"
        raise Refused([FileProblem(0, None, Problem.not_utf8, said)]) from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, problems = _header(rows)
    if problems:
        raise Refused(problems)
    read_rows = [(number, _row(number, header, cells, problems))
                 for number, cells in enumerate(rows[1:], start=2) if any(cells)]  # fmt: skip
    if not read_rows:
        problems.append(FileProblem(0, None, Problem.no_rows, "the file holds no invoice line"))
    invoices = _grouped([(number, cells) for number, cells in read_rows if cells], problems)
    if problems:
        raise Refused(problems)
    return invoices


def _header(rows: list[list[str]]) -> tuple[list[str], list[FileProblem]]:
    if not rows or not any(rows[0]):
        return [], [FileProblem(1, None, Problem.no_header, "the first row names the columns: "
                                + ", ".join(COLUMNS))]  # fmt: skip
    header = [cell.strip() for cell in rows[0]]
    problems = [FileProblem(1, name, Problem.column_unknown, f"no column {name!r} is taken")
                for name in header if name not in COLUMNS]  # fmt: skip
    problems += [FileProblem(1, name, Problem.column_repeated, "a column is named once")
                 for name in sorted(set(header)) if header.count(name) > 1]  # fmt: skip
    problems += [FileProblem(1, name, Problem.column_missing, "the column is required")
                 for name in COLUMNS if name not in header]  # fmt: skip
    return header, problems


@dataclass(frozen=True, slots=True)
class _Row:
    supplier_dea_number: str
    invoice_number: str
    invoice_date: date
    line: Line


def _row(number: int, header: list[str], cells: list[str], problems: list[FileProblem]
         ) -> _Row | None:  # fmt: skip
    """The row's values, or None with its problems added."""
    if len(cells) != len(header):
        said = f"{len(cells)} cells where the header has {len(header)}"
        problems.append(FileProblem(number, None, Problem.cells_count, said))
        return None
    cell = {name: value.strip() for name, value in zip(header, cells, strict=True)}

    def read(column: str, reader: Callable[[str], T], invalid: Problem = Problem.empty) -> T | None:
        return _value(number, column, cell[column], reader, invalid, problems)

    dea = read("supplier_dea_number", validate_dea_number, Problem.invalid_dea_number)
    invoice_number = read("invoice_number", _bounded(INVOICE_NUMBER_LENGTH))
    invoice_date = read("invoice_date", _date)
    ndc = read("ndc", normalize_ndc, Problem.invalid_ndc)
    lot_number = read("lot_number", _bounded(LOT_NUMBER_LENGTH))
    quantity = read("quantity", _quantity)
    if (dea is None or invoice_number is None or invoice_date is None or ndc is None
            or lot_number is None or quantity is None):  # fmt: skip
        return None
    return _Row(dea, invoice_number, invoice_date, Line(number, ndc, lot_number, quantity))


def _value(row: int, column: str, text: str, reader: Callable[[str], T], invalid: Problem,
           problems: list[FileProblem]) -> T | None:  # fmt: skip
    """The cell's value as its column takes it, or None with its problem added (``invalid``
    for a shared validator's plain ValueError)."""
    if not text:
        problems.append(FileProblem(row, column, Problem.empty, "the cell is empty"))
        return None
    try:
        return reader(text)
    except _CellError as error:
        problems.append(FileProblem(row, column, error.problem, str(error)))
    except ValueError as error:
        problems.append(FileProblem(row, column, invalid, str(error)))
    return None


class _CellError(ValueError):
    def __init__(self, problem: Problem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


def _bounded(length: int) -> Callable[[str], str]:
    def text(value: str) -> str:
        if len(value) > length:
            raise _CellError(Problem.too_long, f"at most {length} characters")
        return value

    return text


def _date(value: str) -> date:
    """A day as every day is read (app/core/instants.py): YYYY-MM-DD, and in range."""
    try:
        return parse_day(value)
    except InstantError as error:
        raise _CellError(Problem.invalid_date, str(error)) from None


def _quantity(value: str) -> Decimal:
    try:
        quantity = parse_quantity(value)
    except QuantityError as error:
        raise _CellError(Problem.invalid_quantity, str(error)) from None
    if quantity == 0:
        raise _CellError(Problem.zero_quantity, "an invoice line ships more than nothing")
    return quantity


def _grouped(rows: list[tuple[int, _Row]], problems: list[FileProblem]) -> list[Invoice]:
    """The rows as invoices: one date per invoice, one line per NDC and lot."""
    by_invoice: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for _, row in rows:
        by_invoice[(row.supplier_dea_number, row.invoice_number)].append(row)
    invoices = []
    for (dea, number), of_invoice in by_invoice.items():
        first = of_invoice[0]
        dated = f"invoice {number} is dated {first.invoice_date} on row {first.line.row}"
        problems.extend(
            FileProblem(row.line.row, "invoice_date", Problem.date_differs, dated)
            for row in of_invoice
            if row.invoice_date != first.invoice_date
        )
        problems.extend(_repeated_lines(number, of_invoice))
        lines = tuple(row.line for row in of_invoice)
        invoices.append(Invoice(dea, number, first.invoice_date, lines))
    return invoices


def _repeated_lines(number: str, rows: list[_Row]) -> Iterator[FileProblem]:
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.line.ndc, row.line.lot_number)
        if key in seen:
            yield FileProblem(row.line.row, "lot_number", Problem.line_repeated,
                              f"invoice {number} lists this NDC and lot on row {seen[key]} "
                              "already: one line per lot")  # fmt: skip
        else:
            seen[key] = row.line.row
