"""Writes of campaigns: create and edit campaigns, register assets, associate and remove them (timestamped
windows), and build tracking URLs."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.text import slugify

from touchline.campaigns.models import (
    PAGE_TYPES,
    Asset,
    AssetType,
    Association,
    Campaign,
    CampaignDay,
    CampaignSession,
    ContactFirstSession,
    ContactLastTouch,
    PageTotal,
    PageVisitor,
    TrackingUrl,
    page_key,
    tracking_url_build,
)
from touchline.core.models import Account
from touchline.crm.models import Contact
from touchline.reports.pipeline import Sql
from touchline.tracking.models import PageView, Visitor, WebSession

CAMPAIGN_FIELDS = {"name", "owner", "utm_campaign", "start_date", "end_date", "budget", "currency", "notes",
                   "goal_sessions", "goal_new_contacts", "goal_influenced_contacts", "goal_revenue"}
# UTM values travel in URLs and are compared exactly: letters, digits and - _ . + only, so that what a marketer
# types is what arrives (no spaces turned into %20 or +).
UTM_VALUE = re.compile(r"[A-Za-z0-9._+-]{1,100}")


# Terms and contents are free text (search keywords, ad variants); they are URL-encoded when the link is built.
UTM_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,100}")


def _utm_check(field: str, value: str, *, required: bool) -> str:
    value = value.strip()
    if not value and not required:
        return ""
    if field in ("utm_term", "utm_content"):
        if not UTM_TEXT.fullmatch(value):
            raise ValidationError({field: "At most 100 characters, no control characters."})
        return value
    if not UTM_VALUE.fullmatch(value):
        raise ValidationError({field: "Use 1–100 letters, digits, '-', '_', '.' or '+' (no spaces)."})
    return value


def _campaign_validate(campaign: Campaign) -> None:
    errors = {}
    if not campaign.name.strip():
        errors["name"] = "Give the campaign a name."
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        errors["end_date"] = "The end date is before the start date."
    for field in ("budget", "goal_revenue"):
        value = getattr(campaign, field)
        if value is not None and Decimal(value) < 0:
            errors[field] = "Must not be negative."
    try:
        campaign.utm_campaign = _utm_check("utm_campaign", campaign.utm_campaign, required=True)
    except ValidationError as error:
        errors.update(error.message_dict)
    if not errors and Campaign.all_accounts.filter(account=campaign.account, utm_campaign=campaign.utm_campaign) \
            .exclude(pk=campaign.pk).exists():
        errors["utm_campaign"] = "Another campaign uses this UTM value."
    if errors:
        raise ValidationError(errors)


def campaign_create(*, account: Account, name: str, utm_campaign: str = "", owner=None,
                    start_date: date | None = None, end_date: date | None = None, budget: Decimal | None = None,
                    currency: str = "USD", notes: str = "", goal_sessions: int | None = None,
                    goal_new_contacts: int | None = None, goal_influenced_contacts: int | None = None,
                    goal_revenue: Decimal | None = None, created_at: datetime | None = None) -> Campaign:
    """Create a campaign; its UTM value defaults to the slug of its name."""
    campaign = Campaign(
        account=account, name=name.strip(), utm_campaign=utm_campaign.strip() or slugify(name)[:100],
        owner=owner, start_date=start_date, end_date=end_date, budget=budget, currency=currency, notes=notes,
        goal_sessions=goal_sessions, goal_new_contacts=goal_new_contacts,
        goal_influenced_contacts=goal_influenced_contacts, goal_revenue=goal_revenue,
        created_at=created_at or timezone.now())
    _campaign_validate(campaign)
    with transaction.atomic():
        campaign.save()
        campaign_sessions_rebuild(campaign=campaign)  # its UTM value may match sessions already recorded
    return campaign


def campaign_update(*, campaign: Campaign, **fields) -> Campaign:
    unknown = set(fields) - CAMPAIGN_FIELDS
    if unknown:
        raise ValidationError({f: "Unknown field." for f in unknown})
    utm_before = campaign.utm_campaign
    for name, value in fields.items():
        setattr(campaign, name, value)
    _campaign_validate(campaign)
    with transaction.atomic():
        campaign.save()
        if campaign.utm_campaign != utm_before:
            campaign_sessions_rebuild(campaign=campaign)
    return campaign


def page_asset_get_or_create(*, account: Account, url: str, asset_type: str = AssetType.WEBSITE_PAGE,
                             name: str = "") -> Asset:
    """The page asset of a URL (one per page and type): views of the page are the asset's views."""
    if asset_type not in PAGE_TYPES:
        raise ValidationError({"asset_type": "Pages are landing pages, website pages or blog posts."})
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "Enter the page's full http(s) URL."})
    page = page_key(url)
    asset, _ = Asset.all_accounts.get_or_create(account=account, asset_type=asset_type, page=page,
                                                defaults={"name": name.strip() or page, "url": url.strip()})
    return asset


