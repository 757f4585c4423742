"""What text a request may carry: no NUL or other control characters, and line breaks only in
fields declared multi-line. `http.read_json`/`read_query` and the endpoint table apply it to every
body, query string, path parameter and header they read."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, RootModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

LINE_BREAKS = "\r\n"
_LAYOUT = "\t\r\n"  # controls a multi-line text may hold: its layout


class _MultiLineMarker:
    """Marks a text field whose value may span lines (`Annotated[str, MULTI_LINE]`)."""

    def __repr__(self) -> str:
        return "MULTI_LINE"


MULTI_LINE = _MultiLineMarker()


def text_error(text: str, *, multiline: bool = False) -> tuple[str, str] | None:
    """(type, message) of what is wrong with `text`, or None when it is fine.

    Refused everywhere: U+0000 (PostgreSQL stores no NUL in text), the other C0 and C1 controls but
    tab, CR and LF, and lone surrogates (not encodable in UTF-8). Refused in single-line text: CR
    and LF too.
    """
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            if char not in _LAYOUT:
                return "control_character", "must not contain control characters"
            if not multiline and char in LINE_BREAKS:
                return "line_break", "must be a single line (no line breaks)"
        elif 0xD800 <= code <= 0xDFFF:
            return "control_character", "must not contain unpaired surrogates"
    return None


def _checked(multiline: bool) -> AfterValidator:
    def check(text: str) -> str:
        error = text_error(text, multiline=multiline)
        if error is not None:
            raise PydanticCustomError(*error)
        return text

    return AfterValidator(check)


SingleLine = Annotated[str, _checked(multiline=False)]
"""One line of text (a name, a title): no control characters but tab (no line breaks). The shared reading of
requests reads a plain `str` field the same way; this type also holds where a model is validated
from elsewhere (a spreadsheet import)."""
MultiLine = Annotated[str, MULTI_LINE, _checked(multiline=True)]
"""Text whose layout is part of it (a description, a message): line breaks and tabs allowed."""


def is_multiline(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> bool:
    """Whether a field's type (or a type inside it, e.g. `dict[Locale, MultiLine]`) is multi-line."""
    if any(item is MULTI_LINE for item in metadata):
        return True
    if typing.get_origin(annotation) is Annotated:
        base, *extra = typing.get_args(annotation)
        return is_multiline(base, extra)
    return any(is_multiline(arg) for arg in typing.get_args(annotation))


def text_errors(model: BaseModel) -> list[dict[str, str]]:
    """Every text of a validated model that breaks the rule, as `{field, message, type}` problems
    (the shape of validation errors). Fields are single-line unless their type says `MultiLine`."""
    return [
        {"field": ".".join(str(part) for part in loc), "message": message, "type": kind}
        for loc, (kind, message) in _walk_model(model, ())
    ]


_Loc = tuple[str | int, ...]


def _walk_model(model: BaseModel, loc: _Loc) -> Iterator[tuple[_Loc, tuple[str, str]]]:
    fields: Mapping[str, FieldInfo] = type(model).model_fields
    for name, field in fields.items():
        multiline = is_multiline(field.annotation, field.metadata)
        at = loc if isinstance(model, RootModel) else (*loc, field.alias or name)
        yield from _walk(getattr(model, name), at, multiline)


def _walk(value: Any, loc: _Loc, multiline: bool) -> Iterator[tuple[_Loc, tuple[str, str]]]:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        error = text_error(value, multiline=multiline)
        if error is not None:
            yield loc, error
    elif isinstance(value, BaseModel):
        yield from _walk_model(value, loc)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            key_error = text_error(key) if isinstance(key, str) else None
            if key_error is not None:
                yield (*loc, key), key_error
            else:
                yield from _walk(item, (*loc, key), multiline)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            yield from _walk(item, (*loc, index), multiline)
