"""The worker's batched sessionising (services.pending_hits_process) gives exactly what pageview_record gives hit
by hit in the queue's order — sessions, page views, sources, visitors, contacts and campaign sessions — on seeded
random streams with late hits, retried hit ids, ties, form submissions and batches of every size; and a batch that
fails half-way leaves nothing behind."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django_scopes import scopes_disabled

from touchline.campaigns import services as campaigns
from touchline.campaigns.analytics import RANK_VIEW
from touchline.campaigns.models import (
    AssetType,
    CampaignDay,
    CampaignSession,
    ContactFirstSession,
    ContactLastTouch,
    PageTotal,
    PageVisitor,
)
from touchline.core.accounts import account_create
from touchline.core.models import Plan
from touchline.crm.models import Contact
from touchline.tracking import services
from touchline.tracking.models import PageView, PendingHit, Visitor, WebSession
from touchline.tracking.services import Hit
from touchline.tracking.signals import page_views_recorded

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PAGES = ("/", "/pricing", "/blog/post", "/contact")
REFERRERS = ("",) * 5 + ("https://example.com/",) * 3 + ("https://www.google.com/", "https://partner.test/post",
                                                          "https://news.ycombinator.com/")
UTMS = ("",) * 8 + ("?utm_campaign=spring&utm_source=news&utm_medium=email",
                    "?utm_campaign=autumn&utm_source=facebook&utm_medium=paid_social")


def _world(name: str):
    """An account with a site, a form, a campaign by UTM value and one by an associated page (window opening on
    day one at 10:00, closing at 14:00)."""
    account = account_create(name=name, plan=Plan.ENTERPRISE, time_zone="Europe/Berlin")
    site = services.site_create(account=account, name="Website", domains="example.com")
    form = services.form_create(account=account, site=site, name="Contact", fields=[{"name": "email"}])
    campaigns.campaign_create(account=account, name="Spring", utm_campaign="spring")
    by_page = campaigns.campaign_create(account=account, name="Pricing push", utm_campaign="push")
    asset = campaigns.page_asset_get_or_create(account=account, url="https://example.com/pricing",
                                               asset_type=AssetType.LANDING_PAGE)
    association = campaigns.association_add(campaign=by_page, asset=asset, at=START + timedelta(hours=1))
    campaigns.association_remove(association=association, at=START + timedelta(hours=5))
    return account, site, form


def _drain_hit_by_hit(site, *, visitor_key: str | None = None) -> None:
    """The per-hit behaviour the batch replaces: pageview_record on each pending hit of the site (of one visitor)
    in the queue's order."""
    pending = PendingHit.all_accounts.filter(site=site).select_related("site").order_by("occurred_at", "pk")
    if visitor_key is not None:
        pending = pending.filter(visitor_key=visitor_key)
    for row in list(pending):
        services.pageview_record(site=row.site, hit=Hit(hit_id=row.hit_id, visitor_key=row.visitor_key, url=row.url,
                                                        title=row.title, referrer=row.referrer,
                                                        screen_width=row.screen_width, occurred_at=row.occurred_at))
        row.delete()


def _drain_batched(batch: int) -> int:
    """The worker's drain, `batch` hits per transaction (the reference's hits are drained already)."""
    views = 0
    while processed := services.pending_hits_process(limit=batch):
        views += processed
    return views


def _snapshot(account) -> dict:
    """Everything sessionising writes, without database ids: a session is named by its visitor and hit ids."""
    hits_of: dict[int, tuple[str, ...]] = {}
    for session_id, hit_id in PageView.all_accounts.filter(account=account).order_by("hit_id").values_list(
            "session_id", "hit_id"):
        hits_of[session_id] = (*hits_of.get(session_id, ()), hit_id)
    sessions = sorted(
        (s.visitor.key, hits_of[s.pk], s.started_at, s.last_seen_at, s.page_views, s.is_first, s.landing_url,
         s.referrer, s.source, s.source_detail, s.source_subdetail, s.utm_campaign, s.utm_source, s.utm_medium,
         s.utm_term, s.utm_content)
        for s in WebSession.all_accounts.filter(account=account).select_related("visitor"))
    views = sorted(PageView.all_accounts.filter(account=account).values_list(
        "hit_id", "visitor__key", "occurred_at", "url", "page", "title", "referrer", "screen_width"))
    visitors = sorted(Visitor.all_accounts.filter(account=account).values_list(
        "key", "first_seen_at", "contact__email", "identified_at"))
    contacts = sorted(Contact.all_accounts.filter(account=account).values_list(
        "email", "original_source", "original_source_detail", "created_at"))
    campaign_sessions = sorted(
        (c.campaign.name, hits_of[c.session_id], c.started_at, c.started_on, c.contact.email if c.contact else None,
         c.touched_at, c.landed, c.source, c.source_detail, c.source_subdetail, c.page_views, c.is_first)
        for c in CampaignSession.all_accounts.filter(account=account).select_related("campaign", "contact"))
    # The campaign rollups kept from the same signals (campaigns/services.py): the batch must keep them as the
    # one-view path does.
    campaign_days = sorted(CampaignDay.all_accounts.filter(account=account).values_list(
        "campaign__name", "day", "sessions"))
    page_totals = sorted(PageTotal.all_accounts.filter(account=account).values_list("page", "views", "sessions"))
    page_visitors = sorted(PageVisitor.all_accounts.filter(account=account).values_list(
        "visitor__key", "page", "contact__email"))
    hit_of_view = dict(PageView.all_accounts.filter(account=account).values_list("pk", "hit_id"))
    last_touches = sorted(
        (t.contact.email, t.at, t.rank, hit_of_view.get(t.ref) if t.rank == RANK_VIEW else None,
         hits_of.get(t.session_id))
        for t in ContactLastTouch.all_accounts.filter(account=account).select_related("contact"))
    first_sessions = sorted((f.contact.email, hits_of[f.session_id], f.started_at)
                            for f in ContactFirstSession.all_accounts.filter(account=account).select_related("contact"))
    return {"sessions": sessions, "views": views, "visitors": visitors, "contacts": contacts,
            "campaign_sessions": campaign_sessions, "campaign_days": campaign_days, "page_totals": page_totals,
            "page_visitors": page_visitors, "last_touches": last_touches, "first_sessions": first_sessions}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(6))
