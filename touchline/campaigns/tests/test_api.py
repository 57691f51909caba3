"""Campaigns through the JSON API with a bearer token, on the real database: create and change campaigns, register
assets, associate and remove them (timestamped windows, kept as history), tracking URLs and their UTM checks, and
another account's campaign answering 404."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_scopes import scope

from touchline.api.tokens import api_token_create
from touchline.campaigns import services
from touchline.campaigns.models import Association, Campaign
from touchline.core.accounts import user_create
from touchline.tracking import services as tracking

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, user, account):
    """The test client, sending Ada's token on every call."""
    _, plain = api_token_create(user=user, account=account, name="tests")
    headers = {"Authorization": f"Bearer {plain}"}

    class Api:
        def get(self, path, data=None):
            return client.get(f"/api/v1{path}", data or {}, headers=headers)

        def post(self, path, body=None):
            return client.post(f"/api/v1{path}", body or {}, content_type="application/json", headers=headers)

        def patch(self, path, body):
            return client.patch(f"/api/v1{path}", body, content_type="application/json", headers=headers)

        def delete(self, path):
            return client.delete(f"/api/v1{path}", headers=headers)

    return Api()


@pytest.fixture
def autumn(account, user):
    with scope(account=account):
        return services.campaign_create(account=account, name="Autumn push", owner=user)


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


# Campaigns

def test_campaign_create_answers_201_owned_by_the_caller_when_posted_with_a_name(api, account):
    response = api.post("/campaigns", {"name": "Autumn push", "goal_sessions": 100, "budget": "2500.00"})
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["utm_campaign"], body["owner_email"]) == ("Autumn push", "autumn-push", "ada@acme.test")
    assert (body["goal_sessions"], body["budget"], body["associated_assets"]) == (100, "2500.00", 0)
    assert api.get(f"/campaigns/{body['id']}").json() == body
    with scope(account=account):
        assert Campaign.objects.get().name == "Autumn push"


def test_campaign_create_answers_422_naming_the_field_when_the_utm_value_is_taken(api, autumn):
    response = api.post("/campaigns", {"name": "Another", "utm_campaign": "autumn-push"})
    assert response.status_code == 422 and "utm_campaign" in _error(response)["fields"]


def test_campaign_patch_changes_only_the_fields_sent_when_patched(api, autumn):
    response = api.patch(f"/campaigns/{autumn.pk}", {"start_date": "2026-09-01", "goal_new_contacts": 40})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["start_date"], body["goal_new_contacts"]) == ("Autumn push", "2026-09-01", 40)


def test_campaign_patch_answers_422_naming_the_field_when_the_end_is_before_the_start(api, autumn):
    response = api.patch(f"/campaigns/{autumn.pk}", {"start_date": "2026-09-10", "end_date": "2026-09-01"})
    assert response.status_code == 422 and set(_error(response)["fields"]) == {"end_date"}
    response = api.patch(f"/campaigns/{autumn.pk}", {"name": None})
    assert response.status_code == 422 and set(_error(response)["fields"]) == {"name"}
    response = api.patch(f"/campaigns/{autumn.pk}", {"goal_sessions": -1})
    assert response.status_code == 422 and "goal_sessions" in _error(response)["fields"]


def test_campaign_list_searches_and_pages_by_cursor_when_there_are_many(api, account):
    with scope(account=account):
        for name in ("Spring launch", "Summer sale", "Spring webinar"):
            services.campaign_create(account=account, name=name)
    first = api.get("/campaigns", {"q": "spring", "limit": 1}).json()
    assert [c["name"] for c in first["items"]] == ["Spring launch"] and first["next_cursor"]
    second = api.get("/campaigns", {"q": "spring", "limit": 1, "cursor": first["next_cursor"]}).json()
    assert [c["name"] for c in second["items"]] == ["Spring webinar"] and second["next_cursor"] is None


def test_campaign_delete_is_refused_with_409_and_keeps_the_campaign_when_asked(api, account, autumn):
    response = api.delete(f"/campaigns/{autumn.pk}")
    assert response.status_code == 409 and "cannot be deleted" in _error(response)["message"]
    with scope(account=account):
        assert Campaign.objects.filter(pk=autumn.pk).exists()


# Assets

