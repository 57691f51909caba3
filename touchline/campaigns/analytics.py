"""The campaign sets every Performance-tab report is built from, as SQL (SPEC §2 "Campaign Performance tab" and
§3 "Campaign crediting"). Each function returns an `Sql` selecting rows for one campaign; reports wrap them with
their date range and grouping, so each definition lives here once.

- Campaign sessions: sessions whose landing URL carries the campaign's utm_campaign, or that viewed a page asset
  (landing page, website page, blog post) inside one of its association windows.
- Campaign touches: (contact, time) of each interaction that credits the campaign — a campaign session of an
  identified visitor (at its start), a view of an associated page, a submission of an associated form, a human
  click or a reply in an associated sequence — each inside the asset's association window
  [associated_at, removed_at). An interaction before association never counts (no back-fill).
- All touches: every interaction of every contact with `is_campaign` set, for "last touch before creation".

Static lists and workflows make a contact influenced in SPEC §3, but Touchline records no list memberships or
workflow enrollments yet, so they contribute nothing (docs/campaigns.md).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection

from touchline.campaigns.models import (
    PAGE_TYPES,
    Asset,
    Association,
    Campaign,
    CampaignDay,
    CampaignSession,
    ContactFirstSession,
    ContactLastTouch,
)
from touchline.core.db import local_trunc_sql
from touchline.crm.models import Contact
from touchline.reports.pipeline import Sql
from touchline.sequences.models import EngagementEvent, EventKind
from touchline.tracking.models import FormSubmission, PageView, Visitor, WebSession

SESSION, VIEW, VISITOR = WebSession._meta.db_table, PageView._meta.db_table, Visitor._meta.db_table
SUBMISSION, EVENT = FormSubmission._meta.db_table, EngagementEvent._meta.db_table
ASSET, ASSOCIATION, CONTACT = Asset._meta.db_table, Association._meta.db_table, Contact._meta.db_table
CAMPAIGN_SESSION, CAMPAIGN_DAY = CampaignSession._meta.db_table, CampaignDay._meta.db_table
LAST_TOUCH, FIRST_SESSION = ContactLastTouch._meta.db_table, ContactFirstSession._meta.db_table
PAGE_TYPE_LIST = ", ".join(f"'{t}'" for t in PAGE_TYPES)
# Sequence interactions that earn credit (SPEC §3): emails clicked or replied to.
SEQUENCE_KINDS = f"'{EventKind.CLICK}', '{EventKind.REPLY}'"
# Ties at one instant: a form submission follows the page view it was made on.
RANK_VIEW, RANK_SEQUENCE, RANK_SUBMISSION = 0, 1, 2


def in_window(column: str, window: str = "w") -> str:
    return f"{column} >= {window}.associated_at AND ({window}.removed_at IS NULL OR {column} < {window}.removed_at)"


def _windows(campaign_param: str = "%s") -> str:
    """The campaign's association windows joined to their assets."""
    return (f"SELECT a.asset_type, a.page, a.form_id, a.sequence_id, x.associated_at, x.removed_at "
            f"FROM {ASSOCIATION} x JOIN {ASSET} a ON a.id = x.asset_id WHERE x.campaign_id = {campaign_param}")


def campaign_sessions_by_definition(campaign: Campaign) -> Sql:
    """session_id, started_at of the campaign's sessions, straight from the definition: the union of the two ways
    in, each from its own index — sessions by utm_campaign, and page views of the associated pages inside their
    windows. What the CampaignSession rollup is rebuilt from (and tested against)."""
    sql = f"""
        SELECT u.id AS session_id, u.started_at FROM {SESSION} u WHERE u.account_id = %s AND u.utm_campaign = %s
        UNION
        SELECT s.id, s.started_at FROM {SESSION} s WHERE s.id IN (
            SELECT v.session_id FROM {VIEW} v
                JOIN ({_windows()}) w ON w.page = v.page AND w.asset_type IN ({PAGE_TYPE_LIST})
            WHERE v.account_id = %s AND {in_window('v.occurred_at')})"""
    return Sql(sql, (campaign.account_id, campaign.utm_campaign, campaign.pk, campaign.account_id))


def late_window_views(campaign: Campaign) -> Sql:
    """session_id, occurred_at of the views of the campaign's associated pages inside their windows that happened
    before their session's start (a late hit continuing a session): what CampaignSession.touched_at adds to the
    sessions' starts."""
    sql = f"""
        SELECT v.session_id, v.occurred_at FROM ({_windows()}) w
            JOIN {VIEW} v ON v.account_id = %s AND v.page = w.page AND {in_window('v.occurred_at')}
            JOIN {SESSION} s ON s.id = v.session_id
        WHERE w.asset_type IN ({PAGE_TYPE_LIST}) AND v.occurred_at < s.started_at"""
    return Sql(sql, (campaign.pk, campaign.account_id))


