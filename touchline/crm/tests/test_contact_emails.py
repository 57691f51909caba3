"""A contact's other email addresses (aliases, personal addresses): kept unique in the account, found by every
channel that meets a contact by address, and editable by page, API and import."""

import json

import pytest
from django.core.exceptions import ValidationError
from django_scopes import scope, scopes_disabled

from touchline.api.tokens import api_token_create
from touchline.crm import selectors, services
from touchline.crm.importing import import_file
from touchline.crm.models import Contact, ContactEmail

pytestmark = pytest.mark.django_db


@pytest.fixture
def grace(account_scope):
    return services.contact_create(account=account_scope, email="grace@navy.test", first_name="Grace",
                                   other_emails=["G.Hopper@Home.test", "grace@navy.test"])


def test_other_emails_are_stored_normalised_without_the_primary_when_a_contact_is_created(grace):
    assert selectors.contact_other_emails(grace) == ["g.hopper@home.test"]


def test_contact_by_email_finds_the_contact_when_given_its_primary_or_other_address(account, grace):
    assert selectors.contact_by_email(account, " GRACE@navy.test") == grace
    assert selectors.contact_by_email(account, "g.hopper@home.test") == grace
    assert selectors.contact_by_email(account, "nobody@home.test") is None
    assert selectors.contact_by_email(account, "") is None


def test_contact_by_email_finds_nothing_when_the_address_belongs_to_another_account(other_account, grace):
    with scope(account=other_account):
        assert selectors.contact_by_email(other_account, "g.hopper@home.test") is None


def test_other_emails_refuse_an_address_when_it_is_another_contacts_primary_or_other_email(account, grace):
    alan = services.contact_create(account=account, email="alan@navy.test")
    with pytest.raises(ValidationError) as refused:
        services.contact_other_emails_set(contact=alan, emails=["grace@navy.test", "g.hopper@home.test", "nope"])
    assert refused.value.message_dict["other_emails"] == [  # in address order
        "g.hopper@home.test is another address of a different contact.",
        "grace@navy.test is the email of another contact.",
        "'nope' is not a valid email address.",
    ]
    assert selectors.contact_other_emails(alan) == []


def test_a_primary_email_is_refused_when_it_is_another_contacts_other_address(account, grace):
    with pytest.raises(ValidationError) as refused:
        services.contact_create(account=account, email="g.hopper@home.test")
    assert "another address of a different contact" in refused.value.message_dict["email"][0]
    assert Contact.objects.filter(account=account).count() == 1


def test_a_failed_create_keeps_no_contact_when_its_other_emails_are_refused(account, grace):
    with pytest.raises(ValidationError):
        services.contact_create(account=account, email="alan@navy.test", other_emails=["grace@navy.test"])
    assert not Contact.objects.filter(account=account, email="alan@navy.test").exists()


def test_an_other_address_promoted_to_primary_is_no_longer_an_other_address(grace):
    services.contact_update(contact=grace, email="g.hopper@home.test")
    assert selectors.contact_other_emails(grace) == []


def test_update_replaces_the_other_emails_when_given_and_keeps_them_when_not(grace):
    services.contact_update(contact=grace, job_title="Rear admiral")
    assert selectors.contact_other_emails(grace) == ["g.hopper@home.test"]
    services.contact_update(contact=grace, other_emails=["grace@cobol.test"])
    assert selectors.contact_other_emails(grace) == ["grace@cobol.test"]


def test_contact_list_search_finds_a_contact_when_the_words_match_an_other_address(account, grace):
    found = selectors.contact_list(account, selectors.ListParams(q="hopper@home"))
    assert list(found) == [grace]


def test_the_edit_page_saves_other_emails_and_the_detail_page_shows_them(logged_in_client, account, grace):
    response = logged_in_client.post(f"/contacts/{grace.pk}/edit/", {
        "email": "grace@navy.test", "first_name": "Grace", "lifecycle_stage": "lead",
        "other_emails": "grace@cobol.test,\nG.Hopper@home.test"})
    assert response.status_code == 302
    with scope(account=account):
        assert selectors.contact_other_emails(grace) == ["g.hopper@home.test", "grace@cobol.test"]
    assert "grace@cobol.test" in logged_in_client.get(f"/contacts/{grace.pk}/").content.decode()


def test_the_edit_page_shows_the_error_when_an_other_email_is_taken(logged_in_client, account, grace):
    with scope(account=account):
        alan = services.contact_create(account=account, email="alan@navy.test")
    response = logged_in_client.post(f"/contacts/{alan.pk}/edit/", {
        "email": "alan@navy.test", "lifecycle_stage": "lead", "other_emails": "grace@navy.test"})
    assert response.status_code == 200
    assert "grace@navy.test is the email of another contact." in response.content.decode()


def test_the_api_reads_and_replaces_other_emails(client, account, user, grace):
    _, plain = api_token_create(user=user, account=account, name="script")
    headers = {"Authorization": f"Bearer {plain}"}
    read = client.get(f"/api/v1/contacts/{grace.pk}", headers=headers).json()
    assert read["other_emails"] == ["g.hopper@home.test"]
    patched = client.patch(f"/api/v1/contacts/{grace.pk}", json.dumps({"other_emails": ["a@b.test", "A@B.test"]}),
                           content_type="application/json", headers=headers)
    assert patched.status_code == 200 and patched.json()["other_emails"] == ["a@b.test"]
    taken = client.post("/api/v1/contacts", json.dumps({"email": "new@navy.test", "other_emails": ["a@b.test"]}),
                        content_type="application/json", headers=headers)
    assert taken.status_code == 422 and taken.json()["error"]["fields"]["other_emails"]


def test_import_sets_other_emails_and_a_reimport_is_unchanged(account_scope, tmp_path):
    account = account_scope
    rows = tmp_path / "contacts.jsonl"
    rows.write_text(json.dumps({"type": "contact", "email": "ada@acme.test",
                                "other_emails": ["ada@home.test", "ADA@lovelace.test"]}) + "\n")
    first = import_file(account=account, path=rows)
    assert first.ok, first.rejections
    second = import_file(account=account, path=rows)
    assert (first.counts["contact"]["created"], second.counts["contact"]["unchanged"]) == (1, 1)
    with scopes_disabled():
        assert sorted(ContactEmail.all_accounts.values_list("email", flat=True)) == [
            "ada@home.test", "ada@lovelace.test"]
