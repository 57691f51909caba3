"""The report pipeline every report follows (STYLE rule 4):

    request params ──parse──▶ frozen query ──(prepare)──build──▶ lazy querysets (SQL, no I/O)
                   ──fetch (within the time budget)──▶ rows ──shape──▶ ReportResult

`prepare` is for the few reports that read a rollup kept up to date on demand (the sequence totals); it writes
nothing the result depends on except that rollup, and most reports do not define it.

The page, the JSON API and the CLI all call `report_run`; nothing after `parse` sees the request. A report
is a `Report` subclass registered with `@register`; `ReportResult` is the one result shape, rendered as a
table and chart, JSON or CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from touchline.core.db import QueryTimeout, time_budget
from touchline.core.models import Account
from touchline.reports.metrics import METRICS


class ReportParamError(ValueError):
    """The parameters do not make a valid query; `fields` says which and why."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class ReportTimedOut(Exception):
    """The report's queries ran past the time budget."""


class UnknownReport(KeyError):
    pass


def param_day(data: Mapping[str, str], key: str, errors: dict[str, str]) -> date | None:
    """The YYYY-MM-DD parameter `key` of a report, or None when it is empty; a malformed one is recorded in
    `errors` under its key (parse raises them together as one ReportParamError)."""
    text = (data.get(key) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[key] = f"{text!r} is not a date (YYYY-MM-DD)."
        return None


@dataclass(frozen=True)
class Param:
    """One input of a report, as the form, the API docs and `touchline report --list` describe it."""

    key: str
    label: str
    help: str
    default: str = ""
    choices: Callable[[Account], list[tuple[str, str]]] | None = None  # the account's allowed values


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str  # "text" | "count" | "money"
    definition: str = ""

    @classmethod
    def of_metric(cls, key: str) -> Column:
        metric = METRICS[key]
        return cls(key, metric.label, metric.unit, metric.definition)


def _plain(value: Any) -> Any:
    # Money leaves as a decimal string: JSON numbers are floats to most readers, and cents must stay exact.
    if isinstance(value, Decimal):
        return str(value)  # already quantized: money to the cent, rates to a tenth of a percent
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class ReportResult:
    report: str
    title: str
    params: dict[str, str]  # the parsed query, echoed in the form the API accepts
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    totals: dict[str, Any]
    chart: dict[str, Any] = field(default_factory=dict)  # {"type", "label", "value"}: which columns to plot
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "title": self.title,
            "params": self.params,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind, "definition": c.definition}
                        for c in self.columns],
            "rows": [{k: _plain(v) for k, v in row.items()} for row in self.rows],
            "totals": {k: _plain(v) for k, v in self.totals.items()},
            "chart": self.chart,
            "notes": list(self.notes),
        }

    @property
    def query_string(self) -> str:
        """The parameters that give this result again, for links (CSV, drill-downs)."""
        return urlencode({k: v for k, v in self.params.items() if v != ""})

    @property
    def data_id(self) -> str:
        return f"data-{self.report}"

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.label for c in self.columns])
        for row in self.rows:
            writer.writerow([_plain(row.get(c.key, "")) for c in self.columns])
        return out.getvalue()


@dataclass(frozen=True)
class Sql:
    """A report section Django's ORM cannot say (e.g. aggregating over a grouped subquery): SQL text and its
    parameters, usually built from querysets' own SQL. Like a queryset, it touches the database only when run."""

    sql: str
    params: tuple = ()

    def rows(self) -> list[dict]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(self.sql, list(self.params))
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Then:
    """A section that depends on sections fetched before it (e.g. details of the top rows once they are
    ranked): a function of the rows fetched so far returning a queryset or Sql. Still run inside fetch, within
    the time budget, so `shape` never touches the database."""

    build: Callable[[dict[str, list]], QuerySet | Sql]


def _fetch(section, fetched: dict[str, list]) -> list:
    if isinstance(section, Then):
        section = section.build(fetched)
    return section.rows() if isinstance(section, Sql) else list(section)


class Report:
    """Subclass, set the class attributes, implement the three stages, and decorate with `@register`."""

    key: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]

    def parse(self, account: Account, data: Mapping[str, str], *, now: datetime):
        """Validate `data` into a frozen query; raise ReportParamError naming every bad field."""
        raise NotImplementedError

    def prepare(self, query) -> None:
        """Bring up to date what `build` will read, before it runs (e.g. the sequence totals, refreshed from
        the contacts whose enrollments changed). Most reports read only tables that are always current."""

    def build(self, query) -> dict[str, QuerySet | Sql | Then]:
        """The lazy querysets or Sql (one per section, fetched in order) that compute the report; no database
        access here."""
        raise NotImplementedError

    def shape(self, query, fetched: dict[str, list[dict]]) -> ReportResult:
        """Turn the fetched rows into the result; no database access here either."""
        raise NotImplementedError


REGISTRY: dict[str, Report] = {}


def register(cls: type[Report]) -> type[Report]:
    if cls.key in REGISTRY:
        raise ValueError(f"two reports named {cls.key!r}")
    REGISTRY[cls.key] = cls()
    return cls


def report_get(key: str) -> Report:
    _load_reports()
    try:
        return REGISTRY[key]
    except KeyError:
        raise UnknownReport(key) from None


def report_list() -> list[Report]:
    _load_reports()
    return sorted(REGISTRY.values(), key=lambda r: r.title)


def _load_reports() -> None:
    # Importing the queries package registers every report it holds.
    import touchline.reports.queries  # noqa: F401


def report_run(key: str, *, account: Account, data: Mapping[str, str], now: datetime | None = None,
               budget_ms: int | None = None) -> ReportResult:
    """Parse, prepare, build, fetch within the time budget, shape. Raises UnknownReport, ReportParamError,
    ReportTimedOut."""
    report = report_get(key)
    return report_execute(report, report.parse(account, data, now=now or timezone.now()), budget_ms=budget_ms)


def report_execute(report: Report, query, *, budget_ms: int | None = None) -> ReportResult:
    """The stages after parsing, for a query already parsed (tests run one query two ways through it)."""
    report.prepare(query)
    sections = report.build(query)
    try:
        with time_budget(budget_ms or settings.REPORT_TIME_BUDGET_MS):
            fetched: dict[str, list] = {}
            for name, section in sections.items():
                fetched[name] = _fetch(section, fetched)
    except QueryTimeout as timeout:
        raise ReportTimedOut(f"{report.title} took longer than allowed; narrow the range or the filters.") \
            from timeout
    return report.shape(query, fetched)
