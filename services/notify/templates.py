"""Wording of every message, per kind and locale (fr, en, ru); `domain.render` fills them in."""

# Russian wording and the multiplication sign are meant, not look-alikes of Latin letters.
# ruff: noqa: RUF001

from __future__ import annotations

from dataclasses import dataclass
from string import Template
from typing import Literal

Locale = Literal["fr", "en", "ru"]
DEFAULT_LOCALE: Locale = "fr"


@dataclass(frozen=True)
class MessageTemplate:
    """Subject and plain-text body of one kind of message in one language."""

    subject: Template
    body: Template


def _template(subject: str, body: str) -> MessageTemplate:
    return MessageTemplate(Template(subject), Template(body))


# Greeting with the person's name, and without it (a display name may be empty).
GREETINGS: dict[Locale, tuple[Template, str]] = {
    "fr": (Template("Bonjour $name,"), "Bonjour,"),
    "en": (Template("Hello $name,"), "Hello,"),
    "ru": (Template("Здравствуйте, $name!"), "Здравствуйте!"),
}

# Singular and plural forms; Russian has three (1 балл, 2 балла, 5 баллов).
POINT_WORDS: dict[Locale, tuple[str, ...]] = {
    "fr": ("point", "points"),
    "en": ("point", "points"),
    "ru": ("балл", "балла", "баллов"),
}

ORDER_LINES: dict[Locale, Template] = {
    "fr": Template("- $code $name × $quantity : $line_total"),
    "en": Template("- $code $name × $quantity: $line_total"),
    "ru": Template("- $code $name × $quantity: $line_total"),
}

TEMPLATES: dict[str, dict[Locale, MessageTemplate]] = {
    "activation": {
        "fr": _template(
            "Activez votre compte Comptoir",
            "$greeting\n\n"
            "Pour activer votre compte Comptoir, ouvrez ce lien :\n$activation_url\n\n"
            "Si vous n'avez pas créé de compte, ignorez ce message.\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Activate your Comptoir account",
            "$greeting\n\n"
            "To activate your Comptoir account, open this link:\n$activation_url\n\n"
            "If you did not create an account, ignore this message.\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Активируйте учётную запись Comptoir",
            "$greeting\n\n"
            "Чтобы активировать учётную запись Comptoir, откройте ссылку:\n$activation_url\n\n"
            "Если вы не создавали учётную запись, просто проигнорируйте это письмо.\n\n"
            "Команда Comptoir\n",
        ),
    },
    "order_copy": {
        "fr": _template(
            "Votre commande $order_id",
            "$greeting\n\n"
            "Merci pour votre commande. En voici la copie.\n\n"
            "Commande $order_id\n$lines\n\nTotal : $total\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your order $order_id",
            "$greeting\n\n"
            "Thank you for your order. Here is a copy.\n\n"
            "Order $order_id\n$lines\n\nTotal: $total\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Ваш заказ $order_id",
            "$greeting\n\n"
            "Спасибо за заказ. Вот его копия.\n\n"
            "Заказ $order_id\n$lines\n\nИтого: $total\n\n"
            "Команда Comptoir\n",
        ),
    },
    "points_earned": {
        "fr": _template(
            "Vous avez gagné $points",
            "$greeting\n\nVous avez gagné $points. Votre solde est de $balance.\n\nL'équipe Comptoir\n",
        ),
        "en": _template(
            "You earned $points",
            "$greeting\n\nYou earned $points. Your balance is $balance.\n\nThe Comptoir team\n",
        ),
        "ru": _template(
            "Вам начислено $points",
            "$greeting\n\nВам начислено $points. Ваш баланс: $balance.\n\nКоманда Comptoir\n",
        ),
    },
}
