"""`campaign_interactions` read from the campaign's side gives exactly the rows of the account-wide definition.

The reference below is the selector it replaced, verbatim: every interaction of the account joined to the
campaign's windows by one OR condition, and UTM traffic as the account's page views of utm sessions NOT IN that
set. On a seeded random account — three campaigns sharing some assets; pages of every page type (and a tracking
URL, which is not a page asset), forms, sequences; windows open, closed and reopened; page views, submissions,
sequence clicks and replies and meetings at random times, in sessions with and without a utm_campaign, on and off
the associated pages; a second account with the same pages and utm values — both give the same rows for every
campaign, and every way in is exercised.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django_scopes import scopes_disabled

from touchline.attribution.models import Interaction, InteractionType
from touchline.attribution.selectors import INTERACTION, SESSION, UTM_ASSET_TYPE, campaign_interactions
from touchline.campaigns import services as campaigns
from touchline.campaigns.analytics import ASSET, ASSOCIATION, PAGE_TYPE_LIST, in_window
from touchline.campaigns.models import Asset, AssetType, Association, Campaign
from touchline.reports.pipeline import Sql
from touchline.sequences.models import Sequence
from touchline.tracking import services as tracking
from touchline.tracking.models import Visitor, WebSession

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PAGES = ["example.com/spring", "example.com/pricing", "example.com/blog/a", "example.com/", "example.com/demo"]
UTMS = ("spring", "autumn", "winter", "")


def reference_campaign_interactions(campaign: Campaign) -> Sql:
    """attribution.selectors.campaign_interactions as it was before reading from the campaign's side."""
    windows = (f"SELECT a.id AS asset_id, a.asset_type, a.name, a.page, a.form_id, a.sequence_id, x.associated_at, "
               f"x.removed_at FROM {ASSOCIATION} x JOIN {ASSET} a ON a.id = x.asset_id WHERE x.campaign_id = %s")
    by_asset = f"""
        SELECT i.id AS interaction_id, MIN(w.asset_id) AS asset_id FROM {INTERACTION} i
        JOIN ({windows}) w ON (w.asset_type IN ({PAGE_TYPE_LIST}) AND i.interaction_type = 'page_view'
                               AND w.page = i.page)
                            OR (w.form_id IS NOT NULL AND w.form_id = i.form_id)
                            OR (w.sequence_id IS NOT NULL AND w.sequence_id = i.sequence_id)
        WHERE i.account_id = %s AND {in_window('i.occurred_at')}
        GROUP BY i.id"""
    sql = f"""
        SELECT b.interaction_id, b.asset_id, a.asset_type, a.name AS asset_name
        FROM ({by_asset}) b JOIN {ASSET} a ON a.id = b.asset_id
        UNION ALL
        SELECT i.id, NULL, '{UTM_ASSET_TYPE}', %s FROM {INTERACTION} i JOIN {SESSION} s ON s.id = i.session_id
        WHERE i.account_id = %s AND i.interaction_type = 'page_view' AND s.utm_campaign = %s
          AND i.id NOT IN (SELECT interaction_id FROM ({by_asset}) b2)"""
    label = f"UTM traffic (utm_campaign={campaign.utm_campaign})"
    params = (campaign.pk, campaign.account_id, label, campaign.account_id, campaign.utm_campaign, campaign.pk,
              campaign.account_id)
    return Sql(sql, params)


def rows(sql: Sql) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql.sql, sql.params)
        return sorted(tuple(row) for row in cursor.fetchall())


def _moment(rng: random.Random) -> datetime:
    return T0 + timedelta(hours=rng.randrange(0, 24 * 120))


