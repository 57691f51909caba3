import pytest
from django_scopes import scope

from touchline.crm.models import Contact, Deal
from touchline.crm.services import company_create, contact_create, pipeline_default


@pytest.fixture
def acme(account_scope):
    return company_create(account=account_scope, name="Acme Corp", domain="acme.test")


def test_contact_list_page_shows_contacts_and_paginates_by_fifty(logged_in_client, account_scope):
    for i in range(51):
        contact_create(account=account_scope, email=f"person{i:02d}@example.test", first_name=f"P{i:02d}")
    first = logged_in_client.get("/contacts/?sort=email")
    assert first.status_code == 200
    assert b"person00@example.test" in first.content and b"person50@example.test" not in first.content
    assert b"51 results" in first.content
    second = logged_in_client.get("/contacts/?sort=email&page=2")
    assert b"person50@example.test" in second.content


def test_contact_list_answers_htmx_with_the_table_only(logged_in_client, account_scope):
    contact_create(account=account_scope, email="ada@example.test")
    response = logged_in_client.get("/contacts/?q=ada", headers={"HX-Request": "true"})
    assert b"ada@example.test" in response.content
    assert b"<html" not in response.content


def test_contact_create_form_creates_a_contact_at_the_named_company(logged_in_client, account, acme):
    response = logged_in_client.post("/contacts/new/", {
        "email": "New@Acme.test", "first_name": "Nia", "company": "acme.test", "lifecycle_stage": "lead"})
    assert response.status_code == 302
    with scope(account=account):
        contact = Contact.objects.get(email="new@acme.test")
        assert contact.company == acme
    assert response["Location"] == f"/contacts/{contact.pk}/"


def test_contact_create_form_shows_an_error_when_the_email_is_taken(logged_in_client, account_scope):
    contact_create(account=account_scope, email="ada@example.test")
    response = logged_in_client.post("/contacts/new/", {"email": "ADA@example.test", "lifecycle_stage": "lead"})
    assert response.status_code == 200
    assert b"Another contact already has the email ada@example.test" in response.content
    assert Contact.objects.filter(account=account_scope).count() == 1


def test_contact_create_form_shows_an_error_when_the_company_is_unknown(logged_in_client, account_scope):
    response = logged_in_client.post("/contacts/new/", {"email": "x@example.test", "company": "Nowhere Ltd",
                                                        "lifecycle_stage": "lead"})
    assert b"No company named" in response.content
    assert not Contact.objects.filter(account=account_scope).exists()


def test_deal_edit_moves_the_deal_to_closed_won_and_sets_the_close_date(logged_in_client, account_scope, acme):
    stages = {s.name: s for s in pipeline_default(account=account_scope).stages.all()}
    ada = contact_create(account=account_scope, email="ada@acme.test")
    response = logged_in_client.post("/deals/new/", {
        "name": "Acme renewal", "amount": "1500.00", "currency": "eur", "stage": stages["Qualified to buy"].pk,
        "company": "Acme Corp", "contact_emails": "ada@acme.test"})
    deal = Deal.objects.get(account=account_scope, name="Acme renewal")
    assert response.status_code == 302
    assert (deal.currency, list(deal.contacts.all()), deal.closed_at) == ("EUR", [ada], None)
    logged_in_client.post(f"/deals/{deal.pk}/edit/", {
        "name": "Acme renewal", "amount": "1500.00", "currency": "EUR", "stage": stages["Closed won"].pk,
        "company": "Acme Corp", "contact_emails": "ada@acme.test"})
    deal.refresh_from_db()
    assert deal.status == "won" and deal.closed_at is not None


def test_detail_pages_show_the_timeline_of_deals(logged_in_client, account_scope, acme):
    ada = contact_create(account=account_scope, email="ada@acme.test", company=acme)
    logged_in_client.post("/deals/new/", {"name": "First order", "currency": "USD",
                                          "stage": pipeline_default(account=account_scope).stages.first().pk,
                                          "contact_emails": "ada@acme.test"})
    for url in (f"/contacts/{ada.pk}/", f"/companies/{acme.pk}/"):
        response = logged_in_client.get(url)
        assert response.status_code == 200
        assert b"Contact created" in response.content
    assert b"Deal created: First order" in logged_in_client.get(f"/contacts/{ada.pk}/").content


def test_every_list_page_shows_an_empty_state_for_a_new_account(logged_in_client):
    for url, text in (("/contacts/", b"No contacts yet"), ("/companies/", b"No companies yet"),
                      ("/deals/", b"No deals yet")):
        assert text in logged_in_client.get(url).content
