"""Reports printed as PDF (reportlab), to be read on paper.

Each page is headed by the registrant's name, address and DEA number, the report's title and
what it covers, and footed by when and by whom it was generated and "Page x of y". The first
page lists the report's own fields (a form's date of discovery, an inventory's kind); then
the table of the printed columns, its title row repeated on every page; then, where the paper
record has them, lines to sign.

The page is the first :data:`LAYOUTS` entry whose columns fit: a column is never narrower
than its longest word, so an NDC, a lot number, a quantity or a DEA number is never broken
across lines; a cell wraps only at its spaces (but for a word longer than any of those, such
as a request's parameters in JSON).

A PDF is made whole in memory, so its rows are limited (``report_pdf_max_rows``); longer
reports are for CSV or JSON Lines, which stream.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import TABLOID, landscape, legal, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from app.core.errors import AppError
from app.core.instants import printed_instant
from app.reports.snapshots import address_line
from app.reports.tabular import Column, Row, printed_cells

_FONT, _BOLD = "Helvetica", "Helvetica-Bold"


@dataclass(frozen=True, slots=True)
class Layout:
    page: tuple[float, float]
    font_size: float


LAYOUTS = [
    Layout(letter, 9), Layout(landscape(letter), 9), Layout(landscape(letter), 8),
    Layout(landscape(letter), 7), Layout(landscape(legal), 7), Layout(landscape(TABLOID), 7),
]  # fmt: skip
"""Portrait letter when the columns fit it, else landscape, smaller type (never below 7
points) and wider paper, in that order."""
MARGIN = 0.5 * inch
HEADER_HEIGHT = 0.75 * inch
FOOTER_HEIGHT = 0.35 * inch
_PADDING = 2.0
"""Points each side of a cell's text."""
_SLACK = 1.0
"""A point more than a word measures: one that fits exactly is otherwise wrapped by its last
letter."""
_NATURAL_MAX = 2.5 * inch
"""The widest a column asks to be before its cells wrap at their spaces."""
_LONGEST_WORD = 2.5 * inch
"""A word wider than this (a request's JSON parameters) is cut where the column ends; no
NDC, lot number, quantity or DEA number comes near it."""
_SIGNATURE_LINE = 2.6 * inch
_LABEL_WIDTH = 2.4 * inch
_TABLE_STYLE = TableStyle([
    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), _PADDING),
    ("RIGHTPADDING", (0, 0), (-1, -1), _PADDING),
])  # fmt: skip
_FIELDS_STYLE = TableStyle([
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), 0),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
])  # fmt: skip
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}")
"""An instant in a report's head, as JSON holds it (RFC 3339 with its offset)."""
_HEAD_KEYS = frozenset({"report", "registrant", "generated_at", "generated_by", "period"})
"""What the page header and footer print; the rest of a report's head is its own fields."""


class PdfTooLong(AppError):
    slug = "pdf-too-long"
    status = 422
    title = "Too many rows for a PDF"
    description = "A PDF is made whole; ask for format=csv or format=jsonl, which stream."


def render(
    head: dict[str, Any],
    title: str,
    columns: Sequence[Column],
    rows: list[Row],
    *,
    signatures: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    records: str | None = None,
) -> bytes:
    """The report as PDF bytes; ``signatures`` names the lines to sign below its table,
    ``labels`` how to print the head's fields where their keys would not say it. A report of
    no columns is a form: its fields, then its lines to sign. A report of ``records`` (a
    patient's sessions) prints each row as a record of that name, its fields labelled one
    under another, on portrait pages."""
    printed = [column for column in columns if column.printed]
    texts = [printed_cells(printed, row) for row in rows]
    layout, widths = (LAYOUTS[0], []) if records else fitted(printed, texts)
    cell = ParagraphStyle("cell", fontName=_FONT, fontSize=layout.font_size,
                          leading=layout.font_size * 1.2)  # fmt: skip
    buffer = BytesIO()
    document = BaseDocTemplate(
        buffer, pagesize=layout.page, title=title, author=head["registrant"]["name"],
        leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN + HEADER_HEIGHT,
        bottomMargin=MARGIN + FOOTER_HEIGHT,
    )  # fmt: skip
    frame = Frame(document.leftMargin, document.bottomMargin, document.width, document.height)
    document.addPageTemplates([PageTemplate(
        frames=[frame], onPage=lambda canvas, doc: _header(canvas, layout.page, head, title),
    )])  # fmt: skip
    story: list[Flowable] = [*_fields(head, labels or {}, cell, document.width)]
    if not printed:
        story += _signature_lines(signatures, cell)
    elif rows and records:
        story += [*_records(records, printed, rows, cell, document.width),
                  *_signature_lines(signatures, cell)]  # fmt: skip
    elif rows:
        story += [_table(printed, texts, widths, cell), *_signature_lines(signatures, cell)]
    else:
        story.append(Paragraph("Nothing to report.", cell))
    footer = _footer_text(head)
    document.build(story, canvasmaker=lambda *a, **k: _NumberedCanvas(footer, *a, **k))
    return buffer.getvalue()


