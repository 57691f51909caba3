"""The campaign Performance tab (SPEC §2): Overview with goals, its drill-down rows, the contacts-and-sessions
chart, the asset reports and the Traffic report. Every set comes from campaigns/analytics.py; these reports only
add the date range, grouping and shape.

Parameters shared by all: `campaign` (id, required), `attribution` (first_touch | last_touch, for new contacts),
`range` with `range_from`/`range_to` (a timeframe in the account's zone; default all time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum

from touchline.campaigns import analytics
from touchline.campaigns.analytics import between, bucket, days_between
from touchline.campaigns.models import (
    PAGE_TYPES,
    Asset,
    AssetType,
    Campaign,
    CampaignSession,
    ContactFirstSession,
    PageTotal,
    PageVisitor,
    TrackingUrl,
)
from touchline.core.models import Account
from touchline.core.timeframes import CHOICES as TIMEFRAME_CHOICES
from touchline.core.timeframes import CUSTOM, Timeframe, TimeframeError, timeframe_resolve
from touchline.crm.models import TrafficSource
from touchline.reports.metrics import METRICS
from touchline.reports.pipeline import Column, Param, Report, ReportParamError, ReportResult, Sql, param_day, register
from touchline.sequences.models import EngagementEvent, Enrollment, EventKind
from touchline.tracking.models import FormSubmission, PageView, WebSession

FIRST_TOUCH, LAST_TOUCH = "first_touch", "last_touch"


def _campaigns(account: Account) -> list[tuple[str, str]]:
    return [(str(pk), name) for pk, name in Campaign.objects.filter(account=account).values_list("pk", "name")]


CAMPAIGN_PARAMS = (
    Param("campaign", "Campaign", "Id of the campaign (required).", choices=_campaigns),
    Param("attribution", "Contact attribution", "first_touch: new contacts whose first session belongs to the "
          "campaign; last_touch: whose last interaction before creation does.", default=FIRST_TOUCH,
          choices=lambda account: [(FIRST_TOUCH, "First touch"), (LAST_TOUCH, "Last touch")]),
    Param("range", "Date range", "Timeframe in the account's time zone; default all time.", default="all_time",
          choices=lambda account: list(TIMEFRAME_CHOICES)),
    Param("range_from", "From", "First day of a custom range (YYYY-MM-DD)."),
    Param("range_to", "To", "Last day of a custom range (YYYY-MM-DD), included."),
)


@dataclass(frozen=True)
class CampaignQuery:
    account: Account
    campaign: Campaign
    attribution: str
    range: Timeframe
    echo: dict[str, str]
    extra: dict[str, str]  # report-specific parameters, validated
    now: datetime  # when the report runs: "up to today" ranges end here


class CampaignReport(Report):
    params = CAMPAIGN_PARAMS
    extra_params: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key, allowed values; first is the default)

    def parse(self, account: Account, data: Mapping[str, str], *, now: datetime) -> CampaignQuery:
        errors: dict[str, str] = {}
        text = (data.get("campaign") or "").strip()
        campaign = Campaign.objects.filter(account=account, pk=int(text)).first() if text.isdigit() else None
        if campaign is None:
            errors["campaign"] = f"No campaign {text!r} in this account." if text else "Choose a campaign."
        attribution = (data.get("attribution") or FIRST_TOUCH).strip()
        if attribution not in (FIRST_TOUCH, LAST_TOUCH):
            errors["attribution"] = "first_touch or last_touch."
        first, last = param_day(data, "range_from", errors), param_day(data, "range_to", errors)
        timeframe = None
        try:
            timeframe = timeframe_resolve((data.get("range") or "all_time").strip(), time_zone=account.time_zone,
                                          now=now, first_day=first, last_day=last)
        except TimeframeError as error:
            errors["range"] = str(error)
        extra = {}
        for key, allowed in self.extra_params:
            value = (data.get(key) or allowed[0]).strip()
            if value not in allowed:
                errors[key] = f"One of: {', '.join(v for v in allowed if v)}."
            extra[key] = value
        if errors:
            raise ReportParamError(errors)
        echo = {"campaign": str(campaign.pk), "attribution": attribution, "range": timeframe.key} | extra
        if timeframe.key == CUSTOM:
            echo |= {"range_from": first.isoformat(), "range_to": last.isoformat()}
        return CampaignQuery(account, campaign, attribution, timeframe, echo, extra, now)


def _new_contacts(query: CampaignQuery) -> Sql:
    if query.attribution == FIRST_TOUCH:
        return analytics.new_contacts_first_touch(query.campaign)
    return analytics.new_contacts_last_touch(query.campaign)


def _count(inner: Sql, column: str, time_range: Timeframe, distinct: str = "") -> Sql:
    condition, params = between(f"q.{column}", time_range.start, time_range.end)
    what = f"COUNT(DISTINCT q.{distinct})" if distinct else "COUNT(*)"
    return Sql(f"SELECT {what} AS n FROM ({inner.sql}) q WHERE {condition}", (*inner.params, *params))


def _sections(query: CampaignQuery) -> dict[str, tuple[Sql, str]]:
    """Each Overview metric: its row set and the column dated by the range."""
    return {"campaign_sessions": (analytics.campaign_sessions(query.campaign), "started_at"),
            "campaign_new_contacts": (_new_contacts(query), "created_at"),
            "campaign_influenced_contacts": (analytics.influenced_contacts(query.campaign), "first_at")}


def _days_kept(query: CampaignQuery) -> bool:
    """The campaign's daily session counts are in the account's zone (rebuilt since the zone last changed), so
    they answer its whole-day ranges and buckets."""
    return query.campaign.rollup_time_zone == query.account.time_zone


GOALS = {"campaign_sessions": "goal_sessions", "campaign_new_contacts": "goal_new_contacts",
         "campaign_influenced_contacts": "goal_influenced_contacts"}


@register
class CampaignOverview(CampaignReport):
    key = "campaign_overview"
    title = "Campaign overview"
    description = "Sessions, new contacts and influenced contacts of a campaign, each with its goal and progress."

    def build(self, query: CampaignQuery):
        sections = _sections(query) | {"campaign_sessions": (analytics.campaign_session_starts(query.campaign),
                                                             "started_at")}
        counts = {key: _count(inner, column, query.range) for key, (inner, column) in sections.items()}
        if _days_kept(query):
            days = analytics.campaign_days(query.campaign)
            condition, params = days_between("q.day", query.range.start, query.range.end, query.account.time_zone)
            counts["campaign_sessions"] = Sql(f"SELECT COALESCE(SUM(q.sessions), 0) AS n FROM ({days.sql}) q "
                                              f"WHERE {condition}", (*days.params, *params))
        return counts

    def shape(self, query: CampaignQuery, fetched) -> ReportResult:
        rows = []
        for key in GOALS:
            value = int(fetched[key][0]["n"])
            goal = getattr(query.campaign, GOALS[key])
            progress = (Decimal(value * 100) / goal).quantize(Decimal("0.1")) if goal else None
            rows.append({"metric": key, "label_id": key, "label": METRICS[key].label, "value": value, "goal": goal,
                         "progress": progress})
        return ReportResult(
            report=self.key, title=f"{query.campaign.name}: overview", params=query.echo,
            columns=(Column("label", "Metric", "text"), Column("value", "Value", "count"),
                     Column("goal", "Goal", "count"), Column("progress", "Progress (%)", "percent")),
            rows=tuple(rows), totals={}, chart={"type": "bar", "label": "label", "values": ["value"]},
            notes=(f"New contacts by {query.attribution.replace('_', ' ')}.",))


@register
class CampaignOverviewRows(CampaignReport):
    key = "campaign_overview_rows"
    title = "Campaign overview rows"
    description = "The sessions or contacts behind one Overview number (metric=sessions|new_contacts|influenced)."
    extra_params = (("metric", ("campaign_sessions", "campaign_new_contacts", "campaign_influenced_contacts")),)
    LIMIT = 500

    def build(self, query: CampaignQuery):
        inner, column = _sections(query)[query.extra["metric"]]
        condition, params = between(f"q.{column}", query.range.start, query.range.end)
        if query.extra["metric"] == "campaign_sessions":
            sql = (f"SELECT q.session_id, q.started_at AS at, q.source, q.page_views, c.id AS contact_id, c.email "
                   f"FROM ({inner.sql}) q LEFT JOIN {analytics.CONTACT} c ON c.id = q.contact_id WHERE {condition} "
                   f"ORDER BY q.started_at DESC, q.session_id DESC LIMIT {self.LIMIT}")
        else:
            sql = (f"SELECT c.id AS contact_id, c.email, c.first_name, c.last_name, q.{column} AS at "
                   f"FROM ({inner.sql}) q JOIN {analytics.CONTACT} c ON c.id = q.contact_id WHERE {condition} "
                   f"ORDER BY q.{column} DESC, c.id DESC LIMIT {self.LIMIT}")
        return {"rows": Sql(sql, (*inner.params, *params))}

    def shape(self, query: CampaignQuery, fetched) -> ReportResult:
        metric = query.extra["metric"]
        if metric == "campaign_sessions":
            columns = (Column("session_id", "Session", "text"), Column("at", "Started", "text"),
                       Column("source", "Source", "text"), Column("page_views", "Views", "count"),
                       Column("email", "Contact", "text"))
        else:
            columns = (Column("contact_id", "Contact id", "text"), Column("email", "Email", "text"),
                       Column("name", "Name", "text"), Column("at", "Created" if "new" in metric else
                                                               "First influenced", "text"))
        rows = tuple({"session_id": r.get("session_id"), "at": _iso(r["at"]), "source": r.get("source"),
                      "page_views": r.get("page_views"), "email": r.get("email") or "",
                      "contact_id": r.get("contact_id"),
                      "name": f"{r.get('first_name') or ''} {r.get('last_name') or ''}".strip()}
                     for r in fetched["rows"])
        return ReportResult(report=self.key, title=f"{query.campaign.name}: {METRICS[metric].label.lower()}",
                            params=query.echo, columns=columns, rows=rows, totals={"rows": len(rows)},
                            notes=(f"At most {self.LIMIT} rows, latest first.",))


def _iso(value) -> str:
    # Raw SQL returns datetimes as text on SQLite and as datetimes on PostgreSQL.
    return value.isoformat() if isinstance(value, datetime) else str(value).replace(" ", "T")


@register
class CampaignContactsSessions(CampaignReport):
    key = "campaign_contacts_sessions"
    title = "Contacts and sessions"
    description = "New contacts, influenced contacts and sessions of a campaign by day or month."
    extra_params = (("unit", ("day", "month")),)

    def build(self, query: CampaignQuery):
        sections = {}
        if _days_kept(query):
            # Sessions counted by day in the account's zone as they were recorded (months are summed from days in
            # shape): counting and converting every session of the campaign is most of the cost.
            days = analytics.campaign_days(query.campaign)
            condition, params = days_between("q.day", query.range.start, query.range.end, query.account.time_zone)
            sections["campaign_sessions"] = Sql(
                f"SELECT q.day AS period, q.sessions AS n FROM ({days.sql}) q WHERE {condition} ORDER BY q.day",
                (*days.params, *params))
        for key, (inner, column) in _sections(query).items():
            if key in sections:
                continue
            condition, params = between(f"q.{column}", query.range.start, query.range.end)
            period, period_params = bucket(f"q.{column}", query.extra["unit"], query.account.time_zone)
            # Grouped by position: the period's SQL (a tree of CASEs on SQLite) is written once.
            sections[key] = Sql(f"SELECT {period} AS period, COUNT(*) AS n FROM ({inner.sql}) q WHERE {condition} "
                                f"GROUP BY 1 ORDER BY 1", (*period_params, *inner.params, *params))
        return sections

    def shape(self, query: CampaignQuery, fetched) -> ReportResult:
        length = 10 if query.extra["unit"] == "day" else 7
        series: dict[str, dict[str, int]] = {}
        for key in GOALS:
            for row in fetched[key]:
                period = _iso(row["period"])[:length]
                series.setdefault(period, dict.fromkeys(GOALS, 0))[key] += int(row["n"])
        for period in _periods(query, list(series), query.extra["unit"]):
            series.setdefault(period, dict.fromkeys(GOALS, 0))
        rows = tuple({"period": period} | counts for period, counts in sorted(series.items()))
        return ReportResult(
            report=self.key, title=f"{query.campaign.name}: contacts and sessions", params=query.echo,
            columns=(Column("period", "Day" if length == 10 else "Month", "text"),
                     *(Column.of_metric(k) for k in GOALS)),
            rows=rows, totals={k: sum(r[k] for r in rows) for k in GOALS},
            chart={"type": "line", "label": "period", "values": list(GOALS)})


MAX_DAYS_FILLED = 731


def _periods(query: CampaignQuery, seen: list[str], unit: str) -> list[str]:
    """Every day or month of the series, so a quiet day shows as 0 instead of being skipped: from the range's
    first day (else the first with data) to its last, never past today (unless data is later). Past
    MAX_DAYS_FILLED days, days are filled from the first with data only."""
    zone = ZoneInfo(query.account.time_zone)
    first_seen = date.fromisoformat(min(seen) if unit == "day" else f"{min(seen)}-01") if seen else None
    first = query.range.start.astimezone(zone).date() if query.range.start else first_seen
    if first is None:
        return []
    end = min(query.range.end, query.now) if query.range.end else query.now
    last = max(first, (end - timedelta(microseconds=1)).astimezone(zone).date())
    if unit == "day":
        if (last - first).days > MAX_DAYS_FILLED and first_seen is not None:
            first = max(first, first_seen)
        return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    months, (year, month) = [], (first.year, first.month)
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


ASSET_TYPE_PARAM = ("asset_type", tuple(AssetType.values))


@register
class CampaignAssets(CampaignReport):
    key = "campaign_assets"
    title = "Campaign assets"
    description = ("One asset type of a campaign: each associated asset with its metrics over the asset's whole "
                   "history, before its association too (the date range does not apply).")
    extra_params = (ASSET_TYPE_PARAM,)

    def build(self, query: CampaignQuery):
        assets = Asset.objects.filter(account=query.account, asset_type=query.extra["asset_type"],
                                      associations__campaign=query.campaign).distinct()
        asset_type = query.extra["asset_type"]
        if asset_type in PAGE_TYPES:
            # From the page rollups (views and sessions counted as recorded; contacts from the pages' identified
            # visitors), not from every view of the pages: the same numbers, tested in test_sets.py.
            pages = assets.values("page")
            totals = PageTotal.objects.filter(account=query.account, page__in=pages).values("page").annotate(
                key=F("page"), page_views=Sum("views"), sessions=Sum("sessions")).order_by()
            contacts = PageVisitor.objects.filter(account=query.account, page__in=pages).values("page").annotate(
                key=F("page"), contacts=Count("contact_id", distinct=True)).order_by()
            return {"assets": assets.values("pk", "name", "page"), "metrics": totals, "contacts": contacts}
        if asset_type == AssetType.FORM:
            submissions = FormSubmission.objects.filter(account=query.account, form__asset__in=assets)
            return {"assets": assets.values("pk", "name", "form_id"),
                    "metrics": _grouped(submissions, "form_id", form_submissions="COUNT",
                                        form_new_contacts="created_contact", contacts="contact_id")}
        if asset_type == AssetType.SEQUENCE:
            return {"assets": assets.values("pk", "name", "sequence_id"),
                    "metrics": _sequence_metrics(query, assets)}
        if asset_type == AssetType.TRACKING_URL:
            urls = TrackingUrl.objects.filter(account=query.account, asset__in=assets)
            return {"assets": assets.values("pk", "name", "tracking_url__pk"),
                    "metrics": _tracking_url_metrics(query, urls)}
        return {"assets": assets.values("pk", "name"), "metrics": PageView.objects.none()}

    def shape(self, query: CampaignQuery, fetched) -> ReportResult:
        asset_type = query.extra["asset_type"]
        key, metric_keys = _ASSET_SHAPES.get(asset_type, (None, ()))
        metrics = {row["key"]: dict(row) for row in fetched["metrics"]}
        for row in fetched.get("contacts", ()):
            metrics.setdefault(row["key"], {})["contacts"] = row["contacts"]
        rows = []
        for asset in fetched["assets"]:
            values = metrics.get(asset.get(key)) if key else None
            rows.append({"asset_id": asset["pk"], "name": asset["name"]}
                        | {m: int((values or {}).get(m) or 0) for m in metric_keys})
        columns = (Column("name", AssetType(asset_type).label, "text"),
                   *(Column(m, _ASSET_LABELS[m], "count") for m in metric_keys))
        notes = () if key else ("Interactions with this asset type arrive by import or API; none are recorded "
                                "by Touchline itself.",)
        return ReportResult(report=self.key, title=f"{query.campaign.name}: {AssetType(asset_type).label} assets",
                            params=query.echo, columns=columns, rows=tuple(rows),
                            totals={m: sum(r[m] for r in rows) for m in metric_keys},
                            chart={"type": "bar", "label": "name", "values": list(metric_keys[:1])}, notes=notes)


_ASSET_LABELS = {"page_views": "Views", "sessions": "Sessions", "contacts": "Contacts",
                 "form_submissions": "Submissions", "form_new_contacts": "New contacts",
                 "enrollments": "Enrollments", "replies": "Replied", "meetings": "Meetings",
                 "new_visitor_sessions": "New visitor sessions"}
_ASSET_SHAPES = {t: ("page", ("page_views", "sessions", "contacts")) for t in PAGE_TYPES} | {
    AssetType.FORM: ("form_id", ("form_submissions", "form_new_contacts", "contacts")),
    AssetType.SEQUENCE: ("sequence_id", ("enrollments", "replies", "meetings")),
    AssetType.TRACKING_URL: ("tracking_url__pk", ("sessions", "page_views", "new_visitor_sessions")),
}


def _grouped(queryset, key: str, **metrics):
    """One grouped query: per `key`, COUNT(*) for "COUNT", a conditional count for a boolean field, else a
    distinct count of the field."""
    aggregates = {}
    for name, what in metrics.items():
        if what == "COUNT":
            aggregates[name] = Count("pk")
        elif what in ("created_contact",):
            aggregates[name] = Count("pk", filter=Q(**{what: True}))
        else:
            aggregates[name] = Count(what, distinct=True)
    return queryset.values(key).annotate(**aggregates).annotate(key=F(key)).order_by()


def _sequence_metrics(query: CampaignQuery, assets):
    sequence_ids = assets.values("sequence_id")
    events = EngagementEvent.objects.filter(account=query.account, sequence_id=OuterRef("sequence_id"))
    replied = events.filter(kind=EventKind.REPLY).values("sequence_id").annotate(n=Count("contact_id", distinct=True))
    met = events.filter(kind=EventKind.MEETING_BOOKED).values("sequence_id").annotate(
        n=Count("contact_id", distinct=True))
    return (Enrollment.objects.filter(account=query.account, sequence_id__in=sequence_ids)
            .values("sequence_id").annotate(key=F("sequence_id"), enrollments=Count("pk"),
                                            replies=Subquery(replied.values("n")[:1]),
                                            meetings=Subquery(met.values("n")[:1])).order_by()
            .filter(~Q(sequence_id=None)))


def _tracking_url_metrics(query: CampaignQuery, urls):
    """Sessions that landed through the tracking URL: its campaign, source and medium (and term and content when
    set) on a landing page equal to the URL's page."""
    matching = urls.filter(Q(utm_term="") | Q(utm_term=OuterRef("utm_term")),
                           Q(utm_content="") | Q(utm_content=OuterRef("utm_content")),
                           campaign__utm_campaign=OuterRef("utm_campaign"), utm_source=OuterRef("utm_source"),
                           utm_medium=OuterRef("utm_medium"), asset__page=OuterRef("landing_page"))
    sessions = (WebSession.objects.filter(account=query.account, utm_campaign=query.campaign.utm_campaign)
                .annotate(landing_page=_landing_page()).filter(Exists(matching))
                .annotate(key=Subquery(matching.order_by("pk").values("pk")[:1])))
    return sessions.values("key").annotate(sessions=Count("pk"), page_views=Sum("page_views"),
                                           new_visitor_sessions=Count("pk", filter=Q(is_first=True))).order_by()


