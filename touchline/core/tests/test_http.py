"""The client address behind reverse proxies: X-Forwarded-For is believed only from TRUSTED_PROXIES."""

import pytest
from django.test import RequestFactory

from touchline.core.http import client_ip


def request(remote: str, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


@pytest.mark.parametrize(("trusted", "remote", "forwarded", "expected"), [
    # No proxy configured: the header is anyone's to write, so it is ignored.
    ([], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
    # From a proxy that is not listed: ignored too.
    (["10.0.0.1"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
    # From the listed proxy: the address it received from.
    (["10.0.0.1"], "10.0.0.1", "198.51.100.1", "198.51.100.1"),
    # The client wrote its own header ("1.2.3.4"); the proxy appended the real address: the right-most counts.
    (["10.0.0.1"], "10.0.0.1", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
    # Two proxies in a trusted network: skip both hops.
    (["10.0.0.0/8"], "10.0.0.1", "198.51.100.1, 10.0.0.2", "198.51.100.1"),
    # IPv6 proxy and client.
    (["::1"], "::1", "2001:db8::7", "2001:db8::7"),
    # A trusted proxy that sent no header: the proxy is all there is.
    (["10.0.0.1"], "10.0.0.1", None, "10.0.0.1"),
    # A malformed chain: keep what the socket says.
    (["10.0.0.1"], "10.0.0.1", "198.51.100.1, not-an-ip", "10.0.0.1"),
    # Every hop is trusted (a request from inside the network): the left-most.
    (["10.0.0.0/8"], "10.0.0.1", "10.1.1.1, 10.0.0.2", "10.1.1.1"),
])
def test_client_ip_believes_x_forwarded_for_only_when_it_comes_from_a_trusted_proxy(settings, trusted, remote,
                                                                                   forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    assert client_ip(request(remote, forwarded)) == expected


def test_client_ip_is_empty_when_the_request_has_no_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    req = RequestFactory().get("/")
    req.META.pop("REMOTE_ADDR", None)
    assert client_ip(req) == ""
