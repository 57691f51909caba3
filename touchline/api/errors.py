"""One error body for the whole API: `{"error": {"code": …, "message": …, "fields": {…}}}`.

`code` is a stable machine word (`invalid`, `not_found`, `unauthenticated`, `forbidden`, `invalid_cursor`,
`rate_limited`, `too_large`, `server_error`), `message` a sentence for people, `fields` maps input field names to
what is wrong with them (empty when the error is not about one field). Every handler below answers in that shape,
so clients parse one thing whatever went wrong.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DataError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as SchemaValidationError

from touchline.api.ratelimit import retry_after

logger = logging.getLogger(__name__)

STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited"}

# The error answers, as the OpenAPI document describes them (see `document_errors`).
ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message", "fields"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}}}
ERROR_DESCRIPTIONS = {
    400: "A malformed request, or a cursor this API did not give out (`invalid_cursor`)",
    401: "No valid token or session (`unauthenticated`)",
    403: "Not allowed, or a session write without the CSRF token (`forbidden`)",
    404: "No such object in this account (`not_found`)",
    409: "The object's state does not allow this (`conflict`)",
    413: "The body is larger than the operation accepts (`too_large`)",
    415: "The body's Content-Type is not one the operation accepts (`unsupported_media_type`)",
    422: "A parameter or field is not valid (`invalid`); `fields` names them",
    429: "Over API_RATE_LIMIT_PER_MINUTE (`rate_limited`); retry after `Retry-After` seconds",
}


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


def document_errors(schema: dict) -> dict:
    """Add the error answers to every operation of the OpenAPI document `schema` (in place; returned too).

    Every operation may answer 401, 403, 404 (any id it is given, in the path or the body, may name nothing in the
    account), 422 and 429; one that changes something 409; one taking a JSON body or a cursor 400; one taking a
    raw body (not JSON: a file, an email) 413 and 415. A status an operation declares
    itself without a body (e.g. 503 of a report past its time budget) gets the envelope too. django-ninja
    documents only the success answer, so without this a client (or schemathesis) sees every error as undeclared.
    """
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            params = operation.get("parameters", [])
            body = operation.get("requestBody", {}).get("content", {})
            codes = {401, 403, 404, 422, 429} if operation.get("security") != [] else {403, 404, 422, 429}
            if method != "get":
                codes.add(409)
            if "application/json" in body or any(p.get("name") == "cursor" for p in params):
                codes.add(400)
            if body and "application/json" not in body:
                codes |= {413, 415}
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS[code]})
            for code, response in responses.items():
                if int(code) >= 400:
                    response.setdefault("content", envelope)
            if "429" in responses:
                responses["429"].setdefault("headers", {"Retry-After": {
                    "description": "Seconds until the next minute's requests are allowed",
                    "schema": {"type": "integer"}}})
    return schema


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

    # A value the database cannot hold is the request's fault, not the server's: an id past 64 bits (SQLite
    # refuses to bind it: OverflowError), a text longer than its column or with a NUL (PostgreSQL: DataError).
    # Services check the fields they know; this answers for the rest instead of a 500.
    @api.exception_handler(DataError)
    def _data_error(request, exc: DataError):
        return respond(request, 422, "invalid", f"A value in the request is not one the database can hold: {exc}")

    @api.exception_handler(OverflowError)
    def _overflow(request, exc: OverflowError):
        return respond(request, 422, "invalid", "A number in the request is out of range.")

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
