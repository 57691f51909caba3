"""POST /api/v1/import: the CLI's import over HTTP, in the token's account."""

import json

import pytest
from django_scopes import scope, scopes_disabled

from touchline.api.tokens import api_token_create
from touchline.core.accounts import user_create
from touchline.crm.import_api import MAX_BYTES
from touchline.crm.models import Company, Contact, Deal
from touchline.crm.services import contact_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/import"

# Line 4 is a contact with a bad email; line 5 is blank (skipped, but it still counts as a line).
JSONL = "\n".join(json.dumps(row) if row else "" for row in [
    {"type": "company", "external_id": "co-1", "name": "Acme Corp", "domain": "acme.test"},
    {"type": "company", "external_id": "co-2", "name": "Initech"},
    {"type": "contact", "external_id": "c-1", "email": "ada@acme.test", "company_external_id": "co-1"},
    {"type": "contact", "external_id": "c-2", "email": "not-an-email"},
    None,
    {"type": "deal", "external_id": "d-1", "name": "Acme pilot", "amount": "1200.50", "contact_external_ids": ["c-1"]},
]) + "\n"


@pytest.fixture
def token(user, account):
    return api_token_create(user=user, account=account, name="import")[1]


def post(client, token, body, content_type="application/x-ndjson", query=""):
    return client.generic("POST", URL + query, body, content_type=content_type,
                          headers={"Authorization": f"Bearer {token}"})


def rows_of(account):
    with scope(account=account):
        return (sorted(Company.objects.filter(account=account).values_list("external_id", flat=True)),
                sorted(Contact.objects.filter(account=account).values_list("external_id", flat=True)),
                sorted(Deal.objects.filter(account=account).values_list("external_id", flat=True)))


def test_import_endpoint_imports_json_lines_and_reports_counts_and_the_rejected_line(client, token, account):
    response = post(client, token, JSONL)
    assert response.status_code == 200
    assert response.json() == {
        "dry_run": False, "ok": False,
        "counts": {"company": {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0},
                   "contact": {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1},
                   "deal": {"created": 1, "updated": 0, "unchanged": 0, "rejected": 0}},
        "rejected": [{"line": 4, "type": "contact", "field": "email",
                      "message": "'not-an-email' is not a valid email address."}]}
    assert rows_of(account) == (["co-1", "co-2"], ["c-1"], ["d-1"])
    with scope(account=account):
        assert Deal.objects.get(external_id="d-1").contacts.get().email == "ada@acme.test"


def test_import_endpoint_changes_nothing_when_the_same_body_is_posted_again(client, token, account):
    post(client, token, JSONL)
    counts = post(client, token, JSONL).json()["counts"]
    assert {t: {k: v for k, v in c.items() if v} for t, c in counts.items()} == {
        "company": {"unchanged": 2}, "contact": {"unchanged": 1, "rejected": 1}, "deal": {"unchanged": 1}}


def test_import_endpoint_writes_nothing_when_it_is_a_dry_run(client, token, account):
    response = post(client, token, JSONL, query="?dry_run=true")
    body = response.json()
    assert response.status_code == 200 and body["dry_run"] is True
    assert body["counts"]["company"]["created"] == 2 and body["rejected"][0]["line"] == 4
    assert rows_of(account) == ([], [], [])


def test_import_endpoint_imports_a_csv_of_one_type_given_as_a_parameter(client, token, account):
    csv = "external_id,email,first_name\nc-1,ada@acme.test,Ada\nc-2,grace@acme.test,\"Grace\nHopper\"\nc-3,bad,X\n"
    response = post(client, token, csv, content_type="text/csv", query="?type=contact")
    body = response.json()
    assert body["counts"] == {"contact": {"created": 2, "updated": 0, "unchanged": 0, "rejected": 1}}
    # The quoted line break puts c-2 on lines 3–4, so the bad row starts on line 5.
    assert [(r["line"], r["field"]) for r in body["rejected"]] == [(5, "email")]
    assert rows_of(account)[1] == ["c-1", "c-2"]


