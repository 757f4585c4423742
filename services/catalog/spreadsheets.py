"""Spreadsheets: the price list a partner downloads, written with XlsxWriter, and the tables admins
import, read from CSV or XLSX (openpyxl). CPU work: callers run these in a thread."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import openpyxl
import xlsxwriter

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PRICE_HEADER = [
    "Code",
    "EAN",
    "Product",
    "VAT %",
    "Unit price",
    "Currency",
    "Unit price (minor units)",
    "Price list",
]
# ISO 4217 currencies whose minor unit is not the cent; every other one has two decimals.
_MINOR_DIGITS = {
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "JOD": 3,
}


@dataclass(frozen=True)
class PriceRow:
    """One product's line: what the organisation pays for it, and where that price comes from."""

    code: str
    ean: str | None
    name: str
    vat_rate_bp: int
    price_minor: int
    currency: str
    source: str  # "base price" or the price list's scope


def price_list_workbook(heading: Sequence[tuple[str, str]], rows: Iterable[PriceRow]) -> bytes:
    """An .xlsx of one brand's prices: a few heading lines, then one line per product."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("Prices")
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.00"})
    money = {
        digits: book.add_format({"num_format": "#,##0" + ("." + "0" * digits if digits else "")})
        for digits in (0, 2, 3)
    }
    for line, (label, value) in enumerate(heading):
        sheet.write_string(line, 0, label, bold)
        sheet.write_string(line, 1, value)
    top = len(heading) + 1
    for column, title in enumerate(PRICE_HEADER):
        sheet.write_string(top, column, title, bold)
    line = top
    for line, row in enumerate(rows, start=top + 1):
        digits = _MINOR_DIGITS.get(row.currency, 2)
        # Strings are written as strings: a name starting with "=" stays text, never a formula.
        sheet.write_string(line, 0, row.code)
        sheet.write_string(line, 1, row.ean or "")
        sheet.write_string(line, 2, row.name)
        sheet.write_number(line, 3, row.vat_rate_bp / 100, percent)
        sheet.write_number(line, 4, float(Decimal(row.price_minor).scaleb(-digits)), money[digits])
        sheet.write_string(line, 5, row.currency)
        sheet.write_number(line, 6, row.price_minor)
        sheet.write_string(line, 7, row.source)
    sheet.autofilter(top, 0, line, len(PRICE_HEADER) - 1)
    sheet.freeze_panes(top + 1, 0)
    sheet.set_column(0, 1, 16)
    sheet.set_column(2, 2, 48)
    sheet.set_column(3, 7, 14)
    book.close()
    return out.getvalue()


class TableError(ValueError):
    """The file as a whole cannot be read as a table (not CSV nor XLSX, too many lines…)."""


@dataclass(frozen=True)
class Table:
    """A table read from a file: its header (lower-cased) and its rows, each with its line number
    (the header is line 1, as a spreadsheet numbers it); blank lines are left out."""

    columns: list[str]
    rows: list[tuple[int, list[str]]]


def read_table(content: bytes, max_lines: int) -> Table:
    """CSV (UTF-8, comma, semicolon or tab) or XLSX (its first sheet), told apart by content."""
    lines = _xlsx_lines(content) if content.startswith(b"PK\x03\x04") else _csv_lines(content)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(lines, start=1):
        if header is None:
            header = [cell.strip().lower() for cell in cells]
            while header and not header[-1]:
                header.pop()
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) == max_lines:
            raise TableError(f"the file has more than {max_lines} lines: split it")
        rows.append((number, cells))
    if not header:
        raise TableError("the file is empty: its first line must name the columns")
    return Table(header, rows)


def _csv_lines(content: bytes) -> Iterator[list[str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TableError("the file is neither an XLSX workbook nor a UTF-8 CSV") from None
    first = text.split("\n", 1)[0]
    # French spreadsheets export with semicolons: take the separator the header uses most.
    delimiter = max(";,\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        yield from reader
    except csv.Error as exc:
        raise TableError(f"the CSV is malformed near line {reader.line_num}: {exc}") from None


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# What openpyxl raises on a damaged workbook: a bad zip, missing parts, malformed XML or values.
_BROKEN = (zipfile.BadZipFile, KeyError, IndexError, OSError, ValueError, SyntaxError, TypeError)


def _xlsx_lines(content: bytes) -> Iterator[list[str]]:
    """The first sheet's rows, read as a stream: reading stops as soon as the caller stops (too many
    lines), so a small file that unzips to a huge sheet is never held in memory."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        rows = book.worksheets[0].iter_rows(values_only=True)
    except _BROKEN as exc:
        raise TableError(f"the XLSX workbook cannot be read: {exc!r}") from None
    try:
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except _BROKEN as exc:
                raise TableError(f"the XLSX workbook cannot be read: {exc!r}") from None
            yield [_cell_text(value) for value in row]
    finally:
        book.close()
