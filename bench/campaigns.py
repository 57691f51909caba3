"""Campaign Performance-tab report latency on a synthetic website history: `python -m bench.campaigns`.

Builds, with bulk inserts into a fresh database (SQLite by default; DATABASE_URL for PostgreSQL): one site,
`--views` page views over sessions of 1–6 views by returning visitors, a fifth of the sessions landing with one of
five campaigns' UTM links, three page assets and a form associated with the first campaign part-way through the
year, and a form submission (creating a contact, identifying the visitor) for 3 % of the visitors. Then runs
every Performance-tab report of the first campaign `--repeat` times and prints p50/p95 (the first run warms the
caches and is not counted), each with a digest of its rows, so a speed-up shows it changed no number. The
campaign rollups (touchline campaign_rebuild) are rebuilt and timed first, as a backfill after the bulk load
would. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta
from time import perf_counter as clock

from bench.__main__ import _setup

PAGES = [f"example.com/p{i}" for i in range(50)] + ["example.com/spring", "example.com/pricing", "example.com/demo"]
SOURCES = ["organic_search", "direct", "referrals", "organic_social", "paid_search", "email_marketing"]


def build(views: int) -> dict:
    """The synthetic history, loaded as plain rows (core.db.rows_insert: one prepared INSERT, or COPY on
    PostgreSQL) with explicit ids in big transactions, the page-view, session and visitor indexes built once
    after the load (core.db.bulk_load). 10M views: minutes instead of the hour row-by-row bulk_create took."""
    from django.db import connection, transaction
    from django.utils import timezone
    from django_scopes import scope

    from touchline.campaigns import services as campaigns
    from touchline.campaigns.models import AssetType
    from touchline.core.accounts import account_create
    from touchline.core.db import bulk_load, rows_insert
    from touchline.crm.models import Contact
    from touchline.tracking import services as tracking
    from touchline.tracking.models import FormSubmission, PageView, Visitor, WebSession

    rng = random.Random(11)
    now = timezone.now().replace(microsecond=0)
    year_ago = now - timedelta(days=365)
    adapt = connection.ops.adapt_datetimefield_value
    account = account_create(name=f"Bench campaigns {time.time():.0f}")
    with scope(account=account):
        site = tracking.site_create(account=account, name="Website", domains="example.com")
        form = tracking.form_create(account=account, site=site, name="Demo", fields=[{"name": "email"}])
        made = [campaigns.campaign_create(account=account, name=f"Campaign {i}", utm_campaign=f"c{i}",
                                          created_at=year_ago) for i in range(5)]
        spring = made[0]
        associated = now - timedelta(days=180)
        for url in ("https://example.com/spring", "https://example.com/pricing", "https://example.com/demo"):
            campaigns.association_add(campaign=spring, at=associated, asset=campaigns.page_asset_get_or_create(
                account=account, url=url, asset_type=AssetType.LANDING_PAGE))
        campaigns.association_add(campaign=spring, asset=campaigns.form_asset(form=form), at=associated)

        start = clock()
        n_visitors = max(1, views // 8)
        identified = rng.sample(range(n_visitors), k=max(1, n_visitors * 3 // 100))
        contacts = Contact.objects.bulk_create(
            [Contact(account=account, email=f"bench{i}@example.org", original_source="direct",
                     created_at=year_ago + timedelta(seconds=rng.random() * 365 * 86_400))
             for i in range(len(identified))], batch_size=5000)
        contact_of = {visitor: contact.pk for visitor, contact in zip(identified, contacts, strict=True)}
        first_ids = [(model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
                     for model in (Visitor, WebSession, PageView)]
        first_visitor, first_session, first_view = first_ids
        n_sessions = n_views = 0
        with bulk_load([Visitor, WebSession, PageView]), transaction.atomic():
            rows_insert(Visitor._meta.db_table, ("id", "account_id", "site_id", "key", "first_seen_at", "contact_id"),
                        ((first_visitor + v, account.pk, site.pk, f"bench-{v:08d}", adapt(year_ago),
                          contact_of.get(v)) for v in range(n_visitors)))
            seen: set[int] = set()
            while n_views < views:  # sessions and their views, in slices of 50,000 sessions
                sessions, page_views = [], []
                for _ in range(50_000):
                    if n_views >= views:
                        break
                    visitor = first_visitor + rng.randrange(n_visitors)
                    at = year_ago + timedelta(seconds=rng.random() * 365 * 86_400)
                    count = min(rng.randint(1, 6), views - n_views)
                    utm = f"c{rng.randrange(5)}" if rng.random() < 0.2 else ""
                    session = first_session + n_sessions
                    sessions.append((session, account.pk, site.pk, visitor, adapt(at), adapt(at), count,
                                     visitor not in seen, "https://example.com/", "",
                                     "email_marketing" if utm else rng.choice(SOURCES), "", "", utm, "", "", "", ""))
                    seen.add(visitor)
                    for step in range(count):
                        page = rng.choice(PAGES)
                        page_views.append((first_view + n_views, account.pk, site.pk, session, visitor,
                                           f"b{n_views:010d}", adapt(at + timedelta(minutes=step)),
                                           f"https://{page}", page, "", ""))
                        n_views += 1
                    n_sessions += 1
                rows_insert(WebSession._meta.db_table,
                            ("id", "account_id", "site_id", "visitor_id", "started_at", "last_seen_at", "page_views",
                             "is_first", "landing_url", "referrer", "source", "source_detail", "source_subdetail",
                             "utm_campaign", "utm_source", "utm_medium", "utm_term", "utm_content"), sessions)
                rows_insert(PageView._meta.db_table,
                            ("id", "account_id", "site_id", "session_id", "visitor_id", "hit_id", "occurred_at",
                             "url", "page", "title", "referrer"), page_views)
        FormSubmission.objects.bulk_create(
            [FormSubmission(account=account, form=form, contact=contact, visitor_id=first_visitor + visitor,
                            submission_id=f"s{i}", submitted_at=contact.created_at, created_contact=True,
                            data={"email": contact.email})
             for i, (visitor, contact) in enumerate(zip(identified, contacts, strict=True))], batch_size=5000)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        loaded = clock() - start
        # Bulk inserts bypass the services that keep the campaign rollups: main() rebuilds them (timed), as a
        # backfill would.
        return {"account": account, "campaign": spring, "campaigns": made, "seconds": loaded, "views": n_views,
                "sessions": n_sessions, "visitors": n_visitors, "contacts": len(contacts)}


def _reused() -> dict:
    from django_scopes import scopes_disabled

    from touchline.campaigns.models import Campaign
    from touchline.core.models import Account
    from touchline.tracking.models import PageView

    with scopes_disabled():
        account = Account.objects.filter(name__startswith="Bench campaigns").order_by("-pk").first()
        made = list(Campaign.objects.filter(account=account).order_by("utm_campaign"))
        return {"account": account, "campaign": made[0], "campaigns": made,
                "views": PageView.objects.filter(account=account).count()}


CASES = [("campaign_overview", {}), ("campaign_overview", {"attribution": "last_touch"}),
         ("campaign_overview", {"range": "last_90_days"}), ("campaign_contacts_sessions", {"unit": "month"}),
         ("campaign_traffic", {}), ("campaign_traffic", {"source": "email_marketing"}),
         ("campaign_assets", {"asset_type": "landing_page"}), ("campaign_assets", {"asset_type": "form"})]


def _digest(rows) -> str:
    """A short fingerprint of a report's rows: equal before and after a speed-up means no number changed."""
    text = json.dumps([{k: str(v) for k, v in row.items()} for row in rows], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.campaigns", description=__doc__)
    parser.add_argument("--views", type=int, default=1_000_000, help="page views to generate")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true",
                        help="time the reports on the bench account already in DATABASE_URL (built by an earlier "
                        "run there, migrated first) instead of building a new one")
    args = parser.parse_args()
    _setup(tempfile.mkdtemp(prefix="touchline-bench-campaigns-"))
    from django.db import connection
    from django_scopes import scope

    from touchline.reports.pipeline import report_run

    data = _reused() if args.reuse else build(args.views)
    if args.reuse:
        rows = [(f"reused web history: {data['views']:,} page views", "—", "built by an earlier run")]
    else:
        rows = [(f"synthetic web history: {data['views']:,} page views, {data['sessions']:,} sessions, "
                 f"{data['visitors']:,} visitors, {data['contacts']:,} contacts", f"{data['seconds']:.0f} s",
                 "bulk inserts")]
    from touchline.campaigns.services import (
        campaign_sessions_rebuild,
        first_session_rebuild,
        last_touch_rebuild,
        page_rollups_rebuild,
    )

    account, campaign = data["account"], data["campaign"]
    start = clock()
    for made in data["campaigns"]:
        campaign_sessions_rebuild(campaign=made)
    rows.append(("CampaignSession and CampaignDay rebuilt for the 5 campaigns", f"{(clock() - start) * 1000:,.0f} ms",
                 "what associating a page or changing a UTM value costs"))
    start = clock()
    page_rollups_rebuild(account=account)
    rows.append(("PageTotal and PageVisitor rebuilt", f"{(clock() - start) * 1000:,.0f} ms",
                 "touchline campaign_rebuild's share for the pages"))
    start = clock()
    last_touch_rebuild(account=account)
    first_session_rebuild(account=account)
    rows.append(("ContactLastTouch and ContactFirstSession rebuilt", f"{(clock() - start) * 1000:,.0f} ms",
                 "touchline campaign_rebuild's share for the contacts"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    with scope(account=account):
        for key, params in CASES:
            samples = []
            for _ in range(args.repeat + 1):
                t0 = clock()
                result = report_run(key, account=account, data={"campaign": str(campaign.pk), **params},
                                    budget_ms=600_000)
                samples.append((clock() - t0) * 1000)
            timed = sorted(samples[1:])
            p95 = timed[min(len(timed) - 1, round(0.95 * (len(timed) - 1)))]
            label = f"report {key}" + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")
            rows.append((label, f"p50 {statistics.median(timed):,.0f} ms",
                         f"p95 {p95:,.0f} ms over {args.repeat}; numbers {_digest(result.rows)}"))
    print(f"Touchline campaign bench — {connection.vendor}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    widths = [max(len(r[i]) for r in rows + [("measure", "result", "notes")]) for i in range(3)]
    for row in [("measure", "result", "notes"), tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
