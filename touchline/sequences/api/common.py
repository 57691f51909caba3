"""What the sequence API modules share: the router they all add to, the page shape, and the translation of
service errors into the one error envelope (touchline/api/errors.py)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from ninja import Router, Schema

from touchline.api.errors import ApiError
from touchline.sequences.services import SequenceConflict

router = Router(tags=["Sequences"])

MAX_IDS = 500  # contacts per enroll call, enrollments per bulk action


class Page(Schema):
    next_cursor: str | None


def conflict(error: SequenceConflict) -> ApiError:
    return ApiError(409, "conflict", str(error))


def invalid(error: ValidationError, rename: dict[str, str] | None = None) -> ApiError:
    """A service's ValidationError as a 422 naming the API's fields (`inbox` → `inbox_id`)."""
    rename = rename or {}
    if hasattr(error, "error_dict"):
        fields = {rename.get(name, name): " ".join(messages) for name, messages in error.message_dict.items()}
        return ApiError(422, "invalid", "; ".join(fields.values()), fields)
    return ApiError(422, "invalid", " ".join(error.messages))


def aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(422, "invalid", f"{field} needs a time zone, e.g. 2026-03-16T09:00:00Z.",
                       {field: "no time zone"})
    return value


def unique(ids: list[int]) -> list[int]:
    """The ids in the order given, each once."""
    return list(dict.fromkeys(ids))
