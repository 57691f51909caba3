"""API tokens: creation, revocation, and bearer authentication of requests.

A token reads `tl_<key_id>_<secret>`. `key_id` finds the row; the secret is checked against its SHA-256 in
constant time. Authentication happens in the account middleware, so token requests run in the same
account scope as browser requests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from touchline.api.models import ApiToken
from touchline.core.models import Membership

PREFIX = "tl"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # avoid a write per request


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, account, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plain token, which is never retrievable again."""
    if not Membership.objects.filter(user=user, account=account).exists():
        raise PermissionError("the user is not a member of this account")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.all_accounts.create(
        account=account, user=user, name=name.strip() or "API token", key_id=key_id, secret_hash=_hash(secret)
    )
    return token, f"{PREFIX}_{key_id}_{secret}"


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def authenticate_bearer(request) -> Membership | None:
    """If the request carries a valid `Authorization: Bearer tl_…` token, set request.user and return the
    membership it acts as; otherwise None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return None
    parts = header.removeprefix("Bearer ").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    _, key_id, secret = parts
    with scopes_disabled():
        token = ApiToken.all_accounts.select_related("user", "account").filter(key_id=key_id).first()
        if token is None or token.revoked_at is not None or not token.user.is_active:
            return None
        if not hmac.compare_digest(token.secret_hash, _hash(secret)):
            return None
        membership = Membership.objects.filter(user=token.user, account=token.account).select_related("account").first()
        if membership is None:
            return None
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.all_accounts.filter(pk=token.pk).update(last_used_at=now)
    request.user = token.user
    request.api_token = token
    return membership