def form_asset(*, form) -> Asset:
    asset, _ = Asset.all_accounts.get_or_create(account=form.account, form=form,
                                                defaults={"asset_type": AssetType.FORM, "name": form.name})
    return asset


def sequence_asset(*, sequence) -> Asset:
    asset, _ = Asset.all_accounts.get_or_create(account=sequence.account, sequence=sequence,
                                                defaults={"asset_type": AssetType.SEQUENCE, "name": sequence.name})
    return asset


def external_asset_create(*, account: Account, asset_type: str, name: str, external_id: str = "",
                          url: str = "") -> Asset:
    """An asset that lives outside Touchline (ad, social post, marketing email, CTA, static list, workflow);
    its interactions arrive by import or API."""
    internal = (*PAGE_TYPES, AssetType.FORM, AssetType.SEQUENCE, AssetType.TRACKING_URL)
    if asset_type not in AssetType.values or asset_type in internal:
        raise ValidationError({"asset_type": "Pages, forms, sequences and tracking URLs have their own way in."})
    if not name.strip():
        raise ValidationError({"name": "Give the asset a name."})
    return Asset.all_accounts.create(account=account, asset_type=asset_type, name=name.strip(),
                                     external_id=external_id.strip(), url=url.strip())


def association_add(*, campaign: Campaign, asset: Asset, by=None, at: datetime | None = None) -> Association:
    """Associate an asset from `at` (now) on. Already associated: the open association is returned unchanged —
    its data has counted since then, and moving the start would rewrite history."""
    if asset.account_id != campaign.account_id:
        raise ValidationError({"asset": "The asset belongs to another account."})
    with transaction.atomic():
        current = Association.all_accounts.select_for_update().filter(
            campaign=campaign, asset=asset, removed_at__isnull=True).first()
        if current is not None:
            return current
        association = Association.all_accounts.create(account_id=campaign.account_id, campaign=campaign,
                                                      asset=asset, associated_at=at or timezone.now(),
                                                      associated_by=by)
        if asset.asset_type in PAGE_TYPES:
            campaign_sessions_rebuild(campaign=campaign)
        return association


def association_remove(*, association: Association, at: datetime | None = None) -> Association:
    """Close the association's window: data from `at` on no longer counts for the campaign; data inside the
    window still does (docs/campaigns.md)."""
    if association.removed_at is None:
        association.removed_at = max(at or timezone.now(), association.associated_at)
        with transaction.atomic():
            association.save(update_fields=["removed_at"])
            if association.asset.asset_type in PAGE_TYPES:
                campaign_sessions_rebuild(campaign=association.campaign)
    return association


# The CampaignSession rollup and its daily counts ----------------------------------------------------------------


