from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from touchline.crm.models import DealStatus, TrafficSource
from touchline.crm.services import contact_create, deal_create, deal_update, pipeline_default


def test_contact_create_normalises_email_and_defaults_to_offline_source(account_scope):
    contact = contact_create(account=account_scope, email="  Ada@Example.COM ", first_name="Ada")
    assert contact.email == "ada@example.com"
    assert contact.original_source == TrafficSource.OFFLINE


def test_contact_create_refuses_a_duplicate_email_when_case_differs(account_scope):
    contact_create(account=account_scope, email="ada@example.com")
    with pytest.raises(ValidationError) as error:
        contact_create(account=account_scope, email="ADA@example.com")
    assert "email" in error.value.message_dict


def test_deal_update_closes_and_reopens_when_stage_changes(account_scope):
    pipeline = pipeline_default(account=account_scope)
    stages = {s.name: s for s in pipeline.stages.all()}
    created = datetime(2025, 3, 1, 9, tzinfo=UTC)
    deal = deal_create(account=account_scope, name="Big one", amount="1200.50", created_at=created)
    assert (deal.status, deal.closed_at, deal.amount) == (DealStatus.OPEN, None, Decimal("1200.50"))
    won_at = datetime(2025, 4, 2, 15, tzinfo=UTC)
    deal_update(deal=deal, stage=stages["Closed won"], closed_at=won_at)
    assert (deal.status, deal.closed_at) == (DealStatus.WON, won_at)
    deal_update(deal=deal, stage=stages["Contract sent"])
    assert (deal.status, deal.closed_at) == (DealStatus.OPEN, None)


def test_deal_create_refuses_a_close_before_creation(account_scope):
    pipeline = pipeline_default(account=account_scope)
    won = pipeline.stages.get(name="Closed won")
    with pytest.raises(ValidationError):
        deal_create(account=account_scope, name="Odd", stage=won, created_at=datetime(2025, 3, 1, tzinfo=UTC),
                    closed_at=datetime(2025, 2, 1, tzinfo=UTC))
