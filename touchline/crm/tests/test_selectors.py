from datetime import UTC, datetime

from touchline.crm.selectors import ListParams, company_list, contact_list, deal_list
from touchline.crm.services import company_create, contact_create, deal_create, pipeline_default


def _contacts(account):
    acme = company_create(account=account, name="Acme Corp", domain="acme.test")
    contact_create(account=account, email="zoe@acme.test", first_name="Zoe", last_name="Adams", company=acme,
                   created_at=datetime(2025, 1, 3, tzinfo=UTC))
    contact_create(account=account, email="bob@globex.test", first_name="Bob", last_name="Young",
                   created_at=datetime(2025, 1, 1, tzinfo=UTC))
    contact_create(account=account, email="amy@acme.test", first_name="Amy", last_name="Baker", company=acme,
                   created_at=datetime(2025, 1, 2, tzinfo=UTC), lifecycle_stage="customer")


def test_contact_list_searches_names_emails_and_company_names(account_scope):
    _contacts(account_scope)
    by_company = contact_list(account_scope, ListParams(q="acme"))
    assert sorted(c.email for c in by_company) == ["amy@acme.test", "zoe@acme.test"]
    assert [c.email for c in contact_list(account_scope, ListParams(q="bob young"))] == ["bob@globex.test"]


def test_contact_list_sorts_newest_first_by_default_and_by_name_when_asked(account_scope):
    _contacts(account_scope)
    assert [c.first_name for c in contact_list(account_scope, ListParams())] == ["Zoe", "Amy", "Bob"]
    assert [c.last_name for c in contact_list(account_scope, ListParams(sort="name"))] == ["Adams", "Baker", "Young"]
    assert [c.last_name for c in contact_list(account_scope, ListParams(sort="-name"))] == ["Young", "Baker", "Adams"]


def test_contact_list_ignores_an_unknown_sort_key_when_given_one(account_scope):
    _contacts(account_scope)
    assert [c.first_name for c in contact_list(account_scope, ListParams(sort="password"))] == ["Zoe", "Amy", "Bob"]


def test_contact_list_filters_by_lifecycle_stage(account_scope):
    _contacts(account_scope)
    params = ListParams(filters=(("lifecycle_stage", "customer"),))
    assert [c.first_name for c in contact_list(account_scope, params)] == ["Amy"]


def test_company_list_counts_contacts_per_company(account_scope):
    _contacts(account_scope)
    company_create(account=account_scope, name="Empty Inc")
    rows = {c.name: c.contact_count for c in company_list(account_scope, ListParams(sort="-contacts"))}
    assert rows == {"Acme Corp": 2, "Empty Inc": 0}


def test_deal_list_filters_by_status_and_sorts_by_amount(account_scope):
    stages = {s.name: s for s in pipeline_default(account=account_scope).stages.all()}
    deal_create(account=account_scope, name="Small", amount="100.00")
    deal_create(account=account_scope, name="Big", amount="900.00")
    deal_create(account=account_scope, name="Won", amount="500.00", stage=stages["Closed won"])
    open_by_amount = deal_list(account_scope, ListParams(sort="-amount", filters=(("status", "open"),)))
    assert [d.name for d in open_by_amount] == ["Big", "Small"]