def test_batched_sessionising_equals_hit_by_hit_on_random_streams(seed):
    rng = random.Random(seed)
    with scopes_disabled():
        reference, batched = _world("Hit by hit"), _world("Batched")
        clock, sent, late, resent, visitor, batched_hits = START, [], 0, 0, "visitor-0", 0
        for step in range(220):
            clock += timedelta(minutes=rng.choice((0, 0, 1, 1, 2, 3, 5, 10, 31, 45)))  # 0: ties; 31+: timeouts
            action = rng.random()
            if action < 0.8:
                if sent and rng.random() < 0.12:
                    hit = rng.choice(sent)  # a retry: the browser sends a hit id again, maybe after sessionising
                    resent += 1
                else:
                    if rng.random() < 0.4:  # else the same visitor browses on
                        visitor = f"visitor-{rng.randrange(4)}"
                    at = clock - timedelta(minutes=rng.choice((20, 50, 130))) if rng.random() < 0.2 else clock
                    late += at < clock
                    hit = Hit(hit_id=f"hit-{seed}-{step:04d}", visitor_key=visitor,
                              url=f"https://example.com{rng.choice(PAGES)}{rng.choice(UTMS)}",
                              referrer=rng.choice(REFERRERS), title="Page", screen_width=rng.choice((None, 1440)),
                              occurred_at=at)
                    sent.append(hit)
                for _, site, _ in (reference, batched):
                    services.hit_enqueue(site=site, hit=hit)
            elif action < 0.93:
                _drain_hit_by_hit(reference[1])
                batched_hits += _drain_batched(rng.choice((1, 3, 7, 500)))
            else:
                submitter, email = f"visitor-{rng.randrange(4)}", f"person{rng.randrange(3)}@example.test"
                for (_, site, form), first in ((reference, True), (batched, False)):
                    if first:  # what the form path did before: its visitor's pending hits, one by one
                        _drain_hit_by_hit(site, visitor_key=submitter)
                    services.form_submission_record(form=form, submission_id=f"sub-{seed}-{step}",
                                                    data={"email": email}, visitor_key=submitter, at=clock)
        _drain_hit_by_hit(reference[1])
        batched_hits += _drain_batched(rng.choice((1, 3, 7, 500)))
        expected, got = _snapshot(reference[0]), _snapshot(batched[0])
    assert got == expected
    # The stream exercised what the batch must get right, else equality would prove little.
    assert late and resent and len(expected["views"]) == len(sent)
    assert batched_hits > len(sent) / 2  # most of the batched world's hits went through the worker's batches
    assert len(expected["sessions"]) > 12 and max(s[4] for s in expected["sessions"]) > 3
    assert {name for name, *_ in expected["campaign_sessions"]} == {"Spring", "Pricing push"}
    assert expected["page_visitors"] and expected["last_touches"] and expected["first_sessions"]
    assert any(row[2] < row[1] for row in expected["page_totals"])  # pages seen twice in one session
    assert expected["contacts"] and not PendingHit.all_accounts.exists()


@pytest.fixture
def site(account):
    with scopes_disabled():
        return services.site_create(account=account, name="Website", domains="example.com")


def _enqueue(site, hit_id: str, visitor: str, minutes: int, url: str = "https://example.com/", referrer: str = ""):
    services.hit_enqueue(site=site, hit=Hit(hit_id=hit_id, visitor_key=visitor, url=url, referrer=referrer,
                                            occurred_at=START + timedelta(minutes=minutes)))