def build(account, rng: random.Random, *, prefix: str) -> list[Campaign]:
    site = tracking.site_create(account=account, name="Website", domains="example.com")
    forms = [tracking.form_create(account=account, site=site, name=f"Form {k}", fields=[{"name": "email"}])
             for k in range(3)]
    sequences = [Sequence.objects.create(account=account, name=f"Sequence {k}") for k in range(3)]
    made = [campaigns.campaign_create(account=account, name=f"{prefix} {utm}", utm_campaign=utm)
            for utm in UTMS[:3]]
    assets = [campaigns.page_asset_get_or_create(account=account, url=f"https://{page}", asset_type=kind)
              for page, kind in zip(PAGES, (AssetType.LANDING_PAGE, AssetType.WEBSITE_PAGE, AssetType.BLOG_POST,
                                            AssetType.WEBSITE_PAGE, AssetType.LANDING_PAGE), strict=True)]
    assets.append(Asset.objects.create(account=account, asset_type=AssetType.TRACKING_URL, name="Tracking URL",
                                       page=PAGES[4]))  # a tracking URL shares a page but is no page asset
    assets += [campaigns.form_asset(form=f) for f in forms] + [campaigns.sequence_asset(sequence=s) for s in sequences]
    for campaign in made:
        for asset in rng.sample(assets, 7):
            opened = _moment(rng)
            if rng.random() < 0.5:
                closed = opened + timedelta(days=rng.uniform(0, 40))
                Association.objects.create(account=account, campaign=campaign, asset=asset, associated_at=opened,
                                           removed_at=closed)
                if rng.random() < 0.5:  # associated again later: a second window
                    Association.objects.create(account=account, campaign=campaign, asset=asset,
                                               associated_at=closed + timedelta(days=rng.uniform(0, 20)))
            else:
                Association.objects.create(account=account, campaign=campaign, asset=asset, associated_at=opened)
    visitors = [Visitor.objects.create(account=account, site=site, key=f"{prefix}-v{k}", first_seen_at=T0)
                for k in range(25)]
    interactions, n = [], 0
    for visitor in visitors:
        for _ in range(rng.randint(1, 5)):
            at = _moment(rng)
            session = WebSession.objects.create(
                account=account, site=site, visitor=visitor, started_at=at, last_seen_at=at, page_views=1,
                is_first=False, landing_url="https://example.com/", source="direct", utm_campaign=rng.choice(UTMS))
            for step in range(rng.randint(1, 5)):
                interactions.append(Interaction(
                    account=account, source_key=f"pv:{n}", interaction_type=InteractionType.PAGE_VIEW,
                    occurred_at=at + timedelta(minutes=step), visitor=visitor, session=session, channel="direct",
                    page=rng.choice(PAGES)))
                n += 1
            if rng.random() < 0.4:
                interactions.append(Interaction(
                    account=account, source_key=f"fs:{n}", interaction_type=InteractionType.FORM_SUBMISSION,
                    occurred_at=at + timedelta(minutes=3), visitor=visitor, channel="direct",
                    form=rng.choice(forms)))
                n += 1
    for _ in range(80):
        kind = rng.choice((InteractionType.SEQUENCE_EMAIL_CLICK, InteractionType.SEQUENCE_REPLY,
                           InteractionType.MEETING_BOOKED))
        interactions.append(Interaction(
            account=account, source_key=f"ev:{n}", interaction_type=kind, occurred_at=_moment(rng),
            channel="sales_email", sequence=rng.choice(sequences) if rng.random() < 0.8 else None))
        n += 1
    Interaction.objects.bulk_create(interactions)
    return made


@pytest.fixture
def two_accounts(account, other_account):
    rng = random.Random(5)
    with scopes_disabled():
        build(other_account, rng, prefix="Other")
        return build(account, rng, prefix="Acme")


def test_campaign_interactions_equal_the_account_wide_definition_on_a_random_account(two_accounts):
    seen_types = set()
    with scopes_disabled():
        for campaign in two_accounts:
            expected = rows(reference_campaign_interactions(campaign))
            assert rows(campaign_interactions(campaign)) == expected, campaign.name
            seen_types |= {r[2] for r in expected}
            assert len(expected) > 20
    assert seen_types >= {"landing_page", "website_page", "blog_post", "form", "sequence", UTM_ASSET_TYPE}