@pytest.mark.parametrize(("body", "query", "problem"), [
    ("email,first_name\nada@acme.test,Ada\n", "", "a 'type' column"),
    ("email,first_nmae\nada@acme.test,Ada\n", "?type=contact", "unknown column(s) for contact: first_nmae"),
])
def test_import_endpoint_answers_422_and_writes_nothing_when_the_file_cannot_be_imported(client, token, account,
                                                                                       body, query, problem):
    response = post(client, token, body, content_type="text/csv", query=query)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and problem in error["message"] and "nothing was imported" in error["message"]
    assert rows_of(account) == ([], [], [])


def test_import_endpoint_answers_422_when_the_body_is_not_utf8(client, token, account):
    response = post(client, token, "type,email\ncontact,zoë@acme.test\n".encode("latin-1"), content_type="text/csv")
    assert response.status_code == 422 and "not UTF-8" in response.json()["error"]["message"]
    assert rows_of(account) == ([], [], [])


def test_import_endpoint_answers_422_naming_the_parameter_when_the_type_is_unknown(client, token):
    response = post(client, token, "email\na@b.test\n", content_type="text/csv", query="?type=kontakt")
    assert response.status_code == 422 and set(response.json()["error"]["fields"]) == {"type"}


def test_import_endpoint_answers_413_when_the_body_is_over_the_limit(client, token, account):
    body = "type,email\n" + "x" * MAX_BYTES
    response = post(client, token, body, content_type="text/csv")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large" and "5 MB" in response.json()["error"]["message"]
    assert rows_of(account) == ([], [], [])


def test_import_endpoint_answers_415_when_the_body_is_neither_json_lines_nor_csv(client, token):
    response = post(client, token, JSONL, content_type="application/json")
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"


def test_import_endpoint_never_touches_another_accounts_rows_with_the_same_keys(client, token, account,
                                                                              other_account):
    with scope(account=other_account):
        theirs = contact_create(account=other_account, external_id="c-1", email="ada@acme.test", first_name="Theirs")
    post(client, token, JSONL)
    with scopes_disabled():
        theirs.refresh_from_db()
        assert (theirs.account, theirs.first_name, theirs.company) == (other_account, "Theirs", None)
        assert Contact.objects.filter(email="ada@acme.test").count() == 2
    assert rows_of(other_account) == ([], ["c-1"], [])
    assert rows_of(account) == (["co-1", "co-2"], ["c-1"], ["d-1"])


def test_import_endpoint_imports_into_the_account_of_the_token_not_the_users_first(client, account, other_account):
    bob = user_create(username="bob", email="bob@globex.test", password="another long passphrase",
                      account=other_account)
    _, their_token = api_token_create(user=bob, account=other_account, name="theirs")
    post(client, their_token, JSONL)
    assert rows_of(other_account) == (["co-1", "co-2"], ["c-1"], ["d-1"])
    assert rows_of(account) == ([], [], [])


def test_import_endpoint_requires_authentication(client, account):
    response = client.generic("POST", URL, JSONL, content_type="application/x-ndjson")
    assert response.status_code == 401
    assert rows_of(account) == ([], [], [])


def test_import_endpoint_rejects_a_row_whose_text_is_longer_than_its_column(client, token, account):
    body = json.dumps({"type": "company", "external_id": "co-9", "name": "x" * 256}) + "\n"
    response = post(client, token, body)
    assert response.json()["rejected"] == [{"line": 1, "type": "company", "field": "name",
                                            "message": "At most 255 characters."}]
    assert rows_of(account) == ([], [], [])


def test_import_endpoint_rejects_a_row_the_database_refuses_and_keeps_the_others(client, token, account,
                                                                              monkeypatch):
    from dataclasses import replace

    from django.db import DataError

    from touchline.crm import importing

    def refused(row, lookups):  # as PostgreSQL refuses a text longer than its column that no service checked
        raise DataError("value too long for type character varying(200)")

    monkeypatch.setitem(importing.ROW_TYPES, "deal", replace(importing.ROW_TYPES["deal"], apply=refused))
    body = post(client, token, JSONL).json()
    assert body["rejected"][-1] == {"line": 6, "type": "deal", "field": "",
                                    "message": "a value does not fit its field: value too long for type "
                                               "character varying(200)"}
    assert rows_of(account) == (["co-1", "co-2"], ["c-1"], [])
