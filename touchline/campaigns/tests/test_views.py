"""Campaign pages through the real URL conf and templates: create a campaign, associate assets, build tracking URLs,
remove an asset, and read the Performance and Attribution tabs."""

from __future__ import annotations

import pytest
from django_scopes import scope

from touchline.campaigns.models import Association, Campaign, TrackingUrl
from touchline.campaigns.tests.test_performance import spring  # noqa: F401 - the hand-built month of traffic
from touchline.core.models import Plan


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_campaign_create_then_associate_a_page_and_build_a_tracking_url(logged_in, account):
    response = logged_in.post("/campaigns/new/", {"name": "Autumn push", "goal_sessions": "100"})
    with scope(account=account):
        campaign = Campaign.objects.get()
    assert response.status_code == 302 and campaign.utm_campaign == "autumn-push"
    page = f"/campaigns/{campaign.pk}/"
    logged_in.post(page, {"action": "page", "page-url": "https://example.com/autumn",
                          "page-asset_type": "landing_page"})
    response = logged_in.post(page, {"action": "url", "url-page_url": "https://example.com/autumn",
                                     "url-utm_source": "newsletter", "url-utm_medium": "email"})
    assert response.status_code == 302
    with scope(account=account):
        assert Association.objects.filter(campaign=campaign).count() == 2  # the page and the tracking URL
        url = TrackingUrl.objects.get()
    assert url.full_url == ("https://example.com/autumn?utm_campaign=autumn-push&utm_source=newsletter"
                            "&utm_medium=email")
    body = logged_in.get(page).content.decode()
    assert url.full_url.replace("&", "&amp;") in body and "example.com/autumn" in body


def test_tracking_url_form_shows_why_a_utm_value_is_refused(logged_in, account):
    with scope(account=account):
        campaign = Campaign.objects.create(account=account, name="X", utm_campaign="x")
    response = logged_in.post(f"/campaigns/{campaign.pk}/", {
        "action": "url", "url-page_url": "https://example.com/", "url-utm_source": "news letter",
        "url-utm_medium": "email"})
    assert response.status_code == 200 and "no spaces" in response.content.decode()
    with scope(account=account):
        assert not TrackingUrl.objects.exists()


def test_removing_an_asset_closes_its_window_and_keeps_it_listed(logged_in, account, spring):  # noqa: F811
    association = spring.associations.filter(removed_at__isnull=True).first()
    response = logged_in.post(f"/campaigns/{spring.pk}/associations/{association.pk}/remove/")
    assert response.status_code == 302
    association.refresh_from_db()
    assert association.removed_at is not None


def test_performance_tab_shows_each_section_with_the_hand_worked_numbers(logged_in, account, spring):  # noqa: F811
    body = logged_in.get(f"/campaigns/{spring.pk}/performance/").content.decode()
    for section in ("campaign_overview", "campaign_contacts_sessions", "campaign_traffic", "campaign_revenue",
                    "campaign_assets"):
        assert f'id="section-{section}' in body, section
    assert "campaign_revenue_attribution" not in body  # professional plan: no revenue attribution


def test_attribution_tab_offers_the_model_only_on_enterprise(logged_in, account, spring):  # noqa: F811
    body = logged_in.get(f"/campaigns/{spring.pk}/attribution/").content.decode()
    assert 'id="section-campaign_attribution"' in body and 'name="model"' not in body
    account.plan = Plan.ENTERPRISE
    account.save()
    body = logged_in.get(f"/campaigns/{spring.pk}/attribution/?model=time_decay").content.decode()
    assert 'name="model"' in body and "Model time_decay" in body


def test_campaign_pages_of_another_account_are_404(client, other_account, spring):  # noqa: F811
    from touchline.core.accounts import user_create
    from touchline.core.models import Role

    client.force_login(user_create(username="eve", email="eve@globex.test", password="a long passphrase 9",
                                   account=other_account, role=Role.ADMIN))
    for suffix in ("", "performance/", "attribution/", "edit/"):
        assert client.get(f"/campaigns/{spring.pk}/{suffix}").status_code == 404
