"""API problems in the reader's language: by the problem's stable `type`, each field by its error
`type`, and the API's own `detail` when neither is known."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from libs.common.clock import utc_now
from services.portal import i18n
from services.portal.gateway import Answer
from services.portal.i18n import N_

PROBLEMS = {
    "invalid-credentials": N_("The identifier or the password is wrong."),
    "account-locked": N_("Too many failed sign-ins: this account is locked."),
    "rate-limited": N_("Too many attempts from your connection."),
    "account-not-activated": N_(
        "This account is not activated yet: follow the link or type the code you received."
    ),
    "session-ended": N_("Your session has ended: sign in again."),
    "change-token-invalid": N_("This password change has expired: sign in again."),
    "password-policy": N_("This password does not follow the rules."),
    "password-required": N_("Choose a password to activate your account."),
    "activation-not-found": N_("This activation link is unknown."),
    "activation-used": N_("This activation link was already used or has expired."),
    "activation-expired": N_("This activation link has expired: ask for a new one."),
    "already-active": N_("This account is already active: sign in."),
    "invalid-code": N_("This code is wrong."),
    "code-expired": N_("This code has expired: ask for a new one."),
    "code-exhausted": N_("Too many wrong codes: ask for a new one."),
    "recovery-code-invalid": N_("This recovery code is wrong or has expired."),
    "wrong-password": N_("The current password is wrong."),
    "password-changed": N_("The password was changed meanwhile: sign in again."),
    "email-taken": N_("An account already uses this email."),
    "card-number-taken": N_("This card number is already given to someone."),
    "customer-code-taken": N_("Another organisation already has this customer code."),
    "last-admin": N_("The tenant's last administrator cannot be removed."),
    "order-rejected": N_("Some lines cannot be ordered: see beside each line."),
    "import-refused": N_("The file was refused: see the report below."),
    "unsupported-file-type": N_("This kind of file is not accepted."),
    "empty-file": N_("The file is empty."),
    "payload-too-large": N_("The file is too large."),
    "idempotency-key-reused": N_("This form was already sent with other values: reload the page."),
    "brand-name-taken": N_("A brand already has this name."),
    "group-name-taken": N_("A customer group already has this name."),
    "forbidden": N_("You may not do this."),
    "not-found": N_("Not found."),
    "validation-error": N_("Some fields are not filled in correctly."),
    "order-state-conflict": N_("The order can no longer take this step."),
    "order-changed": N_("The order changed meanwhile: see it as it is now."),
    "not-your-quote": N_("Only the buyer confirms her quote."),
    "gift-card-locked": N_("This gift card is locked after too many wrong PINs."),
    "gift-card-insufficient": N_("The gift card holds less than that."),
    "gift-card-expired": N_("This gift card has expired."),
    "gift-card-not-sold": N_("This gift card was never sold: it holds nothing."),
    "gift-card-sold": N_("This gift card was sold already."),
    "unknown-gift-card": N_("No gift card of yours has this number."),
    "voucher-used": N_("This code was used already."),
    "voucher-expired": N_("This code has expired."),
    "unknown-voucher": N_("No code of yours is this one."),
    "reward-unavailable": N_("This reward cannot be taken now."),
    "insufficient-points": N_("Not enough points for these rewards."),
    "tenant-exists": N_("This address is taken: choose another."),
    "unknown-signup": N_("This link is not valid."),
    "signup-used": N_("This space was created already: sign in."),
    "signup-expired": N_("This link has expired: sign up again."),
}

FIELD_ERRORS = {
    "missing": N_("Required."),
    "uuid_type": N_("Required."),
    "uuid_parsing": N_("Not a valid value."),
    "string_too_short": N_("Required."),
    "string_too_long": N_("Too long."),
    "string_pattern_mismatch": N_("Not in the expected form."),
    "value_error": N_("Not a valid value."),
    "int_parsing": N_("A whole number is expected."),
    "int_type": N_("A whole number is expected."),
    "greater_than_equal": N_("Too small."),
    "less_than_equal": N_("Too large."),
    "unknown-product": N_("Unknown product code."),
    "not-in-assortment": N_("Not in your organisation's assortment."),
    "inactive-product": N_("No longer for sale."),
    "currency-mismatch": N_("Priced in another currency than the rest of the order."),
    "quantity-too-large": N_("Quantity too large."),
    "password-policy": N_("This password does not follow the rules."),
    "password_policy": N_("This password does not follow the rules."),
    "password_unchanged": N_("Choose a password other than the current one."),
    "invalid_code": N_("This code is wrong."),
    "wrong_password": N_("The current password is wrong."),
    "unknown_organisation": N_("No organisation has this code."),
    "implausible_birth_date": N_("This birth date is not plausible."),
    "control_character": N_("Contains characters that cannot be written."),
    "too_long": N_("Too long."),
    "too-early": N_("Earlier than the first possible delivery day."),
    "closed-day": N_("No delivery on that day."),
    "unknown-address": N_("Not an address of your address book."),
    "unknown-pickup-point": N_("This pick-up point is no longer offered."),
    "address-twice": N_("Choose one place of delivery."),
    "no-address": N_("Type the address to keep."),
    "payment-mode-not-offered": N_("This payment mode is not offered."),
    "not-a-fee-product": N_("This product is not offered instead of the fee."),
    "fee-product-unavailable": N_("This product cannot be ordered now."),
    "no-fee-to-replace": N_("Delivery is free for this order."),
    "terms-not-accepted": N_("Accept the terms of sale to order."),
    "no-lines": N_("Nothing in the cart can be ordered."),
    "total-too-large": N_("The order is too large."),
    "wrong_pin": N_("Wrong PIN: five wrong PINs lock the card."),
    "unknown_card": N_("No customer of yours has this card."),
    "unknown_reward": N_("Unknown reward."),
    "not_your_shop": N_("Only at your own shop."),
    "reserved": N_("This name is reserved: choose another."),
}


@dataclass
class Problems:
    """What to show of a refused request: messages for the whole form and one per field."""

    general: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.general or self.fields)

    def add(self, message: str, field_name: str | None = None) -> None:
        if field_name:
            self.fields[field_name] = message
        else:
            self.general.append(message)

    def unnested(self, prefix: str) -> Problems:
        """These problems with the fields of a nested object (`address.city`) named as the form's
        own (`city`): a form flattens what the API nests."""
        fields = {name.removeprefix(f"{prefix}."): message for name, message in self.fields.items()}
        return Problems(self.general, fields)


def explain(answer: Answer, zone: str = "UTC") -> Problems:
    """The problems of a 4xx answer, translated; a field error with no field name joins the general ones."""
    body = answer.body if isinstance(answer.body, dict) else {}
    shown = Problems()
    kind = answer.problem_type
    known = PROBLEMS.get(kind)
    field_errors = body.get("errors") or []
    if known:
        shown.add(i18n.gettext(known) + _until(answer, zone))
    elif not field_errors:
        shown.add(
            str(body.get("detail") or body.get("title") or i18n.gettext(N_("The request was refused.")))
        )
    for error in field_errors:
        message = FIELD_ERRORS.get(str(error.get("type")))
        text = i18n.gettext(message) if message else str(error.get("message", ""))
        shown.add(text, str(error.get("field") or "") or None)
    return shown


def _until(answer: Answer, zone: str) -> str:
    """For a lockout or a rate limit, until when, in the reader's language and time."""
    retry_after = answer.headers.get("Retry-After")
    if answer.status not in (423, 429) or not retry_after or not retry_after.isdigit():
        return ""
    until = utc_now() + timedelta(seconds=int(retry_after))
    return " " + i18n.gettext(N_("Try again after {time}.")).format(time=i18n.moment(until, zone))
