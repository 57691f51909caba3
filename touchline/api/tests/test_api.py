"""The API's shared parts: who may call it, the error envelope, cursor pagination, token pages."""

import pytest
from django.core import signing
from django_scopes import scope

from touchline.api.models import ApiToken
from touchline.api.pagination import CURSOR_SALT
from touchline.api.tokens import api_token_create, api_token_revoke
from touchline.crm.services import company_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(user, account):
    _, plain = api_token_create(user=user, account=account, name="tests")
    return plain


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_api_answers_401_in_the_envelope_when_no_credentials_are_given(client):
    response = client.get("/api/v1/contacts")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_api_answers_401_when_the_token_is_wrong(client, token):
    response = client.get("/api/v1/contacts", headers=bearer(token[:-2] + "xx"))
    assert response.status_code == 401


def test_api_answers_401_when_the_token_is_revoked(client, user, account):
    row, plain = api_token_create(user=user, account=account, name="old")
    api_token_revoke(token=row)
    assert client.get("/api/v1/contacts", headers=bearer(plain)).status_code == 401


def test_api_accepts_a_token_and_records_its_last_use(client, token):
    response = client.get("/api/v1/contacts", headers=bearer(token))
    assert response.status_code == 200
    assert ApiToken.all_accounts.get().last_used_at is not None


def test_api_accepts_the_browser_session_for_reads(logged_in_client):
    assert logged_in_client.get("/api/v1/contacts").status_code == 200


def test_api_refuses_a_session_write_without_the_csrf_token(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/api/v1/companies", {"name": "Initech"}, content_type="application/json")
    assert response.status_code == 403


def test_api_accepts_a_token_write_without_csrf(token):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/api/v1/companies", {"name": "Initech"},
                                                     content_type="application/json", headers=bearer(token))
    assert response.status_code == 201


def test_api_names_the_bad_field_when_the_payload_has_the_wrong_type(client, token):
    response = client.post("/api/v1/deals", {"name": "Big one", "amount": "lots"}, content_type="application/json",
                           headers=bearer(token))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and "amount" in error["fields"]


def test_api_names_the_bad_field_when_a_service_rejects_the_value(client, token):
    response = client.post("/api/v1/contacts", {"email": "not-an-address"}, content_type="application/json",
                           headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"email": "'not-an-address' is not a valid email address."}


def test_api_answers_404_in_the_envelope_when_the_object_does_not_exist(client, token):
    response = client.get("/api/v1/companies/999999", headers=bearer(token))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such object in this account.",
                                         "fields": {}}}


