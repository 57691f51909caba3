"""The ESP webhook endpoint, `POST /webhooks/esp/<provider>/<key>`: thin — limits, lookup, `providers.receive`,
`events.esp_events_record`, an answer.

| answer | when |
|---|---|
| 200 `{"received", "recorded", "duplicates", "unknown", "ignored"}` | verified and processed, unknown emails too |
| 200 `{"status": "subscription_pending"}` | an SNS subscription confirmation, kept for an administrator to confirm |
| 400 | not the provider's payload shape |
| 401 | Postmark without the right basic auth credentials (with `WWW-Authenticate`, as SNS and Postmark expect) |
| 403 | a signature that does not verify, a replay, an address outside the allowlist, a webhook with no key yet |
| 404 | no webhook of that provider with that key |
| 413 | a body over MAX_BODY |
| 429 | over the rate limits (providers retry) |
| 503 | the database could not be written (providers retry; duplicates are recognised) |
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_scopes import scope, scopes_disabled

from touchline.api.errors import error_body
from touchline.core.http import client_ip
from touchline.core.ratelimit import rate_limit_allows
from touchline.sequences.esp import providers, verify
from touchline.sequences.esp.events import Malformed, Refused, esp_events_record, esp_subscription_record
from touchline.sequences.models import EspWebhook

logger = logging.getLogger(__name__)

# SendGrid batches events into posts well under 1 MB, an SNS message is at most 256 KB, Mailgun and Postmark post
# one event of a few KB: 2 MB leaves room and keeps a flood of junk cheap to refuse.
MAX_BODY = 2 * 1024 * 1024
# Requests per minute, per webhook and per sending address. Sequences send at most an inbox's daily limit a day;
# a provider reporting a burst of opens and deliveries stays far below this, and a refused one retries later.
REQUESTS_PER_MINUTE = 600
RATE_WINDOW = 60


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _webhook(provider: str, key: str) -> EspWebhook | None:
    with scopes_disabled():  # the unguessable key in the URL names the account; everything after runs in its scope
        return EspWebhook.all_accounts.select_related("account").filter(provider=provider, key=key).first()


# Exempt from CSRF: providers post from their servers without a cookie; the provider's signature (or Postmark's
# credentials) is what authorises a request, not a session.
@csrf_exempt
@require_POST
def esp_webhook(request, provider: str, webhook_key: str):
    ip = client_ip(request)
    if not (rate_limit_allows(f"esp:webhook:{webhook_key[:64]}", limit=REQUESTS_PER_MINUTE, window=RATE_WINDOW)
            and rate_limit_allows(f"esp:ip:{ip}", limit=REQUESTS_PER_MINUTE, window=RATE_WINDOW)):
        return _error(429, "rate_limited", "Too many requests; retry in a minute.", {"Retry-After": "60"})
    if _content_length(request) > MAX_BODY or len(request.body) > MAX_BODY:
        return _error(413, "too_large", f"The body is over {MAX_BODY // (1024 * 1024)} MB.")
    webhook = _webhook(provider, webhook_key)
    if webhook is None:
        return _error(404, "not_found", "No such webhook.")
    if not verify.ip_allowed(webhook, ip):
        return _error(403, "forbidden", "This address may not post to this webhook.")
    now = timezone.now()
    try:
        batch = providers.receive(webhook, request.body, request.headers, now)
    except Refused as refused:
        return _error(refused.status, "unauthenticated" if refused.status == 401 else "forbidden", refused.message,
                      refused.headers)
    except Malformed as malformed:
        return _error(400, "bad_request", str(malformed))
    try:
        with scope(account=webhook.account):
            if batch.subscribe_url:
                esp_subscription_record(webhook=webhook, subscribe_url=batch.subscribe_url, now=now)
                return JsonResponse({"status": "subscription_pending"})
            result = esp_events_record(webhook=webhook, batch=batch, now=now)
    except DatabaseError:
        logger.exception("recording %s webhook events failed", provider)
        if batch.used_token:
            verify.token_release(batch.used_token)
        return _error(503, "unavailable", "The events could not be stored; retry later.")
    return JsonResponse(result.as_dict())
