"""The campaign sets the reports run (analytics.campaign_touches, influenced_contacts, new_contacts_first_touch,
new_contacts_last_touch — started from the campaign's own rows) equal their definitions (the *_by_definition
queries, which walk every identified contact of the account), on seeded random histories: visitors browsing with
and without UTM links, late hits (a retry older than its session's start), form submissions creating and
identifying contacts, contacts created by hand and identified later, a visitor moving to another contact,
sequence clicks and replies (human and machine), and pages, forms and sequences associated, removed and
associated again. The rollup's own columns (contact, touched_at, started_on) are checked against their
meaning too."""

from __future__ import annotations

import io
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from touchline.campaigns import analytics
from touchline.campaigns import services as campaigns
from touchline.campaigns.models import PAGE_TYPES, Asset, AssetType, Association
from touchline.crm.services import contact_create
from touchline.sequences.engagement import engagement_rollup_add
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
            event = EngagementEvent.objects.create(account=account, contact=rng.choice(contacts),
                                                   sequence=rng.choice(sequences), occurred_at=clock,
                                                   kind=rng.choice((EventKind.CLICK, EventKind.REPLY, EventKind.OPEN)),
                                                   is_machine=rng.random() < 0.2)
            engagement_rollup_add([event])  # what every service inserting events calls (as the import does)
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


# The report rollups (issue #5 at 10M views): CampaignSession's traffic columns, CampaignDay, PageTotal and
# PageVisitor, each against the raw rows it stands for, and the reports reading them against the queries over raw
# rows they replaced.


def kept_rollups(account) -> dict:
    from touchline.campaigns.models import (
        CampaignDay,
        CampaignSession,
        ContactFirstSession,
        ContactLastTouch,
        PageTotal,
        PageVisitor,
    )

    def table(model, *fields):
        return Counter(model.objects.filter(account=account).values_list(*fields))

    return {"first_session": table(ContactFirstSession, "contact_id", "session_id", "started_at", "created_at"),
            "last_touch": table(ContactLastTouch, "contact_id", "at", "rank", "ref", "session_id", "form_id",
                                "sequence_id", "created_at"),
            "sessions": table(CampaignSession, "campaign_id", "session_id", "started_at", "started_on", "contact_id",
                              "touched_at", "landed", "source", "source_detail", "source_subdetail", "page_views",
                              "is_first"),
            "days": table(CampaignDay, "campaign_id", "day", "sessions"),
            "pages": table(PageTotal, "site_id", "page", "views", "sessions"),
            "visitors": table(PageVisitor, "visitor_id", "page", "contact_id")}


def traffic_by_definition(campaign, source: str, start=None, end=None) -> list[dict]:
    """The Traffic report's query before the rollup: every session of the account with the campaign's
    utm_campaign, its visitor's contact, and that contact's earlier sessions."""
    from django.db.models import Count, Exists, OuterRef, Q, Sum

    from touchline.tracking.models import WebSession

    sessions = WebSession.objects.filter(account_id=campaign.account_id, utm_campaign=campaign.utm_campaign)
    if start is not None:
        sessions = sessions.filter(started_at__gte=start, started_at__lt=end)
    group = ("source",) if not source else ("source", "source_detail", "source_subdetail")
    if source:
        sessions = sessions.filter(source=source)
    earlier = WebSession.objects.filter(visitor__contact_id=OuterRef("visitor__contact_id"),
                                        started_at__lt=OuterRef("started_at"))
    first_touch = Q(visitor__contact__isnull=False) & ~Q(Exists(earlier))
    return list(sessions.values(*group).annotate(
        sessions=Count("pk"), page_views=Sum("page_views"), new_visitor_sessions=Count("pk", filter=Q(is_first=True)),
        first_touch_contacts=Count("visitor__contact_id", filter=first_touch, distinct=True)).order_by(*group))