def fitted(columns: Sequence[Column], texts: list[list[str]]) -> tuple[Layout, list[float]]:
    """The first layout whose page holds every column at its narrowest (its longest word),
    and each column's width there. Past the widest page, the columns are squeezed."""
    if not columns:
        return LAYOUTS[0], []  # a form: its fields on a portrait page
    for layout in LAYOUTS:
        width = layout.page[0] - 2 * MARGIN
        narrowest = [_longest_word(column, texts, i, layout.font_size)
                     for i, column in enumerate(columns)]  # fmt: skip
        if sum(narrowest) <= width:
            natural = [max(least, _longest_cell(texts, i, layout.font_size))
                       for i, least in enumerate(narrowest)]  # fmt: skip
            return layout, _shared(width, narrowest, natural)
    return layout, [width * least / sum(narrowest) for least in narrowest]


def _longest_word(column: Column, texts: list[list[str]], index: int, size: float) -> float:
    cells = [(column.title, _BOLD), *((cells[index], _FONT) for cells in texts)]
    words = (stringWidth(word, font, size) for text, font in cells for word in text.split(" "))
    return 2 * _PADDING + _SLACK + min(max(words), _LONGEST_WORD)


def _longest_cell(texts: list[list[str]], index: int, size: float) -> float:
    longest = max((stringWidth(cells[index], _FONT, size) for cells in texts), default=0.0)
    return 2 * _PADDING + min(longest, _NATURAL_MAX)


def _shared(width: float, narrowest: list[float], natural: list[float]) -> list[float]:
    """Each column at least its narrowest; the room left goes first to the columns that
    would wrap (up to their natural width), then to all in proportion."""
    room = width - sum(narrowest)
    wants = [want - least for want, least in zip(natural, narrowest, strict=True)]
    if sum(wants) > room:
        share = room / sum(wants)
        return [least + want * share for least, want in zip(narrowest, wants, strict=True)]
    spare = (room - sum(wants)) / sum(natural)
    return [want * (1 + spare) for want in natural]


def _table(
    columns: list[Column], texts: list[list[str]], widths: list[float], cell: ParagraphStyle
) -> Table:
    bold = ParagraphStyle("title-cell", parent=cell, fontName=_BOLD)
    titles = [Paragraph(escape(column.title), bold) for column in columns]
    body = [[Paragraph(escape(text), cell) for text in cells] for cells in texts]
    table = Table([titles, *body], repeatRows=1, colWidths=widths)
    table.setStyle(_TABLE_STYLE)
    return table


def _records(
    noun: str, columns: list[Column], rows: list[Row], cell: ParagraphStyle, width: float
) -> list[Flowable]:
    """Each row headed "<noun> 1 of 3", then its fields labelled, a list's items one a line;
    a short record is kept on one page."""
    style, label = _field_styles(cell)
    heading = ParagraphStyle("record", parent=label, fontSize=style.fontSize + 1.5,
                             leading=(style.fontSize + 1.5) * 1.3, spaceBefore=4)  # fmt: skip
    story: list[Flowable] = []
    for number, row in enumerate(rows, start=1):
        lines = [[Paragraph(escape(column.title), label),
                  Paragraph(_record_cell(column, row[column.name]), style)]
                 for column in columns]  # fmt: skip
        table = Table(lines, colWidths=[_LABEL_WIDTH, width - _LABEL_WIDTH], hAlign="LEFT")
        table.setStyle(_RECORD_STYLE)
        title = Paragraph(escape(f"{noun} {number} of {len(rows)}"), heading)
        story += [KeepTogether([title, table]), Spacer(1, 0.2 * inch)]
    return story


_RECORD_STYLE = TableStyle([
    *_FIELDS_STYLE.getCommands(),
    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
])  # fmt: skip


def _record_cell(column: Column, value: Any) -> str:
    """A record's field as markup: each item of a list on a line of its own, "—" for none."""
    items = value if isinstance(value, list) else [value]
    texts = [printed_cells([column], {column.name: item})[0] for item in items]
    return "<br/>".join(escape(text) for text in texts if text) or "—"


def _field_styles(cell: ParagraphStyle) -> tuple[ParagraphStyle, ParagraphStyle]:
    """A field's text and its label: the page's type, never below 8 points."""
    size = max(cell.fontSize, 8)
    style = ParagraphStyle("field", parent=cell, fontSize=size, leading=size * 1.25)
    return style, ParagraphStyle("label", parent=style, fontName=_BOLD)


