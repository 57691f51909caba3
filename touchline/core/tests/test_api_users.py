"""The account's users in the API: the caller, and every member with their role — never another account's."""

import pytest
from django_scopes import scopes_disabled

from touchline.api.tokens import api_token_create
from touchline.core.accounts import user_create
from touchline.core.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def headers(account, user):
    _, plain = api_token_create(user=user, account=account, name="script")
    return {"Authorization": f"Bearer {plain}"}


def test_me_answers_the_token_s_user_with_their_role(client, headers, user):
    assert client.get("/api/v1/me", headers=headers).json() == {
        "id": user.pk, "username": "ada", "email": "ada@acme.test", "first_name": "Ada", "last_name": "Lovelace",
        "role": "admin"}


def test_users_lists_the_members_of_the_account_only_when_another_account_has_users_too(
        client, headers, account, other_account, user):
    with scopes_disabled():
        bob = user_create(username="bob", email="bob@acme.test", password="another long passphrase",
                          account=account, role=Role.MEMBER)
        user_create(username="eve", email="eve@globex.test", password="a third long passphrase",
                    account=other_account)
    page = client.get("/api/v1/users", {"limit": 1}, headers=headers).json()
    assert [u["username"] for u in page["items"]] == ["ada"]
    rest = client.get("/api/v1/users", {"cursor": page["next_cursor"]}, headers=headers).json()
    assert [(u["id"], u["role"]) for u in rest["items"]] == [(bob.pk, "member")]
    assert rest["next_cursor"] is None