def campaign_sessions_rebuild(*, campaign: Campaign) -> None:
    """Recompute the campaign's sessions from the definition (analytics.campaign_sessions_by_definition), set-based:
    after its UTM value or its page associations change. Cost: the campaign's own traffic, not the account's.
    Their start days are written in the account's current zone, which becomes the campaign's rollup_time_zone
    (after the account's zone changes, charts convert each row again until the next rebuild); the daily counts
    (CampaignDay) are counted again from the rows."""
    from touchline.campaigns.analytics import campaign_sessions_by_definition, late_window_views

    definition = campaign_sessions_by_definition(campaign)
    table, days = CampaignSession._meta.db_table, CampaignDay._meta.db_table
    # started_on is the start's day in the account's zone, converted here once per row instead of in every chart.
    zone = Account.objects.filter(pk=campaign.account_id).values_list("time_zone", flat=True).get()
    day, day_params = connection.ops.datetime_cast_date_sql("d.started_at", (), zone)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE campaign_id = %s", [campaign.pk])
        cursor.execute(f"INSERT INTO {table} (account_id, campaign_id, session_id, started_at, started_on, "
                       f"contact_id, touched_at, landed, source, source_detail, source_subdetail, page_views, "
                       f"is_first) SELECT %s, %s, d.session_id, d.started_at, {day}, vi.contact_id, d.started_at, "
                       f"s.utm_campaign = %s, s.source, s.source_detail, s.source_subdetail, s.page_views, s.is_first "
                       f"FROM ({definition.sql}) d JOIN {WebSession._meta.db_table} s "
                       f"ON s.id = d.session_id JOIN {Visitor._meta.db_table} vi ON vi.id = s.visitor_id",
                       [campaign.account_id, campaign.pk, *day_params, campaign.utm_campaign, *definition.params])
        earlier = late_window_views(campaign)  # views inside a window before their session's start
        cursor.execute(f"UPDATE {table} SET touched_at = (SELECT MIN(e.occurred_at) FROM ({earlier.sql}) e "
                       f"WHERE e.session_id = {table}.session_id) WHERE campaign_id = %s AND session_id IN "
                       f"(SELECT e.session_id FROM ({earlier.sql}) e)", [*earlier.params, campaign.pk,
                                                                         *earlier.params])
        cursor.execute(f"DELETE FROM {days} WHERE campaign_id = %s", [campaign.pk])
        cursor.execute(f"INSERT INTO {days} (account_id, campaign_id, day, sessions) SELECT %s, %s, started_on, "
                       f"COUNT(*) FROM {table} WHERE campaign_id = %s GROUP BY started_on",
                       [campaign.account_id, campaign.pk, campaign.pk])
        Campaign.all_accounts.filter(pk=campaign.pk).update(rollup_time_zone=zone)
    campaign.rollup_time_zone = zone


# Portable SQL (SQLite 3.35+ and PostgreSQL both say ON CONFLICT … and RETURNING): a row is added once whoever
# else adds it, and the day is counted only by the write that added it.
SESSION_ADD = (f"INSERT INTO {CampaignSession._meta.db_table} (account_id, campaign_id, session_id, started_at, "
               f"started_on, contact_id, touched_at, landed, source, source_detail, source_subdetail, page_views, "
               f"is_first) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
               f"ON CONFLICT (campaign_id, session_id) DO NOTHING RETURNING campaign_id")
DAY_COUNT = (f"INSERT INTO {CampaignDay._meta.db_table} AS d (account_id, campaign_id, day, sessions) "
             f"VALUES (%s, %s, %s, 1) ON CONFLICT (campaign_id, day) DO UPDATE SET sessions = d.sessions + 1")


def campaign_sessions_note(*, view, session, new_session: bool) -> None:
    """Keep the rollup as page views are recorded: a new session landing with a campaign's UTM value, and a view
    of a page associated with a campaign at that moment, make the session the campaign's (its start day in the
    campaign's rollup_time_zone, like the rebuild's rows, counted in that day's CampaignDay); a view continuing
    a session adds one to the page views of the session's rows."""
    if not new_session:
        CampaignSession.all_accounts.filter(session_id=session.pk).update(page_views=F("page_views") + 1)
    campaign_ids = set()
    if new_session and session.utm_campaign:
        campaign_ids |= set(Campaign.all_accounts.filter(account_id=session.account_id,
                                                         utm_campaign=session.utm_campaign).values_list("pk",
                                                                                                      flat=True))
    by_page = set(Association.all_accounts.filter(
        account_id=view.account_id, asset__page=view.page, asset__asset_type__in=PAGE_TYPES,
        associated_at__lte=view.occurred_at).filter(
        Q(removed_at__isnull=True) | Q(removed_at__gt=view.occurred_at)).values_list("campaign_id", flat=True))
    campaign_ids |= by_page
    if not campaign_ids:
        return
    kept = set(CampaignSession.all_accounts.filter(session_id=session.pk).values_list("campaign_id", flat=True))
    if campaign_ids - kept:
        page_views = 1 if new_session else WebSession.all_accounts.filter(pk=session.pk).values_list(
            "page_views", flat=True).get()
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            for pk, zone, utm in Campaign.all_accounts.filter(pk__in=campaign_ids - kept).values_list(
                    "pk", "rollup_time_zone", "utm_campaign"):
                day = connection.ops.adapt_datefield_value(
                    session.started_at.astimezone(ZoneInfo(zone or "UTC")).date())
                touched = min(session.started_at, view.occurred_at) if pk in by_page else session.started_at
                cursor.execute(SESSION_ADD, [session.account_id, pk, session.pk, adapt(session.started_at), day,
                                             view.visitor.contact_id, adapt(touched), session.utm_campaign == utm,
                                             session.source, session.source_detail, session.source_subdetail,
                                             page_views, session.is_first])
                if cursor.fetchall():
                    cursor.execute(DAY_COUNT, [session.account_id, pk, day])
    if by_page & kept and view.occurred_at < session.started_at:  # a late hit: the session was touched earlier
        CampaignSession.all_accounts.filter(campaign_id__in=by_page & kept, session_id=session.pk,
                                            touched_at__gt=view.occurred_at).update(touched_at=view.occurred_at)


