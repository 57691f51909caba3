"""The CampaignSession rollup always equals the definition (analytics.campaign_sessions_by_definition), whatever
order page views, associations, removals, re-associations and UTM edits come in."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from touchline.campaigns import services as campaigns
from touchline.campaigns.analytics import campaign_sessions_by_definition
from touchline.campaigns.models import AssetType, Association, CampaignSession
from touchline.tracking import services as tracking
from touchline.tracking.services import Hit

PAGES = ("/", "/a", "/b", "/c")
START = datetime(2026, 3, 1, tzinfo=UTC)


def rollup(campaign) -> set[int]:
    return set(CampaignSession.objects.filter(campaign=campaign).values_list("session_id", flat=True))


def definition(campaign) -> set[int]:
    return {row["session_id"] for row in campaign_sessions_by_definition(campaign).rows()}


@pytest.mark.parametrize("seed", range(6))
def test_rollup_equals_the_definition_after_random_operations(account, account_scope, seed):
    rng = random.Random(seed)
    site = tracking.site_create(account=account, name="Website", domains="example.com")
    made = [campaigns.campaign_create(account=account, name=f"C{i}", utm_campaign=f"c{i}") for i in range(2)]
    assets = [campaigns.page_asset_get_or_create(account=account, url=f"https://example.com{p}",
                                                 asset_type=AssetType.WEBSITE_PAGE) for p in PAGES[1:]]
    clock = START
    for step in range(120):
        clock += timedelta(minutes=rng.choice((1, 5, 45)))  # 45 minutes idle starts a new session
        action = rng.random()
        if action < 0.75:
            utm = f"?utm_campaign={rng.choice(('c0', 'c1', 'other'))}&utm_source=x&utm_medium=y" \
                if rng.random() < 0.2 else ""
            tracking.pageview_record(site=site, hit=Hit(hit_id=f"h{seed}-{step}", visitor_key=f"v{rng.randrange(4)}",
                                                        url=f"https://example.com{rng.choice(PAGES)}{utm}",
                                                        occurred_at=clock))
        elif action < 0.88:
            campaigns.association_add(campaign=rng.choice(made), asset=rng.choice(assets), at=clock)
        elif action < 0.97:
            open_ones = list(Association.objects.filter(removed_at__isnull=True))
            if open_ones:
                campaigns.association_remove(association=rng.choice(open_ones), at=clock)
        else:
            campaign = rng.choice(made)
            campaigns.campaign_update(campaign=campaign, utm_campaign=rng.choice(("c0x", "c1x", "other")) + str(step))
    for campaign in made:
        assert rollup(campaign) == definition(campaign)
    assert any(rollup(c) for c in made), "the operations made no campaign session: the test would prove nothing"