def _landing_page() -> Subquery:
    first_view = PageView.objects.filter(session_id=OuterRef("pk")).order_by("occurred_at", "pk")
    return Subquery(first_view.values("page")[:1])


def Subquery_first(queryset):  # noqa: N802 - reads like the ORM expression it returns
    from django.db.models import Subquery

    return Subquery(queryset.order_by("pk").values("pk")[:1])


TRAFFIC_SOURCES = tuple(TrafficSource.values)


@register
class CampaignTraffic(CampaignReport):
    key = "campaign_traffic"
    title = "Campaign traffic"
    description = ("Sessions that landed with the campaign's utm_campaign, by traffic source: views, new visitor "
                   "sessions and contacts (first touch). source=paid_search breaks down by search term, "
                   "organic_social by network, other_campaigns by source and medium.")
    extra_params = (("source", ("", *TRAFFIC_SOURCES)),)

    def build(self, query: CampaignQuery):
        # The sessions landing with the campaign's utm_campaign are its CampaignSession rows marked `landed`,
        # which carry the session's source, page views, first-ness and contact: read through the covering
        # campaign_session_traffic index, no session or visitor row (test_sets.py proves the same rows).
        sessions = CampaignSession.objects.filter(campaign=query.campaign, landed=True)
        if query.range.start is not None:
            sessions = sessions.filter(started_at__gte=query.range.start)
        if query.range.end is not None:
            sessions = sessions.filter(started_at__lt=query.range.end)
        source = query.extra["source"]
        group = ("source",) if not source else ("source", "source_detail", "source_subdetail")
        if source:
            sessions = sessions.filter(source=source)
        # A contact's first-touch session: none of its visitors' sessions starts earlier, i.e. it starts at its
        # kept first session's start (ContactFirstSession), one lookup instead of a search of the contact's sessions.
        first = ContactFirstSession.objects.filter(contact_id=OuterRef("contact_id")).values("started_at")[:1]
        first_touch = Q(contact__isnull=False) & Q(started_at__lte=Subquery(first))
        return {"rows": sessions.values(*group).annotate(
            sessions=Count("pk"), page_views=Sum("page_views"),
            new_visitor_sessions=Count("pk", filter=Q(is_first=True)),
            first_touch_contacts=Count("contact_id", filter=first_touch, distinct=True)).order_by(*group)}

    def shape(self, query: CampaignQuery, fetched) -> ReportResult:
        source = query.extra["source"]
        keys = ("sessions", "page_views", "new_visitor_sessions", "first_touch_contacts")
        labels = dict(TrafficSource.choices)
        rows = []
        for row in fetched["rows"]:
            out = {"source": row["source"], "source_label": labels.get(row["source"], row["source"])}
            if source:
                out |= {"detail": row["source_detail"] or "(not set)", "subdetail": row["source_subdetail"]}
            rows.append(out | {k: int(row[k] or 0) for k in keys})
        rows.sort(key=lambda r: (-r["sessions"], r["source"], r.get("detail", ""), r.get("subdetail", "")))
        detail_label = {"paid_search": "Search term", "organic_social": "Network", "other_campaigns": "utm_source",
                        "organic_search": "Search engine", "referrals": "Domain"}.get(source, "Detail")
        columns = (Column("source_label", "Source", "text"),
                   *((Column("detail", detail_label, "text"),
                      Column("subdetail", "utm_medium" if source == "other_campaigns" else "", "text"))
                     if source else ()),
                   Column("sessions", "Sessions", "count"), Column.of_metric("page_views"),
                   Column.of_metric("new_visitor_sessions"), Column.of_metric("first_touch_contacts"))
        return ReportResult(report=self.key, title=f"{query.campaign.name}: traffic", params=query.echo,
                            columns=columns, rows=tuple(rows), totals={k: sum(r[k] for r in rows) for k in keys},
                            chart={"type": "bar", "label": "detail" if source else "source_label",
                                   "values": ["sessions"]})
