"""Bulk imports from a CSV or XLSX table: products (created or updated by code) and the prices of one
price list. Every line is checked first; one bad line refuses the whole file, reported line by line,
and nothing changes. A good file is applied in the caller's transaction, events included.

Products: `code` is required; other columns are optional and a column absent from the file leaves
that field as it is (or at its default for a new product, which needs name, price_minor and
currency). In a given column, a blank cell means "not given" for name, price_minor, currency,
vat_rate_bp and active, and "none" for ean, brand, category_id, images and the per-locale names and
descriptions (name_fr, description_en…). `brand` is a brand's name or id; `images` are URLs
separated by spaces or "|"; `active` is true/false (also 1/0, yes/no, oui/non, active/retired).

Prices: columns `code` and `price_minor`; a blank price removes the product from the list; products
not in the file keep their price in the list.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from pydantic import ValidationError

from libs.common.errors import FieldError, Invalid
from services.catalog import commands, pricing_store, store
from services.catalog.domain import (
    LOCALES,
    MAX_PRICES_PER_LIST,
    NewProduct,
    PriceEntry,
    PriceList,
    PriceListDetails,
    Product,
    ProductDetails,
    code_key,
    is_valid_code,
)
from services.catalog.events import PriceListChanged, ProductCreated, ProductUpdated
from services.catalog.spreadsheets import Table

MAX_REPORTED = 1_000
_NAME_COLUMNS = {f"name_{locale}": locale for locale in LOCALES}
_DESCRIPTION_COLUMNS = {f"description_{locale}": locale for locale in LOCALES}
PRODUCT_COLUMNS = (
    "code",
    "name",
    "price_minor",
    "currency",
    "vat_rate_bp",
    "active",
    "ean",
    "brand",
    "category_id",
    "images",
    *_NAME_COLUMNS,
    *_DESCRIPTION_COLUMNS,
)
PRICE_COLUMNS = ("code", "price_minor")
_REQUIRED_FOR_NEW = ("name", "price_minor", "currency")
_TRUE = {"true", "1", "yes", "oui", "active", "y"}
_FALSE = {"false", "0", "no", "non", "retired", "n"}
# Where a ProductDetails field is read from, to report a validation error in the admin's column.
_COLUMN_OF_FIELD = {"brand_id": "brand"}


@dataclass(frozen=True)
class LineError:
    line: int  # as the spreadsheet numbers it: the header is line 1
    column: str | None
    message: str


@dataclass(frozen=True)
class CellError(FieldError):
    """A wrong value of an imported file: `field` is its column, `line` its line."""

    line: int = 0


class ImportRefused(Invalid):
    """The file has bad lines: nothing was changed. The first `MAX_REPORTED` are listed."""

    def __init__(self, errors: Sequence[LineError]) -> None:
        found = sorted(errors, key=lambda e: (e.line, e.column or ""))
        shown = found[:MAX_REPORTED]
        more = f"; the first {len(shown)} are listed" if len(found) > len(shown) else ""
        super().__init__(
            [CellError(e.column or "", e.message, "import_error", e.line) for e in shown],
            kind="import-refused",
            title="Import refused",
            detail=f"{len(found)} errors in the file{more}: nothing was changed",
        )


@dataclass
class ImportedLine:
    line: int
    code: str
    product_id: uuid.UUID
    outcome: str  # created, updated, unchanged


@dataclass
class ProductImport:
    lines: list[ImportedLine] = field(default_factory=list)


def _lines(table: Table, known: Sequence[str], required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """The table's rows as {column: text}, after checking its header; raises on a bad header."""
    errors = [
        LineError(1, column, "unknown column; known: " + ", ".join(known))
        for column in table.columns
        if column not in known
    ]
    errors += [
        LineError(1, column, "this column is required") for column in required if column not in table.columns
    ]
    seen: set[str] = set()
    for column in table.columns:
        if column in seen:
            errors.append(LineError(1, column, "this column appears twice"))
        seen.add(column)
    if errors:
        raise ImportRefused(errors)
    rows = []
    row_errors = []
    width = len(table.columns)
    for line, cells in table.rows:
        if any(cell.strip() for cell in cells[width:]):
            row_errors.append(LineError(line, None, f"more cells than the {width} columns of the header"))
        padded = [*cells[:width], *[""] * (width - len(cells))]
        rows.append(
            (line, {column: cell.strip() for column, cell in zip(table.columns, padded, strict=True)})
        )
    if row_errors:
        raise ImportRefused(row_errors)
    return rows


def _integer(text: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,19}", text):
        raise ValueError("must be a whole number (minor units: cents, basis points)")
    return int(text)


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError("must be true or false")


def _column_of(location: tuple[int | str, ...]) -> str:
    name = str(location[0]) if location else ""
    if name in ("names", "descriptions") and len(location) > 1:
        return f"{'name' if name == 'names' else 'description'}_{location[1]}"
    return _COLUMN_OF_FIELD.get(name, name)


