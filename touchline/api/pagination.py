"""Cursor pagination for API lists.

A page is `{"items": [...], "next_cursor": "…" | null}`. Rows come in ascending id order and the cursor is
the last id served, signed so that clients treat it as opaque and a tampered one is refused (400
`invalid_cursor`) rather than silently serving a wrong page. Unlike offsets, a cursor does not skip or repeat
rows when others are inserted or deleted between calls.
"""

from __future__ import annotations

from django.core import signing
from django.db.models import QuerySet

from touchline.api.errors import ApiError

CURSOR_SALT = "touchline.api.cursor"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _after_id(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(signing.loads(cursor, salt=CURSOR_SALT)["after"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API gave out; start again without it.",
                       {"cursor": "invalid"}) from None


def paginate(queryset: QuerySet, *, cursor: str | None, limit: int) -> dict:
    """One page of `queryset` after `cursor`: at most `limit` rows (1…MAX_LIMIT) in id order."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(422, "invalid", f"limit must be between 1 and {MAX_LIMIT}.", {"limit": "out of range"})
    rows = list(queryset.filter(id__gt=_after_id(cursor)).order_by("id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = signing.dumps({"after": rows[-1].id}, salt=CURSOR_SALT) if more else None
    return {"items": rows, "next_cursor": next_cursor}
