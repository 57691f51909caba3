"""Report pages: the report library, one report with its filters, chart, table and CSV/XLSX download, the
composite pages, saved reports ("save as report", the report list) and dashboards (grid of tiles, date filter,
sharing). Views parse and render; selectors read, services write (touchline/reports/selectors.py, services.py)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from touchline.reports import services
from touchline.reports.exports import FORMATS, export_response
from touchline.reports.forms import (
    EXISTING_DASHBOARD,
    NEW_DASHBOARD,
    DashboardForm,
    DateRangeForm,
    LibraryReportForm,
    MoveForm,
    RenameForm,
    SaveReportForm,
)
from touchline.reports.models import ChartType
from touchline.reports.pipeline import ReportParamError, ReportTimedOut, UnknownReport, report_get
from touchline.reports.pipeline import report_run as run
from touchline.reports.selectors import (
    account_users,
    dashboard_audience,
    dashboard_default,
    dashboard_shared_user_ids,
    dashboard_visible_get,
    dashboards_visible,
    report_known,
    report_library,
    saved_report_run,
    saved_report_visible_get,
    saved_reports_visible,
    tile_get,
    tiles_of,
)
from touchline.reports.services import NewDashboard


@login_required
def report_index(request):
    """The report library: every registered report, grouped (sequence templates, sequence and campaign reports)."""
    return render(request, "reports/index.html", {"groups": report_library()})


@login_required
def report_detail(request, report_key: str):
    try:
        report = report_get(report_key)
    except UnknownReport:
        raise Http404("No such report") from None
    result, errors, timed_out = None, {}, ""
    try:
        result = run(report_key, account=request.account, data=request.GET)
    except ReportParamError as error:
        errors = error.fields
    except ReportTimedOut as error:
        timed_out = str(error)
    if result is not None and request.GET.get("format") in FORMATS:
        return export_response(result, request.GET["format"])
    params = [{"param": p, "value": request.GET.get(p.key, p.default),
               "choices": p.choices(request.account) if p.choices else None} for p in report.params]
    context = {"report": report, "result": result, "errors": errors, "timed_out": timed_out, "params": params,
               "chart": result.to_json() if result else None}
    template = "reports/partials/result.html" if request.htmx else "reports/detail.html"
    return render(request, template, context)


@login_required
def custom_report_builder(request):
    """The custom report builder: the form of the chosen source's dimensions, metrics and filters, and the live
    preview of the `custom` report (htmx swaps both on every change); `?format=csv|xlsx` downloads the result.
    The report itself (touchline/reports/queries/custom.py) validates everything."""
    from touchline.reports.queries.custom import builder_options, preview_chart, source_of

    result, errors, timed_out = None, {}, ""
    try:
        result = run("custom", account=request.account, data=request.GET)
    except ReportParamError as error:
        errors = error.fields
    except ReportTimedOut as error:
        timed_out = str(error)
    if result is not None and request.GET.get("format") in FORMATS:
        return export_response(result, request.GET["format"])
    values = result.params if result else request.GET  # what was asked, when it was not valid
    options = builder_options(request.account, source_of(values.get("source")), values)
    context = {"report": report_get("custom"), "result": result, "errors": errors, "timed_out": timed_out,
               "values": values, "options": options, "chart": preview_chart(result) if result else None,
               "section": "reports"}
    template = "reports/partials/custom_builder.html" if request.htmx else "reports/custom.html"
    return render(request, template, context)


# Pages made of several reports sharing one set of filters (SPEC §1: the Analyze tab, a sequence's Performance tab).

ANALYZE_REPORTS = ("sequence_summary", "sequence_performance", "email_performance", "highly_engaged_contacts")
PERFORMANCE_REPORTS = ("sequence_summary", "email_performance", "enrollment_status_by_step")


def composite_sections(request, keys: tuple[str, ...], data, drilldowns: dict[str, str] | None = None) -> list[dict]:
    """Run each report of a composite page with the page's filters. A key "report:value" runs the report once per
    value of its own extra parameter (the campaign asset reports, one per asset type)."""
    sections = []
    for entry in keys:
        key, _, extra = entry.partition(":")
        report = report_get(key)
        section_data = data.copy()
        if extra:
            section_data[report.extra_params[0][0]] = extra
        section = {"report": report, "result": None, "errors": {}, "timed_out": "",
                   "drilldown": (drilldowns or {}).get(key, "")}
        try:
            section["result"] = run(key, account=request.account, data=section_data)
            section["chart"] = section["result"].to_json()
        except ReportParamError as error:
            section["errors"] = error.fields
        except ReportTimedOut as error:
            section["timed_out"] = str(error)
        sections.append(section)
    return sections


def filter_fields(request, data, params, hide: tuple[str, ...] = ()) -> list[dict]:
    """The filter inputs of a composite page: each parameter with its current value and choices."""
    return [{"param": p, "value": data.get(p.key, p.default),
             "choices": p.choices(request.account) if p.choices else None}
            for p in params if p.key not in hide]


def _filters(request, data) -> list[dict]:
    from touchline.reports.queries.sequence_common import FILTER_PARAMS

    return filter_fields(request, data, FILTER_PARAMS, hide=("sequence",) if "sequence" in data else ())


@login_required
def sequences_analyze(request):
    sections = composite_sections(request, ANALYZE_REPORTS, request.GET)
    context = {"title": "Analyze sequences", "sections": sections, "filters": _filters(request, request.GET),
               "action": reverse("reports:sequences-analyze")}
    return render(request, "reports/composite_partial.html" if request.htmx else "reports/composite.html", context)


@login_required
def sequence_performance(request, sequence_id: int):
    from touchline.sequences.models import Sequence

    sequence = get_object_or_404(Sequence.objects.filter(account=request.account), pk=sequence_id)
    data = request.GET.copy()
    data["sequence"] = str(sequence.pk)
    drill = reverse("reports:sequence-step-contacts", kwargs={"sequence_id": sequence.pk, "step_id": 0,
                                                                 "status": "STATUS"})
    drill = drill.replace("/0/", "/{label_id}/").replace("STATUS", "{series}") + "?" + request.GET.urlencode()
    sections = composite_sections(request, PERFORMANCE_REPORTS, data, {"enrollment_status_by_step": drill})
    context = {"title": f"{sequence.name} — performance", "sequence": sequence, "sections": sections,
               "filters": _filters(request, data),
               "action": reverse("reports:sequence-performance", kwargs={"sequence_id": sequence.pk})}
    return render(request, "reports/composite_partial.html" if request.htmx else "reports/composite.html", context)


@login_required
def sequence_step_contacts(request, sequence_id: int, step_id: int, status: str):
    """The contacts behind one bar segment of "Enrollment status by step"."""
    from touchline.reports.queries.sequence_common import engagement_filter_parse
    from touchline.sequences.analytics import enrollments_at_step
    from touchline.sequences.models import EnrollmentStatus, Sequence, Step

    sequence = get_object_or_404(Sequence.objects.filter(account=request.account), pk=sequence_id)
    step = get_object_or_404(Step.objects.filter(account=request.account, sequence=sequence), pk=step_id)
    if status not in EnrollmentStatus.values:
        raise Http404("No such status")
    data = request.GET.copy()
    data["sequence"] = str(sequence.pk)
    try:
        engagement_filter, _ = engagement_filter_parse(request.account, data, now=timezone.now())
    except ReportParamError as error:
        return render(request, "reports/step_contacts.html", {"errors": error.fields, "sequence": sequence,
                                                               "step": step, "status": status})
    page = Paginator(enrollments_at_step(engagement_filter, step_id=step.pk, status=status), 50).get_page(
        request.GET.get("page"))
    return render(request, "reports/step_contacts.html", {
        "sequence": sequence, "step": step, "status": EnrollmentStatus(status).label, "page": page})


# Saved reports: "save as report" on every section, the report list, one saved report re-run live.

def _form_errors(form, error: ValidationError) -> None:
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields else None, problems)


def _export_or_render(request, saved_run, name: str, template: str, context: dict):
    fmt = request.GET.get("format")
    if fmt in FORMATS and saved_run.result is not None:
        return export_response(saved_run.result, fmt, name)
    return render(request, template, context)


@login_required
def saved_report_save(request):
    """GET: the "save as report" form of one section (`report`, `params` as JSON, `chart`); POST: save it."""
    if request.method == "POST":
        form = SaveReportForm(request.POST, account=request.account, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            new = (NewDashboard(data["dashboard_name"], data["visibility"], tuple(data["users"]))
                   if data["destination"] == NEW_DASHBOARD else None)
            existing = data["dashboard"] if data["destination"] == EXISTING_DASHBOARD else None
            try:
                saved, dashboard = services.report_save(
                    account=request.account, owner=request.user, name=data["name"], report_key=data["report"],
                    params=data["params"], chart_type=data["chart_type"], dashboard=existing, new_dashboard=new)
            except ValidationError as error:
                _form_errors(form, error)
            else:
                context = {"saved": saved, "dashboard": dashboard}
                if request.htmx:
                    return render(request, "reports/partials/saved_confirmation.html", context)
                return redirect("dashboards:detail", dashboard_id=dashboard.pk) if dashboard else \
                    redirect("reports:saved-detail", saved_report_id=saved.pk)
    else:
        report = report_known(request.GET.get("report", ""))
        if report is None:
            raise Http404("No such report")
        chart = request.GET.get("chart", "")
        form = SaveReportForm(account=request.account, user=request.user, initial={
            "report": report.key, "params": request.GET.get("params", "{}"), "name": report.title,
            "chart_type": chart if chart in ChartType.values else ChartType.TABLE})
    template = "reports/partials/save_form.html" if request.htmx else "reports/save.html"
    return render(request, template, {"form": form})


@login_required
def saved_report_list(request):
    """Own saved reports and those on dashboards the user can see; search by name, filter by owner."""
    search = request.GET.get("q", "")
    owner = request.GET.get("owner", "")
    owner_id = int(owner) if owner.isdigit() else None
    reports = saved_reports_visible(request.account, request.user, search=search, owner_id=owner_id)
    titles = {r.key: r.title for group in report_library() for r in group.reports}
    rows = [{"saved": r, "title": titles.get(r.report_key, r.report_key)} for r in reports]
    context = {"rows": rows, "q": search, "owner": owner, "owners": account_users(request.account)}
    template = "reports/partials/saved_rows.html" if request.htmx else "reports/saved_list.html"
    return render(request, template, context)


def _saved_visible(request, saved_report_id: int):
    saved = saved_report_visible_get(request.account, request.user, saved_report_id)
    if saved is None:
        raise Http404("No such saved report")
    return saved


@login_required
def saved_report_detail(request, saved_report_id: int):
    """The saved report re-run live with its stored parameters; `?format=csv|xlsx` downloads it."""
    saved = _saved_visible(request, saved_report_id)
    saved_run = saved_report_run(request.account, saved)
    report = report_known(saved.report_key)
    context = {"saved": saved, "run": saved_run, "chart": saved_run.chart_as(saved.chart_type),
               "report": report, "params": sorted((saved.params or {}).items()),
               "live_query": urlencode({k: v for k, v in (saved.params or {}).items() if v != ""}),
               "export_base": reverse("reports:saved-detail", kwargs={"saved_report_id": saved.pk})}
    return _export_or_render(request, saved_run, saved.name, "reports/saved_detail.html", context)


@login_required
@require_POST
def saved_report_rename(request, saved_report_id: int):
    saved = _saved_visible(request, saved_report_id)
    form = RenameForm(request.POST)
    if form.is_valid():
        try:
            services.saved_report_rename(user=request.user, saved_report=saved, name=form.cleaned_data["name"])
            messages.success(request, f"Renamed to “{saved.name}”.")
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
    else:
        messages.error(request, "Give it a name (at most 200 characters).")
    return redirect(_next(request, reverse("reports:saved-list")))


@login_required
@require_POST
def saved_report_delete(request, saved_report_id: int):
    saved = _saved_visible(request, saved_report_id)
    services.saved_report_delete(user=request.user, saved_report=saved)
    messages.success(request, f"Deleted “{saved.name}” and its dashboard tiles.")
    return redirect("reports:saved-list")


def _next(request, default: str) -> str:
    target = request.POST.get("next", "")
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else default


# Dashboards: the default one, the list, one dashboard's grid and date filter, its tiles, sharing and editing.

def _dashboard_visible(request, dashboard_id: int):
    dashboard = dashboard_visible_get(request.account, request.user, dashboard_id)
    if dashboard is None:
        raise Http404("No such dashboard")
    return dashboard


def _dashboard_page(request, dashboard):
    range_form = DateRangeForm(request.GET)
    date_range = range_form.date_range()
    context = {"dashboard": dashboard, "tiles": tiles_of(request.account, dashboard), "range_form": range_form,
               "range_query": urlencode(date_range.query), "is_owner": dashboard.owner_id == request.user.pk,
               "is_default": dashboard_default(request.account, request.user) == dashboard,
               "visible_to": dashboard_audience(request.account, dashboard), "section": "dashboards"}
    return render(request, "reports/dashboard.html", context)


@login_required
def dashboard_home(request):
    """The Dashboards nav item: the user's default dashboard, or an empty state to create the first one."""
    dashboard = dashboard_default(request.account, request.user)
    if dashboard is not None:
        return _dashboard_page(request, dashboard)
    form = DashboardForm(account=request.account, user=request.user)
    return render(request, "reports/dashboard_empty.html", {"form": form})


