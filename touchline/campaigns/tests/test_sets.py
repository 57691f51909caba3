"""The campaign sets the reports run (analytics.campaign_touches, influenced_contacts, new_contacts_first_touch,
new_contacts_last_touch — started from the campaign's own rows) equal their definitions (the *_by_definition
queries, which walk every identified contact of the account), on seeded random histories: visitors browsing with
and without UTM links, late hits (a retry older than its session's start), form submissions creating and
identifying contacts, contacts created by hand and identified later, a visitor moving to another contact,
sequence clicks and replies (human and machine), and pages, forms and sequences associated, removed and
associated again. The rollup's own columns (contact, touched_at, started_on) are checked against their
meaning too."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from touchline.campaigns import analytics
from touchline.campaigns import services as campaigns
from touchline.campaigns.models import PAGE_TYPES, AssetType, Association
from touchline.crm.services import contact_create
from touchline.sequences.models import EngagementEvent, EventKind, Sequence
from touchline.tracking import services as tracking
from touchline.tracking.models import PageView, Visitor
from touchline.tracking.services import Hit

PAGES = ("/", "/a", "/b", "/c")
START = datetime(2026, 3, 1, tzinfo=UTC)


def rows(sql, *columns) -> Counter:
    """The rows as a multiset of tuples (a set function must not repeat or lose a row)."""
    return Counter(tuple(str(row[c]) for c in columns) for row in sql.rows())


def history(account, seed: int):
    rng = random.Random(seed)
    site = tracking.site_create(account=account, name="Website", domains="example.com")
    forms = [tracking.form_create(account=account, site=site, name=f"Form {i}", fields=[{"name": "email"}])
             for i in range(2)]
    sequences = [Sequence.objects.create(account=account, name=f"Sequence {i}") for i in range(2)]
    made = [campaigns.campaign_create(account=account, name=f"C{i}", utm_campaign=f"c{i}") for i in range(2)]
    assets = [campaigns.page_asset_get_or_create(account=account, url=f"https://example.com{p}",
                                                 asset_type=rng.choice((AssetType.WEBSITE_PAGE,
                                                                        AssetType.LANDING_PAGE)))
              for p in PAGES[1:]]
    assets += [campaigns.form_asset(form=form) for form in forms]
    assets += [campaigns.sequence_asset(sequence=sequence) for sequence in sequences]
    contacts, last_view = [], None
    clock = START
    for step in range(160):
        clock += timedelta(minutes=rng.choice((0, 1, 5, 45)))  # 0: ties at one instant; 45: a new session
        action = rng.random()
        visitor = f"v{rng.randrange(6)}"
        if action < 0.55:
            utm = f"?utm_campaign={rng.choice(('c0', 'c1', 'other'))}&utm_source=x&utm_medium=y" \
                if rng.random() < 0.3 else ""
            when = clock
            if last_view and rng.random() < 0.2:  # a retry arriving late: the last visitor, minutes earlier
                visitor, when = last_view[0], last_view[1] - timedelta(minutes=rng.choice((1, 3)))
            tracking.pageview_record(site=site, hit=Hit(hit_id=f"h{seed}-{step}", visitor_key=visitor,
                                                        url=f"https://example.com{rng.choice(PAGES)}{utm}",
                                                        occurred_at=when))
            last_view = (visitor, clock)
        elif action < 0.65:
            submission, _ = tracking.form_submission_record(
                form=rng.choice(forms), submission_id=f"s{seed}-{step}", visitor_key=visitor, at=clock,
                data={"email": f"p{rng.randrange(14)}@example.org"})
            contacts.append(submission.contact)
        elif action < 0.69:
            contacts.append(contact_create(account=account, email=f"hand{step}@example.org", created_at=clock
                                           - timedelta(minutes=rng.choice((0, 30, 600)))))
        elif action < 0.73 and contacts:
            found = Visitor.objects.filter(site=site, key=visitor).first()
            if found is not None:
                tracking.visitor_identify(visitor=found, contact=rng.choice(contacts), at=clock)
        elif action < 0.80 and contacts:
            EngagementEvent.objects.create(account=account, contact=rng.choice(contacts),
                                           sequence=rng.choice(sequences), occurred_at=clock,
                                           kind=rng.choice((EventKind.CLICK, EventKind.REPLY, EventKind.OPEN)),
                                           is_machine=rng.random() < 0.2)
        elif action < 0.92:
            campaigns.association_add(campaign=rng.choice(made), asset=rng.choice(assets), at=clock)
        else:
            open_ones = list(Association.objects.filter(removed_at__isnull=True))
            if open_ones:
                campaigns.association_remove(association=rng.choice(open_ones), at=clock)
    return made


@pytest.mark.parametrize("seed", range(8))
def test_campaign_sets_equal_their_definitions_on_random_histories(account, account_scope, seed):
    made = history(account, seed)
    from touchline.campaigns.models import CampaignSession

    kept = CampaignSession.objects.values_list("contact_id", "session__visitor__contact_id")
    assert all(mine == visitors for mine, visitors in kept), "the rollup's contact is not the visitor's"
    for row in CampaignSession.objects.select_related("session"):
        windows = Association.objects.filter(campaign_id=row.campaign_id, asset__asset_type__in=PAGE_TYPES)
        touched = [v.occurred_at for v in PageView.objects.filter(session_id=row.session_id)
                   for w in windows if w.asset.page == v.page and w.associated_at <= v.occurred_at
                   and (w.removed_at is None or v.occurred_at < w.removed_at)]
        assert row.touched_at == min([row.session.started_at, *touched]), row.pk
        LATE_TOUCHES[seed] = LATE_TOUCHES.get(seed, 0) + (row.touched_at < row.session.started_at)
    seen = Counter()
    for campaign in made:
        pairs = (
            (analytics.campaign_touches(campaign), analytics.campaign_touches_by_definition(campaign),
             ("contact_id", "at")),
            (analytics.influenced_contacts(campaign), analytics.influenced_contacts_by_definition(campaign),
             ("contact_id", "first_at")),
            (analytics.new_contacts_first_touch(campaign), analytics.new_contacts_first_touch_by_definition(campaign),
             ("contact_id", "created_at")),
            (analytics.new_contacts_last_touch(campaign), analytics.new_contacts_last_touch_by_definition(campaign),
             ("contact_id", "created_at")),
        )
        for n, (fast, definition, columns) in enumerate(pairs):
            expected = rows(definition, *columns)
            assert rows(fast, *columns) == expected, (campaign.name, n)
            seen[n] += len(expected)
    assert seen[0] and seen[1], f"seed {seed} made no campaign touch: the test would prove nothing"
    NEW_CONTACT_ROWS[seed] = seen[2] + seen[3]


NEW_CONTACT_ROWS: dict[int, int] = {}
LATE_TOUCHES: dict[int, int] = {}


def test_the_random_histories_made_new_contacts_and_late_touches_in_most_seeds():
    # Runs after the parametrized test above (file order); alone it has nothing to check.
    if len(NEW_CONTACT_ROWS) == 8:
        assert sum(1 for n in NEW_CONTACT_ROWS.values() if n) >= 6, NEW_CONTACT_ROWS
        assert sum(1 for n in LATE_TOUCHES.values() if n) >= 2, LATE_TOUCHES


def series(account, campaign, unit: str):
    from touchline.reports.pipeline import report_run

    result = report_run("campaign_contacts_sessions", account=account, now=START + timedelta(days=3),
                        data={"campaign": str(campaign.pk), "unit": unit})
    return result.rows


@pytest.mark.parametrize("seed", range(3))
def test_rollup_start_days_are_the_account_zone_days_and_the_chart_equals_converting_each_row(account, account_scope,
                                                                                              seed):
    from zoneinfo import ZoneInfo

    from touchline.campaigns.models import Campaign, CampaignSession

    made = history(account, seed)
    zone = ZoneInfo(account.time_zone)
    for campaign in made:
        campaign.refresh_from_db()
        assert campaign.rollup_time_zone == account.time_zone
        rows = list(CampaignSession.objects.filter(campaign=campaign).values_list("started_at", "started_on"))
        assert rows and all(on == at.astimezone(zone).date() for at, on in rows)
        assert len({on for _, on in rows}) > 1 or seed, "the history never crossed a local midnight"
        by_day = {unit: series(account, campaign, unit) for unit in ("day", "month")}
        Campaign.objects.filter(pk=campaign.pk).update(rollup_time_zone="")  # read as if the zone had changed
        for unit in ("day", "month"):
            assert series(account, campaign, unit) == by_day[unit]
        assert sum(row["campaign_sessions"] for row in by_day["day"]) == len(rows)


def test_the_chart_stays_right_after_the_account_changes_zone_and_uses_the_new_days_after_a_rebuild(
        account, account_scope):
    made = history(account, 0)
    account.time_zone = "America/Los_Angeles"
    account.save(update_fields=["time_zone"])
    campaign = made[0]
    campaign.refresh_from_db()
    before = series(account, campaign, "day")  # rollup days are Berlin days: every row converted instead
    campaigns.campaign_sessions_rebuild(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.rollup_time_zone == "America/Los_Angeles"
    assert series(account, campaign, "day") == before
    assert sum(row["campaign_sessions"] for row in before) > 0