def campaign_sessions_note_many(*, notes: list[tuple]) -> None:
    """campaign_sessions_note for a batch of recorded views, in order: `notes` are (view, session, new_session).
    A view can make a campaign session only when its page is a page asset some campaign has (had) associated, or
    its session is new and lands with some campaign's UTM value; two queries find those views, and only they are
    noted, one by one. The others would have changed nothing (the worker's batch of hits, issue #5)."""
    if not notes:
        return
    account_ids = {view.account_id for view, _, _ in notes}
    associated_pages = set(Association.all_accounts.filter(
        account_id__in=account_ids, asset__asset_type__in=PAGE_TYPES,
        asset__page__in={view.page for view, _, _ in notes}).values_list("account_id", "asset__page"))
    landing_utms = {session.utm_campaign for _, session, new_session in notes if new_session and session.utm_campaign}
    campaign_utms = set(Campaign.all_accounts.filter(account_id__in=account_ids, utm_campaign__in=landing_utms)
                        .values_list("account_id", "utm_campaign")) if landing_utms else set()
    for view, session, new_session in notes:
        if (view.account_id, view.page) in associated_pages or (
                new_session and (session.account_id, session.utm_campaign) in campaign_utms):
            campaign_sessions_note(view=view, session=session, new_session=new_session)


def campaign_rollups_note_many(*, notes: list[tuple], rank: int) -> None:
    """Every campaign rollup kept per recorded view (what the `page_view_recorded` receiver does for one view), for
    the worker's batch: `notes` are (view, session, new_session) in time order, sent once the whole batch is
    written, so each session is as stored at the end of the batch. Hence two batch rules where the one-view path
    reads the database as it goes: a campaign session's page views are set from its session's final count (they
    mirror it), and a view is its session's first of its page when no view stored before the batch and none
    earlier in the batch has that session and page. `rank` is analytics.RANK_VIEW. Proven equal to the one-view
    path on random hit streams (tracking/tests/test_sessionising.py)."""
    if not notes:
        return
    campaign_sessions_note_many(notes=notes)
    session_ids = {session.pk for _, session, _ in notes}
    CampaignSession.all_accounts.filter(session_id__in=session_ids).update(page_views=Subquery(
        WebSession.all_accounts.filter(pk=OuterRef("session_id")).values("page_views")[:1]))
    batch = {view.pk for view, _, _ in notes}
    seen = set(PageView.all_accounts.filter(session_id__in=session_ids, page__in={v.page for v, _, _ in notes})
               .exclude(pk__in=batch).values_list("session_id", "page"))
    with connection.cursor() as cursor:
        for view, session, new_session in notes:
            first_in_session = new_session or (session.pk, view.page) not in seen
            seen.add((session.pk, view.page))
            cursor.execute(PAGE_COUNT, [view.account_id, view.site_id, view.page, int(first_in_session)])
            contact_id = view.visitor.contact_id
            if contact_id is not None:
                cursor.execute(PAGE_VISITOR_ADD, [view.account_id, view.visitor_id, view.page, contact_id])
                if new_session:
                    first_session_note(contact_id=contact_id, session=session)
                last_touch_note(contact_id=contact_id, at=view.occurred_at, rank=rank, ref=view.pk,
                                session_id=view.session_id)


