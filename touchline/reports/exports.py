"""Exports of a report result: CSV (`ReportResult.to_csv`) and XLSX (openpyxl), and the download response both
the report pages, saved reports and dashboard tiles answer with `?format=csv|xlsx`.

The XLSX workbook: sheet "Report" holds a header row (the column labels), one row per result row and, when the
result has totals, a "Total" row — counts as integers, money as decimals shown with 2 places, percentages as
fractions with a `0.0%` format (40.0 % is the number 0.4), text as text (never a formula, whatever it starts
with). Sheet "Parameters" holds the title, the report key, when it ran, each parameter and the notes.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

from django.http import HttpResponse
from django.utils import timezone
from django.utils.text import slugify
from openpyxl import Workbook
from openpyxl.styles import Font

from touchline.reports.pipeline import Column, ReportResult

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")
MONEY_FORMAT, PERCENT_FORMAT, COUNT_FORMAT = "#,##0.00", "0.0%", "#,##0"


def _cell_value(value, column: Column):
    if value is None or value == "":
        return None
    if column.kind == "money":
        return Decimal(str(value)).quantize(Decimal("0.01"))
    if column.kind == "percent":
        return Decimal(str(value)) / 100
    if column.kind == "count":
        return int(value) if not isinstance(value, Decimal) else value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _write(sheet, row: int, col: int, value, column: Column | None = None) -> None:
    cell = sheet.cell(row=row, column=col, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # "=SUM(…)" typed by someone into a contact's name stays text
    elif column is not None and value is not None:
        cell.number_format = {"money": MONEY_FORMAT, "percent": PERCENT_FORMAT,
                              "count": COUNT_FORMAT}.get(column.kind, cell.number_format)


def result_to_xlsx(result: ReportResult, *, ran_at: datetime | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Report"
    bold = Font(bold=True)
    for col, column in enumerate(result.columns, start=1):
        _write(sheet, 1, col, column.label)
        sheet.cell(row=1, column=col).font = bold
    for r, row in enumerate(result.rows, start=2):
        for col, column in enumerate(result.columns, start=1):
            _write(sheet, r, col, _cell_value(row.get(column.key), column), column)
    if any(c.key in result.totals for c in result.columns[1:]):
        r = len(result.rows) + 2
        _write(sheet, r, 1, "Total")
        sheet.cell(row=r, column=1).font = bold
        for col, column in enumerate(result.columns[1:], start=2):
            _write(sheet, r, col, _cell_value(result.totals.get(column.key), column), column)
    sheet.freeze_panes = "A2"

    about = book.create_sheet("Parameters")
    lines = [("Title", result.title), ("Report", result.report),
             ("Ran at", (ran_at or timezone.now()).isoformat(timespec="seconds"))]
    lines += [(key, value) for key, value in result.params.items()]
    lines += [("Note", note) for note in result.notes]
    for r, (key, value) in enumerate(lines, start=1):
        _write(about, r, 1, key)
        _write(about, r, 2, "" if value is None else str(value))
        about.cell(row=r, column=1).font = bold
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_response(result: ReportResult, fmt: str, name: str = "") -> HttpResponse:
    """The download of `result` as `fmt` ("csv" or "xlsx"), named after `name` (default: the report key)."""
    filename = slugify(name) or result.report
    if fmt == "xlsx":
        response = HttpResponse(result_to_xlsx(result), content_type=XLSX_TYPE)
    else:
        response = HttpResponse(result.to_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