@login_required
def dashboard_list(request):
    """GET: the dashboards the user can see; POST: create one."""
    form = DashboardForm(request.POST or None, account=request.account, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            dashboard = services.dashboard_create(
                account=request.account, owner=request.user, name=form.cleaned_data["name"],
                visibility=form.cleaned_data["visibility"], users=form.cleaned_data["users"])
        except ValidationError as error:
            _form_errors(form, error)
        else:
            return redirect("dashboards:detail", dashboard_id=dashboard.pk)
    default = dashboard_default(request.account, request.user)
    return render(request, "reports/dashboard_list.html", {
        "dashboards": dashboards_visible(request.account, request.user), "form": form, "default": default})


@login_required
def dashboard_detail(request, dashboard_id: int):
    return _dashboard_page(request, _dashboard_visible(request, dashboard_id))


@login_required
def dashboard_edit(request, dashboard_id: int):
    """The owner renames the dashboard, changes who sees it, or deletes it."""
    dashboard = _dashboard_visible(request, dashboard_id)
    if dashboard.owner_id != request.user.pk:
        raise PermissionDenied("Only its owner can change it.")
    initial = {"name": dashboard.name, "visibility": dashboard.visibility,
               "users": dashboard_shared_user_ids(request.account, dashboard)}
    form = DashboardForm(request.POST or None, account=request.account, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.dashboard_update(user=request.user, dashboard=dashboard, name=form.cleaned_data["name"],
                                      visibility=form.cleaned_data["visibility"], users=form.cleaned_data["users"])
        except ValidationError as error:
            _form_errors(form, error)
        else:
            return redirect("dashboards:detail", dashboard_id=dashboard.pk)
    return render(request, "reports/dashboard_edit.html", {"dashboard": dashboard, "form": form})


@login_required
@require_POST
def dashboard_delete(request, dashboard_id: int):
    dashboard = _dashboard_visible(request, dashboard_id)
    services.dashboard_delete(user=request.user, dashboard=dashboard)
    messages.success(request, f"Deleted the dashboard “{dashboard.name}”; its saved reports stay in the list.")
    return redirect("dashboards:list")


@login_required
@require_POST
def dashboard_make_default(request, dashboard_id: int):
    dashboard = _dashboard_visible(request, dashboard_id)
    services.dashboard_default_set(account=request.account, user=request.user, dashboard=dashboard)
    messages.success(request, f"“{dashboard.name}” now opens from Dashboards.")
    return redirect("dashboards:detail", dashboard_id=dashboard.pk)


@login_required
def dashboard_add_from_library(request, dashboard_id: int):
    """"Add report from library": pick a report (GET ?report=), fill in its own parameters, add it as a tile."""
    dashboard = _dashboard_visible(request, dashboard_id)
    if dashboard.owner_id != request.user.pk:
        raise PermissionDenied("Only its owner can change it.")
    report = report_known(request.GET.get("report", ""))
    form = None
    if report is not None:
        form = LibraryReportForm(request.POST or None, report=report, account=request.account)
        if request.method == "POST" and form.is_valid():
            try:
                services.report_save(account=request.account, owner=request.user, name=form.cleaned_data["name"],
                                     report_key=report.key, params=form.params(),
                                     chart_type=form.cleaned_data["chart_type"], dashboard=dashboard)
            except ValidationError as error:
                _form_errors(form, error)
            else:
                return redirect("dashboards:detail", dashboard_id=dashboard.pk)
    return render(request, "reports/dashboard_add.html", {
        "dashboard": dashboard, "groups": report_library(), "report": report, "form": form})


def _tile(request, dashboard_id: int, tile_id: int):
    dashboard = _dashboard_visible(request, dashboard_id)
    tile = tile_get(request.account, dashboard, tile_id)
    if tile is None:
        raise Http404("No such tile")
    return dashboard, tile


@login_required
def dashboard_tile(request, dashboard_id: int, tile_id: int):
    """One tile, run live under the dashboard's date range (`range`, `range_from`, `range_to` in the query);
    `?format=csv|xlsx` downloads it. Over the time budget it says so instead of failing."""
    dashboard, tile = _tile(request, dashboard_id, tile_id)
    date_range = DateRangeForm(request.GET).date_range()
    saved_run = saved_report_run(request.account, tile.saved_report, date_range)
    context = {"dashboard": dashboard, "tile": tile, "saved": tile.saved_report, "run": saved_run,
               "chart": saved_run.chart_as(tile.saved_report.chart_type), "range_query": urlencode(date_range.query),
               "is_owner": dashboard.owner_id == request.user.pk, "data_id": f"tile-data-{tile.pk}"}
    return _export_or_render(request, saved_run, tile.saved_report.name, "reports/partials/tile.html", context)


def _tiles_changed(request, dashboard):
    if request.htmx:
        range_query = urlencode(DateRangeForm(request.GET).date_range().query)
        return render(request, "reports/partials/tiles.html", {
            "dashboard": dashboard, "tiles": tiles_of(request.account, dashboard), "range_query": range_query,
            "is_owner": True})
    return redirect("dashboards:detail", dashboard_id=dashboard.pk)


@login_required
@require_POST
def dashboard_tile_move(request, dashboard_id: int, tile_id: int):
    dashboard, tile = _tile(request, dashboard_id, tile_id)
    form = MoveForm(request.POST)
    if form.is_valid():
        services.tile_move(user=request.user, tile=tile, direction=form.cleaned_data["direction"])
    return _tiles_changed(request, dashboard)


@login_required
@require_POST
def dashboard_tile_remove(request, dashboard_id: int, tile_id: int):
    dashboard, tile = _tile(request, dashboard_id, tile_id)
    services.tile_remove(user=request.user, tile=tile)
    return _tiles_changed(request, dashboard)
