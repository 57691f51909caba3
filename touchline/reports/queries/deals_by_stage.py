"""Deals by stage: how many deals sit in each stage of a pipeline, and what they are worth.

One row per stage of the pipeline, in pipeline order, stages without deals included (a funnel with a
missing step reads wrong). Amounts are never added across currencies: an account dealing in several gets a
row per stage and currency. Filters: the deals' creation timeframe (in the account's time zone) and owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from touchline.core.models import Account
from touchline.core.timeframes import CHOICES as TIMEFRAME_CHOICES
from touchline.core.timeframes import CUSTOM, Timeframe, TimeframeError, timeframe_resolve
from touchline.crm.models import Deal, DealStage, Pipeline
from touchline.reports.metrics import METRICS
from touchline.reports.pipeline import Column, Param, Report, ReportParamError, ReportResult, param_day, register

METRIC_KEYS = ("deal_count", "deal_amount", "weighted_amount")


def _pipelines(account: Account) -> list[tuple[str, str]]:
    return [(str(p.pk), p.name) for p in Pipeline.objects.filter(account=account).order_by("-is_default", "name")]


def _owners(account: Account) -> list[tuple[str, str]]:
    users = get_user_model().objects.filter(memberships__account=account).order_by("first_name", "last_name")
    return [("", "Any owner")] + [(str(u.pk), u.get_full_name() or u.username) for u in users]


@dataclass(frozen=True)
class DealsByStageQuery:
    account_id: int
    pipeline_id: int | None
    created: Timeframe
    created_from: date | None  # the custom range's days, kept to echo them back
    created_to: date | None
    owner_id: int | None



@register
class DealsByStage(Report):
    key = "deals_by_stage"
    title = "Deals by stage"
    description = "Number, amount and weighted amount of the deals in each stage of a pipeline."
    params = (
        Param("pipeline", "Pipeline", "Id of the pipeline; default: the account's default pipeline.",
              choices=_pipelines),
        Param("created", "Created", "Timeframe the deals were created in, in the account's time zone.",
              default="all_time", choices=lambda account: list(TIMEFRAME_CHOICES)),
        Param("created_from", "From", "First day of a custom creation range (YYYY-MM-DD)."),
        Param("created_to", "To", "Last day of a custom creation range (YYYY-MM-DD), included."),
        Param("owner", "Owner", "Id of the deal owner; default: any owner.", choices=_owners),
    )

    def parse(self, account: Account, data: Mapping[str, str], *, now: datetime) -> DealsByStageQuery:
        errors: dict[str, str] = {}
        pipelines = Pipeline.objects.filter(account=account)
        pipeline_text = (data.get("pipeline") or "").strip()
        if pipeline_text:
            pipeline = pipelines.filter(pk=int(pipeline_text)).first() if pipeline_text.isdigit() else None
            if pipeline is None:
                errors["pipeline"] = f"No pipeline {pipeline_text!r} in this account."
        else:
            pipeline = pipelines.order_by("-is_default", "name").first()  # None in an account with no deals yet
        owner_text = (data.get("owner") or "").strip()
        owner_id = None
        if owner_text:
            members = get_user_model().objects.filter(memberships__account=account)
            if owner_text.isdigit() and members.filter(pk=int(owner_text)).exists():
                owner_id = int(owner_text)
            else:
                errors["owner"] = f"No user {owner_text!r} in this account."
        first, last = param_day(data, "created_from", errors), param_day(data, "created_to", errors)
        created = None
        try:
            created = timeframe_resolve((data.get("created") or "all_time").strip(), time_zone=account.time_zone,
                                        now=now, first_day=first, last_day=last)
        except TimeframeError as error:
            errors["created"] = str(error)
        if errors:
            raise ReportParamError(errors)
        return DealsByStageQuery(account.pk, pipeline.pk if pipeline else None, created, first, last, owner_id)

    def build(self, query: DealsByStageQuery) -> dict[str, QuerySet]:
        deals = Deal.objects.filter(account_id=query.account_id, pipeline_id=query.pipeline_id)
        if query.created.start is not None:
            deals = deals.filter(created_at__gte=query.created.start)
        if query.created.end is not None:
            deals = deals.filter(created_at__lt=query.created.end)
        if query.owner_id is not None:
            deals = deals.filter(owner_id=query.owner_id)
        per_stage = (deals.values("stage_id", "currency").order_by()
                     .annotate(**{key: METRICS[key].expression() for key in METRIC_KEYS}))
        stages = (DealStage.objects.filter(account_id=query.account_id, pipeline_id=query.pipeline_id)
                  .order_by("position").values("id", "name", "probability", "pipeline__name"))
        return {"stages": stages, "per_stage": per_stage}

    def shape(self, query: DealsByStageQuery, fetched: dict[str, list[dict]]) -> ReportResult:
        stages = fetched["stages"]
        currencies = sorted({row["currency"] for row in fetched["per_stage"]}) or ["USD"]
        by_key = {(row["stage_id"], row["currency"]): row for row in fetched["per_stage"]}
        rows, raw_totals = [], dict.fromkeys(METRIC_KEYS, 0)
        for stage in stages:
            for currency in currencies:
                found = by_key.get((stage["id"], currency), {})
                row = {"stage": stage["name"], "stage_id": stage["id"], "probability": stage["probability"],
                       "currency": currency}
                for key in METRIC_KEYS:
                    row[key] = METRICS[key].value(found.get(key))
                    raw_totals[key] += int(found.get(key) or 0)
                rows.append(row)
        # Totals come from the raw integer sums, so the weighted amount is rounded once, not once per stage.
        totals = {key: METRICS[key].value(raw) for key, raw in raw_totals.items()}
        notes: tuple[str, ...] = ()
        if len(currencies) > 1:
            totals = {"deal_count": totals["deal_count"]}
            notes = (f"The deals are in {len(currencies)} currencies ({', '.join(currencies)}); amounts are "
                     "not added across currencies.",)
        totals["currency"] = currencies[0] if len(currencies) == 1 else ""
        params = {"pipeline": str(query.pipeline_id or ""), "created": query.created.key,
                  "owner": str(query.owner_id or "")}
        if query.created.key == CUSTOM:
            params |= {"created_from": query.created_from.isoformat(), "created_to": query.created_to.isoformat()}
        if not stages:
            notes = ("No pipeline yet: the first deal creates the default sales pipeline.",)
        return ReportResult(
            report=self.key,
            title=f"{self.title} — {stages[0]['pipeline__name']}" if stages else self.title,
            params=params,
            columns=(Column("stage", "Stage", "text"), Column("currency", "Currency", "text"),
                     *(Column.of_metric(key) for key in METRIC_KEYS)),
            rows=tuple(rows),
            totals=totals,
            chart={"type": "bar", "label": "stage", "values": ["deal_amount", "weighted_amount"]},
            notes=notes,
        )
