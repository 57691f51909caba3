"""CRUD of companies, contacts and deals through the JSON API, as a client with a token sees it."""

from decimal import Decimal

import pytest
from django_scopes import scope

from touchline.api.tokens import api_token_create
from touchline.crm.models import Contact, Deal, DealContact
from touchline.crm.services import company_create, contact_create, deal_create, pipeline_default

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, user, account):
    _, plain = api_token_create(user=user, account=account, name="tests")

    class Api:
        def __getattr__(self, method):
            def call(path, data=None, **query):
                kwargs = {"headers": {"Authorization": f"Bearer {plain}"}}
                if method == "get":
                    return client.get(f"/api/v1{path}", query, **kwargs)
                return getattr(client, method)(f"/api/v1{path}", data or {}, content_type="application/json",
                                               **kwargs)
            return call

    return Api()


def test_company_created_read_changed_and_deleted_through_the_api(api, user):
    created = api.post("/companies", {"name": "Initech", "domain": "https://www.Initech.com/",
                                      "owner_email": "ADA@acme.test"})
    assert created.status_code == 201
    company = created.json()
    assert (company["domain"], company["owner_email"]) == ("initech.com", "ada@acme.test")
    assert api.get(f"/companies/{company['id']}").json()["name"] == "Initech"
    changed = api.patch(f"/companies/{company['id']}", {"industry": "Software"}).json()
    assert (changed["industry"], changed["name"]) == ("Software", "Initech")  # untouched fields stay
    assert api.delete(f"/companies/{company['id']}").status_code == 204
    assert api.get(f"/companies/{company['id']}").status_code == 404


def test_contact_patch_changes_only_the_fields_sent(api, account):
    with scope(account=account):
        contact = contact_create(account=account, email="grace@example.com", first_name="Grace", job_title="CTO")
    response = api.patch(f"/contacts/{contact.pk}", {"lifecycle_stage": "opportunity"})
    assert response.status_code == 200
    body = response.json()
    assert (body["lifecycle_stage"], body["job_title"], body["first_name"]) == ("opportunity", "CTO", "Grace")


def test_contact_create_refuses_a_duplicate_email(api, account):
    with scope(account=account):
        contact_create(account=account, email="grace@example.com")
    response = api.post("/contacts", {"email": " Grace@Example.com "})
    assert response.status_code == 422
    assert "email" in response.json()["error"]["fields"]
    with scope(account=account):
        assert Contact.objects.count() == 1


def test_contact_create_refuses_a_company_of_another_account(api, other_account):
    with scope(account=other_account):
        foreign = company_create(account=other_account, name="Globex Corp")
    response = api.post("/contacts", {"email": "x@example.com", "company_id": foreign.pk})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"company_id": "unknown"}


def test_contact_list_searches_and_filters(api, account):
    with scope(account=account):
        company = company_create(account=account, name="Initech")
        contact_create(account=account, email="peter@initech.com", first_name="Peter", company=company)
        contact_create(account=account, email="bill@example.com", first_name="Bill")
    by_search = api.get("/contacts", q="peter").json()["items"]
    by_company = api.get("/contacts", company_id=company.pk).json()["items"]
    assert [c["email"] for c in by_search] == [c["email"] for c in by_company] == ["peter@initech.com"]


def test_deal_created_in_a_won_stage_is_closed_with_its_contacts(api, account):
    with scope(account=account):
        pipeline = pipeline_default(account=account)
        won = pipeline.stages.get(name="Closed won")
        ada = contact_create(account=account, email="ada@example.com")
        bob = contact_create(account=account, email="bob@example.com")
    response = api.post("/deals", {"name": "Renewal", "amount": "1200.50", "currency": "eur", "stage_id": won.pk,
                                   "contact_ids": [bob.pk, ada.pk], "created_at": "2026-01-05T10:00:00Z",
                                   "closed_at": "2026-02-01T09:00:00Z"})
    assert response.status_code == 201, response.json()
    deal = response.json()
    assert (deal["status"], deal["stage"], deal["currency"], deal["amount"]) == ("won", "Closed won", "EUR", "1200.50")
    assert deal["closed_at"].startswith("2026-02-01T09:00:00")
    assert deal["contact_ids"] == sorted([ada.pk, bob.pk])


def test_deal_patch_moves_it_to_a_stage_and_replaces_its_contacts(api, account):
    with scope(account=account):
        ada = contact_create(account=account, email="ada@example.com")
        bob = contact_create(account=account, email="bob@example.com")
        deal = deal_create(account=account, name="Expansion", amount=Decimal("500"), contacts=[ada])
        lost = deal.pipeline.stages.get(name="Closed lost")
    body = api.patch(f"/deals/{deal.pk}", {"stage_id": lost.pk, "contact_ids": [bob.pk]}).json()
    assert (body["status"], body["contact_ids"]) == ("lost", [bob.pk])
    assert body["closed_at"] is not None


def test_deal_create_rolls_back_when_a_contact_is_unknown(api, account):
    response = api.post("/deals", {"name": "Ghost", "contact_ids": [424242]})
    assert response.status_code == 422
    with scope(account=account):
        assert not Deal.objects.exists() and not DealContact.objects.exists()


def test_deal_delete_keeps_its_contacts(api, account):
    with scope(account=account):
        ada = contact_create(account=account, email="ada@example.com")
        deal = deal_create(account=account, name="Expansion", contacts=[ada])
    assert api.delete(f"/deals/{deal.pk}").status_code == 204
    with scope(account=account):
        assert Contact.objects.filter(pk=ada.pk).exists() and not DealContact.objects.exists()