def _fields(
    head: dict[str, Any], labels: Mapping[str, str], cell: ParagraphStyle, width: float
) -> list[Flowable]:
    """The report's own fields (every one its JSON head has), labelled, before its table."""
    own = [(key, value) for key, value in head.items() if key not in _HEAD_KEYS]
    if not own:
        return []
    style, label = _field_styles(cell)
    zone = _zone(head)
    rows = [[Paragraph(escape(labels.get(key) or _label(key)), label),
             Paragraph(escape(_printed(value, zone)), style)] for key, value in own]  # fmt: skip
    table = Table(rows, colWidths=[_LABEL_WIDTH, width - _LABEL_WIDTH], hAlign="LEFT")
    table.setStyle(_FIELDS_STYLE)
    return [table, Spacer(1, 0.15 * inch)]


def _label(key: str) -> str:
    words = key.replace("_", " ")
    for short in ("dea", "ndc", "id", "rems"):
        words = " ".join(word.upper() if word == short else word for word in words.split(" "))
    return words[:1].upper() + words[1:]


def _zone(head: dict[str, Any]) -> ZoneInfo:
    """The registrant's clock, on which the page prints every instant of its head."""
    return ZoneInfo(head["registrant"]["timezone"])


def _printed(value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return "—"
    if isinstance(value, str) and _INSTANT.fullmatch(value):
        # "2026-03-02 09:55 CST": the JSON's offset says the instant, the zone names it
        return printed_instant(datetime.fromisoformat(value).astimezone(zone))
    if isinstance(value, list):
        return "; ".join(_printed(item, zone) for item in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{_label(key)}: {_printed(item, zone)}" for key, item in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _signature_lines(names: Sequence[str], cell: ParagraphStyle) -> list[Flowable]:
    """For each name, a line to sign and one to date, named below; kept on one page."""
    if not names:
        return []
    rows = [row for name in names for row in (["", "", ""], [name, "", "Date"])]
    heights = [height for _ in names for height in (0.45 * inch, 0.2 * inch)]
    table = Table(rows, colWidths=[_SIGNATURE_LINE, 0.4 * inch, 1.4 * inch], rowHeights=heights,
                  hAlign="LEFT")  # fmt: skip
    lines = [("LINEBELOW", (column, row), (column, row), 0.5, colors.black)
             for row in range(0, len(rows), 2) for column in (0, 2)]  # fmt: skip
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), _FONT, max(cell.fontSize, 8)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        *lines,
    ]))  # fmt: skip
    return [Spacer(1, 0.2 * inch), KeepTogether([table])]


def _header(canvas: Canvas, page: tuple[float, float], head: dict[str, Any], title: str) -> None:
    """The registrant and the report on every page."""
    registrant = head["registrant"]
    top = page[1] - MARGIN
    canvas.saveState()
    canvas.setFont(_BOLD, 11)
    canvas.drawString(MARGIN, top - 11, registrant["name"])
    canvas.setFont(_FONT, 8.5)
    canvas.drawString(MARGIN, top - 23, address_line(registrant["address"]) or "")
    if registrant["dea_number"]:
        canvas.drawString(MARGIN, top - 34, f"DEA registration {registrant['dea_number']}")
    canvas.setFont(_BOLD, 11)
    canvas.drawRightString(page[0] - MARGIN, top - 11, title)
    canvas.setFont(_FONT, 8.5)
    canvas.drawRightString(page[0] - MARGIN, top - 23, _covering(head))
    canvas.line(MARGIN, top - 42, page[0] - MARGIN, top - 42)
    canvas.restoreState()


def _covering(head: dict[str, Any]) -> str:
    zone = head["registrant"]["timezone"]
    if "period" in head:
        return f"{head['period']['from']} to {head['period']['to']} (times in {zone})"
    if "as_of" in head:
        return f"As of {_printed(head['as_of'], _zone(head))} (times in {zone})"
    return f"Times in {zone}"


def _footer_text(head: dict[str, Any]) -> str:
    by = f" by {head['generated_by']}" if head.get("generated_by") else ""
    return f"Generated {_printed(head['generated_at'], _zone(head))}{by}"


class _NumberedCanvas(Canvas):
    """A canvas that holds its pages until the end, to foot each with "Page x of y"."""

    def __init__(self, footer: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._width: float = kwargs["pagesize"][0]
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()  # type: ignore[attr-defined]  # reportlab's recipe for "of y"

    def save(self) -> None:
        for number, page in enumerate(self._pages, start=1):
            self.__dict__.update(page)
            self._foot(number, len(self._pages))
            super().showPage()
        super().save()

    def _foot(self, number: int, total: int) -> None:
        width = self._width
        self.saveState()
        self.setFont(_FONT, 8)
        self.line(MARGIN, MARGIN + 12, width - MARGIN, MARGIN + 12)
        self.drawString(MARGIN, MARGIN, self._footer)
        self.drawRightString(width - MARGIN, MARGIN, f"Page {number} of {total}")
        self.restoreState()
