"""End-to-end: log in, walk the top navigation, search contacts through htmx — in real Chromium.

Run with `make test-browser` (or `pytest -m browser tests/e2e`).
(docs/screenshot.png comes from scripts/screenshot.py, run against the demo.)
"""

from __future__ import annotations

import re

import pytest
from django_scopes import scope
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, log_in
from touchline.crm import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# The top-level links of the nav in touchline/templates/base.html: (link text, URL path, h1 text).
NAV_LINKS = [
    ("Sequences", "/sequences/", "Sequences"),
    ("Tasks", "/tasks/", "Tasks"),
    ("Campaigns", "/campaigns/", "Campaigns"),
    ("Reports", "/reports/", "Reports"),
    ("Dashboards", "/dashboards/", "Dashboards"),
    ("Contacts", "/contacts/", "Contacts"),
    ("Companies", "/companies/", "Companies"),
    ("Deals", "/deals/", "Deals"),
]


def test_login_rejects_wrong_password_then_lands_on_home(page, page_errors, live_server, user):
    page.goto("/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("wrong horse battery")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Log in").click()
    assert nav.value.status == 200
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password. Both are case-sensitive.")
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_label("Username")).to_have_value("ada")  # the username is kept, the password is not
    expect(page.get_by_label("Password")).to_have_value("")

    log_in(page, password=PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme")
    expect(page.locator("header.topbar")).to_contain_text("Ada Lovelace")
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)
    assert page_errors.messages == []


def test_every_top_level_nav_link_answers_with_its_heading(logged_in_page, page_errors, live_server):
    page = logged_in_page
    nav = page.locator("header.topbar nav")
    texts = [t.strip() for t in nav.locator("ul").first.locator("li > a").all_inner_texts()]
    assert texts[1:] == [text for text, _, _ in NAV_LINKS], "the nav in base.html changed; update NAV_LINKS"

    for text, path, heading in NAV_LINKS:
        page_errors.clear()
        with page.expect_navigation() as navigation:
            nav.get_by_role("link", name=text, exact=True).click()
        response = navigation.value
        assert response is not None and response.status == 200, f"{text}: {response and response.status}"
        expect(page).to_have_url(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(nav.get_by_role("link", name=text, exact=True)).to_have_attribute("aria-current", "page")
        page.wait_for_load_state("networkidle")  # let static files, htmx and page scripts settle
        assert page_errors.messages == [], f"{text}: {page_errors.messages}"


@pytest.fixture
def contacts(account, user):
    with scope(account=account):
        company = services.company_create(account=account, name="Analytical Engines Ltd", domain="engines.test")
        services.contact_create(account=account, email="charles@engines.test", first_name="Charles",
                                last_name="Babbage", job_title="Inventor", company=company, owner=user)
        services.contact_create(account=account, email="mary@engines.test", first_name="Mary",
                                last_name="Somerville", job_title="Mathematician", company=company)
        services.contact_create(account=account, email="grace@navy.test", first_name="Grace",
                                last_name="Hopper", job_title="Rear admiral")


def test_contact_search_narrows_the_table_through_htmx(logged_in_page, page_errors, live_server, contacts):
    page = logged_in_page
    page.goto("/contacts/")
    rows = page.locator("#results table tbody tr")
    expect(rows).to_have_count(3)

    # A marker on window survives only if the page is not reloaded.
    page.evaluate("window.__e2eMarker = 'same page'")
    with page.expect_response(lambda r: "/contacts/?" in r.url and r.request.headers.get("hx-request") == "true") \
            as htmx_response:
        page.get_by_role("searchbox", name="Search").press_sequentially("babb", delay=50)
    assert htmx_response.value.status == 200

    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Charles Babbage")
    expect(rows.first).to_contain_text("charles@engines.test")
    expect(rows.first).to_contain_text("Analytical Engines Ltd")
    expect(page).to_have_url(re.compile(r"/contacts/\?.*q=babb"))  # hx-push-url
    assert page.evaluate("window.__e2eMarker") == "same page", "the search reloaded the whole page"
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")

    # Searching by company name finds both of its contacts (a paste, not typing: the form listens to input
    # events); a miss shows the empty state.
    search = page.get_by_role("searchbox", name="Search")
    search.fill("Analytical")
    expect(rows).to_have_count(2)
    search.fill("nobody-here")
    expect(page.locator("#results")).to_contain_text("No contact matches.")
    assert page.evaluate("window.__e2eMarker") == "same page"
    page.wait_for_load_state("networkidle")
    assert page_errors.messages == []


def test_report_page_draws_its_chart_and_redraws_it_when_a_filter_changes(logged_in_page, page_errors, account):
    with scope(account=account):
        services.deal_create(account=account, name="Renewal", amount="1234.50")
    page = logged_in_page
    page.goto("/reports/deals_by_stage/")
    expect(page.locator("#report-result table tbody tr").first).to_contain_text("1,234.50")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('canvas.report-chart'))")
    bars = page.evaluate("() => Chart.getChart(document.querySelector('canvas.report-chart')).data.datasets[0].data")
    assert bars == [1234.5, 0, 0, 0, 0, 0, 0]

    page.evaluate("window.__e2eMarker = 'same page'")
    page.get_by_label("Created").select_option("last_year")  # the deal was created today: nothing last year
    expect(page.locator("#report-result tfoot")).to_contain_text("0.00")
    # htmx swaps in a new canvas, then the chart is drawn on it: wait for a chart showing the new numbers.
    page.wait_for_function(
        "() => { const chart = Chart.getChart(document.querySelector('canvas.report-chart'));"
        " return chart !== undefined && chart.data.datasets[0].data[0] === 0; }")
    assert page.evaluate("window.__e2eMarker") == "same page"
    page.wait_for_load_state("networkidle")
    assert page_errors.messages == []
