import pytest
from django_scopes import ScopeError, scope

from touchline.crm.models import Company


def test_tenant_query_raises_when_no_account_scope_is_active(account):
    with pytest.raises(ScopeError):
        list(Company.objects.all())


def test_tenant_query_sees_only_the_active_account(account, other_account):
    with scope(account=account):
        Company.objects.create(account=account, name="Mine")
    with scope(account=other_account):
        Company.objects.create(account=other_account, name="Theirs")
        assert [c.name for c in Company.objects.all()] == ["Theirs"]
    with scope(account=account):
        assert [c.name for c in Company.objects.all()] == ["Mine"]


def test_home_page_renders_for_a_member(logged_in_client):
    response = logged_in_client.get("/")
    assert response.status_code == 200
    assert b"Acme" in response.content
