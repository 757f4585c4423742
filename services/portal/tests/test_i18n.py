"""The portal speaks French, English and Russian: every message has its translations, and money,
numbers and times are written as each language writes them, in the tenant's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.portal import i18n
from services.portal.web import Tenant

pytestmark = pytest.mark.fast
PORTAL = Path(__file__).parents[1]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def _messages() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = extract_from_dir(PORTAL, method_map, options, keywords=KEYWORDS)
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


@pytest.mark.parametrize("locale", ["fr", "ru"])
def test_every_message_of_the_portal_has_its_translation(locale: str) -> None:
    with (PORTAL / "locales" / f"{locale}.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    messages = _messages()
    assert len(messages) > 300
    missing = sorted(messages - translated)
    assert missing == [], f"{len(missing)} messages lack their {locale} translation:\n" + "\n".join(missing)


def test_money_is_written_as_each_language_writes_it() -> None:
    translations = i18n.load_translations()
    written = {}
    for locale in i18n.LOCALES:
        i18n.use(locale, translations)
        written[locale] = (i18n.money(1290, "EUR"), i18n.money(123456789, "EUR"), i18n.money(500, "JPY"))
    assert written["fr"] == ("12,90\u00a0€", "1\u202f234\u202f567,89\u00a0€", "500\u00a0JPY")
    assert written["en"] == ("€12.90", "€1,234,567.89", "¥500")
    assert written["ru"][0] == "12,90\u00a0€"


def test_times_are_shown_in_the_tenants_time_zone_in_the_readers_language() -> None:
    translations = i18n.load_translations()
    moment = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 in Paris, then 04:30 in Moscow
    i18n.use("fr", translations)
    assert i18n.moment(moment, "Europe/Paris") == "29 mars 2026, 01:30:00"
    i18n.use("ru", translations)
    assert i18n.moment(moment.isoformat(), "Europe/Moscow") == "29 мар. 2026\u202fг., 03:30:00"
    i18n.use("en", translations)
    assert i18n.day(moment, "America/New_York") == "Mar 28, 2026"


def test_the_sign_in_hint_and_the_password_rules_follow_the_tenants_settings() -> None:
    tenant = Tenant("brand-a", "Brand", "UTC", ("email", "card_number"), 10, ("lower", "digit"))
    i18n.use("fr", i18n.load_translations())
    assert i18n.login_hint(tenant) == "Votre e-mail, numéro de carte"
    assert i18n.password_rules(tenant) == "Au moins 10 caractères, dont : une minuscule, un chiffre."


def test_the_browsers_language_is_used_when_the_reader_chose_none() -> None:
    assert i18n.negotiate("ru-RU,ru;q=0.9,en;q=0.8") == "ru"
    assert i18n.negotiate("en-GB,en;q=0.9") == "en"
    assert i18n.negotiate("de-DE,de;q=0.9") is None
    assert i18n.negotiate("") is None


def test_amounts_are_read_as_each_language_writes_them() -> None:
    translations = i18n.load_translations()
    i18n.use("fr", translations)
    assert [
        i18n.parse_money(text, "EUR") for text in ("12,90", "12", "1 234,5", "12,905", "-1", "douze")
    ] == [
        1290,
        1200,
        123450,
        None,
        None,
        None,
    ]
    assert i18n.parse_money("500", "JPY") == 500 and i18n.parse_money("5,5", "JPY") is None
    assert i18n.parse_percent("5,5") == 550 and i18n.parse_percent("20 %") == 2000
    assert i18n.amount(1290, "EUR") == "12,90" and i18n.amount(5, "EUR") == "0,05"
    i18n.use("en", translations)
    assert i18n.parse_money("12.90", "EUR") == 1290 and i18n.amount(123456, "EUR") == "1234.56"


def test_no_message_holds_a_lone_percent_sign() -> None:
    # Jinja's newstyle gettext formats every message with %: a lone "%" breaks the page at run time.
    assert [m for m in _messages() if re.search(r"%(?!%|\()", m)] == []
