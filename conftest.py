"""Fixtures shared by every test layer."""

from __future__ import annotations

import pytest
from django_scopes import scope, scopes_disabled

from touchline.core.accounts import account_create, user_create
from touchline.core.models import Plan, Role


@pytest.fixture
def account(db):
    with scopes_disabled():
        return account_create(name="Acme", plan=Plan.PROFESSIONAL, time_zone="Europe/Berlin")


@pytest.fixture
def other_account(db):
    with scopes_disabled():
        return account_create(name="Globex", plan=Plan.PROFESSIONAL)


@pytest.fixture
def user(account):
    return user_create(username="ada", email="ada@acme.test", password="correct horse battery", account=account,
                       role=Role.ADMIN, first_name="Ada", last_name="Lovelace")


@pytest.fixture
def account_scope(account):
    """Run the test body inside the account's scope, as request code runs."""
    with scope(account=account):
        yield account


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests don't run collectstatic; the hashed-manifest storage of production needs it.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