def campaign_sessions_identify(*, visitor) -> None:
    """Keep the rollup's contact as a visitor is identified (or moves to another contact): every campaign session
    of the visitor, earlier ones included, is the contact's from now on (SPEC §0)."""
    # session_id IN (the visitor's sessions): both sides by index. Filtering through the join instead made Django
    # write `id IN (SELECT … FROM campaignsession JOIN websession …)`, which PostgreSQL ran as a scan per
    # identification (seconds each on a test's few thousand rows).
    sessions = WebSession.all_accounts.filter(visitor_id=visitor.pk).values("id")
    CampaignSession.all_accounts.filter(session_id__in=sessions).update(contact_id=visitor.contact_id)


# The page rollups (PageTotal, PageVisitor) ---------------------------------------------------------------------

PAGE_COUNT = (f"INSERT INTO {PageTotal._meta.db_table} AS t (account_id, site_id, page, views, sessions) "
              f"VALUES (%s, %s, %s, 1, %s) ON CONFLICT (site_id, page) "
              f"DO UPDATE SET views = t.views + 1, sessions = t.sessions + excluded.sessions")
PAGE_VISITOR_ADD = (f"INSERT INTO {PageVisitor._meta.db_table} (account_id, visitor_id, page, contact_id) "
                    f"VALUES (%s, %s, %s, %s) ON CONFLICT (visitor_id, page) DO NOTHING")


def page_rollups_note(*, view, new_session: bool) -> None:
    """Count a recorded view in its page's total (a session too when it is the session's first view of the page,
    a late hit included) and, for an identified visitor, note that the visitor viewed the page."""
    first_in_session = new_session or not PageView.all_accounts.filter(
        session_id=view.session_id, page=view.page).exclude(pk=view.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute(PAGE_COUNT, [view.account_id, view.site_id, view.page, int(first_in_session)])
        if view.visitor.contact_id is not None:
            cursor.execute(PAGE_VISITOR_ADD, [view.account_id, view.visitor_id, view.page, view.visitor.contact_id])


def page_rollups_identify(*, visitor) -> None:
    """A visitor identified (or moved to another contact): its pages are the new contact's, from its own views."""
    PageVisitor.all_accounts.filter(visitor_id=visitor.pk).delete()
    if visitor.contact_id is not None:
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {PageVisitor._meta.db_table} (account_id, visitor_id, page, contact_id) "
                           f"SELECT DISTINCT account_id, visitor_id, page, %s FROM {PageView._meta.db_table} "
                           f"WHERE visitor_id = %s", [visitor.contact_id, visitor.pk])


def page_rollups_rebuild(*, account: Account) -> None:
    """Recompute the account's page rollups from its page views, set-based (after a bulk load that bypassed the
    services, or to repair): the pages' totals, and the pages of its identified visitors."""
    views, totals, visitors = PageView._meta.db_table, PageTotal._meta.db_table, PageVisitor._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {totals} WHERE account_id = %s", [account.pk])
        cursor.execute(f"INSERT INTO {totals} (account_id, site_id, page, views, sessions) SELECT account_id, "
                       f"site_id, page, COUNT(*), COUNT(DISTINCT session_id) FROM {views} WHERE account_id = %s "
                       f"GROUP BY account_id, site_id, page", [account.pk])
        cursor.execute(f"DELETE FROM {visitors} WHERE account_id = %s", [account.pk])
        cursor.execute(f"INSERT INTO {visitors} (account_id, visitor_id, page, contact_id) SELECT DISTINCT "
                       f"vi.account_id, vi.id, v.page, vi.contact_id FROM {Visitor._meta.db_table} vi "
                       f"JOIN {views} v ON v.visitor_id = vi.id WHERE vi.account_id = %s AND vi.contact_id IS NOT NULL",
                       [account.pk])


# Each contact's last touch (ContactLastTouch) ------------------------------------------------------------------

