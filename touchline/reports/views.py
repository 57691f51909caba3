"""Report pages: the list of reports, and one report with its filters, chart, table and CSV download."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from touchline.reports.pipeline import ReportParamError, ReportTimedOut, UnknownReport, report_get, report_list
from touchline.reports.pipeline import report_run as run


@login_required
def report_index(request):
    return render(request, "reports/index.html", {"reports": report_list()})


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
    if result is not None and request.GET.get("format") == "csv":
        response = HttpResponse(result.to_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{report.key}.csv"'
        return response
    params = [{"param": p, "value": request.GET.get(p.key, p.default),
               "choices": p.choices(request.account) if p.choices else None} for p in report.params]
    context = {"report": report, "result": result, "errors": errors, "timed_out": timed_out, "params": params,
               "chart": result.to_json() if result else None}
    template = "reports/partials/result.html" if request.htmx else "reports/detail.html"
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
