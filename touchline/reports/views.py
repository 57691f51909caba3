"""Report pages: the list of reports, and one report with its filters, chart, table and CSV download."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

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
