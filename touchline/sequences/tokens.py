"""Signed tokens in the links of sequence emails: the open pixel, click redirects and unsubscribe.

A token is the message id (and for a click, the destination URL) signed with HMAC under the SECRET_KEY and a
salt per purpose, so a pixel token cannot be replayed as a click token. The click redirect reads its
destination only from its own verified token: a tampered or foreign token answers 404 and never redirects
anywhere (no open redirect). Tokens are URL-safe and carry no expiry: an email opened a year later still
tracks and its unsubscribe link still works.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

OPEN_SALT = "touchline.sequences.open"
CLICK_SALT = "touchline.sequences.click"
UNSUBSCRIBE_SALT = "touchline.sequences.unsubscribe"


class BadToken(Exception):
    """The token was not made by this server for this purpose."""


@dataclass(frozen=True)
class ClickTarget:
    message_id: int
    url: str


def _sign(payload, salt: str) -> str:
    return signing.dumps(payload, salt=salt, compress=True)


def _unsign(token: str, salt: str):
    try:
        return signing.loads(token, salt=salt)
    except (signing.BadSignature, ValueError, TypeError):
        raise BadToken(token[:40]) from None


def open_token(message_id: int) -> str:
    return _sign(message_id, OPEN_SALT)


def click_token(message_id: int, url: str) -> str:
    return _sign([message_id, url], CLICK_SALT)


def unsubscribe_token(message_id: int) -> str:
    return _sign(message_id, UNSUBSCRIBE_SALT)


def open_message_id(token: str) -> int:
    value = _unsign(token, OPEN_SALT)
    if not isinstance(value, int):
        raise BadToken(token[:40])
    return value


def click_target(token: str) -> ClickTarget:
    value = _unsign(token, CLICK_SALT)
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)
            and value[1].startswith(("http://", "https://"))):
        raise BadToken(token[:40])
    return ClickTarget(value[0], value[1])


def unsubscribe_message_id(token: str) -> int:
    value = _unsign(token, UNSUBSCRIBE_SALT)
    if not isinstance(value, int):
        raise BadToken(token[:40])
    return value


def public_url(path: str) -> str:
    return f"{settings.PUBLIC_URL}{path}"


def open_pixel_url(message_id: int) -> str:
    return public_url(reverse("sequences-public:open", kwargs={"token": open_token(message_id)}))


def click_url(message_id: int, url: str) -> str:
    return public_url(reverse("sequences-public:click", kwargs={"token": click_token(message_id, url)}))


def unsubscribe_url(message_id: int) -> str:
    return public_url(reverse("sequences-public:unsubscribe", kwargs={"token": unsubscribe_token(message_id)}))
