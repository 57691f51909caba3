"""One counter for every rate limit of the app (the API per token, booking pages and webhooks per address, the
collector per site and visitor): a fixed window in Django's cache. The default cache is per process — one
`touchline serve` shares it between its threads; several server processes each count on their own."""

from __future__ import annotations

from django.core.cache import cache


def rate_limit_allows(key: str, *, limit: int, window: int) -> bool:
    """Count one request under `key` in a fixed window of `window` seconds; False once more than `limit` arrived
    in the current window."""
    # Counting first and creating the counter only when it is missing is one cache operation per request instead
    # of two (the collector counts twice per hit). Two requests both finding it missing both add: one wins, the
    # other counts on it.
    try:
        count = cache.incr(key)
    except ValueError:  # the window's first request (or the counter expired or was evicted)
        if cache.add(key, 1, timeout=window):
            return limit >= 1
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            count = 1
    return count <= limit
