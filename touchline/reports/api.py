"""Reports in the JSON API: the list of reports with their parameters, and one report's result. Query
parameters are the report's own (see the list); the answer is `ReportResult.to_json()`, the same shape the
CLI prints with `--json`."""

from __future__ import annotations

from typing import Any

from ninja import Router, Schema

from touchline.api.errors import ApiError
from touchline.reports.pipeline import ReportParamError, ReportTimedOut, UnknownReport, report_list, report_run

router = Router(tags=["Reports"])


class ParamOut(Schema):
    key: str
    label: str
    help: str
    default: str
    choices: list[list[str]] | None


class ReportOut(Schema):
    key: str
    title: str
    description: str
    params: list[ParamOut]


@router.get("", response=list[ReportOut], summary="List the reports and their parameters")
def reports_index(request):
    return [{"key": r.key, "title": r.title, "description": r.description,
             "params": [{"key": p.key, "label": p.label, "help": p.help, "default": p.default,
                         "choices": [list(c) for c in p.choices(request.account)] if p.choices else None}
                        for p in r.params]}
            for r in report_list()]


@router.get("/{report_key}", response=dict[str, Any], summary="Run a report",
            description="Pass the report's parameters as query parameters, e.g. `?created=last_quarter`.")
def report_result(request, report_key: str):
    try:
        result = report_run(report_key, account=request.account, data=request.GET)
    except UnknownReport:
        raise ApiError(404, "not_found", f"No report named {report_key!r}.") from None
    except ReportParamError as error:
        raise ApiError(422, "invalid", str(error), error.fields) from None
    except ReportTimedOut as error:
        raise ApiError(503, "timed_out", str(error)) from None
    return result.to_json()
