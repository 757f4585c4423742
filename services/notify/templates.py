"""Wording of every message, per kind, channel and locale (fr, en, ru); `domain.render` fills them in."""

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

# How long a code stays valid, in the accusative a sentence needs ("valable 10 minutes",
# "действует 10 минут"); singular then plural forms, three in Russian.
DURATION_WORDS: dict[str, dict[Locale, tuple[str, ...]]] = {
    "minutes": {
        "fr": ("minute", "minutes"),
        "en": ("minute", "minutes"),
        "ru": ("минуту", "минуты", "минут"),
    },
    "hours": {"fr": ("heure", "heures"), "en": ("hour", "hours"), "ru": ("час", "часа", "часов")},
    "days": {"fr": ("jour", "jours"), "en": ("day", "days"), "ru": ("день", "дня", "дней")},
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
    "activation_code": {
        "fr": _template(
            "Votre code d'activation Comptoir",
            "$greeting\n\n"
            "Voici le code qui active votre compte Comptoir :\n\n    $code\n\n"
            "Il est valable $validity et ne sert qu'une fois. Ne le communiquez à personne.\n\n"
            "Si vous n'avez pas créé de compte, ignorez ce message.\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your Comptoir activation code",
            "$greeting\n\n"
            "Here is the code that activates your Comptoir account:\n\n    $code\n\n"
            "It is valid for $validity and works once. Do not share it with anyone.\n\n"
            "If you did not create an account, ignore this message.\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Код активации Comptoir",
            "$greeting\n\n"
            "Код для активации учётной записи Comptoir:\n\n    $code\n\n"
            "Код действует $validity и подходит только один раз. Никому его не сообщайте.\n\n"
            "Если вы не создавали учётную запись, просто проигнорируйте это письмо.\n\n"
            "Команда Comptoir\n",
        ),
    },
    "recovery": {
        "fr": _template(
            "Votre code pour choisir un nouveau mot de passe Comptoir",
            "$greeting\n\n"
            "Pour choisir un nouveau mot de passe Comptoir, saisissez ce code :\n\n    $code\n\n"
            "Il est valable $validity et ne sert qu'une fois. Ne le communiquez à personne.\n\n"
            "Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your code to choose a new Comptoir password",
            "$greeting\n\n"
            "To choose a new Comptoir password, enter this code:\n\n    $code\n\n"
            "It is valid for $validity and works once. Do not share it with anyone.\n\n"
            "If you did not ask for it, ignore this message: your password stays as it is.\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Код для смены пароля Comptoir",
            "$greeting\n\n"
            "Чтобы задать новый пароль Comptoir, введите код:\n\n    $code\n\n"
            "Код действует $validity и подходит только один раз. Никому его не сообщайте.\n\n"
            "Если вы не запрашивали смену пароля, проигнорируйте это письмо: пароль останется прежним.\n\n"
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
    "order_copy_team": {
        "fr": _template(
            "Copie de la commande $order_id",
            "$greeting\n\n"
            "Une commande de votre organisation est confirmée. En voici la copie.\n\n"
            "Commande $order_id\n$lines\n\nTotal : $total\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Copy of order $order_id",
            "$greeting\n\n"
            "An order of your organisation is confirmed. Here is a copy.\n\n"
            "Order $order_id\n$lines\n\nTotal: $total\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Копия заказа $order_id",
            "$greeting\n\n"
            "Заказ вашей организации подтверждён. Вот его копия.\n\n"
            "Заказ $order_id\n$lines\n\nИтого: $total\n\n"
            "Команда Comptoir\n",
        ),
    },
    "order_to_approve": {
        "fr": _template(
            "Commande $order_id à valider",
            "$greeting\n\n"
            "Une commande de votre organisation attend votre validation.\n\n"
            "Commande $order_id\n$lines\n\nTotal : $total\n\n"
            "Validez-la, modifiez-la ou refusez-la depuis la liste « À valider » de votre espace.\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Order $order_id to approve",
            "$greeting\n\n"
            "An order of your organisation waits for your approval.\n\n"
            "Order $order_id\n$lines\n\nTotal: $total\n\n"
            'Approve, modify or refuse it from the "To approve" list of your space.\n\n'
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Заказ $order_id ждёт согласования",
            "$greeting\n\n"
            "Заказ вашей организации ждёт вашего согласования.\n\n"
            "Заказ $order_id\n$lines\n\nИтого: $total\n\n"
            "Согласуйте, измените или отклоните его в списке «На согласование» вашего кабинета.\n\n"
            "Команда Comptoir\n",
        ),
    },
    "order_waiting": {
        "fr": _template(
            "Votre commande $order_id attend sa validation",
            "$greeting\n\n"
            "Votre commande $order_id est transmise au valideur de votre organisation. "
            "Vous recevrez un message dès sa décision.\n\n$lines\n\nTotal : $total\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your order $order_id waits for approval",
            "$greeting\n\n"
            "Your order $order_id went to your organisation's validator. "
            "You will hear as soon as they decide.\n\n$lines\n\nTotal: $total\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Ваш заказ $order_id ждёт согласования",
            "$greeting\n\n"
            "Ваш заказ $order_id передан на согласование в вашей организации. "
            "Мы сообщим вам о решении.\n\n$lines\n\nИтого: $total\n\n"
            "Команда Comptoir\n",
        ),
    },
    "order_approved": {
        "fr": _template(
            "Votre commande $order_id est validée",
            "$greeting\n\n"
            "Votre commande est validée et confirmée. En voici la copie.\n\n"
            "Commande $order_id\n$lines\n\nTotal : $total\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your order $order_id is approved",
            "$greeting\n\n"
            "Your order is approved and confirmed. Here is a copy.\n\n"
            "Order $order_id\n$lines\n\nTotal: $total\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Ваш заказ $order_id согласован",
            "$greeting\n\n"
            "Ваш заказ согласован и подтверждён. Вот его копия.\n\n"
            "Заказ $order_id\n$lines\n\nИтого: $total\n\n"
            "Команда Comptoir\n",
        ),
    },
    "order_refused": {
        "fr": _template(
            "Votre commande $order_id est refusée",
            "$greeting\n\n"
            "Votre commande $order_id n'a pas été validée. Motif : $reason\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your order $order_id is refused",
            "$greeting\n\nYour order $order_id was not approved. Reason: $reason\n\nThe Comptoir team\n",
        ),
        "ru": _template(
            "Ваш заказ $order_id отклонён",
            "$greeting\n\nВаш заказ $order_id не согласован. Причина: $reason\n\nКоманда Comptoir\n",
        ),
    },
    "order_payment_refused": {
        "fr": _template(
            "Votre commande $order_id n'a pas pu être réglée",
            "$greeting\n\n"
            "Votre commande $order_id n'a pas pu être réglée comme vous l'aviez demandé : vos points,"
            " votre code ou votre carte cadeau ont été refusés, ou n'ont pas pu être vérifiés à temps."
            " Elle ne sera pas livrée ; ce qu'elle vous avait coûté vous est rendu.\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your order $order_id could not be paid",
            "$greeting\n\n"
            "Your order $order_id could not be paid as you asked: your points, code or gift card were"
            " refused, or could not be checked in time. It will not be delivered; what it cost you is"
            " given back.\n\nThe Comptoir team\n",
        ),
        "ru": _template(
            "Ваш заказ $order_id не удалось оплатить",
            "$greeting\n\n"
            "Ваш заказ $order_id не удалось оплатить так, как вы просили: баллы, код или подарочная"
            " карта были отклонены или не были проверены вовремя. Он не будет доставлен; списанное"
            " возвращено вам.\n\nКоманда Comptoir\n",
        ),
    },
    "order_modified": {
        "fr": _template(
            "Votre commande $order_id est modifiée",
            "$greeting\n\n"
            "Le valideur de votre organisation a modifié votre commande avant de décider. La voici.\n\n"
            "Commande $order_id\n$lines\n\nTotal : $total\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your order $order_id was changed",
            "$greeting\n\n"
            "Your organisation's validator changed your order before deciding. Here it is now.\n\n"
            "Order $order_id\n$lines\n\nTotal: $total\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Ваш заказ $order_id изменён",
            "$greeting\n\n"
            "Согласующий вашей организации изменил заказ перед решением. Вот он сейчас.\n\n"
            "Заказ $order_id\n$lines\n\nИтого: $total\n\n"
            "Команда Comptoir\n",
        ),
    },
    "return_accepted": {
        "fr": _template(
            "Votre retour de la commande $order_id est accepté",
            "$greeting\n\n"
            "Nous acceptons le retour de ces articles de votre commande $order_id :\n$lines\n\n"
            "Votre solde est crédité de $total.\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your return from order $order_id is accepted",
            "$greeting\n\n"
            "We accept the return of these items of your order $order_id:\n$lines\n\n"
            "Your balance is credited with $total.\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Ваш возврат по заказу $order_id принят",
            "$greeting\n\n"
            "Мы принимаем возврат этих товаров из заказа $order_id:\n$lines\n\n"
            "На ваш баланс зачислено $total.\n\n"
            "Команда Comptoir\n",
        ),
    },
    "return_refused": {
        "fr": _template(
            "Votre retour de la commande $order_id est refusé",
            "$greeting\n\nVotre demande de retour pour la commande $order_id est refusée. Motif : $reason\n\n"
            "L'équipe Comptoir\n",
        ),
        "en": _template(
            "Your return from order $order_id is refused",
            "$greeting\n\nYour return request for order $order_id is refused. Reason: $reason\n\n"
            "The Comptoir team\n",
        ),
        "ru": _template(
            "Ваш возврат по заказу $order_id отклонён",
            "$greeting\n\nВаша заявка на возврат по заказу $order_id отклонена. Причина: $reason\n\n"
            "Команда Comptoir\n",
        ),
    },
    "points_expiring": {
        "fr": _template(
            "Vos points expirent bientôt",
            "$greeting\n\n$points expirent le $expires_on : utilisez-les d'ici là.\n\nL'équipe Comptoir\n",
        ),
        "en": _template(
            "Your points expire soon",
            "$greeting\n\n$points expire on $expires_on: use them before.\n\nThe Comptoir team\n",
        ),
        "ru": _template(
            "Ваши баллы скоро сгорят",
            "$greeting\n\n$points сгорят $expires_on: используйте их до этого дня.\n\nКоманда Comptoir\n",
        ),
    },
    "voucher_won": {
        "fr": _template(
            "Votre code : $title",
            "$greeting\n\nVoici votre code pour « $title » : $code\nPrésentez-le en boutique avant le"
            " $expires_on ; il ne sert qu'une fois.\n\nL'équipe Comptoir\n",
        ),
        "en": _template(
            "Your code: $title",
            "$greeting\n\nHere is your code for “$title”: $code\nShow it at the shop before $expires_on;"
            " it works once.\n\nThe Comptoir team\n",
        ),
        "ru": _template(
            "Ваш код: $title",
            "$greeting\n\nВаш код на «$title»: $code\nПокажите его в магазине до $expires_on; он"
            " действует один раз.\n\nКоманда Comptoir\n",
        ),
    },
    "giftcard_received": {
        "fr": _template(
            "Une carte cadeau de $amount pour vous",
            "$greeting\n\nUne carte cadeau de $amount vous attend, valable jusqu'au $expires_on.\n"
            "Numéro : $number\n$pin_line\nPrésentez-les en boutique : le numéro seul ne permet pas de"
            " payer.\n\nL'équipe Comptoir\n",
        ),
        "en": _template(
            "A $amount gift card for you",
            "$greeting\n\nA $amount gift card is yours, valid until $expires_on.\nNumber: $number\n"
            "$pin_line\nShow both at the shop: the number alone does not pay.\n\nThe Comptoir team\n",
        ),
        "ru": _template(
            "Подарочная карта на $amount для вас",
            "$greeting\n\nДля вас подарочная карта на $amount, действует до $expires_on.\n"
            "Номер: $number\n$pin_line\nПокажите их в магазине: одним номером оплатить нельзя.\n\n"
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

PIN_LINES: dict[Locale, Template] = {
    "fr": Template("Code PIN : $pin"),
    "en": Template("PIN: $pin"),
    "ru": Template("PIN-код: $pin"),
}
PRINTED_PIN_LINES: dict[Locale, str] = {
    "fr": "Le code PIN est imprimé au dos de la carte.",
    "en": "The PIN is printed on the back of the card.",
    "ru": "PIN-код напечатан на обороте карты.",
}

# SMS: one plain line, a greeting and the link or the code, nothing personal beyond the greeting.
# French and English stay within the GSM 7-bit alphabet (no ç, ê, ô, typographic quotes or
# no-break spaces) so that a message fits one 160-character segment; Russian is sent as UCS-2.
SMS_TEMPLATES: dict[str, dict[Locale, Template]] = {
    "activation": {
        "fr": Template("$greeting activez votre compte Comptoir : $activation_url"),
        "en": Template("$greeting activate your Comptoir account: $activation_url"),
        "ru": Template("$greeting Активируйте учётную запись Comptoir: $activation_url"),
    },
    "activation_code": {
        "fr": Template("$greeting votre code d'activation Comptoir : $code (valable $validity)"),
        "en": Template("$greeting your Comptoir activation code: $code (valid for $validity)"),
        "ru": Template("$greeting Код активации Comptoir: $code (действует $validity)"),
    },
    "recovery": {
        "fr": Template(
            "$greeting votre code pour un nouveau mot de passe Comptoir : $code (valable $validity)"
        ),
        "en": Template("$greeting your code for a new Comptoir password: $code (valid for $validity)"),
        "ru": Template("$greeting Код для смены пароля Comptoir: $code (действует $validity)"),
    },
}
