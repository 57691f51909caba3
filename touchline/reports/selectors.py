"""Reads of saved reports and dashboards, and the report catalogue as the library and forms see it.

Visibility lives here, once (docs/dashboards.md):
- a dashboard is visible to its owner; to every member of the account when its visibility is "everyone"; to the
  users it is shared with when it is "users"; to nobody else — `dashboard_visible_get` answers None, and the
  views answer 404, so another user cannot even learn that a private dashboard exists;
- a saved report is visible to its owner and to whoever can see a dashboard it is a tile of;
- only the owner changes a dashboard or a saved report (rename, share, add/remove/move tiles, delete).

Every function takes the account first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from touchline.core.models import Account
from touchline.core.timeframes import CHOICES as TIMEFRAME_CHOICES
from touchline.core.timeframes import CUSTOM
from touchline.reports.models import ChartType, Dashboard, DefaultDashboard, SavedReport, Tile, Visibility
from touchline.reports.pipeline import (
    Param,
    Report,
    ReportParamError,
    ReportResult,
    ReportTimedOut,
    UnknownReport,
    report_get,
    report_list,
    report_run,
)


def dashboards_visible(account: Account, user) -> QuerySet[Dashboard]:
    shared = Q(visibility=Visibility.USERS, shares__user=user)
    return (Dashboard.objects.filter(account=account)
            .filter(Q(owner=user) | Q(visibility=Visibility.EVERYONE) | shared).distinct()
            .select_related("owner"))


def dashboard_visible_get(account: Account, user, dashboard_id: int) -> Dashboard | None:
    return dashboards_visible(account, user).filter(pk=dashboard_id).first()


def dashboards_owned(account: Account, user) -> QuerySet[Dashboard]:
    """The dashboards `user` may change: their own."""
    return Dashboard.objects.filter(account=account, owner=user)


def dashboard_default(account: Account, user) -> Dashboard | None:
    """The user's chosen default dashboard while they may still see it; else their first own dashboard; else the
    first one shared with them; else None."""
    visible = dashboards_visible(account, user)
    chosen = DefaultDashboard.objects.filter(account=account, user=user).values("dashboard_id")
    return (visible.filter(pk__in=chosen).first() or visible.filter(owner=user).first()
            or visible.first())


def dashboard_shared_user_ids(account: Account, dashboard: Dashboard) -> list[int]:
    return list(dashboard.shares.filter(account=account).values_list("user_id", flat=True))


def dashboard_audience(account: Account, dashboard: Dashboard) -> str:
    """Who can see the dashboard, in words for its page."""
    if dashboard.visibility == Visibility.EVERYONE:
        return "Everyone in the account"
    if dashboard.visibility == Visibility.PRIVATE:
        return "Only its owner"
    names = [u.get_full_name() or u.username for u in
             account_users(account).filter(pk__in=dashboard_shared_user_ids(account, dashboard))]
    return "Its owner and " + ", ".join(names)


def account_users(account: Account) -> QuerySet:
    return get_user_model().objects.filter(memberships__account=account).order_by("first_name", "last_name",
                                                                                   "username")


def tiles_of(account: Account, dashboard: Dashboard) -> QuerySet[Tile]:
    return Tile.objects.filter(account=account, dashboard=dashboard).select_related("saved_report")


def tile_get(account: Account, dashboard: Dashboard, tile_id: int) -> Tile | None:
    return tiles_of(account, dashboard).filter(pk=tile_id).first()


def saved_reports_visible(account: Account, user, *, search: str = "", owner_id: int | None = None
                          ) -> QuerySet[SavedReport]:
    """Own saved reports and those on a dashboard the user can see; `search` matches the name or the report key."""
    on_visible = Tile.objects.filter(account=account, dashboard__in=dashboards_visible(account, user).values("pk"))
    reports = (SavedReport.objects.filter(account=account)
               .filter(Q(owner=user) | Q(pk__in=on_visible.values("saved_report_id"))).select_related("owner"))
    if search.strip():
        reports = reports.filter(Q(name__icontains=search.strip()) | Q(report_key__icontains=search.strip()))
    if owner_id is not None:
        reports = reports.filter(owner_id=owner_id)
    return reports


def saved_report_visible_get(account: Account, user, saved_report_id: int) -> SavedReport | None:
    return saved_reports_visible(account, user).filter(pk=saved_report_id).first()


# The report catalogue, as the library, the "add from library" form and `touchline report --list` describe it.

def report_inputs(report: Report) -> tuple[Param, ...]:
    """Every parameter of a report: its Params, plus the report-specific values campaign reports declare in
    `extra_params` (key, allowed values; the first is the default), as Params with those choices."""
    extra = tuple(Param(key, key.replace("_", " ").capitalize(), f"One of: {', '.join(v for v in allowed if v)}.",
                        default=allowed[0], choices=lambda account, allowed=allowed: [(v, v) for v in allowed])
                  for key, allowed in getattr(report, "extra_params", ()))
    return tuple(report.params) + extra


def report_date_param(report: Report) -> str | None:
    """The report's date-range parameter: the one with timeframe choices and `<key>_from`/`<key>_to` siblings —
    `enrolled` for sequence reports, `range` for campaign reports, `created` for deals by stage."""
    keys = {p.key for p in report.params}
    for param in report.params:
        if f"{param.key}_from" in keys and f"{param.key}_to" in keys:
            return param.key
    return None


# Library groups: SPEC §1's library templates first, then the other sequence reports, campaigns, the rest.
SEQUENCE_TEMPLATES = ("sequence_enrollments_by_month", "sequence_performance", "sequence_sender_score")


@dataclass(frozen=True)
class LibraryGroup:
    title: str
    reports: tuple[Report, ...]


def report_library() -> list[LibraryGroup]:
    from touchline.reports.queries.campaign_performance import CampaignReport
    from touchline.reports.queries.sequence_common import FILTER_PARAMS

    reports = report_list()
    templates = tuple(r for key in SEQUENCE_TEMPLATES for r in reports if r.key == key)
    sequence = tuple(r for r in reports if r not in templates and r.params[:len(FILTER_PARAMS)] == FILTER_PARAMS)
    campaign = tuple(r for r in reports if isinstance(r, CampaignReport))
    other = tuple(r for r in reports if r not in templates + sequence + campaign)
    groups = [LibraryGroup("Sequence templates", templates), LibraryGroup("Sequence reports", sequence),
              LibraryGroup("Campaign reports", campaign), LibraryGroup("Other reports", other)]
    return [g for g in groups if g.reports]


def report_known(key: str) -> Report | None:
    try:
        return report_get(key)
    except UnknownReport:
        return None


# Running a saved report, alone or as a tile under a dashboard's date range.

@dataclass(frozen=True)
class DateRange:
    """A dashboard's date filter: a timeframe key ("" leaves each tile its own) and a custom range's days."""

    key: str = ""
    first: str = ""
    last: str = ""

    @property
    def query(self) -> dict[str, str]:
        if not self.key:
            return {}
        return {"range": self.key} | ({"range_from": self.first, "range_to": self.last} if self.key == CUSTOM else {})


DATE_RANGE_CHOICES = [("", "Each tile's own range"), *TIMEFRAME_CHOICES]


def saved_report_data(saved_report: SavedReport, date_range: DateRange | None = None) -> dict[str, str]:
    """The parameters a saved report runs with: its stored ones, the dashboard's date range over the report's
    own date parameter when the dashboard sets one (a report without a date parameter ignores it)."""
    data = {k: str(v) for k, v in (saved_report.params or {}).items()}
    report = report_known(saved_report.report_key)
    date_key = report_date_param(report) if report else None
    if date_range and date_range.key and date_key:
        data.pop(f"{date_key}_from", None)
        data.pop(f"{date_key}_to", None)
        data[date_key] = date_range.key
        if date_range.key == CUSTOM:
            data |= {f"{date_key}_from": date_range.first, f"{date_key}_to": date_range.last}
    return data


@dataclass(frozen=True)
class SavedRun:
    """A saved report's live run: a result, or why there is none (bad parameters, over the time budget)."""

    result: ReportResult | None = None
    errors: Mapping[str, str] | None = None
    timed_out: str = ""

    def chart_as(self, chart_type: str) -> dict | None:
        """The result's JSON for the page's chart script, drawn as the saved chart type; None for a table."""
        if self.result is None:
            return None
        data = self.result.to_json()
        if chart_type == ChartType.TABLE or not data["chart"].get("values"):
            data["chart"] = {}
        else:
            data["chart"] = data["chart"] | {"type": chart_type}
        return data


def saved_report_run(account: Account, saved_report: SavedReport, date_range: DateRange | None = None) -> SavedRun:
    try:
        return SavedRun(result=report_run(saved_report.report_key, account=account,
                                          data=saved_report_data(saved_report, date_range)))
    except UnknownReport:
        return SavedRun(errors={"report": f"The report {saved_report.report_key!r} no longer exists."})
    except ReportParamError as error:
        return SavedRun(errors=error.fields)
    except ReportTimedOut as error:
        return SavedRun(timed_out=str(error))
