"""The custom report builder (SPEC §4): a data source, up to two dimensions, metrics from the catalog, filters, a
date range and a chart type, compiled to one grouped ORM query over the source's model — the same pipeline and
result shape as every other report, so saving, dashboard tiles, CSV/XLSX, the API and the CLI work unchanged.

Everything a user picks is a key in the whitelists below (`SOURCES`): a dimension, metric or filter field is an
ORM path or expression written here, an operator is one of `OPERATORS`; nothing typed reaches SQL except a filter
value, and that only as a bound parameter after validation (a choice among the field's values, an id of one of the
account's objects, a number). Every query starts from the account.

Rules the numbers keep (docs/dashboards.md, "Custom reports"):
- money is never added across currencies: choosing a money metric adds the currency as a grouping column, and the
  totals leave money out when the rows are in several currencies;
- time buckets (day, week from Monday, month, quarter) and the date range are in the account's time zone;
- totals come from their own query without the dimensions, so unique counts and averages are right there too;
- scheduled enrollments that have not started are in no report; machine opens and clicks count only with
  `machine=1`; click events are hidden on the starter plan (SPEC §5);
- attribution credits always count one lookback window and one conversion kind and, unless the model is the
  dimension, one model (each conversion's weights sum to 1 within those); other models than linear are the
  enterprise plan's, attributed revenue is not the starter plan's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import TruncDay, TruncMonth, TruncQuarter, TruncWeek

from touchline.attribution.engine import DATA_DRIVEN, MODELS
from touchline.attribution.models import Credit, Interaction, InteractionType
from touchline.attribution.services import LOOKBACKS
from touchline.core.models import Account, Plan
from touchline.core.timeframes import CHOICES as TIMEFRAME_CHOICES
from touchline.core.timeframes import CUSTOM, Timeframe, TimeframeError, timeframe_resolve
from touchline.crm.models import Company, Contact, Deal, DealStage, DealStatus, LifecycleStage, Pipeline, TrafficSource
from touchline.reports.metrics import EXPRESSIONS, METRICS, mean_value
from touchline.reports.pipeline import Column, Param, Report, ReportParamError, ReportResult, param_day, register
from touchline.sequences.models import EngagementEvent, Enrollment, EnrollmentStatus, EventKind, Sequence
from touchline.tracking.models import Site, WebSession

BUCKETS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth, "quarter": TruncQuarter}
CHARTS = (("bar", "Bar chart"), ("line", "Line chart"), ("table", "Table"), ("kpi", "KPI (one number per metric)"))
MAX_FILTERS = 3
MAX_ROWS = 1000  # rows a result shows (a page, a tile, an export); the totals still count everything
NONE_LABEL = "(none)"


def _bucket_label(value: datetime, unit: str, zone: ZoneInfo) -> str:
    local = value.astimezone(zone)
    if unit == "month":
        return local.strftime("%Y-%m")
    if unit == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    return local.date().isoformat()  # a day, or the Monday a week starts on


@dataclass(frozen=True)
class Dimension:
    """A grouping: a plain field (its label from `choices`, else the value itself), an object (`field` is its id,
    `names` the fields its label is made of, `order` what sorts it), or a date field cut into `bucket`s."""

    key: str
    label: str
    field: str
    choices: tuple[tuple[str, str], ...] = ()
    names: tuple[str, ...] = ()
    order: str = ""
    bucket: str = ""
    fallback: str = ""  # the label when the names are blank (a user without a name: the username)

    def expressions(self, slot: str, zone: ZoneInfo) -> dict:
        value = BUCKETS[self.bucket](self.field, tzinfo=zone) if self.bucket else F(self.field)
        names = (*self.names, self.fallback) if self.fallback else self.names
        found = {slot: value} | {f"{slot}_n{i}": F(name) for i, name in enumerate(names)}
        if self.order:
            found[f"{slot}_o"] = F(self.order)
        return found

    def text(self, row: dict, slot: str, zone: ZoneInfo) -> str:
        value = row.get(slot)
        if value is None or value == "":
            return NONE_LABEL
        if self.bucket:
            return _bucket_label(value, self.bucket, zone)
        if self.names:
            joined = " ".join(str(row[f"{slot}_n{i}"] or "") for i in range(len(self.names))).strip()
            return joined or str(row.get(f"{slot}_n{len(self.names)}") or value)
        if isinstance(value, bool):
            return dict(self.choices).get("1" if value else "0", str(value))
        return dict(self.choices).get(value, str(value))

    def sort_key(self, row: dict, slot: str, zone: ZoneInfo) -> tuple:
        value = row.get(slot)
        if value is None or value == "":
            return (1, 0, "")  # "(none)" last
        if self.order:
            return (0, row.get(f"{slot}_o") or 0, self.text(row, slot, zone).lower())
        if self.choices:
            keys = [k for k, _ in self.choices]
            probe = ("1" if value else "0") if isinstance(value, bool) else value
            return (0, keys.index(probe) if probe in keys else len(keys), str(value))
        if self.bucket:
            return (0, 0, value.isoformat())
        return (0, 0, self.text(row, slot, zone).lower())


def _user_dimension(key: str, label: str, path: str) -> Dimension:
    return Dimension(key, label, f"{path}_id", names=(f"{path}__first_name", f"{path}__last_name"),
                     fallback=f"{path}__username")


def _dates(prefix: str, label: str, path: str, units=("day", "week", "month", "quarter")) -> tuple[Dimension, ...]:
    return tuple(Dimension(f"{prefix}_{unit}", f"{label} ({unit})", path, bucket=unit) for unit in units)


YES_NO = (("1", "Yes"), ("0", "No"))


# Filter fields: (label, ORM path, kind). Kinds: "choice" (values from the choices), "object" (an id of one of the
# account's objects of the model given), "user" (an id of a member of the account), "text", "number", "bool".
@dataclass(frozen=True)
class FilterField:
    key: str
    label: str
    path: str
    kind: str
    choices: tuple[tuple[str, str], ...] = ()
    model: type | None = None


OPERATORS = {
    "is": "is", "is_not": "is not", "contains": "contains", "gt": "greater than", "lt": "less than",
    "empty": "is empty", "not_empty": "is not empty",
}
OPERATORS_OF = {
    "choice": ("is", "is_not", "empty", "not_empty"), "object": ("is", "is_not", "empty", "not_empty"),
    "user": ("is", "is_not", "empty", "not_empty"), "text": ("is", "is_not", "contains", "empty", "not_empty"),
    "number": ("is", "gt", "lt", "empty", "not_empty"), "bool": ("is",),
}


@dataclass(frozen=True)
class Source:
    key: str
    label: str
    model: type
    date_field: str  # what the date range applies to
    date_label: str
    dimensions: tuple[Dimension, ...]
    metrics: tuple[str, ...]  # catalog keys; the first is the default
    filters: tuple[FilterField, ...]
    currency: str = ""  # the currency field when a metric is money
    base: Callable[[QuerySet, CustomQuery], QuerySet] = lambda qs, query: qs  # rules of the source (see docstring)
    extra: tuple[str, ...] = ()  # source-specific parameters

    def dimension(self, key: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.key == key), None)

    def filter_field(self, key: str) -> FilterField | None:
        return next((f for f in self.filters if f.key == key), None)


def _events_base(qs: QuerySet, query: CustomQuery) -> QuerySet:
    if query.extra.get("machine") != "1":
        qs = qs.filter(is_machine=False)
    if query.plan == Plan.STARTER:
        qs = qs.exclude(kind=EventKind.CLICK)
    return qs


def _credits_base(qs: QuerySet, query: CustomQuery) -> QuerySet:
    qs = qs.filter(lookback_days=int(query.extra["lookback"]))
    if "conversion_kind" not in query.dimension_keys:
        qs = qs.filter(conversion__kind=query.extra["conversion"])
    if "model" not in query.dimension_keys:
        qs = qs.filter(model=query.extra["model"])
    return qs


ALL_MODELS = (*MODELS, DATA_DRIVEN)
CONVERSION_KINDS = (("contact_create", "Contact create"), ("deal_create", "Deal create"), ("revenue", "Revenue"))
SOURCES_LIST = (
    Source("contacts", "Contacts", Contact, "created_at", "Created", (
        Dimension("lifecycle_stage", "Lifecycle stage", "lifecycle_stage", tuple(LifecycleStage.choices)),
        _user_dimension("owner", "Owner", "owner"),
        Dimension("original_source", "Original source", "original_source", tuple(TrafficSource.choices)),
        Dimension("company", "Company", "company_id", names=("company__name",)),
        *_dates("created", "Created", "created_at"),
    ), ("contact_count",), (
        FilterField("lifecycle_stage", "Lifecycle stage", "lifecycle_stage", "choice", tuple(LifecycleStage.choices)),
        FilterField("owner", "Owner", "owner_id", "user"),
        FilterField("original_source", "Original source", "original_source", "choice", tuple(TrafficSource.choices)),
        FilterField("company", "Company", "company_id", "object", model=Company),
        FilterField("job_title", "Job title", "job_title", "text"),
    )),
    Source("companies", "Companies", Company, "created_at", "Created", (
        Dimension("industry", "Industry", "industry"),
        _user_dimension("owner", "Owner", "owner"),
        *_dates("created", "Created", "created_at"),
    ), ("company_count",), (
        FilterField("industry", "Industry", "industry", "text"),
        FilterField("owner", "Owner", "owner_id", "user"),
        FilterField("domain", "Domain", "domain", "text"),
    )),
    Source("deals", "Deals", Deal, "created_at", "Created", (
        Dimension("stage", "Stage", "stage_id", names=("stage__name",), order="stage__position"),
        Dimension("pipeline", "Pipeline", "pipeline_id", names=("pipeline__name",)),
        Dimension("status", "Status", "status", tuple(DealStatus.choices)),
        _user_dimension("owner", "Owner", "owner"),
        Dimension("currency", "Currency", "currency"),
        *_dates("created", "Created", "created_at"),
        *_dates("closed", "Closed", "closed_at", ("month", "quarter")),
    ), ("deal_count", "deal_amount", "weighted_amount", "deal_average_amount"), (
        FilterField("pipeline", "Pipeline", "pipeline_id", "object", model=Pipeline),
        FilterField("stage", "Stage", "stage_id", "object", model=DealStage),
        FilterField("status", "Status", "status", "choice", tuple(DealStatus.choices)),
        FilterField("owner", "Owner", "owner_id", "user"),
        FilterField("currency", "Currency", "currency", "text"),
        FilterField("amount", "Amount", "amount", "number"),
    ), currency="currency"),
    Source("enrollments", "Sequence enrollments", Enrollment, "enrolled_at", "Enrolled", (
        Dimension("sequence", "Sequence", "sequence_id", names=("sequence__name",)),
        Dimension("status", "Status", "status", tuple(EnrollmentStatus.choices)),
        _user_dimension("enrolled_by", "Enrolled by", "enrolled_by"),
        *_dates("enrolled", "Enrolled", "enrolled_at"),
    ), ("enrollment_count", "enrolled_contacts"), (
        FilterField("sequence", "Sequence", "sequence_id", "object", model=Sequence),
        FilterField("status", "Status", "status", "choice", tuple(EnrollmentStatus.choices)),
        FilterField("enrolled_by", "Enrolled by", "enrolled_by_id", "user"),
    ), base=lambda qs, query: qs.exclude(status=EnrollmentStatus.SCHEDULED)),
    Source("events", "Engagement events", EngagementEvent, "occurred_at", "Occurred", (
        Dimension("kind", "Event", "kind", tuple(EventKind.choices)),
        Dimension("is_machine", "Machine", "is_machine", (("1", "Machine"), ("0", "Human"))),
        Dimension("sequence", "Sequence", "sequence_id", names=("sequence__name",)),
        *_dates("occurred", "Occurred", "occurred_at"),
    ), ("event_count", "event_contacts"), (
        FilterField("kind", "Event", "kind", "choice", tuple(EventKind.choices)),
        FilterField("sequence", "Sequence", "sequence_id", "object", model=Sequence),
        FilterField("is_machine", "Machine", "is_machine", "bool", YES_NO),
    ), base=_events_base, extra=("machine",)),
    Source("sessions", "Website sessions", WebSession, "started_at", "Started", (
        Dimension("source", "Traffic source", "source", tuple(TrafficSource.choices)),
        Dimension("site", "Site", "site_id", names=("site__name",)),
        Dimension("is_first", "New visitor", "is_first", (("1", "New visitor"), ("0", "Returning visitor"))),
        *_dates("started", "Started", "started_at"),
    ), ("session_count", "page_views", "new_visitor_sessions"), (
        FilterField("source", "Traffic source", "source", "choice", tuple(TrafficSource.choices)),
        FilterField("site", "Site", "site_id", "object", model=Site),
        FilterField("utm_campaign", "UTM campaign", "utm_campaign", "text"),
        FilterField("is_first", "New visitor", "is_first", "bool", YES_NO),
    )),
    Source("interactions", "Interactions", Interaction, "occurred_at", "Occurred", (
        Dimension("interaction_type", "Interaction type", "interaction_type", tuple(InteractionType.choices)),
        Dimension("channel", "Channel", "channel", tuple(TrafficSource.choices)),
        *_dates("occurred", "Occurred", "occurred_at"),
    ), ("interaction_count", "interaction_contacts"), (
        FilterField("interaction_type", "Interaction type", "interaction_type", "choice",
                    tuple(InteractionType.choices)),
        FilterField("channel", "Channel", "channel", "choice", tuple(TrafficSource.choices)),
        FilterField("sequence", "Sequence", "sequence_id", "object", model=Sequence),
    )),
    Source("credits", "Attribution credits", Credit, "conversion__converted_at", "Converted", (
        Dimension("model", "Model", "model", tuple((m, m) for m in ALL_MODELS)),
        Dimension("conversion_kind", "Conversion", "conversion__kind", CONVERSION_KINDS),
        Dimension("interaction_type", "Interaction type", "interaction__interaction_type",
                  tuple(InteractionType.choices)),
        Dimension("channel", "Channel", "interaction__channel", tuple(TrafficSource.choices)),
        *_dates("converted", "Converted", "conversion__converted_at", ("month", "quarter")),
    ), ("credited_conversions", "attributed_revenue"), (
        FilterField("interaction_type", "Interaction type", "interaction__interaction_type", "choice",
                    tuple(InteractionType.choices)),
        FilterField("channel", "Channel", "interaction__channel", "choice", tuple(TrafficSource.choices)),
    ), currency="conversion__currency", base=_credits_base, extra=("model", "lookback", "conversion")),
)
SOURCES: dict[str, Source] = {s.key: s for s in SOURCES_LIST}
EXTRA_CHOICES = {"machine": ("", "1"), "model": ALL_MODELS, "lookback": tuple(str(d) for d in LOOKBACKS),
                 "conversion": tuple(k for k, _ in CONVERSION_KINDS)}
EXTRA_DEFAULTS = {"machine": "", "model": "linear", "lookback": "0", "conversion": "contact_create"}


@dataclass(frozen=True)
class Condition:
    field: FilterField
    operator: str
    value: str

    def q(self) -> Q:
        path, value = self.field.path, self.value
        if self.operator in ("empty", "not_empty"):
            empty = Q(**{f"{path}__isnull": True})
            if self.field.kind in ("choice", "text"):
                empty |= Q(**{path: ""})
            return empty if self.operator == "empty" else ~empty
        if self.field.kind == "bool":
            return Q(**{path: value == "1"})
        if self.operator == "contains":
            return Q(**{f"{path}__icontains": value})
        if self.operator in ("gt", "lt"):
            return Q(**{f"{path}__{self.operator}": value})
        return Q(**{path: value}) if self.operator == "is" else ~Q(**{path: value})

    def echo(self, n: int) -> dict[str, str]:
        return {f"f{n}_field": self.field.key, f"f{n}_op": self.operator, f"f{n}_value": self.value}


@dataclass(frozen=True)
class CustomQuery:
    account_id: int
    time_zone: str
    plan: str
    source: Source
    dimensions: tuple[Dimension, ...]
    metrics: tuple[str, ...]
    conditions: tuple[Condition, ...]
    range: Timeframe
    range_from: date | None
    range_to: date | None
    chart: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dimension_keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.dimensions)

    @property
    def by_currency(self) -> bool:
        """Money metrics are summed per currency: the currency joins the grouping unless it is a dimension."""
        money = any(METRICS[m].unit == "money" for m in self.metrics)
        return money and bool(self.source.currency) and not any(d.field == self.source.currency
                                                                for d in self.dimensions)


def _source_choices(account: Account) -> list[tuple[str, str]]:
    return [(s.key, s.label) for s in SOURCES_LIST]


def _all_dimension_choices(account: Account) -> list[tuple[str, str]]:
    return [("", "None")] + [(d.key, f"{s.label}: {d.label}") for s in SOURCES_LIST for d in s.dimensions]



def _listed(data: Mapping[str, str], key: str) -> list[str] | None:
    """A list parameter as comma-separated text or repeated (`?metrics=a&metrics=b`); None when absent."""
    if key not in data:
        return None
    values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def _value_check(account: Account, condition_field: FilterField, value: str) -> str | None:
    """Why `value` is not a value of the field, or None when it is."""
    kind = condition_field.kind
    if kind in ("choice", "bool"):
        allowed = [k for k, _ in condition_field.choices]
        return None if value in allowed else f"{value!r} is not one of: {', '.join(allowed)}."
    if kind in ("object", "user"):
        if not value.isdigit():
            return f"{value!r} is not an id."
        if kind == "user":
            found = get_user_model().objects.filter(memberships__account=account, pk=int(value)).exists()
        else:
            found = condition_field.model.objects.filter(account=account, pk=int(value)).exists()
        return None if found else f"No {condition_field.label.lower()} {value!r} in this account."
    if kind == "number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            return f"{value!r} is not a number."
        return None if number.is_finite() and abs(number) < NUMBER_LIMIT else f"{value!r} is out of range."
    return None if len(value) <= 200 else "At most 200 characters."


def source_of(key: str | None) -> Source:
    """The source named `key`, or the default one (contacts) for anything else."""
    return SOURCES.get((key or "").strip(), SOURCES_LIST[0])


NUMBER_LIMIT = Decimal(10) ** 12  # amounts have 12 digits before the point
FILTER_VALUE_LIMIT = 500  # objects offered per filter select; more can still be given by id


def _filter_values(account: Account, condition_field: FilterField) -> list[tuple[str, str]]:
    if condition_field.kind == "user":
        users = get_user_model().objects.filter(memberships__account=account).order_by("first_name", "last_name")
        return [(str(u.pk), u.get_full_name() or u.username) for u in users]
    if condition_field.kind == "object":
        objects = condition_field.model.objects.filter(account=account)
        if condition_field.model is DealStage:
            objects = objects.select_related("pipeline").order_by("pipeline__name", "position")
        return [(str(o.pk), str(o)) for o in objects[:FILTER_VALUE_LIMIT]]
    return list(condition_field.choices)


def builder_options(account: Account, source: Source, values: Mapping[str, str]) -> dict:
    """What the builder form offers for a source — its dimensions, metrics (with their catalog definitions), filter
    fields with their operators and values (the account's own objects for ids), its own parameters — and the
    current choices (`values`: the result's parameters, or what was asked when they were not valid)."""
    filters = {f.key: f for f in source.filters}
    rows = []
    for n in range(1, MAX_FILTERS + 1):
        chosen = filters.get((values.get(f"f{n}_field") or "").strip())
        rows.append({"n": n, "field": chosen.key if chosen else "", "op": values.get(f"f{n}_op") or "",
                     "value": values.get(f"f{n}_value") or "",
                     "operators": [(op, OPERATORS[op]) for op in OPERATORS_OF[chosen.kind]] if chosen else [],
                     "values": _filter_values(account, chosen) if chosen else [],
                     "kind": chosen.kind if chosen else ""})
    return {
        "source": source.key,
        "selected_metrics": _listed(values, "metrics") or list(source.metrics[:1]),
        "filter_rows": rows,
        "filter_fields": [(f.key, f.label) for f in source.filters],
        "sources": [(s.key, s.label) for s in SOURCES_LIST],
        "dimensions": [(d.key, d.label) for d in source.dimensions],
        "metrics": [(key, METRICS[key].label, METRICS[key].definition) for key in source.metrics],
        "extra": [{"key": key, "label": next(p.label for p in CustomReport.params if p.key == key),
                   "value": values.get(key) or EXTRA_DEFAULTS[key],
                   "choices": [(v, {"": "No", "1": "Yes"}.get(v, v) if key == "machine" else v)
                               for v in EXTRA_CHOICES[key]]} for key in source.extra],
        "date_label": source.date_label,
        "charts": list(CHARTS),
        "timeframes": list(TIMEFRAME_CHOICES),
    }


def preview_chart(result: ReportResult) -> dict:
    """The result's JSON for the page's chart script: the chart as chosen, or none for a table or a KPI (their
    numbers are on the page already)."""
    data = result.to_json()
    if data["chart"].get("type") not in ("bar", "line"):
        data["chart"] = {}
    return data


@register
class CustomReport(Report):
    key = "custom"
    title = "Custom report"
    description = ("Build your own: a data source, up to two dimensions, metrics from the catalog, filters, a date "
                   "range and a chart type.")
    params = (
        Param("source", "Data source", f"One of: {', '.join(SOURCES)}.", default="contacts",
              choices=_source_choices),
        Param("dimension", "Dimension", "What to group by (the source's dimensions; date buckets such as "
              "created_month); absent: the source's first, empty: no grouping.", choices=_all_dimension_choices),
        Param("dimension2", "Second dimension", "A second grouping; empty: none.", choices=_all_dimension_choices),
        Param("metrics", "Metrics", "Comma-separated metric keys of the source (docs/metrics.md); none: its "
              "count."),
        *(p for n in range(1, MAX_FILTERS + 1) for p in (
            Param(f"f{n}_field", f"Filter {n}", "A filter field of the source."),
            Param(f"f{n}_op", f"Filter {n} operator", f"One of: {', '.join(OPERATORS)}."),
            Param(f"f{n}_value", f"Filter {n} value", "The value: a choice's key, an id, a number or text."))),
        Param("range", "Date range", "Timeframe of the source's date (created, enrolled, occurred, started, "
              "converted), in the account's time zone.", default="all_time",
              choices=lambda account: list(TIMEFRAME_CHOICES)),
        Param("range_from", "From", "First day of a custom range (YYYY-MM-DD)."),
        Param("range_to", "To", "Last day of a custom range (YYYY-MM-DD), included."),
        Param("chart", "Chart", "bar, line, table or kpi.", default="bar",
              choices=lambda account: list(CHARTS)),
        Param("machine", "Include machine events", "Events: 1 counts machine opens and clicks too."),
        Param("model", "Attribution model", "Credits: the model (enterprise: any).", default="linear",
              choices=lambda account: [(m, m) for m in ALL_MODELS]),
        Param("lookback", "Lookback days", "Credits: the lookback window (0: whole journey).", default="0",
              choices=lambda account: [(str(d), str(d)) for d in LOOKBACKS]),
        Param("conversion", "Conversion", "Credits: the conversion kind.", default="contact_create",
              choices=lambda account: list(CONVERSION_KINDS)),
    )

    def parse(self, account: Account, data: Mapping[str, str], *, now: datetime) -> CustomQuery:
        errors: dict[str, str] = {}
        source_key = (data.get("source") or "contacts").strip()
        source = SOURCES.get(source_key)
        if source is None:
            raise ReportParamError({"source": f"No data source {source_key!r}; one of: {', '.join(SOURCES)}."})
        available = ", ".join(d.key for d in source.dimensions)
        dimensions = []
        for key in ("dimension", "dimension2"):
            text = (data.get(key) if key in data else (source.dimensions[0].key if key == "dimension" else ""))
            text = (text or "").strip()
            if not text:
                continue
            dimension = source.dimension(text)
            if dimension is None:
                errors[key] = f"No dimension {text!r} for {source.key}; one of: {available}."
            elif dimension in dimensions:
                errors[key] = f"{text!r} is already the first dimension."
            else:
                dimensions.append(dimension)
        metrics = list(dict.fromkeys(_listed(data, "metrics") or [source.metrics[0]]))  # none given: the count
        unknown = [m for m in metrics if m not in source.metrics]
        if unknown:
            errors["metrics"] = (f"No metric {', '.join(map(repr, unknown))} for {source.key}; one of: "
                                 f"{', '.join(source.metrics)}.")
        conditions = []
        for n in range(1, MAX_FILTERS + 1):
            field_key = (data.get(f"f{n}_field") or "").strip()
            if not field_key:
                continue
            condition_field = source.filter_field(field_key)
            operator = (data.get(f"f{n}_op") or "is").strip()
            value = (data.get(f"f{n}_value") or "").strip()
            if condition_field is None:
                errors[f"f{n}_field"] = (f"No filter {field_key!r} for {source.key}; one of: "
                                         f"{', '.join(f.key for f in source.filters)}.")
            elif operator not in OPERATORS_OF[condition_field.kind]:
                errors[f"f{n}_op"] = (f"No operator {operator!r} for {field_key}; one of: "
                                      f"{', '.join(OPERATORS_OF[condition_field.kind])}.")
            elif operator not in ("empty", "not_empty") and (problem := _value_check(account, condition_field,
                                                                                     value)):
                errors[f"f{n}_value"] = problem
            else:
                conditions.append(Condition(condition_field, operator,
                                            "" if operator in ("empty", "not_empty") else value))
        extra = {}
        for key in source.extra:
            value = (data.get(key) or EXTRA_DEFAULTS[key]).strip()
            if value not in EXTRA_CHOICES[key]:
                errors[key] = f"{value!r} is not one of: {', '.join(v for v in EXTRA_CHOICES[key] if v)}."
            extra[key] = value
        if source.key == "credits":
            if account.plan != Plan.ENTERPRISE and (extra.get("model") != "linear" or
                                                    any(d.key == "model" for d in dimensions)):
                errors["model"] = "Choosing the attribution model is in the enterprise plan; linear otherwise."
            if account.plan == Plan.STARTER and "attributed_revenue" in metrics:
                errors["metrics"] = "Attributed revenue is not in the starter plan."
        chart = (data.get("chart") or "bar").strip()
        if chart not in dict(CHARTS):
            errors["chart"] = f"{chart!r} is not one of: {', '.join(dict(CHARTS))}."
        elif chart == "kpi" and dimensions:
            errors["chart"] = "A KPI shows one number per metric: choose no dimension."
        first, last = param_day(data, "range_from", errors), param_day(data, "range_to", errors)
        timeframe = None
        try:
            timeframe = timeframe_resolve((data.get("range") or "all_time").strip(), time_zone=account.time_zone,
                                          now=now, first_day=first, last_day=last)
        except TimeframeError as error:
            errors["range"] = str(error)
        if errors:
            raise ReportParamError(errors)
        return CustomQuery(account.pk, account.time_zone, account.plan, source, tuple(dimensions), tuple(metrics),
                           tuple(conditions), timeframe, first, last, chart, extra)

    def build(self, query: CustomQuery) -> dict[str, QuerySet]:
        source, zone = query.source, ZoneInfo(query.time_zone)
        rows = source.model.objects.filter(account_id=query.account_id)
        rows = source.base(rows, query)
        if query.range.start is not None:
            rows = rows.filter(**{f"{source.date_field}__gte": query.range.start})
        if query.range.end is not None:
            rows = rows.filter(**{f"{source.date_field}__lt": query.range.end})
        for condition in query.conditions:
            rows = rows.filter(condition.q())
        # The catalog's expressions; an average fetches the sum and the count it divides.
        aggregates = {part: EXPRESSIONS[part]("") for key in query.metrics for part in METRICS[key].mean_of or (key,)}
        currency = {"currency_": F(source.currency)} if query.by_currency else {}
        grouping = currency | {k: v for i, d in enumerate(query.dimensions)
                               for k, v in d.expressions(f"d{i}", zone).items()}
        sections = {}
        if grouping:  # one grouped query for the rows…
            sections["rows"] = rows.annotate(**grouping).values(*grouping).order_by().annotate(**aggregates)
        # …and one for the totals, without the dimensions, so unique counts and averages are right there too. A
        # constant groups nothing: one row over everything.
        sections["totals"] = rows.annotate(all_=Value(1)).values("all_").order_by().annotate(**aggregates)
        if query.by_currency:
            sections["currencies"] = rows.annotate(**currency).values("currency_").distinct().order_by("currency_")
        return sections

    def shape(self, query: CustomQuery, fetched: dict[str, list[dict]]) -> ReportResult:
        zone = ZoneInfo(query.time_zone)
        slots = [(f"d{i}", d) for i, d in enumerate(query.dimensions)]
        fetched_rows = sorted(fetched.get("rows", fetched["totals"]), key=lambda row: (
            tuple(d.sort_key(row, slot, zone) for slot, d in slots), row.get("currency_") or ""))
        rows = []
        for raw in fetched_rows:
            row = {f"dim_{d.key}": d.text(raw, slot, zone) for slot, d in slots}
            if query.by_currency:
                row["currency"] = raw.get("currency_") or ""
            row |= _metric_values(query.metrics, raw)
            row["label"] = " · ".join(row[f"dim_{d.key}"] for _, d in slots) or "All"
            rows.append(row)
        notes = []
        if len(rows) > MAX_ROWS:
            notes.append(f"Showing the first {MAX_ROWS:,} of {len(rows):,} rows; the totals count them all. "
                         "Filter or choose a coarser dimension to see the rest.")
            rows = rows[:MAX_ROWS]
        totals = _metric_values(query.metrics, fetched["totals"][0] if fetched["totals"] else {})
        if query.by_currency:
            currencies = [row["currency_"] for row in fetched["currencies"]]
            if len(currencies) > 1:
                totals = {k: v for k, v in totals.items() if METRICS[k].unit != "money"}
                notes.append(f"The rows are in {len(currencies)} currencies ({', '.join(currencies)}); amounts are "
                             "not added across currencies.")
            totals["currency"] = currencies[0] if len(currencies) == 1 else ""
        if query.source.key == "events":
            notes.append("Machine opens and clicks included." if query.extra.get("machine") == "1"
                         else "Human opens and clicks only (machine=1 includes machine events).")
            if query.plan == Plan.STARTER:
                notes.append("Click events are not in the starter plan.")
        if query.source.key == "credits":
            model = "each model" if "model" in query.dimension_keys else f"model {query.extra['model']}"
            lookback = query.extra["lookback"]
            kind = ("each conversion kind" if "conversion_kind" in query.dimension_keys
                    else dict(CONVERSION_KINDS)[query.extra["conversion"]].lower() + " conversions")
            notes.append(f"Credits of {kind}, {model}, lookback "
                         f"{lookback + ' days' if lookback != '0' else 'whole journey'}.")
        columns = (*(Column(f"dim_{d.key}", d.label, "text") for d in query.dimensions),
                   *((Column("currency", "Currency", "text"),) if query.by_currency else ()),
                   *(Column.of_metric(m) for m in query.metrics))
        if not query.dimensions:
            columns = (Column("label", query.source.label, "text"), *columns)
        chart = {"type": query.chart, "label": "label", "values": list(query.metrics)}
        title = f"{query.source.label}" + (f" by {' and '.join(d.label.lower() for d in query.dimensions)}"
                                           if query.dimensions else "")
        return ReportResult(report=self.key, title=title, params=self._echo(query), columns=columns,
                            rows=tuple(rows), totals=totals, chart=chart, notes=tuple(notes))

    def _echo(self, query: CustomQuery) -> dict[str, str]:
        params = {"source": query.source.key,
                  "dimension": query.dimensions[0].key if query.dimensions else "",
                  "dimension2": query.dimensions[1].key if len(query.dimensions) > 1 else "",
                  "metrics": ",".join(query.metrics)}
        for n, condition in enumerate(query.conditions, start=1):
            params |= condition.echo(n)
        params |= {"range": query.range.key, "chart": query.chart} | query.extra
        if query.range.key == CUSTOM:
            params |= {"range_from": query.range_from.isoformat(), "range_to": query.range_to.isoformat()}
        return params


def _metric_values(keys, raw: dict) -> dict:
    values = {}
    for key in keys:
        metric = METRICS[key]
        values[key] = mean_value(metric, raw) if metric.mean_of else metric.value(raw.get(key))
    return values