LAST_TOUCH = ContactLastTouch._meta.db_table
LAST_TOUCH_COLUMNS = "account_id, contact_id, at, rank, ref, session_id, form_id, sequence_id, created_at"
# One interaction just recorded replaces the contact's kept last touch when it is at or before the contact's
# creation and later in the definition's order (time, kind rank, id); portable upsert with a row-value comparison
# (SQLite 3.24+/3.15+ and PostgreSQL). The SELECT's WHERE keeps SQLite from reading ON CONFLICT as a join's ON.
LAST_TOUCH_NOTE = (
    f"INSERT INTO {LAST_TOUCH} AS t ({LAST_TOUCH_COLUMNS}) SELECT c.account_id, c.id, %s, %s, %s, %s, %s, %s, "
    f"c.created_at FROM {Contact._meta.db_table} c WHERE c.id = %s AND c.created_at >= %s "
    f"ON CONFLICT (contact_id) DO UPDATE SET at = excluded.at, rank = excluded.rank, ref = excluded.ref, "
    f"session_id = excluded.session_id, form_id = excluded.form_id, sequence_id = excluded.sequence_id "
    f"WHERE (excluded.at, excluded.rank, excluded.ref) > (t.at, t.rank, t.ref)")


def last_touch_note(*, contact_id: int, at: datetime, rank: int, ref: int, session_id: int | None = None,
                    form_id: int | None = None, sequence_id: int | None = None) -> None:
    """An interaction of the contact was recorded (rank: analytics.RANK_*; ref: its row's id): it becomes the
    contact's last touch if it is the latest at or before the contact's creation."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(LAST_TOUCH_NOTE, [adapt(at), rank, ref, session_id, form_id, sequence_id, contact_id,
                                         adapt(at)])


def last_touch_recompute(*, contact_ids) -> None:
    """The contacts' last touches again from all their interactions: after a visitor moves between contacts (its
    views change owner) or a contact's creation time changes."""
    from touchline.campaigns.analytics import last_touches

    ids = sorted({pk for pk in contact_ids if pk is not None})
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    touches = last_touches(Sql(f"SELECT id AS contact_id FROM {Contact._meta.db_table} WHERE id IN ({marks})",
                               tuple(ids)))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LAST_TOUCH} WHERE contact_id IN ({marks})", ids)
        cursor.execute(f"INSERT INTO {LAST_TOUCH} ({LAST_TOUCH_COLUMNS}) SELECT {LAST_TOUCH_COLUMNS} "
                       f"FROM ({touches.sql}) x", touches.params)


def last_touch_identify(*, visitor) -> None:
    """A visitor identified or moved: its views are its (new) contact's — and no longer the contact's that had
    one of them as its last touch."""
    sessions = WebSession.all_accounts.filter(visitor_id=visitor.pk).values("id")
    before = ContactLastTouch.all_accounts.filter(session_id__in=sessions).values_list("contact_id", flat=True)
    last_touch_recompute(contact_ids=[visitor.contact_id, *before])


def last_touch_rebuild(*, account: Account) -> None:
    """Every contact's last touch of the account from the raw interactions, set-based."""
    from touchline.campaigns.analytics import last_touches

    touches = last_touches(Sql(f"SELECT id AS contact_id FROM {Contact._meta.db_table} WHERE account_id = %s",
                               (account.pk,)))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LAST_TOUCH} WHERE account_id = %s", [account.pk])
        cursor.execute(f"INSERT INTO {LAST_TOUCH} ({LAST_TOUCH_COLUMNS}) SELECT {LAST_TOUCH_COLUMNS} "
                       f"FROM ({touches.sql}) x", touches.params)


# Each contact's first session (ContactFirstSession) -------------------------------------------------------------

FIRST_SESSION = ContactFirstSession._meta.db_table
FIRST_SESSION_COLUMNS = "account_id, contact_id, session_id, started_at, created_at"
# A session just started becomes its contact's first when no kept one starts earlier (then by id); portable upsert
# with a row-value comparison, as LAST_TOUCH_NOTE.
FIRST_SESSION_NOTE = (
    f"INSERT INTO {FIRST_SESSION} AS t ({FIRST_SESSION_COLUMNS}) SELECT c.account_id, c.id, %s, %s, c.created_at "
    f"FROM {Contact._meta.db_table} c WHERE c.id = %s "
    f"ON CONFLICT (contact_id) DO UPDATE SET session_id = excluded.session_id, started_at = excluded.started_at "
    f"WHERE (excluded.started_at, excluded.session_id) < (t.started_at, t.session_id)")