def campaign_sessions(campaign: Campaign) -> Sql:
    """session_id, visitor_id, contact_id (None while anonymous), started_at, is_first, page_views, source… of
    the campaign's sessions, from the CampaignSession rollup."""
    sql = f"""
        SELECT s.id AS session_id, s.visitor_id, vi.contact_id, s.started_at, s.is_first, s.page_views,
               s.source, s.source_detail, s.source_subdetail
        FROM {CAMPAIGN_SESSION} cs JOIN {SESSION} s ON s.id = cs.session_id JOIN {VISITOR} vi ON vi.id = s.visitor_id
        WHERE cs.campaign_id = %s"""
    return Sql(sql, (campaign.pk,))


def campaign_touches_by_definition(campaign: Campaign) -> Sql:
    """contact_id, at: every interaction of an identified contact that credits the campaign, from the
    definition (every identified visitor's views tested against the windows). What campaign_touches is tested
    against."""
    sessions = campaign_sessions(campaign)
    sql = f"""
        SELECT cs.contact_id, cs.started_at AS at FROM ({sessions.sql}) cs WHERE cs.contact_id IS NOT NULL
        UNION ALL
        SELECT vi.contact_id, v.occurred_at FROM {VISITOR} vi
            JOIN {VIEW} v ON v.visitor_id = vi.id
            JOIN ({_windows()}) w ON w.page = v.page AND w.asset_type IN ({PAGE_TYPE_LIST})
            WHERE vi.account_id = %s AND vi.contact_id IS NOT NULL AND {in_window('v.occurred_at')}
        UNION ALL
        SELECT f.contact_id, f.submitted_at FROM {SUBMISSION} f JOIN ({_windows()}) w ON w.form_id = f.form_id
            WHERE f.account_id = %s AND {in_window('f.submitted_at')}
        UNION ALL
        SELECT e.contact_id, e.occurred_at FROM {EVENT} e JOIN ({_windows()}) w ON w.sequence_id = e.sequence_id
            WHERE e.account_id = %s AND e.kind IN ({SEQUENCE_KINDS}) AND e.is_machine = %s
              AND {in_window('e.occurred_at')}"""
    account = campaign.account_id
    return Sql(sql, (*sessions.params, campaign.pk, account, campaign.pk, account, campaign.pk, account, False))


def influenced_contacts_by_definition(campaign: Campaign) -> Sql:
    """influenced_contacts over campaign_touches_by_definition (the reference the tests compare with)."""
    touches = campaign_touches_by_definition(campaign)
    return Sql(f"SELECT t.contact_id, MIN(t.at) AS first_at FROM ({touches.sql}) t GROUP BY t.contact_id",
               touches.params)


def new_contacts_first_touch_by_definition(campaign: Campaign) -> Sql:
    """contact_id, created_at: contacts whose first session — the one that first brought them to the site, at
    or before their creation — is a campaign session; straight from the definition, numbering every session of
    every identified visitor of the account. What new_contacts_first_touch is tested against."""
    sessions = campaign_sessions(campaign)
    sql = f"""
        SELECT c.id AS contact_id, c.created_at FROM {CONTACT} c
        JOIN (
            SELECT vi.contact_id, s.id AS session_id, s.started_at,
                   ROW_NUMBER() OVER (PARTITION BY vi.contact_id ORDER BY s.started_at, s.id) AS n
            FROM {VISITOR} vi JOIN {SESSION} s ON s.visitor_id = vi.id
            WHERE vi.account_id = %s AND vi.contact_id IS NOT NULL
        ) first ON first.contact_id = c.id AND first.n = 1 AND first.started_at <= c.created_at
        WHERE c.account_id = %s AND first.session_id IN (SELECT cs.session_id FROM ({sessions.sql}) cs)"""
    return Sql(sql, (campaign.account_id, campaign.account_id, *sessions.params))


