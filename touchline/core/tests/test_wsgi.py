"""The WSGI application the server runs (config.wsgi): the collector's path goes through the slim middleware stack,
stores and refuses as through the whole one, and every other path keeps the whole stack. Called as the server calls
it, with a WSGI environ; the database is real and in autocommit, as under the server."""

from __future__ import annotations

import io
import json

import pytest
from django_scopes import scopes_disabled

from touchline.tracking import collector, services
from touchline.tracking.models import CollectorDrop, PendingHit

pytestmark = pytest.mark.django_db(transaction=True)

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


@pytest.fixture
def application():
    from config.wsgi import application

    collector.site_cache_clear()
    yield application
    collector.site_cache_clear()


def call(application, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str]]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "testserver", "SERVER_PORT": "80",
               "HTTP_HOST": "testserver", "REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": CHROME,
               "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": io.StringIO()}
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    response = application(environ, start_response)
    try:
        b"".join(response)
    finally:
        response.close()
    return answer["status"], answer["headers"]


@pytest.fixture
def site(account):
    with scopes_disabled():
        return services.site_create(account=account, name="Website", domains="example.com")


def test_collector_path_stores_the_hit_through_the_slim_stack(application, site):
    payload = {"k": site.key, "h": "hit-0000001", "v": "visitor-0001", "u": "https://example.com/pricing"}
    status, headers = call(application, "POST", "/t/collect", json.dumps(payload).encode())
    assert status == 202 and headers["Access-Control-Allow-Origin"] == "*" and "no-store" in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs
    assert "X-Frame-Options" not in headers and "Set-Cookie" not in headers and "Vary" not in headers
    with scopes_disabled():
        assert list(PendingHit.all_accounts.values_list("hit_id", "visitor_key")) == [("hit-0000001", "visitor-0001")]


def test_collector_path_counts_a_refusal_without_an_account_scope(application, site):
    payload = {"k": "no-such-key", "h": "hit-0000001", "v": "visitor-0001", "u": "https://example.com/"}
    status, _ = call(application, "POST", "/t/collect", json.dumps(payload).encode())
    assert status == 403
    assert list(CollectorDrop.objects.values_list("reason", "count")) == [("unknown_site", 1)]


def test_other_paths_keep_the_whole_middleware_stack(application):
    status, headers = call(application, "GET", "/login/")
    assert status == 200 and headers["X-Frame-Options"] == "DENY" and "csrftoken" in headers.get("Set-Cookie", "")
