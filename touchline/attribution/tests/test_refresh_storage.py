"""How the service stores credits: one credit pass on a full rebuild, batches replaced whole or not at all.

On a seeded random history (visitors browsing in sessions of several sources, some identified by a form, deals
won, lost and open with one or two contacts), run in batches of 7 so that several batches are written:

- a full refresh stores exactly what the previous procedure stored — every conversion credited, the removal
  effects fitted from the stored conversions, every conversion credited again with them — compared row by row on
  stable keys (kind, contact, deal, the interaction's source key, model, window, billionths, cents);
- a batch whose insert fails leaves the stored conversions and credits as they were, and the next run stores the
  new split.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from touchline.attribution import services
from touchline.attribution.models import ChannelEffect, Conversion, Credit
from touchline.attribution.services import attribution_refresh, channel_effects_fit, conversions_recompute
from touchline.crm import services as crm
from touchline.crm.models import Contact, Deal
from touchline.tracking import services as tracking
from touchline.tracking.services import Hit

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SOURCES = ("", "?utm_campaign=spring&utm_source=newsletter&utm_medium=email", "?gclid=abc")
REFERRERS = ("", "https://www.google.com/", "https://news.ycombinator.com/item")


@pytest.fixture
def random_history(account, account_scope, monkeypatch):
    monkeypatch.setattr(services, "BATCH", 7)
    rng = random.Random(11)
    site = tracking.site_create(account=account, name="Website", domains="example.com")
    form = tracking.form_create(account=account, site=site, name="Demo", fields=[{"name": "email"}])
    stages = {s.name: s for s in crm.pipeline_default(account=account).stages.all()}
    hit, people = 0, []
    for v in range(30):
        at = NOW - timedelta(days=rng.uniform(20, 200))
        for _ in range(rng.randint(1, 5)):
            query, referrer = rng.choice(SOURCES), rng.choice(REFERRERS)
            for step in range(rng.randint(1, 4)):
                url = f"https://example.com/{rng.choice(('', 'pricing', 'blog/a', 'demo'))}"
                tracking.pageview_record(site=site, hit=Hit(
                    hit_id=f"h{hit:07d}", visitor_key=f"visitor-{v}", url=url + (query if step == 0 else ""),
                    referrer=referrer if step == 0 else "", occurred_at=at + timedelta(minutes=step)))
                hit += 1
            at += timedelta(days=rng.uniform(0.5, 15))
        if v < 22:  # identified by the form; the others stay anonymous
            tracking.form_submission_record(form=form, submission_id=f"s{v}", visitor_key=f"visitor-{v}",
                                            data={"email": f"p{v}@example.org"}, at=at)
            people.append(Contact.objects.get(email=f"p{v}@example.org"))
    for d, contact in enumerate(rng.sample(people, 14)):
        created = contact.created_at + timedelta(days=rng.uniform(0, 10))
        contacts = [contact] + ([rng.choice(people)] if rng.random() < 0.3 else [])
        deal = crm.deal_create(account=account, name=f"Deal {d}", amount=str(Decimal(rng.randrange(100, 10**7))
                                                                              .scaleb(-2)),
                               contacts=set(contacts), created_at=created)
        outcome = rng.choice(("Closed won", "Closed won", "Closed lost", None))
        if outcome:
            crm.deal_update(deal=deal, stage=stages[outcome], closed_at=created + timedelta(days=rng.uniform(1, 9)))
    return account


def stored(account) -> dict[str, list]:
    credits = Credit.objects.filter(account=account).values_list(
        "conversion__kind", "conversion__contact_id", "conversion__deal_id", "interaction__source_key", "model",
        "lookback_days", "weight_nano", "amount_cents")
    conversions = Conversion.objects.filter(account=account).values_list(
        "kind", "contact_id", "deal_id", "converted_at", "value", "currency", "touches")
    effects = ChannelEffect.objects.filter(account=account).values_list("kind", "lookback_days", "channel",
                                                                        "removal_effect")
    return {"credits": sorted(credits), "conversions": sorted(conversions), "effects": sorted(effects)}


def test_a_full_refresh_stores_what_crediting_twice_around_the_fit_stored(random_history):
    account = random_history
    attribution_refresh(account, full=True, now=NOW)
    once = stored(account)
    assert len(once["credits"]) > 5_000 and any(e[3] for e in once["effects"])
    assert {k for k, *_ in once["conversions"]} == {"contact_create", "deal_create", "revenue"}

    # The previous procedure: credit everything (with no fitted effects), fit, credit everything again.
    ChannelEffect.objects.filter(account=account).delete()
    contact_ids = list(Contact.objects.filter(account=account).values_list("pk", flat=True))
    deal_ids = list(Deal.objects.filter(account=account).values_list("pk", flat=True))
    for _ in range(2):
        for start in range(0, max(len(contact_ids), len(deal_ids)), 7):
            conversions_recompute(account, contact_ids=contact_ids[start:start + 7],
                                  deal_ids=deal_ids[start:start + 7], now=NOW)
        if not ChannelEffect.objects.filter(account=account).exists():
            channel_effects_fit(account, now=NOW)
    assert stored(account) == once


def test_a_failed_batch_leaves_its_conversions_and_credits_as_they_were(random_history, monkeypatch):
    account = random_history
    attribution_refresh(account, full=True, now=NOW)
    before = stored(account)
    deal = Deal.objects.filter(account=account, status="won").order_by("pk").first()
    crm.deal_update(deal=deal, amount="1234.56")

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "rows_insert", fail)
    with pytest.raises(RuntimeError):
        attribution_refresh(account, now=NOW + timedelta(minutes=1))
    assert stored(account) == before

    monkeypatch.undo()
    attribution_refresh(account, now=NOW + timedelta(minutes=1))
    revenue = Credit.objects.filter(conversion__deal=deal, conversion__kind="revenue", model="linear",
                                    lookback_days=0)
    assert sum(revenue.values_list("amount_cents", flat=True)) == 123_456
