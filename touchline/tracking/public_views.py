"""Public endpoints the tracked website calls: the snippet (/t.js), the collector (/t/collect), and forms
(/t/forms/<key> for the definition, /t/forms/<key>/submit). No login, no cookies of ours: the site's public key
identifies the account, and every answer allows any origin because the snippet runs on the customer's site.
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from touchline.core.http import client_ip
from touchline.tracking import collector, services, snippet
from touchline.tracking.models import DropReason, Form

log = logging.getLogger(__name__)
MAX_SUBMISSION_BYTES = 32 * 1024
SUBMISSIONS_PER_IP_PER_MINUTE = 10
# The hidden field a person never fills and a spam bot fills in every time.
HONEYPOT_FIELD = "_hp"


CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "86400"}
# What never_cache sends, as one constant: the collector answers every hit, and never_cache formats a date and
# parses the header again on each answer (about a tenth of the collector's own time).
NO_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"


def _cors(response: HttpResponse) -> HttpResponse:
    for header, value in CORS_HEADERS.items():
        response[header] = value
    return response


def _error(status: int, code: str, message: str, fields: dict | None = None) -> HttpResponse:
    body = {"error": {"code": code, "message": message, **({"fields": fields} if fields else {})}}
    return _cors(JsonResponse(body, status=status))


def _collect_answer(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = NO_STORE
    return _cors(response)


@require_safe
@cache_control(public=True, max_age=3600)
def snippet_js(request):
    return HttpResponse(snippet.source(), content_type="text/javascript; charset=utf-8")


def _read_body(request, limit: int) -> bytes | None:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > limit:
        return None
    return request.read(limit + 1)


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def collect(request):
    return _collect_answer(_collect(request))


def _collect(request) -> HttpResponse:
    if request.method == "OPTIONS":
        return HttpResponse(status=204)
    body = _read_body(request, collector.MAX_BODY_BYTES)
    if body is None:
        services.drop_count(reason=DropReason.TOO_LARGE)
        return _error(413, "too_large", f"The payload is over {collector.MAX_BODY_BYTES} bytes.")
    try:
        accepted = collector.hit_parse(
            body,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            ip=client_ip(request),
            do_not_track=request.META.get("HTTP_DNT") == "1",
        )
    except collector.Refused as refused:
        services.drop_count(reason=refused.reason, site=refused.site)
        if refused.status == 202:
            return HttpResponse(status=202)
        return _error(refused.status, refused.reason, refused.message)
    try:
        services.hit_enqueue(site=accepted.site, hit=accepted.hit)
    except DatabaseError:
        # Not stored: say so, so the snippet keeps the hit and sends it again.
        log.exception("collector could not store hit %s", accepted.hit.hit_id)
        return _error(503, "unavailable", "The hit could not be stored; retry later.")
    return HttpResponse(status=202)


def _form_or_none(key: str) -> Form | None:
    return Form.all_accounts.filter(key=key).select_related("site", "account").first()


@never_cache
@require_http_methods(["GET", "OPTIONS"])
def form_definition(request, key: str):
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204))
    form = _form_or_none(key)
    if form is None:
        return _error(404, "not_found", "Unknown form.")
    # The form name is the account's own label and stays private; the embed needs only the fields.
    return _cors(JsonResponse({"fields": form.fields, "thank_you": form.thank_you, "honeypot": HONEYPOT_FIELD}))


@csrf_exempt
@never_cache
@require_http_methods(["POST", "OPTIONS"])
def form_submit(request, key: str):
    """Body (text/plain JSON, like the collector): {"id": submission id, "v": visitor id or null, "u": page URL,
    "data": {field: value}}. 201 stored, 200 already stored, 422 with the bad fields."""
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204))
    form = _form_or_none(key)
    if form is None:
        return _error(404, "not_found", "Unknown form.")
    body = _read_body(request, MAX_SUBMISSION_BYTES)
    if body is None:
        return _error(413, "too_large", f"The submission is over {MAX_SUBMISSION_BYTES} bytes.")
    try:
        payload = json.loads(body)
        data, submission_id = payload["data"], payload["id"]
        visitor, page_url = payload.get("v") or "", payload.get("u") or ""
        if not (
            isinstance(data, dict)
            and isinstance(visitor, str)
            and isinstance(page_url, str)
            and isinstance(submission_id, str)
            and collector.ID_PATTERN.fullmatch(submission_id)
            and (not visitor or collector.ID_PATTERN.fullmatch(visitor))
        ):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return _error(400, "invalid", 'Send {"id": "...", "data": {...}} as JSON.')
    if data.get(HONEYPOT_FIELD):
        # Answer like a success so the bot moves on; store nothing.
        services.drop_count(reason=DropReason.BOT, site=form.site)
        return _cors(JsonResponse({"status": "ok", "thank_you": form.thank_you}, status=201))
    if not collector.within_rate(f"form:{client_ip(request)}", SUBMISSIONS_PER_IP_PER_MINUTE):
        return _error(429, "rate_limited", "Too many submissions; retry in a minute.")
    try:
        _, created = services.form_submission_record(
            form=form, submission_id=submission_id, data=data, visitor_key=visitor, page_url=page_url[:2000]
        )
    except ValidationError as error:
        return _error(
            422,
            "invalid",
            "Some fields need attention.",
            {field: " ".join(messages) for field, messages in error.message_dict.items()},
        )
    except DatabaseError:
        log.exception("form %s: submission %s not stored", form.pk, submission_id)
        return _error(503, "unavailable", "The submission could not be stored; retry later.")
    return _cors(JsonResponse({"status": "ok", "thank_you": form.thank_you}, status=201 if created else 200))