def first_session_note(*, contact_id: int, session) -> None:
    """A session of the contact's visitor started (a session's start never moves afterwards)."""
    with connection.cursor() as cursor:
        cursor.execute(FIRST_SESSION_NOTE, [session.pk, connection.ops.adapt_datetimefield_value(session.started_at),
                                            contact_id])


def _first_session_write(contacts: Sql, delete: tuple[str, list]) -> None:
    from touchline.campaigns.analytics import first_sessions

    firsts = first_sessions(contacts)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {FIRST_SESSION} WHERE {delete[0]}", delete[1])
        cursor.execute(f"INSERT INTO {FIRST_SESSION} ({FIRST_SESSION_COLUMNS}) SELECT {FIRST_SESSION_COLUMNS} "
                       f"FROM ({firsts.sql}) x", firsts.params)


def first_session_identify(*, visitor) -> None:
    """A visitor identified or moved: its sessions are its (new) contact's — and no longer the contact's whose
    first session was one of them."""
    sessions = WebSession.all_accounts.filter(visitor_id=visitor.pk).values("id")
    before = ContactFirstSession.all_accounts.filter(session_id__in=sessions).values_list("contact_id", flat=True)
    ids = sorted({pk for pk in (visitor.contact_id, *before) if pk is not None})
    if ids:
        marks = ", ".join(["%s"] * len(ids))
        _first_session_write(Sql(f"SELECT id AS contact_id FROM {Contact._meta.db_table} WHERE id IN ({marks})",
                                 tuple(ids)), (f"contact_id IN ({marks})", ids))


def first_session_rebuild(*, account: Account) -> None:
    """Every identified contact's first session of the account from the raw sessions, set-based."""
    _first_session_write(Sql(f"SELECT id AS contact_id FROM {Contact._meta.db_table} WHERE account_id = %s",
                             (account.pk,)), ("account_id = %s", [account.pk]))


def contact_rollups_follow(*, contact) -> None:
    """A contact was saved: its creation time may have moved, which changes what counts as before it."""
    last_touch_recompute(contact_ids=[contact.pk])
    ContactFirstSession.all_accounts.filter(contact_id=contact.pk).update(created_at=contact.created_at)


def campaign_rollups_rebuild(*, account: Account) -> None:
    """Every rollup the Performance tab reads, for one account, from the raw rows: each campaign's sessions and
    daily counts, the page totals and visitors, and each contact's last touch and first session (`touchline
    campaign_rebuild`)."""
    for campaign in Campaign.all_accounts.filter(account=account):
        campaign_sessions_rebuild(campaign=campaign)
    page_rollups_rebuild(account=account)
    last_touch_rebuild(account=account)
    first_session_rebuild(account=account)


def tracking_url_create(*, campaign: Campaign, page_url: str, utm_source: str, utm_medium: str,
                        utm_term: str = "", utm_content: str = "", by=None,
                        at: datetime | None = None) -> TrackingUrl:
    """A tracking URL for the campaign; its asset is associated with the campaign at once."""
    parts = urlsplit(page_url.strip())
    errors = {}
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors["page_url"] = "Enter the page's full http(s) URL."
    elif "utm_" in parts.query:
        errors["page_url"] = "Enter the page without UTM parameters; they are added from the fields below."
    values = {}
    for field, value, required in (("utm_source", utm_source, True), ("utm_medium", utm_medium, True),
                                   ("utm_term", utm_term, False), ("utm_content", utm_content, False)):
        try:
            values[field] = _utm_check(field, value, required=required)
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    at = at or timezone.now()
    full = tracking_url_build(page_url=page_url.strip(), utm_campaign=campaign.utm_campaign, **values)
    with transaction.atomic():
        asset = Asset.all_accounts.create(account_id=campaign.account_id, asset_type=AssetType.TRACKING_URL,
                                          name=full, url=full, page=page_key(page_url), created_at=at)
        tracking_url = TrackingUrl.all_accounts.create(account_id=campaign.account_id, campaign=campaign,
                                                       asset=asset, page_url=page_url.strip(), created_by=by,
                                                       created_at=at, **values)
        association_add(campaign=campaign, asset=asset, by=by, at=at)
    return tracking_url