def test_batch_continues_the_stored_session_and_starts_new_ones_by_the_same_rules(site):
    with scopes_disabled():
        _enqueue(site, "hit-a-01", "visitor-a", 0, referrer="https://www.bing.com/")
        assert services.pending_hits_process() == 1  # visitor a: S1 (organic search), stored before the batch
        _enqueue(site, "hit-a-02", "visitor-a", 20)  # S1 continues: 20 idle minutes
        _enqueue(site, "hit-b-01", "visitor-b", 21)  # visitor b: S2, its first
        _enqueue(site, "hit-a-03", "visitor-a", 25, url="https://example.com/?utm_campaign=x&utm_source=y&utm_medium=z")
        _enqueue(site, "hit-a-04", "visitor-a", 90)  # 65 idle minutes after S3's view: S4 (direct)
        _enqueue(site, "hit-a-01", "visitor-a", 0)  # a retry of a hit already sessionised: skipped
        assert services.pending_hits_process() == 5
        sessions = list(WebSession.all_accounts.order_by("visitor__key", "started_at").values_list(
            "visitor__key", "source", "page_views", "is_first", "last_seen_at"))
    assert sessions == [
        ("visitor-a", "organic_search", 2, True, START + timedelta(minutes=20)),
        ("visitor-a", "other_campaigns", 1, False, START + timedelta(minutes=25)),
        ("visitor-a", "direct", 1, False, START + timedelta(minutes=90)),
        ("visitor-b", "direct", 1, True, START + timedelta(minutes=21)),
    ]
    with scopes_disabled():
        assert PageView.all_accounts.count() == 5 and not PendingHit.all_accounts.exists()


def test_batch_keeps_the_latest_session_when_a_late_hit_starts_an_earlier_one(site):
    with scopes_disabled():
        _enqueue(site, "hit-01", "visitor-a", 60)
        services.pending_hits_process()
        # Arriving late: a view at minute 40 with a new referrer starts a session that ends before S1's last view,
        # so the view at minute 65 still continues S1, and S1 stays the visitor's latest.
        _enqueue(site, "hit-02", "visitor-a", 40, referrer="https://partner.test/post")
        _enqueue(site, "hit-03", "visitor-a", 65)
        services.pending_hits_process()
        sessions = list(WebSession.all_accounts.order_by("started_at").values_list("started_at", "page_views",
                                                                                   "last_seen_at"))
    assert sessions == [(START + timedelta(minutes=40), 1, START + timedelta(minutes=40)),
                        (START + timedelta(minutes=60), 2, START + timedelta(minutes=65))]


def test_batch_continues_the_newest_session_when_two_end_at_the_same_time(site):
    with scopes_disabled():
        _enqueue(site, "hit-01", "visitor-a", 0)  # S1, direct
        _enqueue(site, "hit-02", "visitor-a", 0, url="https://example.com/?utm_campaign=x&utm_source=y&utm_medium=z")
        _enqueue(site, "hit-03", "visitor-a", 1)  # S1 and S2 were both last seen at minute 0: S2 is the newer
        services.pending_hits_process()
        sessions = list(WebSession.all_accounts.order_by("pk").values_list("utm_campaign", "page_views"))
    assert sessions == [("", 1), ("x", 2)]


def test_batch_stores_nothing_and_keeps_its_hits_when_it_fails_half_way(site):
    with scopes_disabled():
        for n in range(4):
            _enqueue(site, f"hit-{n:04d}", f"visitor-{n % 2}", n)

        def crash_after_writing(sender, notes, **kwargs):  # sessions, visitors and views written, not committed
            assert PageView.all_accounts.count() == 4
            raise RuntimeError("worker stopped")

        page_views_recorded.connect(crash_after_writing, dispatch_uid="crash_after_writing")
        try:
            with pytest.raises(RuntimeError):
                services.pending_hits_process()
        finally:
            page_views_recorded.disconnect(dispatch_uid="crash_after_writing")
        assert (PendingHit.all_accounts.count(), PageView.all_accounts.count(), WebSession.all_accounts.count(),
                Visitor.all_accounts.count()) == (4, 0, 0, 0)
        assert services.pending_hits_drain() == 4
        assert (PendingHit.all_accounts.count(), PageView.all_accounts.count(), WebSession.all_accounts.count()) == \
            (0, 4, 2)


def test_form_submission_sessionises_all_of_its_visitors_pending_hits_when_they_fill_several_batches(site):
    hits = services.PENDING_BATCH + 5
    with scopes_disabled():
        form = services.form_create(account=site.account, site=site, name="Contact", fields=[{"name": "email"}])
        for n in range(hits):  # one every 10 seconds: a single session of 105 views, landing from Google
            services.hit_enqueue(site=site, hit=Hit(
                hit_id=f"hit-{n:04d}", visitor_key="visitor-a", url="https://example.com/",
                referrer="https://www.google.com/" if n == 0 else "", occurred_at=START + timedelta(seconds=10 * n)))
        _enqueue(site, "hit-b-01", "visitor-b", 0)  # another visitor's hit waits for the worker
        services.form_submission_record(form=form, submission_id="sub-0001", data={"email": "ada@example.test"},
                                        visitor_key="visitor-a", at=START + timedelta(minutes=20))
        assert list(WebSession.all_accounts.values_list("visitor__key", "page_views")) == [("visitor-a", 105)]
        assert list(PendingHit.all_accounts.values_list("hit_id", flat=True)) == ["hit-b-01"]
        assert Contact.all_accounts.get().original_source == "organic_search"