def new_contacts_last_touch_by_definition(campaign: Campaign) -> Sql:
    """contact_id, created_at: contacts whose last interaction at or before their creation credits the
    campaign (an interaction at the creation instant counts as before it, SPEC §3). Straight from the definition:
    every interaction of every identified contact of the account is ranked by time, then kind (RANK_*), then
    its row's id (of two views, or two submissions, at one instant the later recorded is the last). What
    new_contacts_last_touch is tested against."""
    sessions = campaign_sessions(campaign)
    account = campaign.account_id
    sql = f"""
        WITH everything AS (
            SELECT vi.contact_id, v.occurred_at AS at, {RANK_VIEW} AS rank, v.id AS ref,
                   CASE WHEN v.session_id IN (SELECT cs.session_id FROM ({sessions.sql}) cs WHERE cs.contact_id
                                              IS NOT NULL)
                          OR EXISTS (SELECT 1 FROM ({_windows()}) w WHERE w.page = v.page
                                     AND w.asset_type IN ({PAGE_TYPE_LIST}) AND {in_window('v.occurred_at')})
                        THEN 1 ELSE 0 END AS is_campaign
            FROM {VISITOR} vi JOIN {VIEW} v ON v.visitor_id = vi.id
            WHERE vi.account_id = %s AND vi.contact_id IS NOT NULL
            UNION ALL
            SELECT f.contact_id, f.submitted_at, {RANK_SUBMISSION}, f.id,
                   CASE WHEN EXISTS (SELECT 1 FROM ({_windows()}) w WHERE w.form_id = f.form_id
                                     AND {in_window('f.submitted_at')}) THEN 1 ELSE 0 END
            FROM {SUBMISSION} f WHERE f.account_id = %s
            UNION ALL
            SELECT e.contact_id, e.occurred_at, {RANK_SEQUENCE}, e.id,
                   CASE WHEN EXISTS (SELECT 1 FROM ({_windows()}) w WHERE w.sequence_id = e.sequence_id
                                     AND {in_window('e.occurred_at')}) THEN 1 ELSE 0 END
            FROM {EVENT} e WHERE e.account_id = %s AND e.kind IN ({SEQUENCE_KINDS}) AND e.is_machine = %s
        ), ranked AS (
            SELECT t.contact_id, t.is_campaign,
                   ROW_NUMBER() OVER (PARTITION BY t.contact_id ORDER BY t.at DESC, t.rank DESC, t.ref DESC) AS n
            FROM everything t JOIN {CONTACT} c ON c.id = t.contact_id AND t.at <= c.created_at
        )
        SELECT c.id AS contact_id, c.created_at FROM {CONTACT} c
        JOIN ranked r ON r.contact_id = c.id AND r.n = 1 AND r.is_campaign = 1
        WHERE c.account_id = %s"""
    params = (*sessions.params, campaign.pk, account, campaign.pk, account, campaign.pk, account, False, account)
    return Sql(sql, params)


def last_touches(contacts: Sql) -> Sql:
    """account_id, contact_id, at, rank, ref, session_id, form_id, sequence_id, created_at: the last interaction
    at or before its creation of each contact `contacts` selects (rows of contact_id), in the definition's order
    (new_contacts_last_touch_by_definition), whatever campaign it credits: what ContactLastTouch keeps. Each
    contact's interactions are read through their contact's indexes."""
    wanted = f"IN (SELECT k.contact_id FROM ({contacts.sql}) k)"
    sql = f"""
        WITH everything AS (
            SELECT vi.contact_id, v.occurred_at AS at, {RANK_VIEW} AS rank, v.id AS ref, v.session_id,
                   CAST(NULL AS BIGINT) AS form_id, CAST(NULL AS BIGINT) AS sequence_id
            FROM {VISITOR} vi JOIN {VIEW} v ON v.visitor_id = vi.id WHERE vi.contact_id {wanted}
            UNION ALL
            SELECT f.contact_id, f.submitted_at, {RANK_SUBMISSION}, f.id, NULL, f.form_id, NULL
            FROM {SUBMISSION} f WHERE f.contact_id {wanted}
            UNION ALL
            SELECT e.contact_id, e.occurred_at, {RANK_SEQUENCE}, e.id, NULL, NULL, e.sequence_id
            FROM {EVENT} e WHERE e.kind IN ({SEQUENCE_KINDS}) AND e.is_machine = %s AND e.contact_id {wanted}
        ), ranked AS (
            SELECT c.account_id, t.contact_id, t.at, t.rank, t.ref, t.session_id, t.form_id, t.sequence_id,
                   c.created_at,
                   ROW_NUMBER() OVER (PARTITION BY t.contact_id ORDER BY t.at DESC, t.rank DESC, t.ref DESC) AS n
            FROM everything t JOIN {CONTACT} c ON c.id = t.contact_id AND t.at <= c.created_at
        )
        SELECT r.account_id, r.contact_id, r.at, r.rank, r.ref, r.session_id, r.form_id, r.sequence_id, r.created_at
        FROM ranked r WHERE r.n = 1"""
    return Sql(sql, (*contacts.params, *contacts.params, False, *contacts.params))


