import hashlib
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_scopes import scope

from touchline.core.demo import demo_create
from touchline.crm.models import Company, Contact, Deal, DealContact, DealStatus

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _digest(account) -> str:
    with scope(account=account):
        rows = [
            *Company.objects.order_by("id").values_list("name", "domain", "industry", "created_at"),
            *Contact.objects.order_by("id").values_list("email", "first_name", "company__name", "created_at",
                                                        "original_source"),
            *Deal.objects.order_by("id").values_list("name", "amount", "stage__name", "created_at", "closed_at"),
        ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.mark.django_db
def test_demo_create_gives_identical_data_when_the_seed_is_the_same():
    first = _digest(demo_create(size="tiny", seed=7, now=NOW).account)
    second = _digest(demo_create(size="tiny", seed=7, now=NOW, replace=True).account)
    third = _digest(demo_create(size="tiny", seed=8, now=NOW, replace=True).account)
    assert first == second
    assert first != third


@pytest.mark.django_db
def test_demo_create_keeps_the_crm_invariants():
    result = demo_create(size="small", seed=1, now=NOW)
    account = result.account
    assert result.counts["contacts"] == 2000
    with scope(account=account):
        emails = list(Contact.objects.values_list("email", flat=True))
        # The CRM's 2,000, and one more for each demo form submission (each made by a new visitor).
        assert len(emails) == len(set(emails)) == 2000 + result.counts["form submissions"]
        assert all(e == e.strip().lower() and "@" in e for e in emails)
        assert not Contact.objects.filter(created_at__gt=NOW).exists()
        for deal in Deal.objects.select_related("stage"):
            assert deal.status == deal.stage.outcome
            assert (deal.closed_at is None) == (deal.status == DealStatus.OPEN)
            assert deal.closed_at is None or deal.created_at <= deal.closed_at <= NOW
        for link in DealContact.objects.select_related("deal", "contact"):
            assert link.contact.created_at <= link.deal.created_at
            assert link.contact.company_id == link.deal.company_id
        closed = Deal.objects.exclude(status=DealStatus.OPEN)
        win_rate = closed.filter(status=DealStatus.WON).count() / closed.count()
        assert 0.15 < win_rate < 0.40
        # Growth: the last six months hold more new contacts than the first six.
        first_half_year = Contact.objects.filter(created_at__lt=datetime(2025, 6, 1, tzinfo=UTC)).count()
        last_half_year = Contact.objects.filter(created_at__gte=datetime(2025, 12, 1, tzinfo=UTC)).count()
        assert last_half_year > first_half_year


@pytest.mark.django_db
def test_demo_command_refuses_a_second_demo_unless_replace_is_given(capsys):
    call_command("demo", size="tiny", seed=1)
    assert "Log in as demo / demo" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--replace"):
        call_command("demo", size="tiny", seed=1)
    call_command("demo", size="tiny", seed=2, replace=True)