def test_page_asset_is_registered_once_when_its_page_is_posted_twice(api):
    first = api.post("/assets/pages", {"url": "https://www.Example.com/autumn/?ref=x", "asset_type": "landing_page"})
    again = api.post("/assets/pages", {"url": "https://example.com/autumn", "asset_type": "landing_page"})
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and first.json()["page"] == "example.com/autumn"
    response = api.post("/assets/pages", {"url": "https://example.com/x", "asset_type": "ad"})
    assert response.status_code == 422 and "asset_type" in _error(response)["fields"]
    response = api.post("/assets/pages", {"url": "https://example.com/" + "a" * 1000})  # its key would not fit
    assert response.status_code == 422 and "url" in _error(response)["fields"]


def test_external_asset_answers_409_when_its_external_id_is_taken(api):
    response = api.post("/assets", {"asset_type": "ad", "name": "Search ad", "external_id": "gads-1"})
    assert response.status_code == 201 and response.json()["asset_type"] == "ad"
    again = api.post("/assets", {"asset_type": "social_post", "name": "Post", "external_id": "gads-1"})
    assert again.status_code == 409 and _error(again)["fields"] == {"external_id": "taken"}
    wrong = api.post("/assets", {"asset_type": "landing_page", "name": "Page"})
    assert wrong.status_code == 422 and "asset_type" in _error(wrong)["fields"]


def test_asset_list_narrows_to_one_type_when_filtered(api):
    api.post("/assets", {"asset_type": "ad", "name": "Search ad"})
    api.post("/assets", {"asset_type": "cta", "name": "Book a demo"})
    api.post("/assets/pages", {"url": "https://example.com/pricing"})
    assert [a["name"] for a in api.get("/assets", {"asset_type": "ad"}).json()["items"]] == ["Search ad"]
    assert len(api.get("/assets").json()["items"]) == 3
    assert api.get("/assets", {"asset_type": "billboard"}).status_code == 422


# Associations

def test_association_add_answers_its_timestamp_and_removal_keeps_it_listed_when_an_asset_comes_and_goes(api, autumn):
    page = api.post("/assets/pages", {"url": "https://example.com/autumn"}).json()
    before = timezone.now()
    added = api.post(f"/campaigns/{autumn.pk}/associations", {"asset_id": page["id"]})
    assert added.status_code == 201
    association = added.json()
    associated_at = timezone.datetime.fromisoformat(association["associated_at"])
    assert before <= associated_at <= timezone.now()
    assert (association["asset"]["id"], association["removed_at"], association["is_current"]) == (
        page["id"], None, True)
    assert association["associated_by_email"] == "ada@acme.test"
    assert api.get(f"/campaigns/{autumn.pk}").json()["associated_assets"] == 1

    removed = api.post(f"/campaigns/{autumn.pk}/associations/{association['id']}/remove")
    assert removed.status_code == 200
    closed = removed.json()
    assert closed["associated_at"] == association["associated_at"] and closed["removed_at"] is not None
    assert closed["is_current"] is False
    listed = api.get(f"/campaigns/{autumn.pk}/associations").json()["items"]
    assert [(a["id"], a["removed_at"]) for a in listed] == [(association["id"], closed["removed_at"])]
    assert api.get(f"/campaigns/{autumn.pk}/associations", {"current": "true"}).json()["items"] == []


def test_association_add_keeps_the_open_window_when_the_asset_is_already_associated(api, autumn):
    ad = api.post("/assets", {"asset_type": "ad", "name": "Search ad"}).json()
    first = api.post(f"/campaigns/{autumn.pk}/associations", {"asset_id": ad["id"]})
    again = api.post(f"/campaigns/{autumn.pk}/associations", {"asset_id": ad["id"]})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


def test_association_add_opens_a_new_window_when_a_removed_asset_is_associated_again(api, autumn):
    ad = api.post("/assets", {"asset_type": "ad", "name": "Search ad"}).json()
    first = api.post(f"/campaigns/{autumn.pk}/associations", {"asset_id": ad["id"]}).json()
    api.post(f"/campaigns/{autumn.pk}/associations/{first['id']}/remove")
    second = api.post(f"/campaigns/{autumn.pk}/associations", {"asset_id": ad["id"]})
    assert second.status_code == 201 and second.json()["id"] != first["id"]
    windows = api.get(f"/campaigns/{autumn.pk}/associations").json()["items"]
    assert [w["is_current"] for w in windows] == [False, True]


def test_association_add_makes_the_forms_asset_when_given_a_form_id(api, account, autumn):
    with scope(account=account):
        site = tracking.site_create(account=account, name="Website", domains="example.com")
        form = tracking.form_create(account=account, site=site, name="Demo request", fields=[{"name": "email"}])
    response = api.post(f"/campaigns/{autumn.pk}/associations", {"form_id": form.pk})
    assert response.status_code == 201
    assert (response.json()["asset"]["asset_type"], response.json()["asset"]["form_id"]) == ("form", form.pk)


