"""Writes of saved reports and dashboards: save a report (optionally onto an existing or a new dashboard), rename
and delete it; create, share, delete dashboards; add, remove and move tiles; choose one's default dashboard.

Services check the rules (a report key that exists, parameters the report accepts, a user who owns what they
change, shares only with members of the account); the views only parse the form. Saving stores the parameters as
the report echoes them (`ReportResult.params`), so a saved report re-runs exactly as it was shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from touchline.core.models import Account
from touchline.reports.models import (
    ChartType,
    Dashboard,
    DashboardShare,
    DefaultDashboard,
    SavedReport,
    Tile,
    Visibility,
)
from touchline.reports.pipeline import ReportParamError, UnknownReport, report_get
from touchline.reports.selectors import account_users, dashboards_visible


def _name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({field: "Give it a name."})
    if len(name) > 200:
        raise ValidationError({field: "At most 200 characters."})
    return name


def _must_own(user, thing: SavedReport | Dashboard) -> None:
    if thing.owner_id != user.pk:
        raise PermissionDenied("Only its owner can change it.")


def report_params_check(*, account: Account, report_key: str, params: Mapping[str, str]) -> dict[str, str]:
    """The parameters as the report accepts them; raises ValidationError for an unknown report or bad values.
    Only parsing runs (no report query): saving never waits for a slow report."""
    try:
        report = report_get(report_key)
    except UnknownReport:
        raise ValidationError({"report": f"No report named {report_key!r}."}) from None
    clean = {str(k): str(v) for k, v in params.items()}
    try:
        report.parse(account, clean, now=timezone.now())
    except ReportParamError as error:
        raise ValidationError({"params": str(error)}) from None
    return clean


@dataclass(frozen=True)
class NewDashboard:
    name: str
    visibility: str = Visibility.PRIVATE
    users: tuple = ()


@transaction.atomic
def report_save(*, account: Account, owner, name: str, report_key: str, params: Mapping[str, str],
                chart_type: str = ChartType.BAR, dashboard: Dashboard | None = None,
                new_dashboard: NewDashboard | None = None) -> tuple[SavedReport, Dashboard | None]:
    """Save a report; with `dashboard` (one the owner owns) or `new_dashboard`, also add it there as the last
    tile. Answers the saved report and the dashboard it went to (None: kept in the report list only)."""
    if dashboard is not None and new_dashboard is not None:
        raise ValidationError({"dashboard": "Choose an existing dashboard or a new one, not both."})
    if chart_type not in ChartType.values:
        raise ValidationError({"chart_type": f"One of: {', '.join(ChartType.values)}."})
    saved = SavedReport.objects.create(
        account=account, owner=owner, name=_name(name), report_key=report_key, chart_type=chart_type,
        params=report_params_check(account=account, report_key=report_key, params=params))
    if new_dashboard is not None:
        dashboard = dashboard_create(account=account, owner=owner, name=new_dashboard.name,
                                     visibility=new_dashboard.visibility, users=new_dashboard.users)
    if dashboard is not None:
        tile_add(user=owner, dashboard=dashboard, saved_report=saved)
    return saved, dashboard


def saved_report_rename(*, user, saved_report: SavedReport, name: str) -> SavedReport:
    _must_own(user, saved_report)
    saved_report.name = _name(name)
    saved_report.save(update_fields=["name"])
    return saved_report


def saved_report_delete(*, user, saved_report: SavedReport) -> None:
    """Deletes it and its tiles on every dashboard."""
    _must_own(user, saved_report)
    with transaction.atomic():
        dashboards = list(Dashboard.objects.filter(account=saved_report.account, tiles__saved_report=saved_report))
        saved_report.delete()
        for dashboard in dashboards:
            _renumber(dashboard)


def _shares_set(dashboard: Dashboard, visibility: str, users: Iterable) -> None:
    members = set(account_users(dashboard.account).values_list("pk", flat=True))
    user_ids = {getattr(u, "pk", u) for u in users}
    if not user_ids <= members:
        raise ValidationError({"users": "Share only with members of this account."})
    if visibility == Visibility.USERS and not user_ids - {dashboard.owner_id}:
        raise ValidationError({"users": "Choose at least one other user to share it with."})
    DashboardShare.objects.filter(account=dashboard.account, dashboard=dashboard).delete()
    if visibility == Visibility.USERS:
        DashboardShare.objects.bulk_create(DashboardShare(account=dashboard.account, dashboard=dashboard, user_id=pk)
                                           for pk in sorted(user_ids - {dashboard.owner_id}))


@transaction.atomic
def dashboard_create(*, account: Account, owner, name: str, visibility: str = Visibility.PRIVATE,
                     users: Iterable = ()) -> Dashboard:
    if visibility not in Visibility.values:
        raise ValidationError({"visibility": f"One of: {', '.join(Visibility.values)}."})
    dashboard = Dashboard.objects.create(account=account, owner=owner, name=_name(name, "dashboard_name"),
                                         visibility=visibility)
    _shares_set(dashboard, visibility, users)
    return dashboard


@transaction.atomic
def dashboard_update(*, user, dashboard: Dashboard, name: str, visibility: str, users: Iterable = ()) -> Dashboard:
    _must_own(user, dashboard)
    if visibility not in Visibility.values:
        raise ValidationError({"visibility": f"One of: {', '.join(Visibility.values)}."})
    dashboard.name, dashboard.visibility = _name(name), visibility
    dashboard.save(update_fields=["name", "visibility"])
    _shares_set(dashboard, visibility, users)
    return dashboard


def dashboard_delete(*, user, dashboard: Dashboard) -> None:
    """Deletes the dashboard and its tiles; the saved reports stay in their owners' report lists."""
    _must_own(user, dashboard)
    dashboard.delete()


