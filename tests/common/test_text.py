"""The text rule of requests: no NUL or other control characters, line breaks only where declared."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, RootModel, SecretStr, ValidationError

from libs.common.text import MultiLine, SingleLine, text_error, text_errors

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("text", "multiline", "kind"),
    [
        ("plain, accentué, кириллица, 🙂", False, None),
        ("a\tb", False, None),
        ("a\x00b", True, "control_character"),
        ("a\x1bb", True, "control_character"),
        ("a\x7fb", True, "control_character"),
        ("a\x85b", True, "control_character"),
        ("a\x9fb", True, "control_character"),
        ("a\udcffb", True, "control_character"),
        ("a\nb", False, "line_break"),
        ("a\rb", False, "line_break"),
        ("a\r\n\tb\n", True, None),
        ("\u00a0no-break space is text", False, None),
    ],
)
def test_the_rule_for_one_text(text: str, multiline: bool, kind: str | None) -> None:
    error = text_error(text, multiline=multiline)
    assert (error[0] if error else None) == kind


class Address(BaseModel):
    line1: str
    city: str


class Profile(BaseModel):
    name: str
    password: SecretStr
    about: MultiLine = ""
    notes: dict[Literal["fr", "en"], MultiLine] = {}
    tags: list[str] = []
    address: Address | None = None
    extra: dict[str, str] = {}


def test_every_text_of_a_model_is_named_where_it_breaks_the_rule() -> None:
    profile = Profile(
        name="ok",
        password=SecretStr("pass\x00word"),
        about="line one\nline two",
        notes={"fr": "une\nautre", "en": "tab\there"},
        tags=["fine", "two\nlines"],
        address=Address(line1="1 rue\r\nX", city="Paris"),
        extra={"key\n": "v", "k": "v\x85"},
    )
    assert [(e["field"], e["type"]) for e in text_errors(profile)] == [
        ("password", "control_character"),
        ("tags.1", "line_break"),
        ("address.line1", "line_break"),
        ("extra.key\n", "line_break"),
        ("extra.k", "control_character"),
    ]


def test_a_root_model_names_its_items_without_root() -> None:
    class Names(RootModel[list[str]]):
        pass

    assert [e["field"] for e in text_errors(Names(["a", "b\x00"]))] == ["1"]


def test_the_annotated_types_hold_where_a_model_is_validated_outside_a_request() -> None:
    class Row(BaseModel):
        name: SingleLine
        description: MultiLine

    assert Row(name="a\tb", description="a\nb").description == "a\nb"
    with pytest.raises(ValidationError) as refused:
        Row(name="a\nb", description="a\x00b")
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [
        (("name",), "line_break"),
        (("description",), "control_character"),
    ]
