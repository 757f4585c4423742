"""Catalog's HTTP API for files: brand documents per period (terms of sale and planograms as PDF, the
price list as an Excel file made live at the caller's prices) and digital assets gated by a contract
entitlement. Only logged-in users of the tenant download them; admins upload them."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency
from libs.common.api import AUTHENTICATED, Endpoint, owned
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.errors import Forbidden, Invalid, NotFound
from libs.common.files import PDF, read_upload
from libs.common.http import json_response, read_query
from libs.common.runtime import POOL
from services.catalog import files_store, pricing_store, store
from services.catalog.access import (
    ADMIN,
    LIMITS,
    brand_owner,
    is_admin,
    organisation_of,
    owned_by_tenant,
    pricing_viewer,
    the_brand,
)
from services.catalog.domain import ENTITLEMENT_PATTERN, Locale, Name, missing_entitlement, price_for
from services.catalog.files import Filename, checked_file, download
from services.catalog.files_store import DocumentKind, StoredFile
from services.catalog.spreadsheets import XLSX_TYPE, PriceRow, price_list_workbook

PERIOD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"
ASSET_TYPES = frozenset({PDF, "image/png", "image/jpeg", "image/gif", "image/webp", "application/zip"})


class _Asked(BaseModel):
    """What an upload asked, fingerprinted for its Idempotency-Key (the bytes by their hash)."""

    metadata: dict[str, str | None]
    sha256: str


def _asked(query: BaseModel, file: StoredFile) -> _Asked:
    return _Asked(metadata=query.model_dump(mode="json"), sha256=file.sha256)


# --- brand documents ---


class DocumentUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind = Field(description="terms-of-sale (CGV) or planogram")
    period: str = Field(pattern=PERIOD_PATTERN, description="The year or cycle it is for: 2025, 2025-C2…")
    title: Name = Field(description="What partners see, e.g. 'CGV CeraVe 2025'")
    filename: Filename | None = Field(
        None, description="The name it downloads as; default <kind>-<period>.pdf"
    )


class DocumentView(BaseModel):
    id: uuid.UUID = Field(description="The document's id: download it at /documents/{id}/file")
    brand_id: uuid.UUID
    kind: DocumentKind
    period: str
    title: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the file, hex")
    uploaded_at: datetime

    @classmethod
    def of(cls, document: files_store.Document) -> DocumentView:
        return cls.model_validate(document, from_attributes=True)


class DocumentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind | None = Field(None, description="Only documents of this kind")
    period: str | None = Field(None, pattern=PERIOD_PATTERN, description="Only documents of this period")


class DocumentList(BaseModel):
    brand_id: uuid.UUID
    documents: list[DocumentView] = Field(description="Latest period first")
    price_list: str = Field(
        description="The brand's price list at the caller's prices is made on demand: GET this path"
        " (relative to the catalog API)"
    )


async def upload_document(request: web.Request) -> web.Response:
    brand = the_brand(request)
    query = read_query(request, DocumentUpload)
    content = await read_upload(request, request.app[LIMITS].upload_max_bytes)
    file = checked_file(content, query.filename, frozenset({PDF}), f"{query.kind}-{query.period}")

    conn = await idempotency.once(request, _asked(query, file))
    document = await files_store.add_document(
        conn, brand.tenant_id, brand.id, query.kind, query.period, query.title, file, content
    )
    return json_response(DocumentView.of(document), status=201)


async def list_documents(request: web.Request) -> web.Response:
    brand = the_brand(request)
    query = read_query(request, DocumentQuery)
    documents = await files_store.list_documents(
        request.app[POOL], brand.tenant_id, brand.id, kind=query.kind, period=query.period
    )
    return json_response(
        DocumentList(
            brand_id=brand.id,
            documents=[DocumentView.of(document) for document in documents],
            price_list=f"/brands/{brand.id}/price-list.xlsx",
        )
    )


document_owner = owned_by_tenant("document_id", files_store.find_document)


def _document(request: web.Request) -> files_store.Document:
    return owned(request, files_store.Document)


def _file_of(found: files_store.Document | files_store.Asset) -> StoredFile:
    return StoredFile(found.filename, found.content_type, found.size_bytes, found.sha256)


async def download_document(request: web.Request) -> web.Response:
    document = _document(request)
    content = await files_store.document_content(request.app[POOL], document.tenant_id, document.id)
    if content is None:  # deleted since the owner lookup
        raise NotFound("not-found", "Not found", "no such resource here")
    return download(content, _file_of(document))


async def delete_document(request: web.Request) -> web.Response:
    document = _document(request)
    await files_store.delete_document(request.app[POOL], document.tenant_id, document.id)
    return web.Response(status=204)


# --- the price list, made live ---


class PriceListFileQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: Locale | None = Field(None, description="Locale of the product names: fr, en or ru")


async def price_list_file(request: web.Request) -> web.Response:
    """The brand's products the caller may see, each at the price the caller's organisation pays now
    (its own list where it has one, else its group's, the brand's, or the base price)."""
    brand = the_brand(request)
    locale = read_query(request, PriceListFileQuery).locale
    viewer = await pricing_viewer(request)
    at = now(request)
    rows = []
    for shown in await store.shown_of_brand(request.app[POOL], viewer, brand.id):
        price = price_for(shown, viewer, at)
        product = shown.product
        source = f"{price.offer.scope} price list" if price.offer else "base price"
        rows.append(
            PriceRow(
                product.code,
                product.ean,
                product.name_in(locale),
                product.vat_rate_bp,
                price.price_minor,
                price.currency,
                source,
            )
        )
    heading = [
        ("Brand", brand.name),
        (
            "Prices for",
            f"organisation {viewer.organisation_id}" if viewer.organisation_id else "no organisation",
        ),
        ("Valid at (UTC)", at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")),
    ]
    # Writing a workbook is CPU work: keep it off the event loop.
    content = await asyncio.to_thread(price_list_workbook, heading, rows)
    stem = re.sub(r"[^\w-]+", "-", brand.name).strip("-") or "brand"
    # Made for this caller at this moment: no hash to offer as an ETag.
    file = StoredFile(f"prices-{stem}-{at:%Y-%m-%d}.xlsx", XLSX_TYPE, len(content), sha256="")
    return download(content, file)


# --- digital assets ---


class AssetUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Name = Field(description="What partners see")
    filename: Filename | None = Field(None, description="The name it downloads as; default asset.<type>")
    brand_id: uuid.UUID | None = Field(None, description="The brand it is for, if one")
    required_entitlement: str | None = Field(
        None,
        pattern=ENTITLEMENT_PATTERN,
        description="An organisation needs this contract entitlement to download it (e.g. 'ecommerce')",
    )


class AssetView(BaseModel):
    id: uuid.UUID = Field(description="The asset's id: download it at /assets/{id}/file")
    brand_id: uuid.UUID | None
    title: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    required_entitlement: str | None = Field(description="The contract entitlement needed, if any")
    available: bool = Field(description="Whether the caller may download it")
    uploaded_at: datetime

    @classmethod
    def of(cls, asset: files_store.Asset, available: bool) -> AssetView:
        return cls.model_validate({**dataclasses.asdict(asset), "available": available})


class AssetList(RootModel[list[AssetView]]):
    """The tenant's digital assets, newest first, each saying whether the caller may download it."""


class AssetQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand_id: uuid.UUID | None = Field(None, description="Only this brand's assets")


async def _entitlements(request: web.Request, caller: Principal) -> frozenset[str]:
    organisation_id = organisation_of(caller)
    if organisation_id is None:
        return frozenset()
    terms = await pricing_store.find_terms(request.app[POOL], caller.tenant_id, organisation_id)
    return frozenset(terms.entitlements)


async def upload_asset(request: web.Request) -> web.Response:
    caller = principal(request)
    query = read_query(request, AssetUpload)
    if query.brand_id and await store.find_brand(request.app[POOL], caller.tenant_id, query.brand_id) is None:
        raise Invalid.field("brand_id", "no such brand in this tenant", "value_error")
    content = await read_upload(request, request.app[LIMITS].upload_max_bytes)
    file = checked_file(content, query.filename, ASSET_TYPES, "asset")

    conn = await idempotency.once(request, _asked(query, file))
    asset = await files_store.add_asset(
        conn, caller.tenant_id, query.brand_id, query.title, query.required_entitlement, file, content
    )
    return json_response(AssetView.of(asset, available=True), status=201)


async def list_assets(request: web.Request) -> web.Response:
    caller = principal(request)
    query = read_query(request, AssetQuery)
    assets = await files_store.list_assets(request.app[POOL], caller.tenant_id, query.brand_id)
    granted = await _entitlements(request, caller)
    admin = is_admin(caller)
    return json_response(
        AssetList(
            [
                AssetView.of(asset, admin or missing_entitlement(asset.required_entitlement, granted) is None)
                for asset in assets
            ]
        )
    )