def dashboard_default_set(*, account: Account, user, dashboard: Dashboard) -> None:
    if not dashboards_visible(account, user).filter(pk=dashboard.pk).exists():
        raise PermissionDenied("You cannot see that dashboard.")
    DefaultDashboard.objects.update_or_create(account=account, user=user, defaults={"dashboard": dashboard})


@transaction.atomic
def tile_add(*, user, dashboard: Dashboard, saved_report: SavedReport) -> Tile:
    """Appends the saved report to the dashboard's grid. The dashboard's owner adds their own saved reports (a
    report someone else owns would become visible to the dashboard's viewers without its owner's say)."""
    _must_own(user, dashboard)
    _must_own(user, saved_report)
    last = Tile.objects.filter(account=dashboard.account, dashboard=dashboard).aggregate(n=Max("position"))["n"]
    return Tile.objects.create(account=dashboard.account, dashboard=dashboard, saved_report=saved_report,
                               position=0 if last is None else last + 1)


@transaction.atomic
def tile_remove(*, user, tile: Tile) -> None:
    """Takes the tile off its dashboard; the saved report stays in the report list."""
    _must_own(user, tile.dashboard)
    dashboard = tile.dashboard
    tile.delete()
    _renumber(dashboard)


@transaction.atomic
def tile_move(*, user, tile: Tile, direction: str) -> None:
    """Swaps the tile with its neighbour before ("up") or after ("down"); at an end it stays."""
    _must_own(user, tile.dashboard)
    if direction not in ("up", "down"):
        raise ValidationError({"direction": "up or down."})
    _renumber(tile.dashboard)
    tiles = list(Tile.objects.filter(account=tile.account, dashboard=tile.dashboard).select_for_update())
    index = next(i for i, t in enumerate(tiles) if t.pk == tile.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(tiles):
        Tile.objects.filter(pk=tiles[index].pk).update(position=tiles[other].position)
        Tile.objects.filter(pk=tiles[other].pk).update(position=tiles[index].position)


def _renumber(dashboard: Dashboard) -> None:
    """Positions 0, 1, 2… in the current order, so moving always swaps neighbours."""
    for position, tile in enumerate(Tile.objects.filter(account=dashboard.account, dashboard=dashboard)):
        if tile.position != position:
            Tile.objects.filter(pk=tile.pk).update(position=position)

