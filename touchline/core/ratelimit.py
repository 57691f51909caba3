"""One counter for every rate limit of the app (the API per token, booking pages and webhooks per address, the
collector per site and visitor): a fixed window in Django's cache. The default cache is per process — one
`touchline serve` shares it between its threads; several server processes each count on their own."""

from __future__ import annotations

from django.core.cache import cache


def rate_limit_allows(key: str, *, limit: int, window: int) -> bool:
    """Count one request under `key` in a fixed window of `window` seconds; False once more than `limit` arrived
    in the current window."""
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired (or evicted) between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    return count <= limit
