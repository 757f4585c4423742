"""Uploaded files, for any service that takes them: the body read as a stream up to a size limit,
and its real type told by its first bytes (never by its name or Content-Type)."""

from __future__ import annotations

from aiohttp import web

from libs.common.http import Problem

PDF = "application/pdf"
_SIGNATURES = [
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
]
EXTENSIONS = {
    PDF: "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/zip": "zip",
}
_CHUNK = 64 * 1024


def sniff(content: bytes) -> str | None:
    """The media type the content's magic bytes announce (PDF, PNG, JPEG, GIF, WebP, ZIP); None
    for anything else."""
    for magic, media_type in _SIGNATURES:
        if content.startswith(magic):
            return media_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def unsupported(found: str | None, allowed: frozenset[str]) -> Problem:
    """415 naming what the content is and what is accepted."""
    what = f"its content is {found}" if found else "its content is of no type accepted here"
    return Problem(
        415,
        "Unsupported file type",
        type="unsupported-file-type",
        detail=f"{what}; accepted: {', '.join(sorted(allowed))} (told by the file's first bytes)",
    )


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
