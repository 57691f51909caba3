"""The address a request really comes from.

Behind a reverse proxy REMOTE_ADDR is the proxy's; the visitor's address is in X-Forwarded-For, which anyone can
also send. So the header is believed only from the proxies the operator lists in TRUSTED_PROXIES, and read from
the right: each trusted hop appends the address it received from, so the first untrusted one from the right is
the client (an address the client wrote itself stands further left and is never taken).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(request) -> str:
    """The client's IP address: REMOTE_ADDR, or — when REMOTE_ADDR is a trusted proxy — the right-most address of
    X-Forwarded-For that is not one. Answers "" when there is none to be had."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    if not settings.TRUSTED_PROXIES:  # the common case, and the collector's on every hit: nothing to parse
        return remote
    trusted = _networks(tuple(settings.TRUSTED_PROXIES))
    remote_address = _address(remote)
    if remote_address is None or not any(remote_address in n for n in trusted):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return remote  # a malformed chain: keep what the socket says rather than guess
        if not any(address in n for n in trusted):
            return str(address)
    return str(_address(hops[0])) if hops else remote
