"""Stored credits on a hand-built history, and how late data changes them.

visitor A   pv1  1 Mar 09:00 /?utm_campaign=spring&utm_source=newsletter&utm_medium=email
            pv2  1 Mar 09:05 /pricing
            fs   3 Mar 10:02 demo form → creates Alice (10:02)
deal Big    created 5 Mar with Alice, amount 1,000.00, closed won 10 Mar 12:00

Alice's contact-create journey is pv1, pv2, fs (the submission at the creation instant counts as before it):
- linear: 1/3 each; first interaction: pv1; last interaction: fs
- U-shaped: F = pv1 40 %, L = fs 40 %, the middle pv2 20 %
Revenue of Big, linear: 1,000.00 / 3 = 333.33, 333.33 and the remainder 333.34 to the last key position, C = fs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django_scopes import scope

from touchline.attribution.models import Conversion, Credit
from touchline.attribution.services import attribution_refresh
from touchline.crm import services as crm
from touchline.crm.models import Contact, DealStage
from touchline.tracking import services as tracking
from touchline.tracking.services import Hit

SITE = "https://example.com"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def history(account, account_scope):
    site = tracking.site_create(account=account, name="Website", domains="example.com")
    form = tracking.form_create(account=account, site=site, name="Demo", fields=[{"name": "email"}])
    for hit_id, url, when in (("pv1-0000", f"{SITE}/?utm_campaign=spring&utm_source=newsletter&utm_medium=email",
                               at(1, 9)), ("pv2-0000", f"{SITE}/pricing", at(1, 9, 5))):
        tracking.pageview_record(site=site, hit=Hit(hit_id=hit_id, visitor_key="visitor-a", url=url,
                                                    occurred_at=when))
    tracking.form_submission_record(form=form, submission_id="sub-alice", visitor_key="visitor-a",
                                    data={"email": "alice@example.org"}, at=at(3, 10, 2))
    alice = Contact.objects.get(email="alice@example.org")
    won = crm.pipeline_default(account=account).stages.get(name="Closed won")
    deal = crm.deal_create(account=account, name="Big", amount="1000.00", contacts=[alice], created_at=at(5, 9))
    crm.deal_update(deal=deal, stage=won, closed_at=at(10, 12))
    attribution_refresh(account)
    return {"site": site, "alice": alice, "deal": deal}


def credits(kind: str, model: str, *, lookback: int = 0, field: str = "weight") -> list[tuple[str, Decimal]]:
    """(kind of touch, weight or amount) in time order; weights in units of 1, amounts in currency units."""
    rows = Credit.objects.filter(conversion__kind=kind, model=model, lookback_days=lookback).order_by(
        "interaction__occurred_at", "interaction__pk")
    return [(c.interaction.source_key[:2], Decimal(c.weight_nano).scaleb(-9) if field == "weight"
             else Decimal(c.amount_cents).scaleb(-2)) for c in rows]


def test_contact_create_credits_follow_each_model_when_the_journey_has_three_touches(history):
    # Thirds in billionths: 333,333,333 twice and the remainder 333,333,334 on the last key position (L = fs).
    assert credits("contact_create", "linear") == [
        ("pv", Decimal("0.333333333")), ("pv", Decimal("0.333333333")), ("fs", Decimal("0.333333334"))]
    assert credits("contact_create", "first_interaction") == [("pv", 1)]  # touches given nothing are not stored
    assert credits("contact_create", "last_interaction") == [("fs", 1)]
    assert [w for _, w in credits("contact_create", "u_shaped")] == [Decimal("0.4"), Decimal("0.2"), Decimal("0.4")]


def test_revenue_splits_in_exact_cents_with_the_remainder_on_the_last_key_position(history):
    assert credits("revenue", "linear", field="amount") == [
        ("pv", Decimal("333.33")), ("pv", Decimal("333.33")), ("fs", Decimal("333.34"))]
    for model in ("first_interaction", "u_shaped", "w_shaped", "full_path", "time_decay", "j_shaped", "inverse_j",
                  "data_driven"):
        assert sum(a for _, a in credits("revenue", model, field="amount")) == Decimal("1000.00"), model


def test_every_model_and_window_sums_to_one_for_each_conversion(history):
    for conversion in Conversion.objects.exclude(touches=0):
        by_key: dict[tuple[str, int], int] = {}
        for credit in conversion.credits.all():
            key = (credit.model, credit.lookback_days)
            by_key[key] = by_key.get(key, 0) + credit.weight_nano
        assert by_key and set(by_key.values()) == {10**9}, by_key


def test_a_shorter_lookback_window_leaves_out_older_touches(history):
    # 30 days before the close (10 Mar) reaches back to 8 Feb: all three touches; the journey is unchanged.
    assert len(credits("revenue", "linear", lookback=30)) == 3


def test_late_identification_adds_the_other_browsers_visit_to_the_contacts_journeys(history, account):
    site, alice = history["site"], history["alice"]
    tracking.pageview_record(site=site, hit=Hit(hit_id="pvb-0000", visitor_key="visitor-b",
                                                url=f"{SITE}/blog", occurred_at=datetime(2026, 2, 20, tzinfo=UTC)))
    tracking.visitor_identify(visitor=site.visitors.get(key="visitor-b"), contact=alice, at=at(12, 9))
    attribution_refresh(account)
    first = Credit.objects.get(conversion__kind="contact_create", model="first_interaction", lookback_days=0)
    assert first.interaction.occurred_at == datetime(2026, 2, 20, tzinfo=UTC)  # now the other browser's visit
    assert credits("revenue", "linear", field="amount") == [
        ("pv", Decimal("250.00")), ("pv", Decimal("250.00")), ("pv", Decimal("250.00")), ("fs", Decimal("250.00"))]


def test_a_reopened_deal_loses_its_revenue_and_an_edited_amount_is_split_again(history, account):
    deal = history["deal"]
    crm.deal_update(deal=deal, amount="1200.00")
    attribution_refresh(account)
    assert [a for _, a in credits("revenue", "linear", field="amount")] == [Decimal("400.00")] * 3
    crm.deal_update(deal=deal, stage=DealStage.objects.get(account=account, name="Appointment scheduled"))
    attribution_refresh(account)
    assert not Conversion.objects.filter(kind="revenue").exists()
    assert Conversion.objects.filter(kind="deal_create").count() == 1


def test_refresh_changes_nothing_when_nothing_happened(history, account):
    before = list(Credit.objects.order_by("pk").values_list("pk", flat=True))
    assert attribution_refresh(account) == {"conversions": 0}
    assert list(Credit.objects.order_by("pk").values_list("pk", flat=True)) == before


def test_a_contact_without_interactions_is_an_unattributed_conversion(account, account_scope):
    crm.contact_create(account=account, email="offline@example.org")
    attribution_refresh(account)
    conversion = Conversion.objects.get(kind="contact_create")
    assert (conversion.touches, conversion.credits.count()) == (0, 0)


def test_credits_stay_in_their_account(history, other_account):
    with scope(account=other_account):
        assert not Credit.objects.exists()
