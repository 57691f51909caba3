"""Saved reports and dashboards in the JSON API, mounted at /api/v1/ (paths /saved-reports and /dashboards: the
reports router's catch-all /reports/{report_key} would swallow anything under /reports).

The caller is `request.user` (the token's user, or the session's). Who sees what is decided once, by
`touchline.reports.selectors` (docs/dashboards.md): a dashboard or saved report the caller may not see answers 404,
exactly as its page does — the same as one that does not exist, so an id tells nothing. Changing one is its
owner's alone (`touchline.reports.services`): a viewer who is not the owner gets 403.

Endpoints under an object find the object first and read the body after, so a missing or foreign id answers 404
whatever the body holds; bodies there declare their fields with defaults and a missing one answers 422 naming it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from ninja import Field, Router, Schema, Status

from touchline.api.errors import ApiError
from touchline.api.pagination import DEFAULT_LIMIT, paginate
from touchline.reports import selectors, services
from touchline.reports.forms import DateRangeForm
from touchline.reports.models import ChartType, Dashboard, SavedReport, Visibility

router = Router(tags=["Dashboards"])


class Page(Schema):
    next_cursor: str | None


def _email(user) -> str | None:
    return user.email if user else None


# Saved reports ---------------------------------------------------------------------------------------------------


class SavedReportIn(Schema):
    name: str = Field(..., max_length=200)
    report_key: str = Field(..., description="a key of `GET /reports`")
    params: dict[str, str | int] = Field({}, description="the report's parameters; those left out take the "
                                                          "report's defaults when it runs")
    chart_type: ChartType = ChartType.BAR
    dashboard_id: int | None = Field(None, description="also add it as the last tile of this dashboard (yours)")


class SavedReportPatch(Schema):
    name: str = Field("", max_length=200)


class SavedReportOut(Schema):
    id: int
    name: str
    report_key: str
    params: dict[str, Any]
    chart_type: str
    owner_id: int | None
    owner_email: str | None
    created_at: datetime

    @staticmethod
    def resolve_owner_email(obj) -> str | None:
        return _email(obj.owner)


class SavedReportPage(Page):
    items: list[SavedReportOut]


def _saved_visible(request, saved_report_id: int) -> SavedReport:
    saved = selectors.saved_report_visible_get(request.account, request.user, saved_report_id)
    if saved is None:
        raise ApiError(404, "not_found", "No such saved report.")
    return saved


def _dashboard_for_tile(request, dashboard_id: int | None) -> Dashboard | None:
    """The dashboard a new saved report goes onto; the service refuses one the caller does not own (403)."""
    if dashboard_id is None:
        return None
    dashboard = selectors.dashboard_visible_get(request.account, request.user, dashboard_id)
    if dashboard is None:
        raise ApiError(422, "invalid", f"No dashboard {dashboard_id} you can see.", {"dashboard_id": "unknown"})
    return dashboard


@router.get("/saved-reports", response=SavedReportPage, summary="List the saved reports you can see",
            description="Your own and those on a dashboard you can see. `q` matches the name or the report key; "
                        "`owner_id` narrows to one user's.")
def saved_report_list(request, q: str = "", owner_id: int | None = None, cursor: str | None = None,
                      limit: int = DEFAULT_LIMIT):
    rows = selectors.saved_reports_visible(request.account, request.user, search=q, owner_id=owner_id)
    return paginate(rows, cursor=cursor, limit=limit)


@router.post("/saved-reports", response={201: SavedReportOut}, summary="Save a report",
             description="A report key and its parameters, checked by the report (422 names a bad one); no numbers "
                         "are stored: running it re-runs the report live.")
def saved_report_create(request, payload: SavedReportIn):
    dashboard = _dashboard_for_tile(request, payload.dashboard_id)
    try:
        saved, _ = services.report_save(account=request.account, owner=request.user, name=payload.name,
                                        report_key=payload.report_key, params=payload.params,
                                        chart_type=payload.chart_type, dashboard=dashboard)
    except ValidationError as error:
        raise _renamed(error, {"report": "report_key"}) from None
    return Status(201, saved)


@router.get("/saved-reports/{saved_report_id}", response=SavedReportOut, summary="Read a saved report")
def saved_report_read(request, saved_report_id: int):
    return _saved_visible(request, saved_report_id)


@router.patch("/saved-reports/{saved_report_id}", response=SavedReportOut, summary="Rename a saved report",
              description="Its owner only (403 for others). To change its parameters, save the report again.")
def saved_report_patch(request, saved_report_id: int, payload: SavedReportPatch):
    saved = _saved_visible(request, saved_report_id)
    return services.saved_report_rename(user=request.user, saved_report=saved, name=payload.name)


@router.delete("/saved-reports/{saved_report_id}", response={204: None}, summary="Delete a saved report",
               description="Its owner only; its tiles leave every dashboard.")
def saved_report_delete(request, saved_report_id: int):
    services.saved_report_delete(user=request.user, saved_report=_saved_visible(request, saved_report_id))
    return Status(204, None)


@router.get("/saved-reports/{saved_report_id}/run", response=dict[str, Any], summary="Run a saved report",
            description="Its live result with its saved parameters, the same JSON as `GET /reports/{key}`. "
                        "`range` (with `range_from`/`range_to` for `custom`) replaces the report's own date "
                        "parameter for this run, as a dashboard's date filter does.",
            openapi_extra={"responses": {"503": {"description": "The report ran past its time budget "
                                                                "(`timed_out`): narrow the range"}}})
def saved_report_run(request, saved_report_id: int, range: str = "", range_from: str = "", range_to: str = ""):
    saved = _saved_visible(request, saved_report_id)
    form = DateRangeForm({"range": range, "range_from": range_from, "range_to": range_to})
    if not form.is_valid():
        fields = {k: " ".join(v) for k, v in form.errors.items()}
        raise ApiError(422, "invalid", "; ".join(f"{k}: {v}" for k, v in fields.items()), fields)
    run = selectors.saved_report_run(request.account, saved, form.date_range())
    if run.timed_out:
        raise ApiError(503, "timed_out", run.timed_out)
    if run.result is None:
        fields = dict(run.errors or {})
        raise ApiError(422, "invalid", "The saved parameters no longer make a valid report: "
                       + "; ".join(f"{k}: {v}" for k, v in fields.items()), fields)
    return run.result.to_json()


# Dashboards ------------------------------------------------------------------------------------------------------


class DashboardIn(Schema):
    name: str = Field(..., max_length=200)
    visibility: Visibility = Visibility.PRIVATE
    user_ids: list[int] = Field([], description="with visibility `users`: the members it is shared with")


class DashboardPatch(Schema):
    name: str | None = Field(None, max_length=200)
    visibility: Visibility | None = None
    user_ids: list[int] | None = None


class TileOut(Schema):
    id: int
    position: int
    saved_report: SavedReportOut


class DashboardOut(Schema):
    id: int
    name: str
    visibility: str
    user_ids: list[int] = Field(..., description="who it is shared with, for visibility `users`")
    owner_id: int | None
    owner_email: str | None
    is_owner: bool = Field(..., description="you may change it")
    is_default: bool = Field(..., description="Dashboards opens it for you")
    created_at: datetime

    @staticmethod
    def resolve_user_ids(obj) -> list[int]:
        if obj.visibility != Visibility.USERS:
            return []
        return sorted(share.user_id for share in obj.shares.all())

    @staticmethod
    def resolve_owner_email(obj) -> str | None:
        return _email(obj.owner)

    @staticmethod
    def resolve_is_owner(obj, context) -> bool:
        return obj.owner_id == context["request"].user.pk

    @staticmethod
    def resolve_is_default(obj, context) -> bool:
        return obj.pk == context["request"].default_dashboard_id


class DashboardDetailOut(DashboardOut):
    tiles: list[TileOut] = Field(..., description="in grid order")

    @staticmethod
    def resolve_tiles(obj, context):
        request = context["request"]
        return selectors.tiles_of(request.account, obj).select_related("saved_report__owner")


class DashboardPage(Page):
    items: list[DashboardOut]


def _visible(request):
    # The caller's default, once per request, for `is_default`.
    default = selectors.dashboard_default(request.account, request.user)
    request.default_dashboard_id = default.pk if default else None
    return selectors.dashboards_visible(request.account, request.user).prefetch_related("shares")


def _dashboard(request, dashboard_id: int) -> Dashboard:
    dashboard = _visible(request).filter(pk=dashboard_id).first()
    if dashboard is None:
        raise ApiError(404, "not_found", "No such dashboard.")
    return dashboard


def _must_own(request, dashboard: Dashboard) -> None:
    # The services check ownership too; endpoints that read the body first check it before, so a viewer learns
    # only that they may not change it.
    if dashboard.owner_id != request.user.pk:
        raise PermissionDenied("Only its owner can change it.")


@router.get("/dashboards", response=DashboardPage, summary="List the dashboards you can see")
def dashboard_list(request, cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    return paginate(_visible(request), cursor=cursor, limit=limit)


@router.post("/dashboards", response={201: DashboardDetailOut}, summary="Create a dashboard",
             description="Private (you only), everyone in the account, or chosen users (`user_ids`, members).")
def dashboard_create(request, payload: DashboardIn):
    try:
        dashboard = services.dashboard_create(account=request.account, owner=request.user, name=payload.name,
                                              visibility=payload.visibility, users=payload.user_ids)
    except ValidationError as error:
        raise _renamed(error, {"dashboard_name": "name", "users": "user_ids"}) from None
    return Status(201, _dashboard(request, dashboard.pk))


@router.get("/dashboards/default", response=DashboardDetailOut, summary="Your default dashboard",
            description="The one Dashboards opens: your chosen default while you can see it, else your first own "
                        "dashboard, else the first shared with you; 404 when you can see none.")
def dashboard_default(request):
    default = selectors.dashboard_default(request.account, request.user)
    if default is None:
        raise ApiError(404, "not_found", "You have no dashboard yet.")
    return _dashboard(request, default.pk)


@router.get("/dashboards/{dashboard_id}", response=DashboardDetailOut, summary="Read a dashboard and its tiles")
def dashboard_read(request, dashboard_id: int):
    return _dashboard(request, dashboard_id)


@router.patch("/dashboards/{dashboard_id}", response=DashboardDetailOut,
              summary="Rename a dashboard or change who sees it", description="Its owner only (403 for others).")
def dashboard_patch(request, dashboard_id: int, payload: DashboardPatch):
    dashboard = _dashboard(request, dashboard_id)
    _must_own(request, dashboard)
    fields = payload.dict(exclude_unset=True)
    nulls = {f: "may not be null" for f in ("name", "visibility", "user_ids") if f in fields and fields[f] is None}
    if nulls:
        raise ApiError(422, "invalid", f"{', '.join(nulls)} may not be null.", nulls)
    users = fields.get("user_ids", selectors.dashboard_shared_user_ids(request.account, dashboard))
    try:
        services.dashboard_update(user=request.user, dashboard=dashboard, name=fields.get("name", dashboard.name),
                                  visibility=fields.get("visibility", dashboard.visibility), users=users)
    except ValidationError as error:
        raise _renamed(error, {"users": "user_ids"}) from None
    return _dashboard(request, dashboard_id)


@router.delete("/dashboards/{dashboard_id}", response={204: None}, summary="Delete a dashboard",
               description="Its owner only; its saved reports stay in their owners' lists.")
def dashboard_delete(request, dashboard_id: int):
    services.dashboard_delete(user=request.user, dashboard=_dashboard(request, dashboard_id))
    return Status(204, None)


@router.post("/dashboards/{dashboard_id}/default", response=DashboardDetailOut, summary="Make it your default",
             description="Any dashboard you can see; Dashboards opens it for you while you still can.")
def dashboard_default_set(request, dashboard_id: int):
    dashboard = _dashboard(request, dashboard_id)
    services.dashboard_default_set(account=request.account, user=request.user, dashboard=dashboard)
    return _dashboard(request, dashboard_id)


# Tiles -----------------------------------------------------------------------------------------------------------


class TileIn(Schema):
    saved_report_id: int | None = Field(None, description="required: one of your own saved reports")


class MoveIn(Schema):
    direction: str = Field("", description="required: `up` (towards the first tile) or `down`")


def _tile(request, dashboard: Dashboard, tile_id: int):
    tile = selectors.tile_get(request.account, dashboard, tile_id)
    if tile is None:
        raise ApiError(404, "not_found", "No such tile on this dashboard.")
    return tile


@router.post("/dashboards/{dashboard_id}/tiles", response={201: TileOut}, summary="Add a tile",
             description="Appends one of your own saved reports to your dashboard: someone else's report would "
                         "become visible to the dashboard's audience without its owner's say (403).")
def tile_add(request, dashboard_id: int, payload: TileIn):
    dashboard = _dashboard(request, dashboard_id)
    _must_own(request, dashboard)
    if payload.saved_report_id is None:
        raise ApiError(422, "invalid", "Give the saved_report_id of the report to add.",
                       {"saved_report_id": "required"})
    saved = selectors.saved_report_visible_get(request.account, request.user, payload.saved_report_id)
    if saved is None:
        raise ApiError(422, "invalid", f"No saved report {payload.saved_report_id} you can see.",
                       {"saved_report_id": "unknown"})
    tile = services.tile_add(user=request.user, dashboard=dashboard, saved_report=saved)
    return Status(201, selectors.tiles_of(request.account, dashboard).select_related("saved_report__owner")
                  .get(pk=tile.pk))


@router.delete("/dashboards/{dashboard_id}/tiles/{tile_id}", response={204: None}, summary="Remove a tile",
               description="The saved report stays in the report list.")
def tile_remove(request, dashboard_id: int, tile_id: int):
    dashboard = _dashboard(request, dashboard_id)
    services.tile_remove(user=request.user, tile=_tile(request, dashboard, tile_id))
    return Status(204, None)


@router.post("/dashboards/{dashboard_id}/tiles/{tile_id}/move", response=DashboardDetailOut, summary="Move a tile",
             description="Swaps it with the tile before (`up`) or after (`down`); at an end it stays. Answers the "
                         "dashboard with its tiles in their new order.")
def tile_move(request, dashboard_id: int, tile_id: int, payload: MoveIn):
    dashboard = _dashboard(request, dashboard_id)
    tile = _tile(request, dashboard, tile_id)
    _must_own(request, dashboard)
    services.tile_move(user=request.user, tile=tile, direction=payload.direction)
    return _dashboard(request, dashboard_id)


def _renamed(error: ValidationError, names: dict[str, str]) -> ApiError:
    """A service's ValidationError with its fields named as this API's payload names them."""
    fields = {names.get(k, k): " ".join(v) for k, v in error.message_dict.items()}
    return ApiError(422, "invalid", "; ".join(fields.values()), fields)
