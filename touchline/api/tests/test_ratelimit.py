"""The API rate limit: API_RATE_LIMIT_PER_MINUTE requests per token (or browser session) per clock minute."""

import pytest
from django.core.cache import cache

from touchline.api import ratelimit
from touchline.api.tokens import api_token_create
from touchline.core.accounts import user_create

pytestmark = pytest.mark.django_db

# 20.5 s into a clock minute: the window has 39.5 s left, so Retry-After is 40.
MINUTE_START = 29_000_000 * 60
NOW = MINUTE_START + 20.5


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    cache.clear()  # the counters live in the process's cache, shared by every test of the process
    now = {"t": NOW}
    monkeypatch.setattr(ratelimit, "_clock", lambda: now["t"])
    yield now
    cache.clear()


@pytest.fixture
def limit_3(settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def statuses(client, headers: dict | None = None, n: int = 4) -> list[int]:
    return [client.get("/api/v1/contacts", headers=headers or {}).status_code for _ in range(n)]


def test_rate_limit_answers_429_with_retry_after_when_a_token_makes_more_than_the_limit(client, user, account,
                                                                                      limit_3):
    _, plain = api_token_create(user=user, account=account, name="busy")
    assert statuses(client, bearer(plain), n=3) == [200, 200, 200]
    response = client.get("/api/v1/contacts", headers=bearer(plain))
    assert response.status_code == 429
    assert response["Retry-After"] == "40"  # 60 - 20.5, rounded up
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and set(error) == {"code", "message", "fields"}
    assert "40 s" in error["message"]


def test_rate_limit_leaves_another_token_alone_when_one_token_is_over_it(client, user, account, limit_3):
    _, busy = api_token_create(user=user, account=account, name="busy")
    _, quiet = api_token_create(user=user, account=account, name="quiet")
    assert statuses(client, bearer(busy)) == [200, 200, 200, 429]
    assert statuses(client, bearer(quiet), n=3) == [200, 200, 200]


def test_rate_limit_counts_every_endpoint_of_a_token_together(client, user, account, limit_3):
    _, plain = api_token_create(user=user, account=account, name="mixed")
    codes = [client.get(path, headers=bearer(plain)).status_code
             for path in ("/api/v1/contacts", "/api/v1/companies", "/api/v1/reports", "/api/v1/deals")]
    assert codes == [200, 200, 200, 429]


def test_rate_limit_starts_again_when_the_next_clock_minute_begins(client, user, account, limit_3, _clock):
    _, plain = api_token_create(user=user, account=account, name="patient")
    assert statuses(client, bearer(plain)) == [200, 200, 200, 429]
    _clock["t"] = MINUTE_START + 59.9
    assert statuses(client, bearer(plain), n=1) == [429]
    _clock["t"] = MINUTE_START + 60
    assert statuses(client, bearer(plain)) == [200, 200, 200, 429]


def test_rate_limit_counts_each_browser_session_on_its_own(client, user, account, limit_3):
    from django.test import Client

    other = user_create(username="bob", email="bob@acme.test", password="another long passphrase", account=account)
    client.force_login(user)
    assert statuses(client) == [200, 200, 200, 429]
    second_browser = Client()
    second_browser.force_login(other)
    assert statuses(second_browser, n=1) == [200]
    assert statuses(client, n=1) == [429]


def test_rate_limit_does_not_count_requests_refused_as_unauthenticated(client, user, account, limit_3):
    _, plain = api_token_create(user=user, account=account, name="real")
    assert statuses(client, bearer(plain[:-2] + "xx")) == [401] * 4
    assert statuses(client, bearer(plain), n=3) == [200, 200, 200]


def test_rate_limit_is_off_when_the_setting_is_0(client, user, account, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    _, plain = api_token_create(user=user, account=account, name="unlimited")
    assert set(statuses(client, bearer(plain), n=20)) == {200}
