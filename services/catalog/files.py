"""Uploaded and downloaded files: a body read as a stream up to a size limit, its real type told by
its first bytes (never by its name or Content-Type), and the headers of a download."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated
from urllib.parse import quote

from aiohttp import web
from pydantic import AfterValidator, Field

from libs.common.http import Problem
from services.catalog.files_store import StoredFile

PDF = "application/pdf"
_SIGNATURES = [
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
]
_EXTENSIONS = {
    PDF: "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/zip": "zip",
}
_CHUNK = 64 * 1024


def sniff(content: bytes) -> str | None:
    """The media type the content's magic bytes announce, among those catalog accepts; None otherwise."""
    for magic, media_type in _SIGNATURES:
        if content.startswith(magic):
            return media_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def _filename(name: str) -> str:
    if any(unicodedata.category(char) == "Cc" for char in name) or re.search(r"[/\\]", name):
        raise ValueError("must be a plain file name: no slashes or control characters")
    if not name.strip(" ."):
        raise ValueError("must name a file")
    return name


Filename = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(_filename), Field(description="The file's name")
]


async def read_upload(request: web.Request, limit: int) -> bytes:
    """The raw request body, read as a stream: 413 as soon as it passes `limit` bytes (before it is
    all received when Content-Length says so), 422 when it is empty."""
    too_large = Problem(
        413,
        "File too large",
        type="payload-too-large",
        detail=f"files are limited to {limit} bytes ({limit / 1_048_576:.1f} MiB)",
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    received = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        received += chunk
        if len(received) > limit:
            raise too_large
    if not received:
        raise Problem(
            422, "Empty file", type="empty-file", detail="send the file's bytes as the request body"
        )
    return bytes(received)


def checked_file(
    content: bytes, filename: str | None, allowed: frozenset[str], default_stem: str
) -> StoredFile:
    """The stored description of an upload whose magic bytes show one of the `allowed` types; 415
    otherwise (a PNG named .pdf is a PNG)."""
    media_type = sniff(content)
    if media_type not in allowed:
        found = f"its content is {media_type}" if media_type else "its content is of no type accepted here"
        raise Problem(
            415,
            "Unsupported file type",
            type="unsupported-file-type",
            detail=f"{found}; accepted: {', '.join(sorted(allowed))} (told by the file's first bytes)",
        )
    return StoredFile(
        filename=filename or f"{default_stem}.{_EXTENSIONS[media_type]}",
        content_type=media_type,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def download(content: bytes, file: StoredFile) -> web.Response:
    """The file as an attachment, with its name in ASCII and in UTF-8 (RFC 6266)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in file.filename
    )
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file.filename, safe='')}"
    headers = {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        # Partner documents and prices: never kept by a shared cache.
        "Cache-Control": "private, no-store",
    }
    if file.sha256:
        headers["ETag"] = f'"{file.sha256}"'
    return web.Response(body=content, content_type=file.content_type, headers=headers)
