"""The collector's front half: turn one HTTP request from the snippet into a validated `Hit` for a known site, or
a refusal with its status and reason. Every refusal is counted (services.drop_count); nothing refused is stored.

Payload (JSON, sent as text/plain so browsers send it without a CORS preflight), at most MAX_BODY_BYTES:
    {"k": site key, "h": hit id (8–64 of [A-Za-z0-9_-]), "v": visitor id from the first-party cookie, or null in
     cookieless mode, "u": page URL, "t": title, "r": referrer, "w": screen width, "a": age of the hit in ms}

Answers: 202 stored (or already stored), 400 malformed, 403 unknown site or page on a foreign host, 413 too large,
429 rate limited, 503 could not store (the snippet retries). A bot or a Do-Not-Track request gets 202 and is
dropped: telling a bot it was refused only makes it retry.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from touchline.core.ratelimit import rate_limit_allows
from touchline.tracking.bots import bot_reason
from touchline.tracking.models import DropReason, Site
from touchline.tracking.services import Hit, cookieless_visitor_key

MAX_BODY_BYTES = 8 * 1024  # a URL and a referrer of 2,000 characters each, a title and the rest fit in 8 KB
MAX_URL_LENGTH = 2000
MAX_TITLE_LENGTH = 500
# A hit may wait in the browser's retry queue; older than this its time is not believable any more.
MAX_AGE = timedelta(days=1)
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
# Per visitor: a person does not view more than 120 pages a minute; a script does. Per site: a ceiling so one
# flooded site cannot take the collector from the others (raise it for a very busy site).
VISITOR_HITS_PER_MINUTE = 120
SITE_HITS_PER_MINUTE = 60_000
SITE_CACHE_SECONDS = 60


class Refused(Exception):
    def __init__(self, status: int, reason: str, message: str, site: Site | None = None):
        super().__init__(message)
        self.status, self.reason, self.message, self.site = status, reason, message, site


@dataclass(frozen=True)
class Accepted:
    site: Site
    hit: Hit


# key -> (monotonic expiry, site or None). Per process, not in Django's cache: the collector reads it on every hit,
# and a shared cache would unpickle a model instance each time (as long as the whole rest of the validation).
_sites: dict[str, tuple[float, Site | None]] = {}
# Unknown keys are remembered too (a page with a wrong key keeps sending); made-up keys cannot grow this past it.
SITE_CACHE_ENTRIES = 4096


def site_by_key(key: str) -> Site | None:
    """The site of a public key, kept for SITE_CACHE_SECONDS in this process: the collector looks it up on every
    hit, so a site's new domains (or its deletion) reach the collector within a minute."""
    now = time.monotonic()
    cached = _sites.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    site = Site.all_accounts.filter(key=key).first()
    if len(_sites) >= SITE_CACHE_ENTRIES:
        _sites.clear()
    _sites[key] = (now + SITE_CACHE_SECONDS, site)
    return site


def site_cache_clear() -> None:
    """Forget every cached site (tests; a site's changes otherwise reach the collector within a minute)."""
    _sites.clear()


def within_rate(key: str, limit: int) -> bool:
    """At most `limit` hits under `key` per clock minute."""
    minute = int(timezone.now().timestamp() // 60)
    return rate_limit_allows(f"tracking:rate:{key}:{minute}", limit=limit, window=120)


def _text(payload: dict, key: str, limit: int, *, required: bool = False) -> str:
    value = payload.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Refused(400, DropReason.INVALID, f"'{key}' must be a string")
    if required and not value:
        raise Refused(400, DropReason.INVALID, f"'{key}' is required")
    return value[:limit]


def _http_host(value: str, key: str) -> str:
    """The host of an http(s) URL; Refused when it is not one."""
    parts = urlsplit(value)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(400, DropReason.INVALID, f"'{key}' must be an http(s) URL")
    return host


def hit_parse(body: bytes, *, user_agent: str, ip: str, do_not_track: bool) -> Accepted:
    """Validate one snippet request; raises Refused with the HTTP status and the drop reason."""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, DropReason.TOO_LARGE, f"payload over {MAX_BODY_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, DropReason.INVALID, "payload is not JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, DropReason.INVALID, "payload must be a JSON object")
    site = site_by_key(_text(payload, "k", 64, required=True))
    if site is None:
        raise Refused(403, DropReason.UNKNOWN_SITE, "unknown site key")
    try:
        return _accept(payload, site, user_agent=user_agent, ip=ip, do_not_track=do_not_track)
    except Refused as refused:
        refused.site = site
        raise


def _accept(payload: dict, site: Site, *, user_agent: str, ip: str, do_not_track: bool) -> Accepted:
    hit_id = _text(payload, "h", 64, required=True)
    if not ID_PATTERN.fullmatch(hit_id):
        raise Refused(400, DropReason.INVALID, "'h' must be 8–64 letters, digits, '-' or '_'")
    url = _text(payload, "u", MAX_URL_LENGTH + 1, required=True)
    host = _http_host(url, "u")
    if len(url) > MAX_URL_LENGTH:
        raise Refused(413, DropReason.TOO_LARGE, f"'u' over {MAX_URL_LENGTH} characters")
    if not site.allows_host(host):
        raise Refused(403, DropReason.FOREIGN_HOST, "the page is not on one of the site's domains")
    referrer = _text(payload, "r", MAX_URL_LENGTH)
    if referrer:
        _http_host(referrer, "r")
    width = payload.get("w")
    if width is not None and not (isinstance(width, int) and 0 < width < 100_000):
        raise Refused(400, DropReason.INVALID, "'w' must be a positive integer")
    age = payload.get("a", 0)
    if not isinstance(age, int) or age < 0:
        raise Refused(400, DropReason.INVALID, "'a' must be a non-negative integer (milliseconds)")
    visitor = payload.get("v")
    if visitor is not None and not (isinstance(visitor, str) and ID_PATTERN.fullmatch(visitor)):
        raise Refused(400, DropReason.INVALID, "'v' must be 8–64 letters, digits, '-' or '_', or null")
    if do_not_track:
        raise Refused(202, DropReason.DO_NOT_TRACK, "Do Not Track")
    reason = bot_reason(user_agent)
    if reason is not None:
        raise Refused(202, DropReason.BOT, reason)
    now = timezone.now()
    if visitor is None:
        visitor = cookieless_visitor_key(
            site=site, ip=ip, user_agent=user_agent, salt=settings.SECRET_KEY, day=now.date()
        )
    if not within_rate(f"v:{site.key}:{visitor}", VISITOR_HITS_PER_MINUTE) or not within_rate(
        f"s:{site.key}", SITE_HITS_PER_MINUTE
    ):
        raise Refused(429, DropReason.RATE_LIMITED, "too many hits; retry in a minute")
    occurred_at = now - min(timedelta(milliseconds=age), MAX_AGE)
    return Accepted(
        site=site,
        hit=Hit(
            hit_id=hit_id,
            visitor_key=visitor,
            url=url,
            referrer=referrer,
            title=_text(payload, "t", MAX_TITLE_LENGTH),
            screen_width=width,
            occurred_at=occurred_at,
        ),
    )