def check_report_rollups(account, made) -> int:
    """Assert every rollup equals the raw rows and every report reading one equals the query over raw rows;
    returns how many non-zero numbers were compared (so a history that made none is noticed)."""
    from django.db.models import Count

    from touchline.campaigns.models import CampaignDay, CampaignSession, PageTotal, PageVisitor
    from touchline.core.timeframes import timeframe_resolve
    from touchline.reports.pipeline import report_run
    from touchline.tracking.models import WebSession

    compared = 0
    views = PageView.objects.filter(account=account)
    assert Counter(PageTotal.objects.values_list("site_id", "page", "views", "sessions")) == Counter(
        views.values("site_id", "page").annotate(n=Count("pk"), s=Count("session_id", distinct=True))
        .values_list("site_id", "page", "n", "s").order_by())
    assert set(PageVisitor.objects.values_list("visitor_id", "page", "contact_id")) == set(
        views.filter(visitor__contact__isnull=False).values_list("visitor_id", "page", "visitor__contact_id"))
    assert PageVisitor.objects.count() == len(set(PageVisitor.objects.values_list("visitor_id", "page")))
    for campaign in made:
        campaign.refresh_from_db()
        for row in CampaignSession.objects.filter(campaign=campaign).select_related("session"):
            s = row.session
            assert (row.landed, row.source, row.source_detail, row.source_subdetail, row.page_views, row.is_first) \
                == (s.utm_campaign == campaign.utm_campaign, s.source, s.source_detail, s.source_subdetail,
                    s.page_views, s.is_first), row.pk
        assert Counter(CampaignDay.objects.filter(campaign=campaign).values_list("day", "sessions")) == Counter(
            CampaignSession.objects.filter(campaign=campaign).values("started_on").annotate(n=Count("pk"))
            .values_list("started_on", "n").order_by())
        data = {"campaign": str(campaign.pk)}
        for asset_type in PAGE_TYPES:
            report = report_run("campaign_assets", account=account, data=data | {"asset_type": asset_type})
            for asset in report.rows:
                page = Asset.objects.get(pk=asset["asset_id"]).page
                mine = views.filter(page=page)
                expected = {"page_views": mine.count(), "sessions": mine.values("session_id").distinct().count(),
                            "contacts": mine.exclude(visitor__contact=None).values("visitor__contact_id")
                            .distinct().count()}
                assert {k: asset[k] for k in expected} == expected, (campaign.name, page)
                compared += sum(1 for n in expected.values() if n)
        ranges = [("all_time", None, None), ("custom", "2026-03-01", "2026-03-01"),
                  ("custom", "2026-03-02", "2026-03-09")]
        for key, first, last in ranges:
            span = data | {"range": key} | ({"range_from": first, "range_to": last} if first else {})
            timeframe = timeframe_resolve(key, time_zone=account.time_zone, now=START + timedelta(days=3),
                                          first_day=first and datetime.fromisoformat(first).date(),
                                          last_day=last and datetime.fromisoformat(last).date())
            sessions = [r for r in campaign_sessions_by_definition_rows(campaign)
                        if timeframe.start is None or timeframe.start <= r < timeframe.end]
            overview = report_run("campaign_overview", account=account, data=span, now=START + timedelta(days=3))
            assert overview.rows[0]["value"] == len(sessions), (campaign.name, span)
            compared += bool(sessions)
            for source in ("", *WebSession.objects.values_list("source", flat=True).distinct()):
                report = report_run("campaign_traffic", account=account, data=span | {"source": source},
                                    now=START + timedelta(days=3))
                keys = ("sessions", "page_views", "new_visitor_sessions", "first_touch_contacts")
                got = Counter(tuple([r["source"], r.get("detail"), r.get("subdetail")] + [r[k] for k in keys])
                              for r in report.rows)
                expected = traffic_by_definition(campaign, source, timeframe.start, timeframe.end)
                assert got == Counter(tuple([r["source"], (r["source_detail"] or "(not set)") if source else None,
                                             r.get("source_subdetail")] + [r[k] for k in keys])
                                      for r in expected), (campaign.name, span, source)
                compared += sum(r["first_touch_contacts"] for r in expected)
    return compared


def campaign_sessions_by_definition_rows(campaign) -> list[datetime]:
    from django.utils.dateparse import parse_datetime

    starts = [row["started_at"] for row in analytics.campaign_sessions_by_definition(campaign).rows()]
    moments = [value if isinstance(value, datetime) else parse_datetime(value) for value in starts]
    return [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in moments]  # raw SQLite: UTC text


def new_contact_sets_equal_their_definitions(made) -> int:
    found = 0
    for campaign in made:
        for fast, definition in ((analytics.new_contacts_last_touch, analytics.new_contacts_last_touch_by_definition),
                                 (analytics.new_contacts_first_touch,
                                  analytics.new_contacts_first_touch_by_definition)):
            expected = rows(definition(campaign), "contact_id", "created_at")
            assert rows(fast(campaign), "contact_id", "created_at") == expected
            found += len(expected)
    return found


@pytest.mark.parametrize("seed", range(8))
def test_report_rollups_equal_the_raw_rows_and_their_rebuild_on_random_histories(account, account_scope, seed):
    from touchline.crm.models import Contact
    from touchline.crm.services import contact_update

    made = history(account, seed)
    assert check_report_rollups(account, made), f"seed {seed} compared only zeros: the test would prove nothing"
    kept = kept_rollups(account)
    assert kept["pages"] and kept["visitors"] and kept["days"] and kept["last_touch"] and kept["first_session"]
    campaigns.campaign_rollups_rebuild(account=account)
    assert kept_rollups(account) == kept  # what the services kept is what a rebuild from the raw rows writes
    # Contacts whose creation time moves (an edit, a correction by import): what was before it changes.
    rng = random.Random(seed)
    for contact in rng.sample(list(Contact.objects.order_by("pk")), k=min(4, Contact.objects.count())):
        contact_update(contact=contact, created_at=contact.created_at + timedelta(minutes=rng.choice((-50, 30, 90))))
    new_contact_sets_equal_their_definitions(made)
    moved = kept_rollups(account)
    campaigns.campaign_rollups_rebuild(account=account)
    assert kept_rollups(account) == moved


def test_campaign_rebuild_command_repairs_rollups_that_went_wrong(account, account_scope):
    from django.core.management import call_command

    from touchline.campaigns.models import CampaignDay, CampaignSession, PageTotal, PageVisitor

    made = history(account, 0)
    kept = kept_rollups(account)
    PageTotal.objects.update(views=0)
    PageVisitor.objects.filter(pk=PageVisitor.objects.order_by("pk").values("pk")[:1]).delete()
    CampaignDay.objects.update(sessions=99)
    CampaignSession.objects.update(page_views=0, landed=False)
    assert kept_rollups(account) != kept
    out = io.StringIO()
    call_command("campaign_rebuild", account=str(account.pk), stdout=out)
    assert "campaign rollups rebuilt" in out.getvalue()
    assert kept_rollups(account) == kept
    assert check_report_rollups(account, made)
