"""Catalog's SQL for the files partners download: brand documents and gated digital assets.

The bytes are kept in PostgreSQL (bytea) beside their metadata: a document and its row commit or
fail together, they are backed up, scoped by tenant and erased with the rest, and the stack needs no
object store. That suits documents and assets of a few megabytes (the upload limit keeps them so;
PostgreSQL stores large values out of line, so listings never read them). Heavy media would belong
in an object store with only a reference here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from services.catalog.store import Db

DocumentKind = Literal["terms-of-sale", "planogram"]


@dataclass(frozen=True)
class StoredFile:
    """What a downloaded file needs besides its bytes."""

    filename: str
    content_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Document:
    id: uuid.UUID
    tenant_id: str
    brand_id: uuid.UUID
    kind: DocumentKind
    period: str
    title: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime


@dataclass(frozen=True)
class Asset:
    id: uuid.UUID
    tenant_id: str
    brand_id: uuid.UUID | None
    title: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    required_entitlement: str | None
    uploaded_at: datetime


_DOCUMENT_COLUMNS = (
    "id, tenant_id, brand_id, kind, period, title, filename, content_type, size_bytes, sha256, uploaded_at"
)
_INSERT_DOCUMENT = f"""
INSERT INTO documents (id, tenant_id, brand_id, kind, period, title, filename, content_type, size_bytes,
                       sha256, content)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING {_DOCUMENT_COLUMNS}
"""
_DOCUMENT = f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE tenant_id = $1 AND id = $2"
_DOCUMENT_CONTENT = "SELECT content FROM documents WHERE tenant_id = $1 AND id = $2"
_DOCUMENTS = f"""
SELECT {_DOCUMENT_COLUMNS} FROM documents
WHERE tenant_id = $1 AND brand_id = $2
  AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR period = $4)
ORDER BY period DESC, kind, uploaded_at DESC, id
"""
_DELETE_DOCUMENT = "DELETE FROM documents WHERE tenant_id = $1 AND id = $2"

_ASSET_COLUMNS = (
    "id, tenant_id, brand_id, title, filename, content_type, size_bytes, sha256, required_entitlement,"
    " uploaded_at"
)
_INSERT_ASSET = f"""
INSERT INTO assets (id, tenant_id, brand_id, title, filename, content_type, size_bytes, sha256,
                    required_entitlement, content)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING {_ASSET_COLUMNS}
"""
_ASSET = f"SELECT {_ASSET_COLUMNS} FROM assets WHERE tenant_id = $1 AND id = $2"
_ASSET_CONTENT = "SELECT content FROM assets WHERE tenant_id = $1 AND id = $2"
_ASSETS = f"""
SELECT {_ASSET_COLUMNS} FROM assets WHERE tenant_id = $1 AND ($2::uuid IS NULL OR brand_id = $2)
ORDER BY uploaded_at DESC, id
"""
_DELETE_ASSET = "DELETE FROM assets WHERE tenant_id = $1 AND id = $2"


async def add_document(
    conn: asyncpg.Connection,
    tenant_id: str,
    brand_id: uuid.UUID,
    kind: DocumentKind,
    period: str,
    title: str,
    file: StoredFile,
    content: bytes,
) -> Document:
    row = await conn.fetchrow(
        _INSERT_DOCUMENT,
        uuid.uuid4(),
        tenant_id,
        brand_id,
        kind,
        period,
        title,
        file.filename,
        file.content_type,
        file.size_bytes,
        file.sha256,
        content,
    )
    assert row is not None
    return Document(**dict(row))


async def find_document(db: Db, tenant_id: str, document_id: uuid.UUID) -> Document | None:
    row = await db.fetchrow(_DOCUMENT, tenant_id, document_id)
    return Document(**dict(row)) if row else None


async def document_content(db: Db, tenant_id: str, document_id: uuid.UUID) -> bytes | None:
    content: bytes | None = await db.fetchval(_DOCUMENT_CONTENT, tenant_id, document_id)
    return content


async def list_documents(
    db: Db, tenant_id: str, brand_id: uuid.UUID, *, kind: str | None, period: str | None
) -> list[Document]:
    return [Document(**dict(row)) for row in await db.fetch(_DOCUMENTS, tenant_id, brand_id, kind, period)]


async def delete_document(db: Db, tenant_id: str, document_id: uuid.UUID) -> None:
    await db.execute(_DELETE_DOCUMENT, tenant_id, document_id)


async def add_asset(
    conn: asyncpg.Connection,
    tenant_id: str,
    brand_id: uuid.UUID | None,
    title: str,
    required_entitlement: str | None,
    file: StoredFile,
    content: bytes,
) -> Asset:
    row = await conn.fetchrow(
        _INSERT_ASSET,
        uuid.uuid4(),
        tenant_id,
        brand_id,
        title,
        file.filename,
        file.content_type,
        file.size_bytes,
        file.sha256,
        required_entitlement,
        content,
    )
    assert row is not None
    return Asset(**dict(row))


async def find_asset(db: Db, tenant_id: str, asset_id: uuid.UUID) -> Asset | None:
    row = await db.fetchrow(_ASSET, tenant_id, asset_id)
    return Asset(**dict(row)) if row else None


async def asset_content(db: Db, tenant_id: str, asset_id: uuid.UUID) -> bytes | None:
    content: bytes | None = await db.fetchval(_ASSET_CONTENT, tenant_id, asset_id)
    return content


async def list_assets(db: Db, tenant_id: str, brand_id: uuid.UUID | None) -> list[Asset]:
    return [Asset(**dict(row)) for row in await db.fetch(_ASSETS, tenant_id, brand_id)]


async def delete_asset(db: Db, tenant_id: str, asset_id: uuid.UUID) -> None:
    await db.execute(_DELETE_ASSET, tenant_id, asset_id)