def first_sessions(contacts: Sql) -> Sql:
    """account_id, contact_id, session_id, started_at, created_at: the first session — by start, then id, as
    new_contacts_first_touch_by_definition numbers them — of all the visitors of each contact `contacts` selects
    (rows of contact_id), with the contact's creation: what ContactFirstSession keeps."""
    sql = f"""
        SELECT r.account_id, r.contact_id, r.session_id, r.started_at, r.created_at FROM (
            SELECT c.account_id, c.id AS contact_id, s.id AS session_id, s.started_at, c.created_at,
                   ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY s.started_at, s.id) AS n
            FROM {CONTACT} c JOIN {VISITOR} vi ON vi.contact_id = c.id JOIN {SESSION} s ON s.visitor_id = vi.id
            WHERE c.id IN (SELECT k.contact_id FROM ({contacts.sql}) k)
        ) r WHERE r.n = 1"""
    return Sql(sql, contacts.params)


# What the reports run: the same sets, each started from the campaign's own rows (its CampaignSession rows and
# the views, submissions and events of its associated assets inside their windows), so their cost follows the
# campaign's traffic, not the account's. test_sets.py proves them equal to the *_by_definition queries above.


def campaign_session_starts(campaign: Campaign) -> Sql:
    """session_id, started_at, started_on of the campaign's sessions: the CampaignSession rows alone (its
    (campaign, started_at, started_on) index covers them), for counts that need no session column."""
    sql = f"SELECT cs.session_id, cs.started_at, cs.started_on FROM {CAMPAIGN_SESSION} cs WHERE cs.campaign_id = %s"
    return Sql(sql, (campaign.pk,))


def campaign_days(campaign: Campaign) -> Sql:
    """day, sessions: the campaign's sessions counted by their start's day in its rollup_time_zone (CampaignDay,
    kept with the CampaignSession rows). Only while that zone is the account's do its days answer a range."""
    return Sql(f"SELECT d.day, d.sessions FROM {CAMPAIGN_DAY} d WHERE d.campaign_id = %s", (campaign.pk,))


def campaign_contact_sessions(campaign: Campaign) -> Sql:
    """contact_id, session_id, started_at, touched_at of the campaign's sessions of identified visitors, from the
    rollup's own contact (kept as visitors are identified) through its partial campaign_session_contacts index: no
    session or visitor row is read."""
    sql = (f"SELECT cs.contact_id, cs.session_id, cs.started_at, cs.touched_at FROM {CAMPAIGN_SESSION} cs "
           f"WHERE cs.campaign_id = %s AND cs.contact_id IS NOT NULL")
    return Sql(sql, (campaign.pk,))


def campaign_touches(campaign: Campaign, *, views: bool = True, session_at: str = "started_at") -> Sql:
    """contact_id, at: every interaction of an identified contact that credits the campaign. Page views are found
    from the windows through the pageview_page index (covering their visitor), the definition walks every
    identified visitor's views instead. `views=False` leaves the page views out, keeping the same contacts: a
    view of an associated page inside its window makes its session a campaign session (the rollup equals the
    definition), and the view's visitor is the session's — only its time can differ (a late hit may predate
    the session's start; `session_at="touched_at"` gives each session its earliest touch, views included)."""
    sessions = campaign_contact_sessions(campaign)
    page_views = f"""
        UNION ALL
        SELECT vi.contact_id, v.occurred_at FROM ({_windows()}) w
            JOIN {VIEW} v ON v.account_id = %s AND v.page = w.page AND {in_window('v.occurred_at')}
            JOIN {VISITOR} vi ON vi.id = v.visitor_id
            WHERE w.asset_type IN ({PAGE_TYPE_LIST}) AND vi.contact_id IS NOT NULL""" if views else ""
    sql = f"""
        SELECT cs.contact_id, cs.{session_at} AS at FROM ({sessions.sql}) cs
        {page_views}
        UNION ALL
        SELECT f.contact_id, f.submitted_at FROM ({_windows()}) w
            JOIN {SUBMISSION} f ON f.form_id = w.form_id AND {in_window('f.submitted_at')}
            WHERE f.account_id = %s
        UNION ALL
        SELECT e.contact_id, e.occurred_at FROM ({_windows()}) w
            JOIN {EVENT} e ON e.sequence_id = w.sequence_id AND {in_window('e.occurred_at')}
            WHERE e.account_id = %s AND e.kind IN ({SEQUENCE_KINDS}) AND e.is_machine = %s"""
    account = campaign.account_id
    return Sql(sql, (*sessions.params, *((campaign.pk, account) if views else ()), campaign.pk, account, campaign.pk,
                     account, False))


