"""The collector and the form endpoint over HTTP (Django's test client through the real URL conf, middleware and
database): what is stored, what is refused and why, and that a retried hit is stored once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django_scopes import scope, scopes_disabled

from touchline.crm.models import Contact
from touchline.tracking import collector, services
from touchline.tracking.models import CollectorDrop, FormSubmission, PageView, PendingHit, WebSession

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate-limit counters live there
    collector.site_cache_clear()
    yield
    cache.clear()
    collector.site_cache_clear()


@pytest.fixture
def site(account):
    with scope(account=account):
        return services.site_create(account=account, name="Website", domains="example.com\nshop.example.org")


def hit(site, **fields):
    return {"k": site.key, "h": "hit-0000001", "v": "visitor-0001", "u": "https://example.com/pricing",
            "t": "Pricing", "r": "https://www.google.com/", "w": 1440} | fields


def post(client, payload, *, agent=CHROME, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/t/collect", body, content_type="text/plain", headers={"user-agent": agent, **headers},
                       REMOTE_ADDR="203.0.113.9")


def stored():
    """Page views once the worker has sessionised what the collector accepted."""
    with scopes_disabled():
        services.pending_hits_drain()
        return PageView.all_accounts.count()


def drops() -> dict[str, int]:
    return dict(CollectorDrop.objects.values_list("reason", "count"))


def test_collect_stores_the_view_and_its_session_when_the_hit_is_valid(client, site):
    response = post(client, hit(site))
    assert response.status_code == 202 and response["Access-Control-Allow-Origin"] == "*"
    assert "no-store" in response["Cache-Control"]  # no proxy may answer a hit for us
    assert stored() == 1
    with scopes_disabled():
        session = WebSession.all_accounts.get()
    assert (session.source, session.source_detail, session.is_first, session.page_views) == \
        ("organic_search", "Google", True, 1)


def test_collect_stores_a_retried_hit_once_when_the_same_id_arrives_twice(client, site):
    assert post(client, hit(site)).status_code == 202
    assert post(client, hit(site)).status_code == 202
    with scopes_disabled():
        assert PendingHit.all_accounts.count() == 1
    assert stored() == 1
    # A retry arriving after the worker sessionised the first copy is ignored too.
    assert post(client, hit(site)).status_code == 202
    assert stored() == 1


@pytest.mark.parametrize(("payload", "status", "reason"), [
    (b"{not json", 400, "invalid"),
    (b"[1, 2]", 400, "invalid"),
    ({"h": "hit-0000001", "u": "https://example.com/"}, 400, "invalid"),  # no site key
    ("BAD-ID", 400, "invalid"),
    ("JAVASCRIPT-URL", 400, "invalid"),
    ("FOREIGN", 403, "foreign_host"),
    ("UNKNOWN-SITE", 403, "unknown_site"),
])
def test_collect_refuses_and_counts_when_the_payload_is_bad(client, site, payload, status, reason):
    if isinstance(payload, str):
        payload = {"BAD-ID": hit(site, h="x"), "JAVASCRIPT-URL": hit(site, u="javascript:alert(1)"),
                   "FOREIGN": hit(site, u="https://evil.test/"), "UNKNOWN-SITE": hit(site, k="no-such-key")}[payload]
    bad = payload
    response = post(client, bad)
    assert response.status_code == status
    assert response.json()["error"]["code"] == reason
    assert stored() == 0 and drops() == {reason: 1}


def test_collect_answers_413_when_the_body_is_over_the_limit(client, site):
    response = post(client, hit(site, t="x" * (collector.MAX_BODY_BYTES + 1)))
    assert response.status_code == 413 and stored() == 0 and drops() == {"too_large": 1}


def test_collect_accepts_subdomains_of_the_site_when_the_host_is_listed(client, site):
    assert post(client, hit(site, u="https://blog.example.com/post")).status_code == 202
    assert post(client, hit(site, h="hit-0000002", u="https://shop.example.org/")).status_code == 202
    assert stored() == 2


@pytest.mark.parametrize("agent", ["Googlebot/2.1 (+http://www.google.com/bot.html)", "python-requests/2.32.3", ""])
def test_collect_drops_bots_silently_when_the_agent_is_a_crawler(client, site, agent):
    assert post(client, hit(site), agent=agent).status_code == 202
    assert stored() == 0 and drops() == {"bot": 1}


def test_collect_drops_the_hit_when_the_browser_sends_do_not_track(client, site):
    assert post(client, hit(site), DNT="1").status_code == 202
    assert stored() == 0 and drops() == {"do_not_track": 1}


def test_collect_rate_limits_one_visitor_when_it_sends_more_than_a_person_could(client, site):
    statuses = [post(client, hit(site, h=f"hit-{n:08d}")).status_code
                for n in range(collector.VISITOR_HITS_PER_MINUTE + 1)]
    assert statuses.count(202) == collector.VISITOR_HITS_PER_MINUTE and statuses[-1] == 429
    assert drops() == {"rate_limited": 1}


def test_collect_answers_503_and_stores_nothing_when_the_database_refuses_the_insert(client, site):
    table = PendingHit._meta.db_table

    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and table in sql:
            raise OperationalError("database is locked (the test refuses page views)")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        response = post(client, hit(site))
    assert response.status_code == 503
    with scopes_disabled():
        assert PendingHit.all_accounts.count() == 0
    assert post(client, hit(site)).status_code == 202 and stored() == 1  # the snippet's retry lands


def test_collect_makes_a_daily_anonymous_visitor_when_the_snippet_is_cookieless(client, site):
    post(client, hit(site, v=None))
    post(client, hit(site, v=None, h="hit-0000002", u="https://example.com/about"))
    assert stored() == 2
    with scopes_disabled():
        session = WebSession.all_accounts.get()
    assert session.page_views == 2 and session.visitor.key.startswith("cl-")
    assert "203.0.113" not in session.visitor.key


def test_collect_backdates_the_view_by_its_age_when_it_was_queued_in_the_browser(client, site):
    before = datetime.now(UTC)
    post(client, hit(site, a=90_000))
    assert stored() == 1
    with scopes_disabled():
        occurred = PageView.all_accounts.get().occurred_at
    assert before - timedelta(seconds=91) <= occurred <= before - timedelta(seconds=89)


# Sessions -------------------------------------------------------------------------------------------------------

def test_sessions_split_after_thirty_idle_minutes_and_on_a_new_campaign_or_referrer(site):
    base = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def view(n, minutes, url="https://example.com/", referrer=""):
        services.pageview_record(site=site, hit=services.Hit(hit_id=f"h{n}", visitor_key="v1", url=url,
                                                             referrer=referrer,
                                                             occurred_at=base + timedelta(minutes=minutes)))

    view(1, 0, referrer="https://www.bing.com/")              # S1 organic search
    view(2, 29, referrer="https://example.com/")              # S1: 29 idle minutes, own referrer
    view(3, 59, referrer="https://example.com/")              # S1: 30 minutes exactly is not more than 30
    view(4, 90)                                               # S2: 31 idle minutes → direct
    view(5, 91, url="https://example.com/?utm_campaign=x&utm_source=y&utm_medium=z")  # S3: new campaign
    view(6, 92, referrer="https://partner-blog.test/post")  # S4: new external referrer
    view(7, 93, referrer="https://partner-blog.test/post")  # S4: the same referrer again (a reload)
    with scopes_disabled():
        sessions = list(WebSession.all_accounts.order_by("started_at").values_list("source", "page_views", "is_first"))
    assert sessions == [("organic_search", 3, True), ("direct", 1, False), ("other_campaigns", 1, False),
                        ("referrals", 2, False)]


# Forms ----------------------------------------------------------------------------------------------------------

@pytest.fixture
def form(site):
    with scope(account=site.account):
        return services.form_create(account=site.account, site=site, name="Contact us",
                                    fields=[{"name": "email"}, {"name": "first_name", "required": True},
                                            {"name": "message", "type": "textarea"}])


def submit(client, form, **fields):
    payload = {"id": "submission-1", "v": "visitor-0001", "u": "https://example.com/contact",
               "data": {"email": "grace@navy.test", "first_name": "Grace"}} | fields
    return client.post(f"/t/forms/{form.key}/submit", json.dumps(payload), content_type="text/plain",
                       REMOTE_ADDR="203.0.113.9")


def test_form_submission_creates_the_contact_and_gives_it_the_visitors_earlier_sessions(client, site, form):
    post(client, hit(site))  # visitor-0001 came from Google before filling the form
    response = submit(client, form)
    assert response.status_code == 201 and response.json()["thank_you"]
    with scope(account=site.account):
        grace = Contact.objects.get(email="grace@navy.test")
        assert grace.first_name == "Grace" and grace.original_source == "organic_search"
        assert WebSession.objects.filter(visitor__contact=grace).count() == 1


def test_form_submission_is_stored_once_when_the_same_id_is_resubmitted(client, form):
    assert submit(client, form).status_code == 201
    assert submit(client, form).status_code == 200
    with scopes_disabled():
        assert FormSubmission.all_accounts.count() == 1


def test_form_submission_names_each_bad_field_and_stores_nothing(client, form):
    response = submit(client, form, data={"email": "not-an-email", "first_name": ""})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"email", "first_name"}
    with scopes_disabled():
        assert Contact.all_accounts.count() == 0 and FormSubmission.all_accounts.count() == 0


def test_form_submission_is_dropped_quietly_when_the_honeypot_is_filled(client, form):
    response = submit(client, form, data={"email": "spam@bot.test", "first_name": "x", "_hp": "http://spam"})
    assert response.status_code == 201
    with scopes_disabled():
        assert Contact.all_accounts.count() == 0
    assert drops() == {"bot": 1}


def test_form_definition_is_public_and_cross_origin_when_the_key_is_known(client, form):
    response = client.get(f"/t/forms/{form.key}")
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"
    assert [f["name"] for f in response.json()["fields"]] == ["email", "first_name", "message"]
    assert client.get("/t/forms/unknown-key").status_code == 404


def test_snippet_is_served_small_when_requested(client):
    import gzip

    response = client.get("/t.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert len(gzip.compress(response.content, 9)) < 3 * 1024
