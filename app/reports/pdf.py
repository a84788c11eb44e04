"""Reports printed as PDF (reportlab): landscape pages (letter, or wider for many columns),
each headed by the registrant's name, address and DEA number, the report's title and what it
covers, and numbered; the table of the report's printed columns, its title row repeated on
every page.

A PDF is made whole in memory, so its rows are limited (``report_pdf_max_rows``); longer
reports are for CSV or JSON Lines, which stream.
"""

from collections.abc import Sequence
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import TABLOID, landscape, legal, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Table, TableStyle

from app.core.errors import AppError
from app.reports.snapshots import address_line
from app.reports.tabular import Column, Row, printed_cells

PAGES = [landscape(letter), landscape(legal), landscape(TABLOID)]
"""Letter when the columns fit it, legal or tabloid when they need more width."""
MARGIN = 0.4 * inch
HEADER_HEIGHT = 0.85 * inch
_CELL = ParagraphStyle("cell", fontName="Helvetica", fontSize=6.5, leading=7.8)
_TITLE_CELL = ParagraphStyle("title-cell", parent=_CELL, fontName="Helvetica-Bold")
_CHARACTER_WIDTH = 0.52 * 6.5
"""Points an average character of the cells' Helvetica takes."""
_SAMPLED_ROWS = 200
"""Rows read to size the columns."""
_NARROWEST, _WRAP_AT, _WIDEST = 4, 24, 40
"""Characters: a column is never narrower, a long cell wraps past this, a word is cut past that."""
_NOTE = ParagraphStyle("note", fontName="Helvetica", fontSize=9, leading=11)
_TABLE_STYLE = TableStyle([
    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), 2),
    ("RIGHTPADDING", (0, 0), (-1, -1), 2),
])  # fmt: skip


class PdfTooLong(AppError):
    slug = "pdf-too-long"
    status = 422
    title = "Too many rows for a PDF"
    description = "A PDF is made whole; ask for format=csv or format=jsonl, which stream."


def render(head: dict[str, Any], title: str, columns: Sequence[Column], rows: list[Row]) -> bytes:
    """The report as PDF bytes, on the smallest of the pages that fits its columns."""
    printed = [column for column in columns if column.printed]
    texts = [printed_cells(printed, row) for row in rows]
    needs = _needs(printed, texts)
    page = next((size for size in PAGES if _fits(needs, size)), PAGES[-1])
    buffer = BytesIO()
    document = BaseDocTemplate(
        buffer, pagesize=page, title=title, author=head["registrant"]["name"],
        leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN + HEADER_HEIGHT,
        bottomMargin=MARGIN,
    )  # fmt: skip
    frame = Frame(document.leftMargin, document.bottomMargin, document.width, document.height)
    document.addPageTemplates([PageTemplate(
        frames=[frame], onPage=lambda canvas, doc: _header(canvas, page, head, title),
    )])  # fmt: skip
    document.build([_table(printed, texts, needs, document.width)] if rows else
                   [Paragraph("Nothing to report.", _NOTE)])  # fmt: skip
    return buffer.getvalue()


def _table(columns: list[Column], texts: list[list[str]], needs: list[int], width: float) -> Table:
    titles = [Paragraph(escape(column.title), _TITLE_CELL) for column in columns]
    body = [[Paragraph(escape(cell), _CELL) for cell in cells] for cells in texts]
    widths = [width * need / sum(needs) for need in needs]
    table = Table([titles, *body], repeatRows=1, colWidths=widths)
    table.setStyle(_TABLE_STYLE)
    return table


def _needs(columns: list[Column], texts: list[list[str]]) -> list[int]:
    """Characters each column needs: its longest word, or its longest cell up to where a
    cell may wrap, within bounds."""
    needs = []
    for index, column in enumerate(columns):
        cells = [column.title, *(cells[index] for cells in texts[:_SAMPLED_ROWS])]
        longest_word = max(len(word) for cell in cells for word in (cell.split() or [""]))
        longest_cell = max(len(cell) for cell in cells)
        needs.append(min(max(longest_word, min(longest_cell, _WRAP_AT), _NARROWEST), _WIDEST))
    return needs


def _fits(needs: list[int], page: tuple[float, float]) -> bool:
    padding = 4 * len(needs)
    return sum(needs) * _CHARACTER_WIDTH + padding <= page[0] - 2 * MARGIN


def _header(canvas: Canvas, page: tuple[float, float], head: dict[str, Any], title: str) -> None:
    """The registrant and the report on every page, and the page's number."""
    registrant = head["registrant"]
    top = page[1] - MARGIN
    canvas.saveState()
    canvas.setFont("Helvetica-Bold", 11)
    canvas.drawString(MARGIN, top - 11, registrant["name"])
    canvas.setFont("Helvetica", 8.5)
    canvas.drawString(MARGIN, top - 23, address_line(registrant["address"]) or "")
    if registrant["dea_number"]:
        canvas.drawString(MARGIN, top - 34, f"DEA registration {registrant['dea_number']}")
    canvas.setFont("Helvetica-Bold", 11)
    canvas.drawRightString(page[0] - MARGIN, top - 11, title)
    canvas.setFont("Helvetica", 8.5)
    canvas.drawRightString(page[0] - MARGIN, top - 23, _covering(head))
    numbered = f"Generated {head['generated_at']}  ·  Page {canvas.getPageNumber()}"
    canvas.drawRightString(page[0] - MARGIN, top - 34, numbered)
    canvas.line(MARGIN, top - 40, page[0] - MARGIN, top - 40)
    canvas.restoreState()


def _covering(head: dict[str, Any]) -> str:
    if "period" in head:
        return (
            f"{head['period']['from']} to {head['period']['to']} ({head['registrant']['timezone']})"
        )
    if "as_of" in head:
        return f"As of {head['as_of']}, {head['inventory_kind']}, {head['taken_at']}"
    return f"Discrepancy {head.get('discrepancy_id', '')}"