def influenced_contacts(campaign: Campaign) -> Sql:
    """contact_id, first_at: contacts who interacted with the campaign, and when they first did. The minimum over
    every touch is the minimum over the sessions' touched_at (each view of an associated page is in a campaign
    session of the same contact, whose touched_at is at most the view's time), submissions and sequence events:
    no page view is read."""
    touches = campaign_touches(campaign, views=False, session_at="touched_at")
    return Sql(f"SELECT t.contact_id, MIN(t.at) AS first_at FROM ({touches.sql}) t GROUP BY t.contact_id",
               touches.params)


def new_contacts_first_touch(campaign: Campaign) -> Sql:
    """contact_id, created_at: contacts whose first session — the one that first brought them to the site, at
    or before their creation — is a campaign session: the campaign's sessions of identified visitors that are
    their contact's kept first session (ContactFirstSession), one index lookup each."""
    sessions = campaign_contact_sessions(campaign)
    sql = f"""
        SELECT f.contact_id, f.created_at FROM ({sessions.sql}) cs
        JOIN {FIRST_SESSION} f ON f.contact_id = cs.contact_id AND f.session_id = cs.session_id
        WHERE f.started_at <= f.created_at"""
    return Sql(sql, sessions.params)


def new_contacts_last_touch(campaign: Campaign) -> Sql:
    """contact_id, created_at: contacts whose last interaction at or before creation credits the campaign, from
    their kept last touch (ContactLastTouch): a view in one of the campaign's sessions (a view of an associated page
    inside its window is one: it made its session the campaign's), or a submission of an associated form or a
    sequence event inside the asset's window. Starts from the campaign's sessions of identified visitors and its
    windows, so no contact's interactions are read."""
    sessions = campaign_contact_sessions(campaign)
    sql = f"""
        SELECT lt.contact_id, lt.created_at FROM ({sessions.sql}) cs
            JOIN {LAST_TOUCH} lt ON lt.contact_id = cs.contact_id AND lt.session_id = cs.session_id
        UNION
        SELECT lt.contact_id, lt.created_at FROM ({_windows()}) w
            JOIN {LAST_TOUCH} lt ON lt.form_id = w.form_id AND {in_window('lt.at')}
        UNION
        SELECT lt.contact_id, lt.created_at FROM ({_windows()}) w
            JOIN {LAST_TOUCH} lt ON lt.sequence_id = w.sequence_id AND {in_window('lt.at')}"""
    return Sql(sql, (*sessions.params, campaign.pk, campaign.pk))


def between(column: str, start: datetime | None, end: datetime | None) -> tuple[str, tuple]:
    """A start-inclusive, end-exclusive condition on `column` (TRUE when unbounded), with parameters adapted
    for the database (raw SQL gets no field conversion)."""
    adapt = connection.ops.adapt_datetimefield_value
    parts, params = ["1 = 1"], []
    if start is not None:
        parts.append(f"{column} >= %s")
        params.append(adapt(start))
    if end is not None:
        parts.append(f"{column} < %s")
        params.append(adapt(end))
    return " AND ".join(parts), tuple(params)


def days_between(column: str, start: datetime | None, end: datetime | None, time_zone: str) -> tuple[str, tuple]:
    """between() for a column of local days: a range of whole days in `time_zone` (core.timeframes) starts and
    ends at local midnights, so [start, end) holds exactly the days from start's to the day before end's."""
    zone, adapt = ZoneInfo(time_zone), connection.ops.adapt_datefield_value
    parts, params = ["1 = 1"], []
    if start is not None:
        parts.append(f"{column} >= %s")
        params.append(adapt(start.astimezone(zone).date()))
    if end is not None:
        parts.append(f"{column} < %s")
        params.append(adapt(end.astimezone(zone).date()))
    return " AND ".join(parts), tuple(params)


def bucket(column: str, unit: str, time_zone: str) -> tuple[str, tuple]:
    """SQL truncating `column` to the start of its day or month in `time_zone`: Django's truncation (as
    TruncDay/TruncMonth use), without its Python call per row on SQLite (core.db.local_trunc_sql)."""
    return local_trunc_sql(column, unit, time_zone)
