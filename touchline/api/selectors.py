"""Reads of API tokens: a user sees and revokes only their own tokens of the current account."""

from __future__ import annotations

from django.db.models import QuerySet

from touchline.api.models import ApiToken
from touchline.core.models import Account


def api_tokens_of(account: Account, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(account=account, user=user).order_by("revoked_at", "-created_at")


def api_token_get(account: Account, user, token_id: int) -> ApiToken:
    """Raises ApiToken.DoesNotExist for another account's or another user's token."""
    return api_tokens_of(account, user).get(pk=token_id)
