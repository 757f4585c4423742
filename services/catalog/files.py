"""Catalog's files: an upload's stored description (its real type told by libs.common.files), file
names, and the headers of a download."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated
from urllib.parse import quote

from aiohttp import web
from pydantic import AfterValidator, Field

from libs.common.files import EXTENSIONS, sniff, unsupported
from services.catalog.files_store import StoredFile


def _filename(name: str) -> str:
    if any(unicodedata.category(char) == "Cc" for char in name) or re.search(r"[/\\]", name):
        raise ValueError("must be a plain file name: no slashes or control characters")
    if not name.strip(" ."):
        raise ValueError("must name a file")
    return name


Filename = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(_filename), Field(description="The file's name")
]


def checked_file(
    content: bytes, filename: str | None, allowed: frozenset[str], default_stem: str
) -> StoredFile:
    """The stored description of an upload whose magic bytes show one of the `allowed` types; 415
    otherwise (a PNG named .pdf is a PNG)."""
    media_type = sniff(content)
    if media_type not in allowed:
        raise unsupported(media_type, allowed)
    return StoredFile(
        filename=filename or f"{default_stem}.{EXTENSIONS[media_type]}",
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
