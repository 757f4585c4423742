"""What the portal's screens make of what people type and of what the API answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services.portal import i18n
from services.portal.gateway import Answer
from services.portal.partner import category_tree, read_quick_order
from services.portal.problems import explain

pytestmark = pytest.mark.fast


@pytest.fixture(autouse=True)
def french() -> None:
    i18n.use("fr", i18n.load_translations())


def test_a_quick_order_reads_a_code_and_a_quantity_per_line() -> None:
    lines = read_quick_order("CREME-01 2\n\n  serum-02\t3 \nBAUME-03;4\nLAIT-04,1\nGEL-05\n")
    assert [(line.number, line.code, line.quantity, line.error) for line in lines] == [
        (1, "CREME-01", 2, None),
        (3, "serum-02", 3, None),
        (4, "BAUME-03", 4, None),
        (5, "LAIT-04", 1, None),
        (6, "GEL-05", 1, None),
    ]


def test_a_quick_order_line_it_cannot_read_carries_its_error_beside_it() -> None:
    lines = read_quick_order("CREME-01 deux\nSERUM-02 0\nA B C\nBAUME-03 -1")
    assert [line.error is not None for line in lines] == [True, True, True, True]
    assert [line.number for line in lines] == [1, 2, 3, 4]
    assert read_quick_order("   \n\n") == []


def test_a_problem_is_shown_by_its_type_in_the_readers_language() -> None:
    answer = Answer(401, {"type": "urn:comptoir:problem:invalid-credentials", "detail": "the login or..."})
    assert explain(answer).general == ["L'identifiant ou le mot de passe est incorrect."]


def test_an_unknown_problem_falls_back_on_the_apis_detail() -> None:
    answer = Answer(
        409, {"type": "urn:comptoir:problem:something-new", "title": "T", "detail": "what happened"}
    )
    assert explain(answer).general == ["what happened"]


def test_field_errors_are_shown_by_their_type_beside_their_field() -> None:
    answer = Answer(
        422,
        {
            "type": "urn:comptoir:problem:order-rejected",
            "errors": [
                {"field": "lines.1.code", "message": "unknown product code X", "type": "unknown-product"},
                {"field": "email", "message": "value is not valid", "type": "some_new_type"},
            ],
        },
    )
    shown = explain(answer)
    assert shown.general == ["Certaines lignes ne peuvent pas être commandées : voir à côté de chaque ligne."]
    assert shown.fields == {"lines.1.code": "Code produit inconnu.", "email": "value is not valid"}


def test_a_lockout_says_until_when_in_the_tenants_time() -> None:
    answer = Answer(
        423,
        {"type": "urn:comptoir:problem:account-locked", "detail": "locked until..."},
        {"Retry-After": "900"},
    )
    [message] = explain(answer, "Europe/Paris").general
    assert message.startswith(
        "Trop de tentatives de connexion échouées : ce compte est bloqué. Réessayez après le "
    )
    assert re.search(r"\d{2}:\d{2}:\d{2}\.$", message)


def test_categories_form_a_tree_named_in_the_readers_language() -> None:
    categories: list[dict[str, Any]] = [
        {"id": "b", "parent_id": "a", "names": {"fr": "Visage", "en": "Face"}},
        {"id": "a", "parent_id": None, "names": {"fr": "Soins", "en": "Care"}},
        {"id": "c", "parent_id": None, "names": {"en": "Hair"}},
        {"id": "d", "parent_id": "a", "names": {"fr": "Corps"}},
    ]
    tree = category_tree(categories, "fr")
    assert [(node.name, [child.name for child in node.children]) for node in tree] == [
        ("Hair", []),
        ("Soins", ["Corps", "Visage"]),
    ]


def test_a_rate_limit_says_until_when_too() -> None:
    answer = Answer(
        429, {"type": "urn:comptoir:problem:rate-limited", "detail": "slow down"}, {"Retry-After": "30"}
    )
    [message] = explain(answer, "Europe/Moscow").general
    assert message.startswith("Trop de tentatives depuis votre connexion. Réessayez après le ")


def test_no_template_holds_inline_script_style_or_event_handler() -> None:
    # The Content-Security-Policy refuses them: they would silently not work.
    templates = Path(__file__).parents[1] / "templates"
    found = []
    for page in templates.rglob("*.html"):
        text = page.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)", r"\sstyle=", r"\son[a-z]+=", r"javascript:"):
            if re.search(pattern, text):
                found.append(f"{page.name}: {pattern}")
    assert found == []