asset_owner = owned_by_tenant("asset_id", files_store.find_asset)


def _asset(request: web.Request) -> files_store.Asset:
    return owned(request, files_store.Asset)


def _entitlement_required(required: str, has_organisation: bool) -> Forbidden:
    why = (
        "your organisation's contract does not include it"
        if has_organisation
        else "your account belongs to no organisation, so no contract grants it"
    )
    return Forbidden(
        "entitlement-required",
        "Entitlement required",
        f"this asset is only for organisations whose contract includes the '{required}' entitlement"
        f" (for 'ecommerce': the signed e-commerce amendment); {why}. Ask your brand contact to add it.",
    )


async def download_asset(request: web.Request) -> web.Response:
    caller = principal(request)
    asset = _asset(request)
    if not is_admin(caller):
        missing = missing_entitlement(asset.required_entitlement, await _entitlements(request, caller))
        if missing is not None:
            raise _entitlement_required(missing, organisation_of(caller) is not None)
    content = await files_store.asset_content(request.app[POOL], asset.tenant_id, asset.id)
    if content is None:  # deleted since the owner lookup
        raise NotFound("not-found", "Not found", "no such resource here")
    return download(content, _file_of(asset))


async def delete_asset(request: web.Request) -> web.Response:
    asset = _asset(request)
    await files_store.delete_asset(request.app[POOL], asset.tenant_id, asset.id)
    return web.Response(status=204)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/brands/{brand_id}/documents",
        upload_document,
        "Upload a brand's terms of sale or planogram for a period: the PDF is the raw body (max size:"
        " setting upload_max_bytes; its type is told by its bytes)",
        roles=ADMIN,
        query=DocumentUpload,
        upload=("application/pdf",),
        response=DocumentView,
        status=201,
        idempotent=True,
        owner=brand_owner,
    ),
    Endpoint(
        "GET",
        "/brands/{brand_id}/documents",
        list_documents,
        "A brand's documents by period (terms of sale, planograms) and where its price list is",
        roles=AUTHENTICATED,
        query=DocumentQuery,
        response=DocumentList,
        owner=brand_owner,
    ),
    Endpoint(
        "GET",
        "/brands/{brand_id}/price-list.xlsx",
        price_list_file,
        "The brand's price list as an Excel file, at the prices the caller's organisation pays now,"
        " within its assortment",
        roles=AUTHENTICATED,
        query=PriceListFileQuery,
        owner=brand_owner,
    ),
    Endpoint(
        "GET",
        "/documents/{document_id}/file",
        download_document,
        "Download a brand document (PDF)",
        roles=AUTHENTICATED,
        owner=document_owner,
    ),
    Endpoint(
        "DELETE",
        "/documents/{document_id}",
        delete_document,
        "Delete a brand document",
        roles=ADMIN,
        status=204,
        owner=document_owner,
    ),
    Endpoint(
        "POST",
        "/assets",
        upload_asset,
        "Upload a digital asset (PDF, PNG, JPEG, GIF, WebP or ZIP as the raw body), optionally gated by"
        " a contract entitlement",
        roles=ADMIN,
        query=AssetUpload,
        upload=("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "application/zip"),
        response=AssetView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/assets",
        list_assets,
        "The digital assets, each saying whether the caller may download it",
        roles=AUTHENTICATED,
        query=AssetQuery,
        response=AssetList,
    ),
    Endpoint(
        "GET",
        "/assets/{asset_id}/file",
        download_asset,
        "Download a digital asset (403 naming the entitlement the caller's organisation lacks)",
        roles=AUTHENTICATED,
        owner=asset_owner,
    ),
    Endpoint(
        "DELETE",
        "/assets/{asset_id}",
        delete_asset,
        "Delete a digital asset",
        roles=ADMIN,
        status=204,
        owner=asset_owner,
    ),
]