def test_association_add_answers_422_when_the_asset_is_missing_or_not_one(api, autumn):
    response = api.post(f"/campaigns/{autumn.pk}/associations", {"asset_id": 999999})
    assert response.status_code == 422 and _error(response)["fields"] == {"asset_id": "unknown"}
    response = api.post(f"/campaigns/{autumn.pk}/associations", {})
    assert response.status_code == 422 and "asset_id" in _error(response)["fields"]


# Tracking URLs

def test_tracking_url_create_answers_the_full_url_and_associates_it_when_the_values_are_good(api, account, autumn):
    response = api.post(f"/campaigns/{autumn.pk}/tracking-urls", {
        "page_url": "https://example.com/autumn", "utm_source": "newsletter", "utm_medium": "email",
        "utm_term": "crm tool"})
    assert response.status_code == 201
    body = response.json()
    assert body["full_url"] == ("https://example.com/autumn?utm_campaign=autumn-push&utm_source=newsletter"
                                "&utm_medium=email&utm_term=crm+tool")
    assert body["utm_campaign"] == "autumn-push" and body["created_by_email"] == "ada@acme.test"
    assert [u["id"] for u in api.get(f"/campaigns/{autumn.pk}/tracking-urls").json()["items"]] == [body["id"]]
    with scope(account=account):
        association = Association.objects.get(campaign=autumn)
        assert association.asset_id == body["asset_id"] and association.removed_at is None


def test_tracking_url_create_answers_422_naming_the_field_when_a_utm_value_is_bad(api, account, autumn):
    response = api.post(f"/campaigns/{autumn.pk}/tracking-urls", {
        "page_url": "https://example.com/autumn", "utm_source": "news letter", "utm_medium": "email"})
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid" and set(error["fields"]) == {"utm_source"}
    assert "no spaces" in error["fields"]["utm_source"]
    missing = api.post(f"/campaigns/{autumn.pk}/tracking-urls", {"page_url": "https://example.com/autumn"})
    assert missing.status_code == 422 and set(_error(missing)["fields"]) == {"utm_source", "utm_medium"}
    too_long = api.post(f"/campaigns/{autumn.pk}/tracking-urls", {
        "page_url": "https://example.com/" + "a" * 290, "utm_source": "x", "utm_medium": "y"})
    assert too_long.status_code == 422 and set(_error(too_long)["fields"]) == {"page_url"}
    with scope(account=account):
        assert not Association.objects.exists()


# Other accounts

def test_campaign_of_another_account_answers_404_whatever_is_asked_when_called_with_a_token_of_this_one(
        api, other_account):
    with scope(account=other_account):
        theirs = services.campaign_create(account=other_account, name="Globex secret")
        ad = services.external_asset_create(account=other_account, asset_type="ad", name="Globex ad")
        association = services.association_add(campaign=theirs, asset=ad)
        user_create(username="eve", email="eve@globex.test", password="a long passphrase here",
                    account=other_account)
    base = f"/campaigns/{theirs.pk}"
    answers = [api.get(base), api.patch(base, {"name": "Mine"}), api.delete(base),
               api.get(f"{base}/associations"), api.post(f"{base}/associations", {"asset_id": ad.pk}),
               api.post(f"{base}/associations/{association.pk}/remove"), api.get(f"{base}/tracking-urls"),
               api.post(f"{base}/tracking-urls", {"page_url": "https://x.test/", "utm_source": "a",
                                                  "utm_medium": "b"}),
               api.get(f"/assets/{ad.pk}")]
    assert [r.status_code for r in answers] == [404] * len(answers)
    assert all(_error(r)["code"] == "not_found" for r in answers)
    assert "Globex" not in api.get("/campaigns").content.decode() + api.get("/assets").content.decode()
    with scope(account=other_account):
        association.refresh_from_db()
        assert association.removed_at is None and Campaign.objects.get().name == "Globex secret"


def test_association_add_refuses_another_accounts_asset_when_given_its_id(api, other_account, autumn):
    with scope(account=other_account):
        ad = services.external_asset_create(account=other_account, asset_type="ad", name="Globex ad")
    response = api.post(f"/campaigns/{autumn.pk}/associations", {"asset_id": ad.pk})
    assert response.status_code == 422 and _error(response)["fields"] == {"asset_id": "unknown"}
