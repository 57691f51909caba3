"""The snippet in a real browser: a customer's website served on its own origin (127.0.0.1 on another port) carries
`<script src=".../t.js">` from Touchline's live server; Chromium browses it with UTM links, follows a link, navigates
a single-page app, submits the embedded form; then the campaign's Performance tab shows the visit and the contact.

Chromium runs headless, and its agent says "HeadlessChrome" — which the collector rightly drops as a machine — so
the browser context presents the agent of the same Chrome with a screen, as a person's browser would."""

from __future__ import annotations

import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django_scopes import scope, scopes_disabled
from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORT, log_in
from touchline.campaigns import services as campaigns
from touchline.crm.models import Contact
from touchline.tracking import services as tracking
from touchline.tracking.models import PageView, Visitor, WebSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PERSON_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
                "Safari/537.36")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def website(tmp_path, live_server, account):
    """The customer's site: three pages with the snippet, one with the form; returns (base URL, campaign)."""
    with scope(account=account):
        site = tracking.site_create(account=account, name="Website", domains="127.0.0.1")
        form = tracking.form_create(account=account, site=site, name="Demo request",
                                    fields=[{"name": "email"}, {"name": "first_name"}])
        campaign = campaigns.campaign_create(account=account, name="Spring launch", utm_campaign="spring")
        campaigns.association_add(campaign=campaign, asset=campaigns.form_asset(form=form))
    snippet = f'<script async src="{live_server.url}/t.js" data-site="{site.key}"></script>'
    pages = {
        "index.html": '<a id="about" href="/about.html">About</a>',
        "about.html": "<p>About us</p>",
        "contact.html": f'<div data-touchline-form="{form.key}"></div>',
    }
    for name, body in pages.items():
        (tmp_path / name).write_text(f"<!doctype html><html><head><title>{name}</title>{snippet}</head>"
                                     f"<body>{body}</body></html>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", campaign
    server.shutdown()


@pytest.fixture
def visitor_page(browser):
    context = browser.new_context(viewport=VIEWPORT, user_agent=PERSON_AGENT)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def views_stored() -> list[str]:
    """Page views, after sessionising what the collector accepted (the worker's task, run here)."""
    with scopes_disabled():
        tracking.pending_hits_drain()
        return list(PageView.all_accounts.order_by("occurred_at", "pk").values_list("url", flat=True))


def wait_for_views(count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while len(views_stored()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return views_stored()


def test_snippet_records_a_campaign_visit_and_the_form_identifies_the_visitor(website, visitor_page, page, user,
                                                                              account):
    base, campaign = website
    landing = f"{base}/index.html?utm_campaign=spring&utm_source=newsletter&utm_medium=email"
    visitor_page.goto(landing)
    assert wait_for_views(1) == [landing]
    visitor_page.click("#about")
    visitor_page.evaluate("history.pushState({}, '', '/pricing')")  # a single-page app's navigation
    assert wait_for_views(3)[1:] == [f"{base}/about.html", f"{base}/pricing"]
    with scopes_disabled():
        session = WebSession.all_accounts.get()
        assert (session.page_views, session.source, session.utm_campaign) == (3, "email_marketing", "spring")
        assert Visitor.all_accounts.count() == 1  # the first-party cookie carried the visitor across pages
        assert PageView.all_accounts.filter(url=f"{base}/about.html").get().referrer == landing

    visitor_page.goto(f"{base}/contact.html")
    visitor_page.get_by_label("Email").fill("grace@navy.test")
    visitor_page.get_by_label("First name").fill("Grace")
    visitor_page.get_by_role("button", name="Submit").click()
    expect(visitor_page.locator("body")).to_contain_text("Thanks, we'll be in touch.")
    with scope(account=account):
        grace = Contact.objects.get(email="grace@navy.test")
        assert grace.original_source == "email_marketing"
        assert WebSession.objects.filter(visitor__contact=grace).count() == 1  # the earlier visit is hers

    log_in(page)
    page.goto(f"/campaigns/{campaign.pk}/performance/")
    overview = page.locator("#section-campaign_overview tbody")
    expect(overview.locator("tr").nth(0)).to_contain_text("Sessions")
    assert [overview.locator("tr").nth(n).locator("td").nth(1).inner_text() for n in range(3)] == ["1", "1", "1"]


def test_snippet_sends_nothing_when_the_browser_asks_not_to_be_tracked(website, visitor_page):
    base, _ = website
    visitor_page.add_init_script("Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})")
    with visitor_page.expect_response(lambda r: r.url.endswith("/t.js")):
        visitor_page.goto(f"{base}/index.html?utm_campaign=spring&utm_source=x&utm_medium=y")
    visitor_page.wait_for_timeout(1000)
    assert views_stored() == []
    assert "tl_vid" not in {c["name"] for c in visitor_page.context.cookies()}