def test_api_pages_through_every_row_once_when_following_cursors(client, token, account):
    with scope(account=account):
        ids = [company_create(account=account, name=f"Company {i}").pk for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/companies", query, headers=bearer(token)).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3  # 2 + 2 + 1


def test_api_does_not_skip_a_row_when_an_earlier_one_is_deleted_between_pages(client, token, account):
    with scope(account=account):
        companies = [company_create(account=account, name=f"Company {i}") for i in range(4)]
    first = client.get("/api/v1/companies", {"limit": 2}, headers=bearer(token)).json()
    client.delete(f"/api/v1/companies/{companies[0].pk}", headers=bearer(token))
    second = client.get("/api/v1/companies", {"limit": 2, "cursor": first["next_cursor"]}, headers=bearer(token))
    assert [c["id"] for c in second.json()["items"]] == [companies[2].pk, companies[3].pk]


def test_api_refuses_a_tampered_cursor(client, token):
    forged = signing.dumps({"after": 0}, salt="another salt")
    response = client.get("/api/v1/companies", {"cursor": forged}, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
    assert signing.loads(signing.dumps({"after": 3}, salt=CURSOR_SALT), salt=CURSOR_SALT) == {"after": 3}


@pytest.mark.parametrize("limit", [0, 201])
def test_api_refuses_a_limit_outside_1_to_200(client, token, limit):
    response = client.get("/api/v1/companies", {"limit": limit}, headers=bearer(token))
    assert response.status_code == 422
    assert "limit" in response.json()["error"]["fields"]


def test_api_docs_are_served_from_local_static_files(client):
    response = client.get("/api/docs", follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui-bundle.js" in html and "cdn.jsdelivr" not in html
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Touchline API"


# Token pages -----------------------------------------------------------------------------------------------------


def test_token_page_shows_a_new_token_once_and_stores_only_its_hash(logged_in_client):
    response = logged_in_client.post("/settings/api-tokens/", {"name": "Nightly export"})
    plain = response.context["plain_token"]
    assert plain.startswith("tl_") and plain in response.content.decode()
    row = ApiToken.all_accounts.get()
    assert row.name == "Nightly export" and plain.split("_", 2)[2] not in row.secret_hash
    assert plain not in logged_in_client.get("/settings/api-tokens/").content.decode()
    assert logged_in_client.get("/api/v1/contacts", headers=bearer(plain)).status_code == 200


def test_token_page_revokes_a_token_so_it_stops_working(logged_in_client, user, account, client):
    row, plain = api_token_create(user=user, account=account, name="to revoke")
    response = logged_in_client.post(f"/settings/api-tokens/{row.pk}/revoke/")
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    client.logout()
    assert client.get("/api/v1/contacts", headers=bearer(plain)).status_code == 401


def test_token_page_requires_a_name(logged_in_client):
    response = logged_in_client.post("/settings/api-tokens/", {"name": ""})
    assert response.status_code == 200 and response.context["plain_token"] is None
    assert not ApiToken.all_accounts.exists()


# Values the database cannot hold answer 422, never 500 (found by tests/test_openapi_schemathesis.py) -----------


def test_api_names_the_field_when_a_text_is_longer_than_its_column(client, token):
    response = client.post("/api/v1/companies", {"name": "x" * 256}, content_type="application/json",
                           headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"name": "At most 255 characters."}


def test_api_names_the_field_when_a_text_holds_a_nul_character(client, token):
    response = client.post("/api/v1/contacts", {"email": "ada@acme.test", "first_name": "A\x00da"},
                           content_type="application/json", headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"first_name": "Text may not contain NUL characters."}


def test_api_answers_422_when_an_amount_is_past_what_a_deal_holds(client, token):
    response = client.post("/api/v1/deals", {"name": "Big one", "amount": "1e182"}, content_type="application/json",
                           headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"amount": "The amount must be less than 1,000,000,000,000."}


@pytest.mark.parametrize("path", ["/api/v1/contacts?company_id={n}", "/api/v1/deals?stage_id={n}"])
def test_api_answers_an_id_past_64_bits_without_a_server_error(client, token, path):
    response = client.get(path.format(n=10**30), headers=bearer(token))
    # SQLite cannot bind such a number (422); PostgreSQL compares it and finds nothing (an empty page).
    assert response.status_code in (200, 422)
    assert response.status_code == 422 or response.json()["items"] == []


def test_openapi_document_describes_the_error_answers_of_every_operation_in_the_envelope(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    listing = document["paths"]["/api/v1/contacts"]["get"]["responses"]
    assert set(listing) == {"200", "400", "401", "403", "404", "422", "429"}  # 400: the cursor
    assert listing["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "Retry-After" in listing["429"]["headers"]
    change = document["paths"]["/api/v1/companies/{company_id}"]["patch"]["responses"]
    assert {"400", "404", "409"} <= set(change)
    upload = document["paths"]["/api/v1/import"]["post"]["responses"]
    assert {"413", "415"} <= set(upload) and "400" not in upload  # a raw body, not JSON


@pytest.mark.parametrize(("path", "create", "patch"), [
    ("/api/v1/companies", {"name": "Initech"}, {"industry": None}),
    ("/api/v1/deals", {"name": "Big one"}, {"created_at": None}),
])
def test_api_answers_422_when_a_patch_sets_a_field_that_cannot_be_empty_to_null(client, token, path, create, patch):
    created = client.post(path, create, content_type="application/json", headers=bearer(token)).json()
    response = client.patch(f"{path}/{created['id']}", patch, content_type="application/json", headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == dict.fromkeys(patch, "cannot be null")


def test_api_clears_a_reference_when_a_patch_sets_it_to_null(client, token, account):
    with scope(account=account):
        company = company_create(account=account, name="Initech")
    created = client.post("/api/v1/contacts", {"email": "ada@acme.test", "company_id": company.pk},
                          content_type="application/json", headers=bearer(token)).json()
    response = client.patch(f"/api/v1/contacts/{created['id']}", {"company_id": None},
                            content_type="application/json", headers=bearer(token))
    assert response.status_code == 200 and response.json()["company_id"] is None


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/companies", {"name": "Initech", "external_id": "x-1"}),
    ("/api/v1/contacts", {"first_name": "Ada", "external_id": "x-1"}),
    ("/api/v1/deals", {"name": "Big one", "external_id": "x-1"}),
])
def test_api_names_the_external_id_when_another_object_has_it(client, token, path, body):
    assert client.post(path, body, content_type="application/json", headers=bearer(token)).status_code == 201
    response = client.post(path, body, content_type="application/json", headers=bearer(token))
    assert response.status_code == 422
    assert "already has the external_id 'x-1'" in response.json()["error"]["fields"]["external_id"]
