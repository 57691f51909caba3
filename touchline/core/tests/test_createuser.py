import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from touchline.core.models import Account, Membership


def test_createuser_makes_a_user_with_a_new_account(db):
    call_command("createuser", "grace", email="grace@example.test", password="a long passphrase 42",
                 new_account="Hopper Ltd", plan="starter")
    account = Account.objects.get(name="Hopper Ltd")
    assert account.plan == "starter"
    membership = Membership.objects.get(user__username="grace")
    assert (membership.account, membership.role) == (account, "admin")
    assert get_user_model().objects.get(username="grace").password.startswith("argon2")


def test_createuser_joins_an_existing_account_when_named(account):
    call_command("createuser", "linus", email="l@example.test", password="a long passphrase 42",
                 account="Acme", role="member")
    assert Membership.objects.get(user__username="linus").account == account


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"account": "Nope"}, "no account named 'Nope'"),
    ({"new_account": "X", "password": "short"}, "password refused"),
])
def test_createuser_fails_clearly_when_input_is_bad(db, kwargs, message):
    options = {"email": "x@example.test", "password": "a long passphrase 42"} | kwargs
    with pytest.raises(CommandError, match=message):
        call_command("createuser", "someone", **options)
    assert not get_user_model().objects.filter(username="someone").exists()


def test_createuser_refuses_a_taken_username(user):
    with pytest.raises(CommandError, match="already exists"):
        call_command("createuser", "ada", email="x@example.test", password="a long passphrase 42", new_account="Y")
