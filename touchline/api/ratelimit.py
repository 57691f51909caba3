"""API rate limit: at most API_RATE_LIMIT_PER_MINUTE requests per caller per clock minute (0 turns it off).

The caller is the API token (its key id), else the browser session (its key), else — for an endpoint without
authentication — the client address. Requests are counted in fixed windows aligned to the clock minute, so the
answer past the limit (429 `rate_limited`) can say exactly when the next window opens (`Retry-After`, whole
seconds). Counting is `touchline.core.ratelimit.rate_limit_allows`, the one counter the booking pages, the ESP
webhooks and the collector use too: atomic across the threads of a server process; shared between server
processes only when the cache is (the default in-memory cache is per process, so `serve --workers N` allows up to
N × the limit).

It runs as django-ninja's throttle of the whole API, after authentication: a request with a bad token is
answered 401 without counting.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from ninja.throttling import BaseThrottle

from touchline.core.ratelimit import rate_limit_allows

WINDOW_SECONDS = 60


def _clock() -> float:
    return time.time()


def caller_key(request) -> str:
    token = getattr(request, "api_token", None)
    if token is not None:
        return f"token:{token.key_id}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        session_key = getattr(getattr(request, "session", None), "session_key", None)
        return f"session:{session_key}" if session_key else f"user:{user.pk}"
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


class PerCallerRateLimit(BaseThrottle):
    def allow_request(self, request) -> bool:
        limit = settings.API_RATE_LIMIT_PER_MINUTE
        if limit <= 0:
            return True
        window = int(_clock() // WINDOW_SECONDS)
        return rate_limit_allows(f"api:rate:{caller_key(request)}:{window}", limit=limit, window=WINDOW_SECONDS)

    def wait(self) -> float:
        # Computed when asked, not stored by allow_request: one instance serves every thread.
        return WINDOW_SECONDS - _clock() % WINDOW_SECONDS


def retry_after(wait: float | None) -> str:
    """The Retry-After header's value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait if wait is not None else WINDOW_SECONDS)))