@dataclass(frozen=True)
class _Lookups:
    existing: Mapping[str, Product]  # by code key
    brands: Mapping[str, uuid.UUID]  # by lower-cased name and by id
    categories: frozenset[uuid.UUID]


def _product_changes(
    row: Mapping[str, str], lookups: _Lookups, line: int
) -> tuple[dict[str, Any], list[LineError]]:
    """What a row sets, as ProductDetails fields, and what is wrong in its cells."""
    changes: dict[str, Any] = {column: row[column] for column in ("name", "currency") if row.get(column)}
    if "ean" in row:
        changes["ean"] = row["ean"] or None
    if "images" in row:
        changes["images"] = [url for url in re.split(r"[\s|]+", row["images"]) if url]
    errors: list[LineError] = []
    # (column, field, reader, whether a blank cell is read too: it means "none" there)
    readers: list[tuple[str, str, Callable[[str], Any], bool]] = [
        ("price_minor", "price_minor", _integer, False),
        ("vat_rate_bp", "vat_rate_bp", _integer, False),
        ("active", "active", _boolean, False),
        ("brand", "brand_id", lambda text: _brand(text, lookups), True),
        ("category_id", "category_id", lambda text: _category(text, lookups), True),
    ]
    for column, field_name, read, blank_counts in readers:
        if column in row and (row[column] or blank_counts):
            try:
                changes[field_name] = read(row[column])
            except ValueError as exc:
                errors.append(LineError(line, column, str(exc)))
    return changes, errors


def _brand(text: str, lookups: _Lookups) -> uuid.UUID | None:
    if not text:
        return None
    found = lookups.brands.get(text.lower())
    if found is None:
        raise ValueError(f"no brand {text!r} in this tenant (give a brand's name or id)")
    return found


def _category(text: str, lookups: _Lookups) -> uuid.UUID | None:
    if not text:
        return None
    try:
        category_id = uuid.UUID(text)
    except ValueError:
        raise ValueError("must be a category id (GET /categories)") from None
    if category_id not in lookups.categories:
        raise ValueError("no such category in this tenant")
    return category_id


def _localized(
    current: Mapping[str, str], row: Mapping[str, str], columns: Mapping[str, str]
) -> dict[str, str]:
    texts = dict(current)
    for column, locale in columns.items():
        if column in row:
            if row[column]:
                texts[locale] = row[column]
            else:
                texts.pop(locale, None)
    return texts


@dataclass(frozen=True)
class _Planned:
    line: int
    code: str
    details: ProductDetails
    current: Product | None


def _plan_products(
    rows: list[tuple[int, dict[str, str]]], lookups: _Lookups
) -> tuple[list[_Planned], list[LineError]]:
    planned: list[_Planned] = []
    errors: list[LineError] = []
    first_line_of: dict[str, int] = {}
    for line, row in rows:
        code = row["code"]
        if not is_valid_code(code):
            errors.append(LineError(line, "code", "must be 1 to 32 of A-Z a-z 0-9 . _ -"))
            continue
        if code_key(code) in first_line_of:
            errors.append(
                LineError(line, "code", f"code {code} is already on line {first_line_of[code_key(code)]}")
            )
            continue
        first_line_of[code_key(code)] = line
        current = lookups.existing.get(code_key(code))
        changes, cell_errors = _product_changes(row, lookups, line)
        errors += cell_errors
        missing = [] if current else [column for column in _REQUIRED_FOR_NEW if not row.get(column)]
        errors += [LineError(line, column, "required for a new product") for column in missing]
        if cell_errors or missing:
            continue
        # An existing product keeps what the file does not give; a new one takes the defaults.
        base: dict[str, Any] = current.details().model_dump() if current else {"code": code}
        merged = {
            **base,
            **changes,
            "names": _localized(base.get("names", {}), row, _NAME_COLUMNS),
            "descriptions": _localized(base.get("descriptions", {}), row, _DESCRIPTION_COLUMNS),
        }
        try:
            details = (
                ProductDetails.model_validate(merged)
                if current
                else NewProduct.model_validate(merged).details()
            )
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                errors.append(LineError(line, _column_of(error["loc"]), error["msg"]))
            continue
        planned.append(_Planned(line, code, details, current))
    return planned, errors


def _ean_errors(planned: Sequence[_Planned], owners: Mapping[str, uuid.UUID]) -> list[LineError]:
    """EANs must stay unique in the tenant once the whole file is applied (swaps within it are fine)."""
    errors = []
    in_file = {p.current.id for p in planned if p.current}
    line_of: dict[str, int] = {}
    for p in planned:
        ean = p.details.ean
        if ean is None:
            continue
        if ean in line_of:
            errors.append(LineError(p.line, "ean", f"EAN {ean} is already on line {line_of[ean]}"))
            continue
        line_of[ean] = p.line
        owner = owners.get(ean)
        if owner is not None and owner not in in_file:
            errors.append(LineError(p.line, "ean", f"EAN {ean} belongs to another product of this tenant"))
    return errors


