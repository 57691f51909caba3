"""One error body for the whole API: `{"error": {"code": …, "message": …, "fields": {…}}}`.

`code` is a stable machine word (`invalid`, `not_found`, `unauthenticated`, `forbidden`, `invalid_cursor`,
`rate_limited`, `too_large`, `server_error`), `message` a sentence for people, `fields` maps input field names to
what is wrong with them (empty when the error is not about one field). Every handler below answers in that shape,
so clients parse one thing whatever went wrong.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as SchemaValidationError

from touchline.api.ratelimit import retry_after

logger = logging.getLogger(__name__)

STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited"}


class ApiError(Exception):
    """Raise from an endpoint to answer `status` with a given code and message."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _schema_fields(errors: list[dict]) -> dict[str, str]:
    # pydantic locations look like ("body", "payload", "email") or ("query", "limit"); the field is the last
    # named part that is not where it came from.
    fields: dict[str, str] = {}
    for error in errors:
        names = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "payload")]
        fields.setdefault(".".join(names) or "request", error.get("msg", "invalid"))
    return fields


def _django_fields(exc: ValidationError) -> dict[str, str]:
    if hasattr(exc, "error_dict"):
        return {field: " ".join(messages) for field, messages in exc.message_dict.items()}
    return {}


def install_error_handlers(api: NinjaAPI) -> None:
    def respond(request, status: int, code: str, message: str, fields: dict[str, str] | None = None):
        return api.create_response(request, error_body(code, message, fields), status=status)

    @api.exception_handler(ApiError)
    def _api_error(request, exc: ApiError):
        return respond(request, exc.status, exc.code, exc.message, exc.fields)

    @api.exception_handler(SchemaValidationError)
    def _schema_invalid(request, exc: SchemaValidationError):
        fields = _schema_fields(exc.errors)
        return respond(request, 422, "invalid", "The request is not valid: " + "; ".join(
            f"{k}: {v}" for k, v in fields.items()), fields)

    @api.exception_handler(ValidationError)
    def _invalid(request, exc: ValidationError):
        fields = _django_fields(exc)
        message = "; ".join(fields.values()) if fields else " ".join(exc.messages)
        return respond(request, 422, "invalid", message, fields)

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request, exc):
        return respond(request, 401, "unauthenticated",
                       "Authenticate with 'Authorization: Bearer <token>' (create one under Settings → API tokens) "
                       "or a logged-in session.")

    @api.exception_handler(PermissionDenied)
    def _forbidden(request, exc):
        return respond(request, 403, "forbidden", str(exc) or "You may not do this.")

    @api.exception_handler(Http404)
    def _http404(request, exc):
        return respond(request, 404, "not_found", "No such object in this account.")

    @api.exception_handler(ObjectDoesNotExist)
    def _missing(request, exc):
        return respond(request, 404, "not_found", "No such object in this account.")

    @api.exception_handler(Throttled)
    def _throttled(request, exc: Throttled):
        seconds = retry_after(exc.wait)
        response = respond(request, 429, "rate_limited",
                           f"Too many requests for this token or session; retry in {seconds} s.")
        response["Retry-After"] = seconds
        return response

    @api.exception_handler(HttpError)
    def _http_error(request, exc: HttpError):
        return respond(request, exc.status_code, STATUS_CODES.get(exc.status_code, "error"), str(exc))

    @api.exception_handler(Exception)
    def _unexpected(request, exc):
        logger.exception("API request failed: %s %s", request.method, request.path)
        return respond(request, 500, "server_error", "Something went wrong on our side; it has been logged.")
