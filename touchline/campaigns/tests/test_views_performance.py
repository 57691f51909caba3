"""The campaign tabs as a marketer uses them, through the real URL conf and templates: every Overview count opens its
rows, each section redraws alone when its own control changes (chart unit, traffic source, revenue model), asset
names open the asset's page, and every attributed amount opens the interactions behind it.

Numbers are the hand-worked ones of test_performance.py (web traffic) and attribution/tests/test_reports.py
(revenue): see their docstrings."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django_scopes import scope

from touchline.attribution.tests.test_credits import history  # noqa: F401 - the revenue history
from touchline.campaigns import services as campaign_services
from touchline.campaigns.models import AssetType, Campaign
from touchline.campaigns.tests.test_performance import spring  # noqa: F401 - the hand-built month of traffic
from touchline.core.models import Plan
from touchline.crm.models import Contact
from touchline.reports import pipeline
from touchline.reports.pipeline import ReportParamError, report_run
from touchline.tracking.models import Form

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def logged_in(client, user, monkeypatch):
    # The reports run "now" on 20 March 2026, the day the fixtures are worked out for (Revenue reaches back 365
    # days from now).
    monkeypatch.setattr(pipeline, "timezone", SimpleNamespace(now=lambda: NOW))
    client.force_login(user)
    return client


def links(body: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', body)]


def section(body: str, dom_id: str) -> str:
    start = body.index(f'id="section-{dom_id}"')
    return body[start:body.index("</section>", start)]


def test_overview_counts_open_the_rows_behind_them_with_the_page_filters(logged_in, spring):  # noqa: F811
    body = logged_in.get(f"/campaigns/{spring.pk}/performance/?attribution=last_touch").content.decode()
    overview = section(body, "campaign_overview")
    assert "50.0% of the goal of 8" in overview  # 4 sessions of 8
    rows = f"/campaigns/{spring.pk}/performance/rows/?attribution=last_touch&metric=campaign_new_contacts"
    assert rows in links(overview)
    page = logged_in.get(rows).content.decode()
    # Last touch: Alice and Bob both last touched the associated form at their creation.
    assert re.findall(r"[a-z]+@example\.org", page) == ["bob@example.org", "alice@example.org"]
    assert "2026-03-04 09:01" in page and "2026-03-03 11:02" in page  # created at, on the account's (Berlin) clock
    assert "2 rows;" in page
    sessions = logged_in.get(f"/campaigns/{spring.pk}/performance/rows/?metric=campaign_sessions").content.decode()
    assert "<td>Email marketing</td>" in sessions and "email_marketing" not in sessions.split("<table")[1]
    with scope(account=spring.account):
        bob = Contact.objects.get(email="bob@example.org")
    assert f"/contacts/{bob.pk}/" in links(page)
    assert f"/campaigns/{spring.pk}/performance/?attribution=last_touch" in links(page)  # back, filters kept
    influenced = logged_in.get(f"/campaigns/{spring.pk}/performance/rows/?metric=campaign_influenced_contacts")
    assert re.findall(r"[a-z]+@example\.org", influenced.content.decode()) == [
        "carol@example.org", "bob@example.org", "alice@example.org"]


def test_a_section_redraws_alone_when_its_own_control_changes(logged_in, spring):  # noqa: F811
    response = logged_in.get(f"/campaigns/{spring.pk}/performance/?only=campaign_contacts_sessions&unit=month",
                             HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.count("<section") == 1 and 'id="section-campaign_contacts_sessions"' in body
    assert "<td>2026-03</td>" in body and '<option value="month" selected>Monthly</option>' in body
    assert 'data-hover="index"' in body  # the chart's tooltip lists every series of the hovered month
    assert response["HX-Push-Url"] == f"/campaigns/{spring.pk}/performance/?unit=month"
    # The unit select belongs to the page's filter form, so changing the range keeps monthly buckets.
    assert 'name="unit" form="filters"' in body


def test_a_traffic_source_opens_its_breakdown_and_leads_back(logged_in, spring):  # noqa: F811
    body = logged_in.get(f"/campaigns/{spring.pk}/performance/").content.decode()
    traffic = section(body, "campaign_traffic")
    paid = f"/campaigns/{spring.pk}/performance/?source=paid_search"
    assert paid in links(traffic) and """hx-vals='{"source": "paid_search"}'""" in traffic
    part = logged_in.get(f"{paid}&only=campaign_traffic", HTTP_HX_REQUEST="true").content.decode()
    assert "Search term" in part and "crm tool" in part and "All sources" in part
    assert 'name="source" value="paid_search" form="filters"' in part  # kept when the range changes


def add_pages(account, campaign, asset_type: str, *names: str) -> None:
    with scope(account=account):
        for name in names:
            asset = campaign_services.page_asset_get_or_create(
                account=account, url=f"https://example.com/{name.lower().replace(' ', '-')}", asset_type=asset_type,
                name=name)
            campaign_services.association_add(campaign=campaign, asset=asset)


def test_each_asset_report_has_its_own_chart_and_its_names_open_the_asset(logged_in, account, spring):  # noqa: F811
    add_pages(account, spring, AssetType.LANDING_PAGE, "Second page")
    add_pages(account, spring, AssetType.BLOG_POST, "Post A", "Post B")
    body = logged_in.get(f"/campaigns/{spring.pk}/performance/").content.decode()
    # One report runs once per asset type: each section needs its own ids, or every chart draws the first's data.
    for asset_type, names in (("landing_page", ["Second page", "Spring page"]), ("blog_post", ["Post A", "Post B"])):
        assert f'id="section-campaign_assets-{asset_type}"' in body
        data = re.search(rf'id="data-campaign_assets-{asset_type}"[^>]*>(.*?)</script>', body, re.S).group(1)
        assert sorted(row["name"] for row in json.loads(data)["rows"]) == names
    assert 'id="section-campaign_assets-form"' in body
    with scope(account=account):
        page = spring.associations.get(asset__name="Spring page").asset
    asset_url = f"/campaigns/{spring.pk}/assets/{page.pk}/"
    assert asset_url in links(section(body, "campaign_assets-landing_page"))
    detail = logged_in.get(asset_url).content.decode()
    assert "Spring page" in detail and "example.com/spring" in detail
    assert re.search(r'kpi-label">Views</p><p class="kpi-value"[^>]*>2<', detail)  # whole history: B1 too
    assert "2026-03-02" in detail  # its association window
    with scope(account=account):
        other = Campaign.objects.create(account=account, name="Other", utm_campaign="other")
    assert logged_in.get(f"/campaigns/{other.pk}/assets/{page.pk}/").status_code == 404


def test_an_asset_report_shows_ten_assets_then_view_all(logged_in, account, spring):  # noqa: F811
    add_pages(account, spring, AssetType.BLOG_POST, *(f"Post {n:02d}" for n in range(11)))
    blogs = section(logged_in.get(f"/campaigns/{spring.pk}/performance/").content.decode(),
                    "campaign_assets-blog_post")
    assert blogs.count('class="more-row" hidden') == 1 and "View all 11" in blogs and "<canvas" in blogs
    # One asset: its numbers say it all, without a one-bar chart.
    assert "<canvas" not in section(logged_in.get(f"/campaigns/{spring.pk}/performance/").content.decode(),
                                    "campaign_assets-form")
    assert '<details class="asset-report" open>' in blogs  # each asset report expands and collapses


@pytest.fixture
def revenue_spring(account, history):  # noqa: F811
    campaign = campaign_services.campaign_create(account=account, name="Spring", utm_campaign="spring")
    campaign_services.association_add(campaign=campaign, asset=campaign_services.form_asset(form=Form.objects.get()),
                                      at=datetime(2026, 3, 1, tzinfo=UTC))
    return campaign


def test_a_deals_revenue_opens_its_interactions_with_their_shares(logged_in, account, history,  # noqa: F811
                                                                   revenue_spring):
    body = logged_in.get(f"/campaigns/{revenue_spring.pk}/performance/").content.decode()
    revenue = section(body, "campaign_revenue")
    deal = history["deal"]
    target = (f"/campaigns/{revenue_spring.pk}/interactions/?conversion=revenue&model=linear&lookback=0"
              f"&window=365&deal={deal.pk}")
    assert target in links(revenue)
    # The four numbers of SPEC §2 up front; the total and both amounts of a deal open its interactions.
    assert re.search(r'Contacts with revenue</p><p class="kpi-value">1<', revenue)
    assert re.search(r'Deals with revenue</p><p class="kpi-value">1<', revenue)
    assert links(revenue).count(target) == 2  # deal contribution and associated deal value
    assert target.replace(f"&deal={deal.pk}", "") in links(revenue)
    page = logged_in.get(target).content.decode()
    # Linear: 333.33 + 333.33 (the two UTM page views) + 333.34 (the form), all of Big's 1,000.00.
    assert sorted(re.findall(r"33\d\.3\d", page)) == ["333.33", "333.33", "333.34"]
    assert "1,000.00" in page and f"/deals/{deal.pk}/" in links(page)


def test_revenue_attribution_has_its_model_picker_on_enterprise(logged_in, account, revenue_spring):
    account.plan = Plan.ENTERPRISE
    account.save()
    body = logged_in.get(f"/campaigns/{revenue_spring.pk}/performance/?model=u_shaped").content.decode()
    attribution = section(body, "campaign_revenue_attribution")
    assert '<option value="u_shaped" selected>' in attribution and "model u_shaped" in attribution
    assert "model=u_shaped" in " ".join(links(attribution))  # its amounts open the u-shaped credits


def test_attribution_tab_amounts_open_the_interactions_of_their_row(logged_in, account, revenue_spring):
    body = logged_in.get(f"/campaigns/{revenue_spring.pk}/attribution/?conversion=contact_create").content.decode()
    assert "Whole journey" in body and "Contact create" in body  # readable choices
    targets = [href for href in links(section(body, "campaign_attribution")) if "/interactions/" in href]
    by_form = next(href for href in targets if "&asset=" in href)
    by_utm = next(href for href in targets if "asset_type=utm" in href)
    # Alice's creation: 1/3 through the form, 2/3 through the two UTM page views.
    form_page = logged_in.get(by_form).content.decode()
    assert "form_submission" in form_page and "page_view" not in form_page and "0.33" in form_page
    utm_page = logged_in.get(by_utm).content.decode()
    assert utm_page.count("<td>page_view</td>") == 2 and "form_submission" not in utm_page


def test_credit_rows_refuse_a_filter_that_is_not_an_id(account, revenue_spring):
    with pytest.raises(ReportParamError) as error:
        report_run("campaign_credit_rows", account=account, now=NOW,
                   data={"campaign": str(revenue_spring.pk), "conversion": "revenue", "deal": "1 OR 1=1"})
    assert "deal" in error.value.fields


def test_contacts_and_sessions_series_shows_quiet_days_and_months_as_zero(account, spring):  # noqa: F811
    # Sessions on 1, 2, 3 and 5 March (Berlin): 4 March is quiet and shows as 0, through to 20 March ("now");
    # the totals stay the hand-worked 4 / 1 / 3.
    custom = {"range": "custom", "range_from": "2026-03-01", "range_to": "2026-03-31"}
    with scope(account=account):
        days = report_run("campaign_contacts_sessions", account=account, now=NOW,
                          data={"campaign": str(spring.pk), "unit": "day", **custom})
        months = report_run("campaign_contacts_sessions", account=account, now=NOW,
                            data={"campaign": str(spring.pk), "unit": "month", "range": "all_time"})
    assert [row["period"] for row in days.rows] == [f"2026-03-{d:02d}" for d in range(1, 21)]
    assert [row["campaign_sessions"] for row in days.rows[:6]] == [1, 1, 1, 0, 1, 0]
    assert days.totals == {"campaign_sessions": 4, "campaign_new_contacts": 1, "campaign_influenced_contacts": 3}
    assert [(row["period"], row["campaign_sessions"]) for row in months.rows] == [("2026-03", 4)]


def test_attribution_tab_offers_the_models_of_the_chosen_conversion(logged_in, account, revenue_spring):
    account.plan = Plan.ENTERPRISE
    account.save()
    page = f"/campaigns/{revenue_spring.pk}/attribution/"
    body = logged_in.get(f"{page}?conversion=contact_create").content.decode()
    models = re.search(r'<select name="model".*?</select>', body, re.S).group(0)
    assert "U-shaped" in models and "w_shaped" not in models and "full_path" not in models
    assert "Full path" in logged_in.get(f"{page}?conversion=revenue").content.decode()
    # W-shaped chosen for revenue, then the conversion switched to contact create: linear, and the page says so.
    switched = logged_in.get(f"{page}?conversion=contact_create&model=w_shaped", HTTP_HX_REQUEST="true")
    text = switched.content.decode()
    assert text.lstrip().startswith('<div id="tab-body">') and 'id="filters"' in text  # the filters redraw too
    assert "W-shaped does not apply to contact create; showing Linear." in text and "Model linear" in text


def test_attribution_tab_names_asset_types_and_interaction_types(logged_in, revenue_spring):
    page = f"/campaigns/{revenue_spring.pk}/attribution/?conversion=contact_create"
    by_type = section(logged_in.get(f"{page}&group=asset_type").content.decode(), "campaign_attribution")
    assert "<td>UTM traffic</td>" in by_type and "<td>Form</td>" in by_type
    by_interaction = section(logged_in.get(f"{page}&group=interaction_type").content.decode(),
                             "campaign_attribution")
    assert "<td>Page view</td>" in by_interaction and "interaction_type=page_view" in by_interaction


def test_a_campaign_without_assets_says_where_to_add_them(logged_in, account):
    with scope(account=account):
        campaign = Campaign.objects.create(account=account, name="Empty", utm_campaign="empty")
    body = logged_in.get(f"/campaigns/{campaign.pk}/performance/").content.decode()
    assert "No assets yet" in body and f'href="/campaigns/{campaign.pk}/"' in body
    assert "<canvas" not in section(body, "campaign_traffic")  # no empty chart, the table says "Nothing yet."


def test_starter_plan_sees_performance_without_revenue_sections(logged_in, account, spring):  # noqa: F811
    account.plan = Plan.STARTER
    account.save()
    body = logged_in.get(f"/campaigns/{spring.pk}/performance/").content.decode()
    assert 'id="section-campaign_overview"' in body and "section-campaign_revenue" not in body
    assert 'name="model"' not in body


def test_revenue_shows_the_campaigns_revenue_goal_with_its_progress(logged_in, account, revenue_spring):
    revenue_spring.goal_revenue = 4000
    revenue_spring.save()
    body = logged_in.get(f"/campaigns/{revenue_spring.pk}/performance/").content.decode()
    kpi = section(body, "campaign_revenue")
    # Big's 1,000.00, all of it the campaign's (linear), of a 4,000.00 goal.
    assert "25% of the revenue goal of 4,000.00" in kpi and 'max="4000' in kpi