async def import_products(conn: asyncpg.Connection, tenant_id: str, table: Table) -> ProductImport:
    """Create or update the table's products and announce each change, all or nothing."""
    rows = _lines(table, PRODUCT_COLUMNS, ("code",))
    codes = [row["code"] for _, row in rows if is_valid_code(row["code"])]
    existing = {code_key(p.code): p for p in await store.lock_products_by_code(conn, tenant_id, codes)}
    brands: dict[str, uuid.UUID] = {}
    for brand in await store.list_brands(conn, tenant_id):
        brands[brand.name.lower()] = brand.id
        brands[str(brand.id)] = brand.id
    categories = frozenset(await store.parents(conn, tenant_id))
    planned, errors = _plan_products(rows, _Lookups(existing, brands, categories))
    eans = [p.details.ean for p in planned if p.details.ean]
    errors += _ean_errors(planned, await store.ean_owners(conn, tenant_id, eans))
    if errors:
        raise ImportRefused(errors)
    # EANs may move between products of the file: uniqueness is checked at commit.
    await conn.execute("SET CONSTRAINTS products_ean DEFERRED")
    report = ProductImport()
    for p in planned:
        if p.current is None:
            created = await store.add_product(conn, tenant_id, p.code, p.details)
            if created is None:  # added by someone else since the lock: the file no longer fits
                raise ImportRefused(
                    [LineError(p.line, "code", f"code {p.code} was just added by another request")]
                )
            await commands.publish(conn, tenant_id, created.id, ProductCreated.of(created))
            report.lines.append(ImportedLine(p.line, created.code, created.id, "created"))
        elif p.details == p.current.details():
            report.lines.append(ImportedLine(p.line, p.current.code, p.current.id, "unchanged"))
        else:
            updated = await store.update_product(conn, tenant_id, p.current.id, p.details)
            await commands.publish(conn, tenant_id, updated.id, ProductUpdated.of(updated))
            report.lines.append(ImportedLine(p.line, updated.code, updated.id, "updated"))
    return report


@dataclass
class PriceImport:
    price_list: PriceList
    set: int
    removed: int


async def import_prices(
    conn: asyncpg.Connection, tenant_id: str, list_id: uuid.UUID, table: Table
) -> PriceImport:
    """Set (or, with a blank price, remove) the prices of one list from the table, and announce it."""
    rows = _lines(table, PRICE_COLUMNS, PRICE_COLUMNS)
    current = await pricing_store.lock_price_list(conn, tenant_id, list_id)
    if current is None:
        raise commands.not_found("price list")
    if not current.active:
        raise commands.withdrawn()
    products = {
        code_key(p.code): p
        for p in await store.find_products_by_code(conn, tenant_id, [row["code"] for _, row in rows])
    }
    prices = {entry.product_id: entry.price_minor for entry in current.prices}
    errors: list[LineError] = []
    first_line_of: dict[str, int] = {}
    changed = removed = 0
    for line, row in rows:
        code = row["code"]
        product = products.get(code_key(code))
        if product is None:
            errors.append(LineError(line, "code", f"no product {code!r} in this tenant"))
            continue
        if code_key(code) in first_line_of:
            errors.append(
                LineError(line, "code", f"code {code} is already on line {first_line_of[code_key(code)]}")
            )
            continue
        first_line_of[code_key(code)] = line
        if product.brand_id != current.brand_id:
            errors.append(LineError(line, "code", "this product is not of the list's brand"))
            continue
        if not row["price_minor"]:
            removed += prices.pop(product.id, None) is not None
            continue
        try:
            price = PriceEntry(product_id=product.id, price_minor=_integer(row["price_minor"]))
        except (ValueError, ValidationError) as exc:
            message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            errors.append(LineError(line, "price_minor", message))
            continue
        prices[product.id] = price.price_minor
        changed += 1
    if not errors and len(prices) > MAX_PRICES_PER_LIST:
        errors.append(
            LineError(1, None, f"the list would hold {len(prices)} prices: at most {MAX_PRICES_PER_LIST}")
        )
    if errors:
        raise ImportRefused(errors)
    details = PriceListDetails.model_validate(
        {
            **current.model_dump(include=set(PriceListDetails.model_fields)),
            "prices": [{"product_id": pid, "price_minor": price} for pid, price in prices.items()],
        }
    )
    price_list = await pricing_store.replace_price_list(conn, tenant_id, list_id, details)
    await commands.publish(conn, tenant_id, price_list.id, PriceListChanged.of(price_list))
    return PriceImport(price_list, changed, removed)
